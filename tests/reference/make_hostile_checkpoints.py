#!/usr/bin/python3
"""Hand-made hostile and malformed PyTorch checkpoints for tests/test_torchbin.c.

Each file is a zip archive laid out like torch.save's (entries under
"pytorch_model/"), built here byte by byte with struct and zipfile (no torch),
so that every rejection rule of lib/io/pickle.h, lib/io/zip.h and
lib/io/torchbin.h has a file that breaks exactly that rule. The payloads that
would run code create the file "profs_hostile_marker" in the current directory
when unpickled by Python: the test opens them from an empty directory and
checks that the marker never appears.

Regenerate (from the repository root, Debian's Python; no third-party package):
    /usr/bin/python3 tests/reference/make_hostile_checkpoints.py tests/data/bin/hostile
Prove that the code-running payloads are live (unpickles them with Python's own
pickle in a temporary directory and checks that each creates the marker):
    /usr/bin/python3 tests/reference/make_hostile_checkpoints.py --prove
"""
import io
import os
import pickle
import struct
import sys
import tempfile
import zipfile

MARKER = "profs_hostile_marker"


def u(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def tensor_pickle(key="0", cls="FloatStorage", numel=6, size=(2, 3), stride=(3, 1), name="w"):
    """A one-tensor state dict, as torch.save writes it (protocol 2)."""
    def tup(xs):
        return b"(" + b"".join(b"K" + bytes([x]) for x in xs) + b"t"
    return (b"\x80\x02" + b"ccollections\nOrderedDict\n)R" + b"(" + u(name) +
            b"ctorch._utils\n_rebuild_tensor_v2\n" + b"(" +
            b"(" + u("storage") + b"ctorch\n" + cls.encode() + b"\n" + u(key) + u("cpu") + b"K" + bytes([numel]) + b"t" +
            b"Q" + b"K\x00" + tup(size) + tup(stride) + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"t" + b"R" +
            b"u" + b".")


def archive(pkl, storages, method=zipfile.ZIP_STORED, zip64=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        entries = [("pytorch_model/data.pkl", pkl)] + [("pytorch_model/data/" + k, v) for k, v in storages.items()]
        entries.append(("pytorch_model/version", b"3\n"))
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))   # fixed: the files are reproducible
            info.compress_type = method
            with z.open(info, "w", force_zip64=zip64) as f:
                f.write(data)
    return bytearray(buf.getvalue())


def patch_sizes(data, entry, comp=None, size=None):
    """Rewrite the sizes of `entry` in both its local header and the central directory."""
    name = entry.encode()
    # central directory: PK\1\2, sizes at +20 (compressed) and +24 (uncompressed), name at +46
    i = data.find(b"PK\x01\x02")
    while i >= 0:
        n = struct.unpack_from("<H", data, i + 28)[0]
        if data[i + 46:i + 46 + n] == name:
            off = struct.unpack_from("<I", data, i + 42)[0]
            if comp is not None:
                struct.pack_into("<I", data, i + 20, comp)
                struct.pack_into("<I", data, off + 18, comp)
            if size is not None:
                struct.pack_into("<I", data, i + 24, size)
                struct.pack_into("<I", data, off + 22, size)
            return data
        i = data.find(b"PK\x01\x02", i + 4)
    raise KeyError(entry)


F32x6 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)

# payloads that run code when Python unpickles them (protocol 2, module names as Python 3 writes them)
OS_SYSTEM = b"\x80\x02cos\nsystem\n(" + u("touch " + MARKER) + b"tR."
EVAL = b"\x80\x02c__builtin__\neval\n(" + u("open('%s', 'w').close()" % MARKER) + b"tR."
# a state dict whose value is built by a REDUCE of a class that is allowed only as a storage type
REDUCE_STORAGE = (b"\x80\x02ccollections\nOrderedDict\n)R(" + u("w") + b"ctorch\nFloatStorage\n)R" + b"u.")


def build_on_tensor():
    p = tensor_pickle()
    # ... R  u .   ->  ... R } b u .   (BUILD with an empty dict on the tensor just made)
    assert p.endswith(b"Ru.")
    return p[:-2] + b"}b" + b"u."


def duplicate_key():
    one = tensor_pickle()
    body = one[one.index(b"(" + u("w")) + 1:one.rindex(b"u.")]   # key + value
    return one[:one.index(b"(" + u("w")) + 1] + body + body + b"u."


def files():
    out = {}
    out["os_system.bin"] = archive(OS_SYSTEM, {})
    out["builtins_eval.bin"] = archive(EVAL, {})
    out["reduce_storage_class.bin"] = archive(REDUCE_STORAGE, {})
    out["build_on_tensor.bin"] = archive(build_on_tensor(), {"0": F32x6})
    out["duplicate_key.bin"] = archive(duplicate_key(), {"0": F32x6})
    # the tensor [4, 4] needs 16 elements; its storage declares and holds 6
    out["storage_too_short.bin"] = archive(tensor_pickle(numel=6, size=(4, 4), stride=(4, 1)), {"0": F32x6})
    # the persistent id declares 6 elements, the entry holds 4 bytes
    out["storage_entry_short.bin"] = archive(tensor_pickle(), {"0": F32x6[:4]})
    out["storage_missing.bin"] = archive(tensor_pickle(key="7"), {"0": F32x6})
    # data/0 declared 1,000,000 bytes long: its data runs past the end of the archive
    out["entry_past_end.bin"] = patch_sizes(archive(tensor_pickle(), {"0": F32x6}), "pytorch_model/data/0",
                                            comp=1000000, size=1000000)
    # data/0 deflated, declared 24 bytes (the storage's 6 floats) once inflated; it inflates to 48
    out["inflates_past_size.bin"] = patch_sizes(archive(tensor_pickle(), {"0": F32x6 * 2}, zipfile.ZIP_DEFLATED),
                                                "pytorch_model/data/0", size=24)
    # the format of torch < 1.6: a bare pickle of the magic number, then more pickles
    out["legacy_format.bin"] = bytearray(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19." + b"\x80\x02K\x03.")
    # a valid one-tensor checkpoint, to show the builder itself makes readable files
    out["valid.bin"] = archive(tensor_pickle(), {"0": F32x6})
    # the same with zip64 extra fields in the local headers (torch writes zip64 for shards over 4 GiB)
    out["valid_zip64.bin"] = archive(tensor_pickle(), {"0": F32x6}, zip64=True)
    return out


def prove():
    for name, payload in (("os.system", OS_SYSTEM), ("__builtin__.eval", EVAL)):
        with tempfile.TemporaryDirectory() as d:
            cwd = os.getcwd()
            os.chdir(d)
            try:
                pickle.loads(payload)
            finally:
                os.chdir(cwd)
            live = os.path.exists(os.path.join(d, MARKER))
            print(f"{name}: Python's pickle {'created' if live else 'did NOT create'} the marker")
            if not live:
                sys.exit(1)


def main():
    if sys.argv[1:] == ["--prove"]:
        prove()
        return
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/bin/hostile"
    os.makedirs(out, exist_ok=True)
    for name, data in files().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote", len(files()), "files to", out)


if __name__ == "__main__":
    main()
