/**
 * @file profs.h
 * @brief libprofs umbrella header: ProFS (Projection Filter for Subspaces) model editing.
 *
 * Include this one header. Link with `pkg-config --libs profs` or the CMake
 * target `profs::profs`. Public headers include only <stddef.h> and <stdint.h>.
 */
#ifndef PROFS_PROFS_H
#define PROFS_PROFS_H

#include "profs/version.h"
#include "common.h"
#include "model.h"
#include "collector.h"
#include "subspace.h"
#include "edit.h"
#include "tokenizer.h"
#include "lm.h"
#include "eval.h"

#endif /* PROFS_PROFS_H */
