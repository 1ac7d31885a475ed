/* profs: the command-line tool. Git-style subcommands, one file each (see commands.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mpi_shard.h"
#include "profs/profs.h"
#include "tool.h"
#include "util.h"

struct command { const char *name; tool_cmd_fn fn; const char *summary; };

static const struct command commands[] = {
#define PROFS_COMMAND(name, ident, summary) {name, cmd_##ident, summary},
#include "commands.h"
#undef PROFS_COMMAND
};
static const size_t n_commands = sizeof commands / sizeof commands[0];

static void print_usage(FILE *f)
{
    fprintf(f, "usage: profs <command> [options]\n"
               "       profs help <command>\n"
               "       profs --version\n\n"
               "ProFS (Projection Filter for Subspaces) model editing, libprofs %s.\n\n"
               "commands:\n", profs_version_string());
    for (size_t i = 0; i < n_commands; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'profs help <command>' or 'profs <command> --help' for its options.\n");
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int tool_fail_lib(int code, const char *what)
{
    const char *detail = profs_last_error();
    fprintf(stderr, "profs: %s: %s%s%s\n", what, profs_strerror(code),
            detail[0] ? ": " : "", detail);
    return EXIT_FAIL;
}

int tool_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "profs %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'profs %s --help' for usage.\n", cmd);
    return EXIT_USAGE;
}

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: profs version\n\nPrint the version of libprofs the tool runs on.\n");
        return EXIT_OK;
    }
    if (argc > 1) return tool_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("profs %s (libprofs %s)\n", PROFS_VERSION_STRING, profs_version_string());
    return EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2) { print_usage(stderr); return EXIT_USAGE; }
    const char *arg = argv[1];
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0)
        return cmd_version(1, argv + 1);
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) { print_usage(stdout); return EXIT_OK; }
    if (strcmp(arg, "help") == 0) {
        if (argc < 3) { print_usage(stdout); return EXIT_OK; }
        const struct command *c = find_command(argv[2]);
        if (!c) { fprintf(stderr, "profs: unknown command '%s'\n", argv[2]); return EXIT_USAGE; }
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->fn(2, help_argv);
    }
    const struct command *c = find_command(arg);
    if (!c) {
        fprintf(stderr, "profs: unknown command '%s'\n\n", arg);
        print_usage(stderr);
        return EXIT_USAGE;
    }
    tool_catch_sigbus();
    if (tool_mpi_size() > 1 && strcmp(c->name, "collect") != 0 && strcmp(c->name, "edit") != 0) {
        if (tool_mpi_rank() == 0)
            fprintf(stderr, "profs %s: runs in one process; under mpirun only 'collect' and 'edit' share "
                    "their work between processes\n", c->name);
        return EXIT_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    tool_mpi_init(&argc, &argv);
    return tool_mpi_finish(run(argc, argv));
}
