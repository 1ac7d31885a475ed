#!/usr/bin/env bash
# The Python binding (bindings/python, ctypes + numpy) against this build's
# libprofs.so.0, with Debian's interpreter: /usr/bin/python3 -m unittest.
# Then the PyTorch forward-hook example, when torch is importable.
set -euo pipefail
if [ "${PROFS_SANITIZE:-0}" = "1" ]; then
  echo "skipped under sanitizers (an ASan-built libprofs cannot be loaded into a plain python)"; exit 77
fi
src=${PROFS_TEST_SRC:?}
build=${PROFS_TEST_BUILD:?}
PY=${PROFS_PYTHON:-/usr/bin/python3}
if ! [ -x "$PY" ]; then echo "skipped: $PY not found (Debian python3)"; exit 77; fi
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "skipped: numpy not importable by $PY (Debian python3-numpy)"; exit 77; fi
export PROFS_LIBRARY=$build/libprofs.so.0
export PYTHONPATH=$src/bindings/python
export PYTHONDONTWRITEBYTECODE=1
export OPENBLAS_NUM_THREADS=1
export PROFS_TEST_TMP=${PROFS_TEST_TMP:-/tmp}
# Tiny random checkpoints for the runtime tests (tests/gen/gen_lm_fixtures).
fixtures=$PROFS_TEST_TMP/python-lm.$$
trap 'rm -rf "$fixtures"' EXIT
if [ -x "$build/tests/gen_lm_fixtures" ]; then
  "$build/tests/gen_lm_fixtures" "$fixtures" gpt2
  export PROFS_LM_FIXTURES=$fixtures
fi
# The demo model with its planted toxic mechanism, for the end-to-end test.
if [ -n "${PROFS_BIN:-}" ] && "$PROFS_BIN" demo-model --out "$fixtures/demo" >/dev/null; then
  export PROFS_DEMO_MODEL=$fixtures/demo
fi
cd "$src/bindings/python"
"$PY" -m unittest discover -s tests -t . 2>&1
if [ -n "${PROFS_DEMO_MODEL:-}" ]; then
  out=$("$PY" examples/edit_model.py "$PROFS_DEMO_MODEL" "$src/data/pairs.jsonl" "$fixtures/demo-edited" \
        --layers 2,3,4,5 --rank-max 5)
  echo "$out"
  [ "$(echo "$out" | grep -c 'mlp.c_proj.weight')" = 4 ] && [ -f "$fixtures/demo-edited/profs/edit.safetensors" ] &&
    [ ! -e "$fixtures/demo-edited/profs_edit.safetensors" ] ||
    { echo "FAIL: examples/edit_model.py"; exit 1; }
  . "$src/tests/util/outdir_check.sh"
  check_outputs "$fixtures" "$fixtures/demo-edited" || exit 1
fi
if "$PY" -c 'import torch' 2>/dev/null; then
  out=$("$PY" examples/torch_hooks.py)
  echo "$out"
  grep -q '^torch_hooks: ok' <<<"$out" || { echo "FAIL: torch_hooks example"; exit 1; }
else
  echo "note: torch not importable by $PY; examples/torch_hooks.py not run"
fi
echo "python: ok"
