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
