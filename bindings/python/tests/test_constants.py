"""The numbers the binding copies from the C headers equal the headers' own
(abi/constants.txt, generated from them by scripts/abi-constants)."""

import os
import unittest

import profs
from profs import _lib, _core, _model, _edit, _lm

SRC = os.environ.get("PROFS_TEST_SRC") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
CONSTANTS = os.path.join(SRC, "abi", "constants.txt")


@unittest.skipUnless(os.path.exists(CONSTANTS), "abi/constants.txt not found")
class TestConstants(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(CONSTANTS) as f:
            cls.c = {name: int(value) for name, value in (line.split() for line in f)}

    def test_error_codes(self):
        for code, name in _lib.CODE_NAMES.items():
            self.assertEqual(self.c[name], code, name)
            self.assertEqual(getattr(profs, name[len("PROFS_"):]), code)

    def test_dtypes(self):
        for i, name in enumerate(_model.DTYPE_NAMES):
            self.assertEqual(self.c["PROFS_DTYPE_" + name], i, name)

    def test_options(self):
        tables = [(_core._CENTERING, "PROFS_CENTER_"), (_core._RANK_RULE, "PROFS_RANK_"),
                  (_core._STRATEGY, "PROFS_SCREENOT_"), (_core._LAYOUT, "PROFS_LAYOUT_"),
                  (_edit._TARGETS, "PROFS_TARGET_"), (_lm._COMPUTE, "PROFS_COMPUTE_")]
        for table, prefix in tables:
            for key, value in table.items():
                cname = prefix + key.upper().replace("-", "_")
                self.assertEqual(self.c[cname], value, cname)

    def test_names_match_the_library(self):
        import ctypes
        lib = _lib.lib
        for table, to_name, from_name in (
                (_core._CENTERING, lib.profs_centering_name, lib.profs_centering_from_name),
                (_core._RANK_RULE, lib.profs_rank_rule_name, lib.profs_rank_rule_from_name),
                (_core._STRATEGY, lib.profs_screenot_strategy_name,
                 lib.profs_screenot_strategy_from_name)):
            for key, value in table.items():
                name = to_name(value)
                self.assertTrue(name, key)
                v = ctypes.c_int()
                from_name(ctypes.byref(v), name)
                self.assertEqual(v.value, value, name)

    def test_compute_names_match_the_library(self):
        for key, value in _lm._COMPUTE.items():
            self.assertEqual(_lib.lib.profs_compute_name(value).decode(), key)

    def test_flags_through_function_twins(self):
        lib = _lib.lib
        self.assertEqual(lib.profs_encode_flag_add_special(), self.c["PROFS_ENCODE_ADD_SPECIAL"])
        self.assertEqual(lib.profs_encode_flag_special_as_text(),
                         self.c["PROFS_ENCODE_SPECIAL_AS_TEXT"])
        self.assertEqual(lib.profs_decode_flag_skip_special(), self.c["PROFS_DECODE_SKIP_SPECIAL"])


if __name__ == "__main__":
    unittest.main()
