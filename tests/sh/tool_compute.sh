#!/usr/bin/env bash
# --compute on hidden-states, collect and edit: an unknown mode is a usage error (2); a mode whose
# instruction sets are missing (PROFS_DISABLE_ISA hides them, so this runs on every machine) is refused
# before any work, naming them (1, nothing written); where the processor has AMX, bf16 runs, its hidden
# states and embeddings are within 1e-4 of f32, and the edit's provenance and report record the mode.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$tmp"
m=$src/tests/data/tf/mistral
pairs=$src/data/pairs.jsonl
[ -d "$m" ] || { echo "skipped: $m is not in this tree"; exit 77; }

expect usage-hidden 2 "--compute 'fp8' is not one of f32, bf16, int8" -- "$bin" hidden-states --model "$m" --ids 1,2,3 --out h.st --compute fp8
expect usage-collect 2 "--compute 'BF16' is not one of f32, bf16, int8" -- "$bin" collect --model "$m" --pairs "$pairs" --out c.st --compute BF16
expect usage-edit 2 "--compute needs a non-empty value" -- "$bin" edit --model "$m" --pairs "$pairs" --out e --compute ""
expect usage-edit-int4 2 "--compute 'int4' is not one of f32, bf16, int8" -- "$bin" edit --model "$m" --pairs "$pairs" --out e --compute int4
off=amx_tile,avx512_vnni,avx_vnni
expect refused-hidden-bf16 1 "--compute bf16: bf16 compute needs the instruction set amx_tile" -- \
  env PROFS_DISABLE_ISA=$off "$bin" hidden-states --model "$m" --ids 1,2,3 --out h.st --compute bf16
expect refused-edit-bf16 1 "needs the instruction set amx_tile (Intel AMX)" -- \
  env PROFS_DISABLE_ISA=$off "$bin" edit --model "$m" --pairs "$pairs" --out e --compute bf16
expect refused-hidden-int8 1 "--compute int8: int8 compute needs one of the instruction sets amx_int8 (Intel AMX), avx512_vnni or avx_vnni" -- \
  env PROFS_DISABLE_ISA=$off "$bin" hidden-states --model "$m" --ids 1,2,3 --out h.st --compute int8
expect refused-collect-int8 1 "int8 compute needs one of the instruction sets" -- \
  env PROFS_DISABLE_ISA=$off "$bin" collect --model "$m" --pairs "$pairs" --out c.st --compute int8
[ ! -e h.st ] && [ ! -e e ] && [ ! -e c.st ] && say ok refused-writes-nothing || say FAIL "a refused run left $(ls)"

if ! grep -qw amx_bf16 /proc/cpuinfo; then
  echo "no amx_bf16 on this processor: the bf16 runs are skipped"
  exit $fail
fi
expect hidden-f32 0 "" -- "$bin" hidden-states --model "$m" --ids 5,17,42,7,99,3,250 --out h32.st
expect hidden-bf16 0 "" -- "$bin" hidden-states --model "$m" --ids 5,17,42,7,99,3,250 --out h16.st --compute bf16
expect collect-bf16 0 "compute: bf16 (AMX-BF16 tiles)" -- "$bin" collect --model "$m" --pairs "$pairs" --max-pairs 16 --out c16.st --compute bf16
expect collect-f32 0 "" -- "$bin" collect --model "$m" --pairs "$pairs" --max-pairs 16 --out c32.st --quiet
if command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - h32.st h16.st c32.st c16.st <<'PY' && say ok bf16-within-1e-4 || say FAIL "bf16 outputs differ from f32"
import json, struct, sys
import numpy as np
def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(v["shape"])
    return out
for a, b in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    x, y = load(a), load(b)
    assert x.keys() == y.keys() and x
    for k in x:
        err = np.linalg.norm(y[k] - x[k]) / np.linalg.norm(x[k])
        assert 0 < err < 1e-4, (a, k, err)
PY
else
  echo "no numpy: the numerical comparison is skipped"
fi
expect edit-bf16 0 "tensors changed" -- "$bin" edit --model "$m" --pairs "$pairs" --out e16 --compute bf16 --report r.json --quiet
[ "$(jq -r '.settings.compute + "/" + .settings.compute_kernel' e16/profs_edit.json)" = "bf16/AMX-BF16 tiles" ] &&
  [ "$(jq -r '.settings.compute' r.json)" = bf16 ] && grep -q 'AMX-BF16 tiles' r.html && say ok edit-records-compute ||
  say FAIL "compute not recorded: $(jq -c .settings e16/profs_edit.json)"
expect edit-f32 0 "tensors changed" -- "$bin" edit --model "$m" --pairs "$pairs" --out e32 --quiet
[ "$(jq -r '.settings.compute + "/" + .settings.compute_kernel' e32/profs_edit.json)" = "f32/OpenBLAS sgemm" ] &&
  say ok edit-records-f32 || say FAIL "f32 not recorded: $(jq -c .settings e32/profs_edit.json)"
exit $fail
