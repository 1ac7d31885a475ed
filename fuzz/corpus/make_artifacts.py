#!/usr/bin/python3
"""Seed files for fuzz/fuzz_artifacts.c: a small collector file and a small edit file,
byte for byte what profs_collector_save / profs_edit_save write (safetensors:
u64 little-endian header length, JSON header, data).
Regenerate with:  /usr/bin/python3 fuzz/corpus/make_artifacts.py"""
import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "artifacts")


def write(name, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for tname, dtype, shape, payload in tensors:
        header[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(payload)]}
        blobs.append(payload)
        off += len(payload)
    h = json.dumps(header, separators=(",", ":")).encode()
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def f64(values):
    return struct.pack("<%dd" % len(values), *values)


os.makedirs(HERE, exist_ok=True)
write("collector.safetensors",
      [("layers.0.preferred", "F32", [2, 3], f32([1, 2, 3, 4, 5, 6])),
       ("layers.0.dispreferred", "F32", [2, 3], f32([0, 2, 3, 4, 5, 7]))],
      {"format": "profs-collector", "n_layers": "1", "dim": "3", "n_pairs": "2", "producer": "seed"})
write("edit.safetensors",
      [("layers.1.basis", "F32", [1, 3], f32([0.6, 0.8, 0])),
       ("layers.1.singular_values", "F64", [2], f64([2.5, 0.5])),
       ("layers.4.basis", "F32", [0, 3], b""),
       ("layers.4.singular_values", "F64", [0], b"")],
      {"format": "profs-edit", "format_version": "1", "dim": "3", "layers": "1,4",
       "layers.1.rank": "1", "layers.1.threshold": "1.25", "layers.4.rank": "0", "layers.4.threshold": "nan",
       "n_pairs": "2", "centering": "mean", "rank_rule": "screenot", "rank_k": "1", "screenot_strategy": "impute",
       # layer 4 is hand-made: its settings differ from the file-wide ones
       "layers.4.n_pairs": "0", "layers.4.centering": "unknown", "layers.4.rank_rule": "unknown",
       "layers.4.rank_k": "0", "layers.4.screenot_strategy": "unknown"})
