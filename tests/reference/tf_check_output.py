#!/usr/bin/env python3
"""Check an output directory of 'profs edit' / 'profs apply' with transformers itself.

Run inside the transformers environment (tests/reference/transformers-env):
    chroot "${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}" python3 tf_check_output.py DIR [DIR...]

For every DIR it checks, and exits 1 naming the first failure:
  - AutoModelForCausalLM.from_pretrained(DIR, output_loading_info=True) loads it
    with no missing, unexpected or mismatched keys and no error messages;
  - tied input/output embeddings are tied after loading when config.json says so;
  - no top-level file ends in .safetensors/.bin/.pt/.pth unless it is
    model.safetensors (no index) or listed in model.safetensors.index.json's weight_map;
  - the edit is at profs/edit.safetensors and readable by the safetensors package;
  - README.md has YAML front matter with base_model, library_name: transformers and
    tags containing profs and model-editing (parsed by huggingface_hub's ModelCard when
    present), and neither README.md nor profs_edit.json contains an absolute path.
Prints one line per directory ("ok DIR: N tensors, ...").
"""
import json
import os
import re
import sys

import torch

torch.set_num_threads(1)


def fail(d, msg):
    print(f"FAIL {d}: {msg}")
    sys.exit(1)


def check(d):
    import transformers
    from safetensors import safe_open

    model, info = transformers.AutoModelForCausalLM.from_pretrained(d, output_loading_info=True)
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(k):
            fail(d, f"{k}: {sorted(info[k])[:10]}")
    cfg = model.config
    if getattr(cfg, "tie_word_embeddings", False):
        out, inp = model.get_output_embeddings(), model.get_input_embeddings()
        if out is not None and out.weight.data_ptr() != inp.weight.data_ptr():
            fail(d, "tie_word_embeddings is set but the output embeddings are not tied after loading")

    idx = os.path.join(d, "model.safetensors.index.json")
    listed = set(json.load(open(idx))["weight_map"].values()) if os.path.exists(idx) else {"model.safetensors"}
    for name in os.listdir(d):
        if re.search(r"\.(safetensors|bin|pt|pth)$", name) and name not in listed:
            fail(d, f"top-level '{name}' would be taken for weights by a '*.safetensors' glob or a .bin loader")

    edit = os.path.join(d, "profs", "edit.safetensors")
    if not os.path.exists(edit):
        fail(d, "no profs/edit.safetensors")
    with safe_open(edit, "pt") as f:
        if not any(k.endswith(".basis") for k in f.keys()):
            fail(d, "profs/edit.safetensors has no layers.N.basis")

    card = open(os.path.join(d, "README.md"), encoding="utf-8").read()
    m = re.match(r"---\n(.*?)\n---\n", card, re.S)
    if not m:
        fail(d, "README.md has no YAML front matter")
    try:
        from huggingface_hub import ModelCard
        data = ModelCard(card).data.to_dict()
    except ImportError:
        import yaml
        data = yaml.safe_load(m.group(1))
    if not data.get("base_model") or data.get("library_name") != "transformers":
        fail(d, f"front matter lacks base_model / library_name: {data}")
    if not {"profs", "model-editing"} <= set(data.get("tags") or []):
        fail(d, f"front matter tags {data.get('tags')} lack profs / model-editing")
    prov = open(os.path.join(d, "profs_edit.json"), encoding="utf-8").read()
    for what, text in (("README.md", card), ("profs_edit.json", prov)):
        hit = re.search(r"(?<![\w.:/])/(?:home|root|tmp|var|work|usr|mnt|srv|opt|Users)/\S*", text)
        if hit:
            fail(d, f"{what} records an absolute path: {hit.group(0)}")
    n = sum(p.numel() for p in model.parameters())
    print(f"ok {d}: {len(model.state_dict())} tensors, {n} parameters, base_model {data['base_model']}, "
          f"transformers {transformers.__version__}")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    for d in sys.argv[1:]:
        check(d)


if __name__ == "__main__":
    main()
