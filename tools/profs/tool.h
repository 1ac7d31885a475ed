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

/* --compute f32|bf16|int8 (the commands that run the model's blocks: hidden-states, collect, edit). */
#define TOOL_COMPUTE_HELP                                                                        \
    "  --compute MODE            how the blocks' matrix products run: f32 (default, OpenBLAS\n"   \
    "                            sgemm), bf16 (Intel AMX-BF16 tiles: weights and activations\n"  \
    "                            as BF16 hi + lo parts, about 2e-6 relative to f32) or int8\n"  \
    "                            (AMX-INT8, else AVX512-VNNI or AVX-VNNI; per-row and per-\n"   \
    "                            token scales, about 1e-2);\n"                                    \
    "                            refused, naming the instruction set, where the processor\n"    \
    "                            lacks it (docs/runtime.md)\n"
struct profs_lm;
/* The mode --compute names ("f32", "bf16", "int8"), or -1 (then print a usage error). */
int tool_compute_parse(const char *name);
/* Set the mode on the runtime; prints "profs: --compute MODE: why" and returns -1 when refused. */
int tool_set_compute(struct profs_lm *lm, int mode);

#endif
