import ctypes
import os
import unittest

import numpy as np

import profs
from profs import _lib


class TestLibrary(unittest.TestCase):
    def test_version_matches_library(self):
        v = profs.version()
        major, minor, patch = (int(x) for x in v.split("."))
        self.assertEqual(profs.version_number(), major * 10000 + minor * 100 + patch)

    def test_loaded_from_environment(self):
        path = os.environ.get("PROFS_LIBRARY")
        if path:
            self.assertEqual(profs.library_path(), path)

    def test_strerror_fixed_text(self):
        self.assertEqual(profs.strerror(profs.ESHAPE), "shape or size mismatch")
        self.assertEqual(profs.strerror(-1000), "unknown error")

    def test_error_codes_match_library(self):
        # Every code the binding names has library text of its own.
        texts = {profs.strerror(c) for c in _lib.CODE_NAMES if c != 0}
        self.assertEqual(len(texts), len(_lib.CODE_NAMES) - 1)
        self.assertNotIn("unknown error", texts)

    def test_error_carries_code_and_message(self):
        with self.assertRaises(profs.ProfsError) as cm:
            _lib.lib.profs_dtype_from_name(ctypes.byref(ctypes.c_int()), b"F33")
        self.assertEqual(cm.exception.code, profs.ENOTFOUND)
        self.assertEqual(cm.exception.name, "PROFS_ENOTFOUND")
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Model("no-such-dir/no-such-model.safetensors")
        e = cm.exception
        self.assertEqual(e.code, profs.EIO)
        self.assertIsInstance(e, Exception)
        # the library's own message, naming the file
        self.assertIn("no-such-model.safetensors", e.message)
        self.assertEqual(e.message, profs.last_error())
        self.assertEqual(str(e), e.message + " (PROFS_EIO)")

    def test_missing_symbol_raises_profs_error(self):
        # A function the loaded library lacks fails with a ProfsError naming it.
        _lib._PROTOTYPES["profs_no_such_function"] = (_lib.STATUS, [])
        try:
            with self.assertRaises(profs.ProfsError) as cm:
                _lib.lib.profs_no_such_function()
            self.assertEqual(cm.exception.code, profs.EUNSUPPORTED)
            self.assertIn("profs_no_such_function", cm.exception.message)
        finally:
            del _lib._PROTOTYPES["profs_no_such_function"]
            _lib.lib.__dict__.pop("profs_no_such_function", None)


_PROBE = "import profs; print(profs.library_path()); print(profs.version())"


def _run_probe(env, cwd):
    """Run a fresh interpreter importing the package at cwd; (returncode, stdout, stderr)."""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-c", _PROBE], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class TestDiscovery(unittest.TestCase):
    """The three places libprofs.so.0 is looked up, each in a fresh interpreter."""

    def setUp(self):
        import shutil
        import tempfile
        self.built = profs.library_path()
        if os.sep not in self.built:
            self.skipTest("the library under test was not loaded from a path")
        self.tmp = tempfile.mkdtemp(prefix="profs-discovery-")
        self.addCleanup(shutil.rmtree, self.tmp)
        pkg = os.path.dirname(os.path.abspath(profs.__file__))
        self.copy = os.path.join(self.tmp, "profs")
        shutil.copytree(pkg, self.copy, ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PROFS_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"

    def test_next_to_package(self):
        import shutil
        shutil.copy(self.built, os.path.join(self.copy, "libprofs.so.0"))
        rc, out, err = _run_probe(self.env, self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[0], os.path.join(self.copy, "libprofs.so.0"))
        self.assertEqual(out.split("\n")[1], profs.version())

    def test_system_loader(self):
        env = dict(self.env, LD_LIBRARY_PATH=os.path.dirname(self.built))
        rc, out, err = _run_probe(env, self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[0], "libprofs.so.0")
        self.assertEqual(out.split("\n")[1], profs.version())

    def test_environment_variable_wins(self):
        import shutil
        shutil.copy(self.built, os.path.join(self.copy, "libprofs.so.0"))
        env = dict(self.env, PROFS_LIBRARY=self.built)
        rc, out, err = _run_probe(env, self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[0], self.built)

    def test_not_found_is_profs_error(self):
        missing = os.path.join(self.tmp, "nowhere", "libprofs.so.0")
        env = dict(self.env, PROFS_LIBRARY=missing)
        import subprocess
        import sys
        code = ("import profs\n"
                "try:\n    profs.version()\n"
                "except profs.ProfsError as e:\n"
                "    print(e.code, isinstance(e, OSError), isinstance(e, profs.LibraryNotFound))\n"
                "    print(e.message)\n")
        p = subprocess.run([sys.executable, "-c", code], cwd=self.tmp, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        first, message = p.stdout.decode().split("\n")[:2]
        self.assertEqual(first, "%d True True" % profs.ENOTFOUND)
        self.assertIn(missing, message)
        self.assertIn("PROFS_LIBRARY", message)


class TestArgumentErrors(unittest.TestCase):
    """Bad arguments raise ProfsError too, never a silent wrap-around in ctypes."""

    def assertEinval(self, fn, word):
        with self.assertRaises(profs.ProfsError) as cm:
            fn()
        self.assertEqual(cm.exception.code, profs.EINVAL, cm.exception.message)
        self.assertIn(word, cm.exception.message)

    def test_sizes_out_of_range(self):
        # ctypes alone would turn 2**64 + 3 into 3 and -1 into 2**64 - 1.
        self.assertEinval(lambda: profs.Estimator(rank_max=2 ** 64 + 3), "rank_max")
        self.assertEinval(lambda: profs.Estimator(rank_max=-1), "rank_max")
        self.assertEinval(lambda: profs.screenot(np.linspace(1, 2, 20), 0.5, 2 ** 64 + 3),
                          "rank_max")
        self.assertEinval(lambda: profs.Collector(2 ** 64, 3), "n_layers")
        self.assertEinval(lambda: profs.Collector(2, -3), "dim")
        self.assertEinval(lambda: _lib.lib.profs_collector_new(
            ctypes.byref(ctypes.c_void_p()), 2, -1), "profs_collector_new: argument 3")

    def test_non_numbers(self):
        self.assertEinval(lambda: profs.Collector("2", 3), "n_layers")
        self.assertEinval(lambda: profs.Collector(2.5, 3), "n_layers")
        self.assertEinval(lambda: profs.Estimator(rank_max=1.5), "rank_max")
        self.assertEinval(lambda: profs.screenot(np.linspace(1, 2, 20), "wide", 3), "aspect_ratio")
        self.assertEinval(lambda: profs.screenot(["a", "b"], 0.5, 0), "singular_values")
        c = profs.Collector(2, 3)
        self.assertEinval(lambda: c.add_pair([["x"] * 3] * 2, np.zeros((2, 3))), "preferred")
        self.assertEinval(lambda: profs.Collector.load(42), "path")
        self.assertEinval(lambda: c.preferred("0"), "layer")
        c.add_pair(np.ones((2, 3)), np.zeros((2, 3)))
        self.assertEinval(lambda: profs.Estimator(rank="fixed", rank_max=1).estimate(c, 2), "layer")
        self.assertEinval(lambda: profs.Estimator(rank="fixed", rank_max=1).estimate(c, -3),
                          "layer")
        self.assertEinval(lambda: profs.Edit(-4), "dim")
        e = profs.Edit(3)
        self.assertEinval(lambda: e.add(-1, profs.Subspace.from_basis(np.eye(1, 3))), "layer")
        self.assertNotIn(-1, e)
        self.assertNotIn("0", e)
        with self.assertRaises(KeyError):
            e[-1]
        # numpy integers are integers
        self.assertEqual(profs.Collector(np.int64(2), np.uint32(3)).dim, 3)


class TestConversions(unittest.TestCase):
    def test_no_copy_for_c_contiguous_float32(self):
        from profs._handle import f32
        a = np.zeros((3, 4), dtype=np.float32)
        self.assertIs(f32(a, "a", (3, 4)), a)
        b = np.zeros((4, 3), dtype=np.float32).T  # Fortran order: must be copied
        self.assertIsNot(f32(b, "b", (3, 4)), b)
        self.assertTrue(f32(b, "b").flags.c_contiguous)

    def test_shape_mismatch_is_profs_error(self):
        from profs._handle import f32
        with self.assertRaises(profs.ProfsError) as cm:
            f32(np.zeros((2, 3)), "x", (3, 2))
        self.assertEqual(cm.exception.code, profs.ESHAPE)


if __name__ == "__main__":
    unittest.main()
