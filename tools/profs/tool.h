/* Shared declarations of the profs tool (not part of the library). */
#ifndef PROFS_TOOL_H
#define PROFS_TOOL_H

#include <stdio.h>

/* Exit statuses of every subcommand. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* A subcommand: argv[0] is the subcommand name. Returns an exit status. */
typedef int (*tool_cmd_fn)(int argc, char **argv);

#define PROFS_COMMAND(name, ident, summary) int cmd_##ident(int argc, char **argv);
#include "commands.h"
#undef PROFS_COMMAND

/* Print "profs: " + message + library detail to stderr; returns EXIT_FAIL. */
int tool_fail_lib(int code, const char *what);
/* Print "profs <cmd>: " + formatted message + hint to stderr; returns EXIT_USAGE. */
int tool_usage_error(const char *cmd, const char *fmt, ...);

#endif
