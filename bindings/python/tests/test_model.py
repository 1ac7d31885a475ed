"""profs.Model (the tensor store) and profs.safetensors_write."""

import json
import os
import struct
import unittest

import numpy as np

import profs
from tests.util import TempDirTest


def bf16_bits(x):
    """float32 -> bfloat16 bits, rounded to nearest even (as the library does)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


class TestModel(TempDirTest):
    def write_fixture(self):
        rng = np.random.default_rng(8)
        self.w = rng.standard_normal((6, 4)).astype(np.float32)
        self.h = rng.standard_normal((3,)).astype(np.float16)
        self.b = rng.standard_normal((2, 5)).astype(np.float32)
        path = self.path("m.safetensors")
        profs.safetensors_write(path, {
            "layer.weight": self.w,
            "layer.half": self.h,
            "layer.bf16": ("BF16", bf16_bits(self.b)),
            "ids": np.arange(4, dtype=np.int32),
        }, metadata={"format": "pt", "producer": "test"})
        return path

    def test_read_back_every_dtype(self):
        path = self.write_fixture()
        with profs.Model(path) as m:
            self.assertEqual(m.path, path)
            self.assertEqual(len(m), 4)
            self.assertEqual(m.tensor_names(), sorted(["layer.weight", "layer.half", "layer.bf16", "ids"]))
            self.assertIn("layer.half", m)
            self.assertNotIn("layer.missing", m)
            self.assertEqual(m.info("layer.weight"), profs.TensorInfo("F32", (6, 4), 24, 96))
            self.assertEqual(m.info("layer.bf16"), profs.TensorInfo("BF16", (2, 5), 10, 20))
            self.assertEqual(m.info("ids").dtype, "I32")
            np.testing.assert_array_equal(m.read("layer.weight"), self.w)
            np.testing.assert_array_equal(m.read("layer.half"), self.h.astype(np.float32))
            np.testing.assert_allclose(m.read("layer.bf16"), self.b, rtol=1e-2)
            self.assertEqual(m.read_bytes("ids"), np.arange(4, dtype="<i4").tobytes())
            self.assertEqual(m.metadata, {"format": "pt", "producer": "test"})
            self.assertFalse(m.has_config)

    def test_file_layout_is_safetensors(self):
        path = self.write_fixture()
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        self.assertEqual(header["layer.weight"]["dtype"], "F32")
        self.assertEqual(header["layer.weight"]["shape"], [6, 4])
        self.assertEqual(header["__metadata__"]["producer"], "test")

    def test_stage_and_save(self):
        path = self.write_fixture()
        out = self.path("edited.safetensors")
        seen = []
        with profs.Model(path) as m:
            m.stage("layer.weight", self.w * 2)
            m.stage("layer.bf16", np.ones((2, 5)))
            self.assertEqual(m.staged_count, 2)
            m.save(out, progress=lambda stage, done, total: seen.append((stage, done, total)))
        self.assertTrue(seen)
        self.assertEqual(seen[-1][1], seen[-1][2])
        with profs.Model(out) as e:
            np.testing.assert_array_equal(e.read("layer.weight"), self.w * 2)
            np.testing.assert_array_equal(e.read("layer.bf16"), np.ones((2, 5)))
            np.testing.assert_array_equal(e.read("layer.half"), self.h.astype(np.float32))
            self.assertEqual(e.metadata["producer"], "test")
        with profs.Model(path) as src:  # the source is untouched
            np.testing.assert_array_equal(src.read("layer.weight"), self.w)

    def test_save_cancel_and_callback_exception(self):
        path = self.write_fixture()
        out = self.path("cancelled.safetensors")
        with profs.Model(path) as m:
            m.stage("layer.weight", self.w)
            with self.assertRaises(profs.ProfsError) as cm:
                m.save(out, progress=lambda *a: True)
            self.assertEqual(cm.exception.code, profs.ECANCELLED)
            self.assertFalse(os.path.exists(out))

            def boom(stage, done, total):
                raise KeyError("from the callback")
            with self.assertRaises(KeyError):
                m.save(out, progress=boom)
            self.assertFalse(os.path.exists(out))

    def test_stage_transform(self):
        path = self.write_fixture()
        out = self.path("transformed.safetensors")
        calls = []

        def triple(name, a):
            calls.append((name, a.shape))
            a *= 3

        with profs.Model(path) as m:
            m.stage_transform("layer.weight", triple)
            m.stage_transform("layer.half", triple)
            m.unstage("layer.half")
            self.assertEqual(m.staged_count, 1)
            m.save(out)
            self.assertEqual(calls, [("layer.weight", (6, 4))])

            def boom(name, a):
                raise ValueError("bad tensor " + name)
            m.stage_transform("layer.bf16", boom)
            with self.assertRaises(ValueError):
                m.save(self.path("never.safetensors"))
            self.assertFalse(os.path.exists(self.path("never.safetensors")))
        with profs.Model(out) as e:
            np.testing.assert_array_equal(e.read("layer.weight"), self.w * 3)
            np.testing.assert_array_equal(e.read("layer.half"), self.h.astype(np.float32))

    def test_config_json(self):
        d = self.path("model")
        os.mkdir(d)
        profs.safetensors_write(os.path.join(d, "model.safetensors"), {"w": np.zeros(2, np.float32)})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": "gpt2", "n_layer": 24, "layer_norm_epsilon": 1e-5,
                       "tie_word_embeddings": True, "architectures": ["GPT2LMHeadModel"],
                       "rope_scaling": {"factor": 8.0}, "bad_tokens": [3, 7]}, f)
        with profs.Model(d) as m:
            self.assertTrue(m.has_config)
            self.assertEqual(m.config_int("n_layer"), 24)
            self.assertEqual(m.config_string("model_type"), "gpt2")
            self.assertAlmostEqual(m.config_float("layer_norm_epsilon"), 1e-5)
            self.assertTrue(m.config_bool("tie_word_embeddings"))
            self.assertEqual(m.config_float("rope_scaling.factor"), 8.0)
            self.assertEqual(m.config("architectures"), ["GPT2LMHeadModel"])
            self.assertEqual(m.config("bad_tokens"), [3, 7])
            self.assertEqual(m.config("n_layer"), 24)
            self.assertIsNone(m.config("missing"))
            with self.assertRaises(profs.ProfsError) as cm:
                m.config_int("model_type")
            self.assertEqual(cm.exception.code, profs.EFORMAT)
            self.assertIn("model_type", cm.exception.message)

    def test_errors(self):
        missing = self.path("nope.safetensors")
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Model(missing)
        self.assertEqual(cm.exception.code, profs.EIO)
        self.assertIn("nope.safetensors", cm.exception.message)
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", 1000) + b"{}")
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Model(bad)
        self.assertEqual(cm.exception.code, profs.EFORMAT)
        self.assertIn("bad.safetensors", cm.exception.message)
        m = profs.Model(self.write_fixture())
        with self.assertRaises(profs.ProfsError) as cm:
            m.read("layer.missing")
        self.assertEqual(cm.exception.code, profs.ENOTFOUND)
        with self.assertRaises(profs.ProfsError) as cm:
            m.stage("layer.weight", np.zeros(5))
        self.assertEqual(cm.exception.code, profs.ESHAPE)
        with self.assertRaises(profs.ProfsError) as cm:
            m.read("ids")
        self.assertEqual(cm.exception.code, profs.EUNSUPPORTED)
        m.close()
        with self.assertRaises(profs.ProfsError) as cm:
            m.tensor_names()
        self.assertEqual(cm.exception.code, profs.ESTATE)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.safetensors_write(self.path("x.safetensors"), {"a": np.zeros(2, np.complex64)})
        self.assertEqual(cm.exception.code, profs.EINVAL)


if __name__ == "__main__":
    unittest.main()
