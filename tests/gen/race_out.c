/* Test helper: run a command and, the moment a name starting with PREFIX
 * appears in WATCH_DIR (inotify), stop the command, act, and let it go on:
 *   race_out WATCH_DIR PREFIX mkdir PATH -- COMMAND [ARGS...]
 *       create directory PATH holding a file "user-file" with "mine\n";
 *   race_out WATCH_DIR PREFIX truncate FILE SIZE -- COMMAND [ARGS...]
 *       truncate FILE to SIZE bytes (a source changing under the mapping).
 * Exits with the command's status (128 + signal when killed), or 99 when the
 * command finished before the name appeared. tests/sh/tool_hostile.sh uses it
 * to act while the tool writes its temporary output, between its check and
 * its commit. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int dd = 1;
    while (dd < argc && strcmp(argv[dd], "--") != 0) dd++;
    int mk = argc > 3 && strcmp(argv[3], "mkdir") == 0 && dd == 5;
    int tr = argc > 3 && strcmp(argv[3], "truncate") == 0 && dd == 6;
    if (dd + 1 >= argc || (!mk && !tr)) {
        fprintf(stderr, "usage: race_out WATCH_DIR PREFIX (mkdir PATH | truncate FILE SIZE) -- COMMAND [ARGS...]\n");
        return 2;
    }
    const char *dir = argv[1], *prefix = argv[2], *target = argv[4];
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO) < 0) { perror("inotify"); return 2; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        execvp(argv[dd + 1], argv + dd + 1);
        perror("exec");
        _exit(127);
    }
    int raced = 0;
    char buf[sizeof(struct inotify_event) + NAME_MAX + 1] __attribute__((aligned(8)));
    while (!raced) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 50);
        if (r == 0) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                fprintf(stderr, "race_out: the command finished before '%s*' appeared\n", prefix);
                return 99;
            }
            continue;
        }
        if (r < 0) { if (errno == EINTR) continue; perror("poll"); return 2; }
        ssize_t n = read(fd, buf, sizeof buf);
        for (char *q = buf; n > 0 && q < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)q;
            if (e->len && strncmp(e->name, prefix, strlen(prefix)) == 0) raced = 1;
            q += sizeof *e + e->len;
        }
    }
    kill(pid, SIGSTOP);
    if (tr) {
        if (truncate(target, (off_t)strtoll(argv[5], NULL, 10)) != 0) { perror(target); kill(pid, SIGKILL); return 2; }
    } else {
        if (mkdir(target, 0777) != 0) { perror(target); kill(pid, SIGKILL); return 2; }
        char file[PATH_MAX];
        snprintf(file, sizeof file, "%s/user-file", target);
        FILE *f = fopen(file, "w");
        if (!f || fputs("mine\n", f) < 0 || fclose(f) != 0) { perror(file); kill(pid, SIGKILL); return 2; }
    }
    kill(pid, SIGCONT);
    int st;
    if (waitpid(pid, &st, 0) != pid) { perror("waitpid"); return 2; }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
