#!/usr/bin/python3
"""Reference sentences for the pair-file fixtures of tests/sh/tool_pairs.sh.

Regenerate the goldens (Debian's python3, no extra packages):

    /usr/bin/python3 tests/data/pairs/reference.py tests/data/pairs

For every case of cases.tsv this writes <golden>.expected.jsonl: one
{"preferred": ..., "dispreferred": ...} line per pair, the sentences the
published loaders build, for the shell test to compare with
`profs pairs --jsonl` byte for byte.

The sentence construction is transcribed from the ProFS authors' loaders
(github.com/Uppaal/detox-edit, utils/dataset_utils.py):

  load_hh_golden_preference:  f"{prompt} {chosen}", f"{prompt} {rejected}"
      (without its Detoxify filter, which drops prompts scoring >= 0.8 and
      needs a classifier, and without its subsampling)
  load_safe_rlhf_preference:  rows with is_response_0_safe != is_response_1_safe;
      good = the safe response, bad = the other; category = the unsafe
      response's harm categories that are true;
      f'HUMAN: {prompt}\\nASSISTANT:{good_response}' (and bad_response)
      (in file order: without its random.shuffle)
  load_toxicity_preference:   unpert_gen_text preferred, pert_gen_text not

and, where the authors have no loader, from the documented rules:

  chosen_rejected (HH-RLHF):  the two texts as they are
  lee --with-prompt:          prompt_text + text (Lee et al.'s DPO data puts
                              the prompt before the continuation)
  conversation (TRL):         each message "{Role}: {content}" (role with its
                              first letter upper-cased, or the prefix a
                              --template file gives), prompt messages first,
                              joined by "\\n" (or the template's "separator");
                              a string prompt is a user message unless the
                              list already starts with that user message
"""
import json
import os
import sys


def read_records(path):
    """JSONL, one JSON array, or TSV with a header (cells unescaped)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".tsv"):
        lines = [l for l in text.split("\n") if l.strip()]
        header = lines[0].split("\t")
        unesc = lambda s: (s.replace("\\\\", "\0").replace("\\t", "\t").replace("\\n", "\n")
                           .replace("\\r", "\r").replace("\0", "\\"))
        return [dict(zip(header, map(unesc, l.split("\t")))) for l in lines[1:]]
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(l) for l in text.split("\n") if l.strip()]


def hh_golden(rows, flags):
    pref, nonpref = [], []
    for dp in rows:
        pref.append(f"{dp['prompt']} {dp['chosen']}")
        nonpref.append(f"{dp['prompt']} {dp['rejected']}")
    return pref, nonpref


def chosen_rejected(rows, flags):
    return [dp["chosen"] for dp in rows], [dp["rejected"] for dp in rows]


def pku(rows, flags):
    harm_category = flags[flags.index("--harm-category") + 1] if "--harm-category" in flags else None
    harm_categories = list(rows[0]["response_1_harm_category"].keys())
    pref_data_full = []
    for dp in rows:
        if dp["is_response_0_safe"] != dp["is_response_1_safe"]:
            new_dp = {"prompt": dp["prompt"]}
            if dp["is_response_0_safe"]:
                new_dp["good_response"] = dp["response_0"]
                new_dp["bad_response"] = dp["response_1"]
                new_dp["category"] = [x for x in harm_categories if dp["response_1_harm_category"][x]]
            else:
                new_dp["good_response"] = dp["response_1"]
                new_dp["bad_response"] = dp["response_0"]
                new_dp["category"] = [x for x in harm_categories if dp["response_0_harm_category"][x]]
            pref_data_full.append(new_dp)
    dps = [dp for dp in pref_data_full if harm_category is None or harm_category in dp["category"]]
    pref, nonpref = [], []
    for dp in dps:
        pref.append(f'HUMAN: {dp["prompt"]}\nASSISTANT:{dp["good_response"]}')
        nonpref.append(f'HUMAN: {dp["prompt"]}\nASSISTANT:{dp["bad_response"]}')
    return pref, nonpref


def lee(rows, flags):
    p = (lambda dp: dp["prompt_text"]) if "--with-prompt" in flags else (lambda dp: "")
    return [p(dp) + dp["unpert_gen_text"] for dp in rows], [p(dp) + dp["pert_gen_text"] for dp in rows]


def conversation(rows, flags, base):
    prefixes, sep = {}, "\n"
    if "--template" in flags:
        with open(os.path.join(base, flags[flags.index("--template") + 1]), encoding="utf-8") as f:
            prefixes = json.load(f)
        sep = prefixes.pop("separator", "\n")

    def render(dp, key):
        msgs = list(dp[key])
        prompt = dp.get("prompt")
        if isinstance(prompt, list):
            msgs = prompt + msgs
        elif isinstance(prompt, str):
            if not (msgs[0].get("role") == "user" and msgs[0].get("content") == prompt):
                msgs = [{"role": "user", "content": prompt}] + msgs
        return sep.join(prefixes.get(m["role"], m["role"][:1].upper() + m["role"][1:] + ": ") + m["content"]
                        for m in msgs)
    return [render(dp, "chosen") for dp in rows], [render(dp, "rejected") for dp in rows]


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(base, "cases.tsv"), encoding="utf-8") as f:
        cases = [l.rstrip("\n").split("\t") for l in f if l.strip() and not l.startswith("#")]
    loaders = {"hh_golden": hh_golden, "chosen_rejected": chosen_rejected, "pku": pku, "lee": lee}
    for golden, fixture, loader, flags in cases:
        flags = flags.split()
        rows = read_records(os.path.join(base, fixture))
        if loader == "conversation":
            pref, nonpref = conversation(rows, flags, base)
        else:
            pref, nonpref = loaders[loader](rows, flags)
        out = os.path.join(base, golden + ".expected.jsonl")
        with open(out, "w", encoding="utf-8") as f:
            for a, b in zip(pref, nonpref):
                f.write(json.dumps({"preferred": a, "dispreferred": b}, ensure_ascii=False,
                                   separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
