/* Test helper: run a command and, the moment a name starting with PREFIX
 * appears in WATCH_DIR (inotify), stop the command, create the directory
 * MKDIR_PATH with a file "user-file" holding "mine\n", and let the command go
 * on. Exits with the command's status (128 + signal when killed), or 99 when
 * the command finished before the name appeared.
 *   race_out WATCH_DIR PREFIX MKDIR_PATH -- COMMAND [ARGS...]
 * tests/sh/tool_hostile.sh uses it to create a directory at --out while the
 * tool is writing its temporary output, between its check and its commit. */
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
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: race_out WATCH_DIR PREFIX MKDIR_PATH -- COMMAND [ARGS...]\n");
        return 2;
    }
    const char *dir = argv[1], *prefix = argv[2], *target = argv[3];
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO) < 0) { perror("inotify"); return 2; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        execvp(argv[5], argv + 5);
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
    if (mkdir(target, 0777) != 0) { perror(target); kill(pid, SIGKILL); return 2; }
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/user-file", target);
    FILE *f = fopen(file, "w");
    if (!f || fputs("mine\n", f) < 0 || fclose(f) != 0) { perror(file); kill(pid, SIGKILL); return 2; }
    kill(pid, SIGCONT);
    int st;
    if (waitpid(pid, &st, 0) != pid) { perror("waitpid"); return 2; }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
