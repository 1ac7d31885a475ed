#!/usr/bin/env python3
"""The whole ProFS pipeline from Python: the twin of examples/edit_model.c.

    edit_model.py MODEL_DIR PAIRS.jsonl OUT_DIR [--layers 2,3,4,5] [--rank-max 10]

MODEL_DIR is a Hugging Face model directory (config.json, safetensors,
tokenizer.json); PAIRS.jsonl holds {"preferred": ..., "dispreferred": ...}
objects, one per line. Collects each pair's pooled block outputs with the
built-in runtime, estimates each layer's subspace with ScreeNOT, projects it
out of the MLP value matrices and writes the edited model plus the edit
artifact (OUT_DIR/profs/edit.safetensors: not at the top level, where engines
that load every *.safetensors file would take it for weights).

Try it on the demo model:
    build/profs demo-model --out demo
    PYTHONPATH=bindings/python PROFS_LIBRARY=build/libprofs.so.0 \\
        /usr/bin/python3 bindings/python/examples/edit_model.py demo data/pairs.jsonl demo-edited
"""

import argparse
import json
import os
import sys

try:
    import profs
except ImportError:  # run from a source checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import profs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("pairs")
    ap.add_argument("out")
    ap.add_argument("--layers", help="comma-separated layer indices (default: all)")
    ap.add_argument("--rank-max", type=int, default=10)
    args = ap.parse_args()

    with open(args.pairs, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    layers = [int(x) for x in args.layers.split(",")] if args.layers else None

    try:
        with profs.LM(args.model) as lm:
            collector = profs.Collector(lm.n_layers, lm.hidden_size)
            lm.collect(collector, [p["preferred"] for p in pairs], [p["dispreferred"] for p in pairs])
            print("%s: %d pairs, %d layers x %d" % (lm.architecture, collector.n_pairs,
                                                   lm.n_layers, lm.hidden_size))
        estimator = profs.Estimator(centering="mean", rank="screenot", rank_max=args.rank_max)
        edit = profs.Edit.estimate(estimator, collector, layers=layers)
        with profs.Model(args.model) as model:
            report = edit.apply(model, targets="value")
            model.save(args.out)
        os.makedirs(os.path.join(args.out, "profs"), exist_ok=True)
        edit.save(os.path.join(args.out, "profs", "edit.safetensors"))
    except profs.ProfsError as e:
        print("edit_model: %s" % e, file=sys.stderr)
        return 1
    for r in report:
        sub = edit[r.layer]
        print("layer %2d rank %d (threshold %.3g)  %-36s |change| %.4f of |W| %.4f"
              % (r.layer, r.rank, sub.threshold, r.name, r.delta_norm, r.weight_norm))
    print("edited model written to %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
