"""profs.Edit: estimate over layers, save/load, apply to a GPT-2 fixture, save the model."""

import math
import os
import unittest

import numpy as np

import profs
from tests.util import TempDirTest, planted_pairs

FIXTURES = os.environ.get("PROFS_LM_FIXTURES")
SRC = os.environ.get("PROFS_TEST_SRC") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
GEMMA2 = os.path.join(SRC, "tests", "data", "tf", "gemma2")


class TestEditArtifact(TempDirTest):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(21)
        self.pref, self.disp, self.bases = planted_pairs(rng, 60, 2, 32, rank=2)
        self.c = profs.Collector(2, 32)
        self.c.add_pairs(self.pref, self.disp)

    def test_estimate_save_load(self):
        est = profs.Estimator(rank="screenot", rank_max=5)
        seen = []
        e = profs.Edit.estimate(est, self.c, progress=lambda *a: seen.append(a))
        self.assertEqual((e.dim, e.layers, len(e)), (32, [0, 1], 2))
        self.assertTrue(seen)
        for layer in (0, 1):
            np.testing.assert_array_equal(e[layer].basis, est.estimate(self.c, layer).basis)
        e.model_id = "tiny"
        e.architecture = "gpt2"
        path = self.path("edit.safetensors")
        e.save(path)
        back = profs.Edit.load(path)
        self.assertEqual((back.dim, back.layers, back.model_id, back.architecture),
                         (32, [0, 1], "tiny", "gpt2"))
        for layer in (0, 1):
            np.testing.assert_array_equal(back[layer].basis, e[layer].basis)
            self.assertEqual(back[layer].rank, 2)
        with self.assertRaises(KeyError):
            back[5]
        self.assertNotIn(5, back)
        # a subspace view keeps its edit alive
        sub = profs.Edit.load(path)[1]
        np.testing.assert_array_equal(sub.basis, e[1].basis)

    def test_layers_and_add(self):
        e = profs.Edit.estimate(None, self.c, layers=[1])
        self.assertEqual(e.layers, [1])
        e.add(0, profs.Subspace.from_basis(self.bases[0].astype(np.float32)))
        self.assertEqual(e.layers, [0, 1])
        with self.assertRaises(profs.ProfsError) as cm:
            e.add(0, profs.Subspace.from_basis(self.bases[0].astype(np.float32)))
        self.assertEqual(cm.exception.code, profs.EEXIST)
        with self.assertRaises(profs.ProfsError) as cm:
            e.add(3, profs.Subspace.from_basis(np.eye(4, 16, dtype=np.float32)))
        self.assertEqual(cm.exception.code, profs.ESHAPE)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Edit.estimate(None, self.c, layers=[0, 7])
        self.assertEqual(cm.exception.code, profs.EINVAL)

    def test_load_rejects_other_files(self):
        path = self.path("weights.safetensors")
        profs.safetensors_write(path, {"w": np.zeros((2, 2), np.float32)})
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Edit.load(path)
        self.assertEqual(cm.exception.code, profs.EFORMAT)
        self.assertIn("weights.safetensors", cm.exception.message)


@unittest.skipUnless(FIXTURES, "PROFS_LM_FIXTURES not set (tests/sh/python.sh generates them)")
class TestEditApply(TempDirTest):
    def test_apply_to_gpt2_and_save(self):
        src = os.path.join(FIXTURES, "gpt2")
        rng = np.random.default_rng(22)
        edit = profs.Edit(32)
        bases = {}
        for layer in (0, 1):
            q, _ = np.linalg.qr(rng.standard_normal((32, 3)))
            bases[layer] = q.T.astype(np.float32)
            edit.add(layer, profs.Subspace.from_basis(bases[layer]))
        out = self.path("edited")
        with profs.Model(src) as m:
            report = edit.apply(m, targets="value")
            self.assertEqual(report.architecture, "gpt2")
            names = [r.name for r in report]
            self.assertEqual(names, ["h.0.mlp.c_proj.weight", "h.1.mlp.c_proj.weight"])
            self.assertTrue(all(r.role == "value" and r.rank == 3 and not r.applied for r in report))
            self.assertFalse(any(r.post_norm for r in report))
            self.assertTrue(math.isnan(report.entries[0].delta_norm))
            edit.close()  # the edit may go; the staged transforms hold what they need
            m.save(out)
            originals = {n: m.read(n) for n in m.tensor_names()}
        entries = report.entries
        self.assertTrue(all(r.applied for r in entries))
        with profs.Model(out) as e:
            for name, w in originals.items():
                got = e.read(name)
                layer = next((r.layer for r in entries if r.name == name), None)
                if layer is None:
                    np.testing.assert_array_equal(got, w, err_msg=name)
                    continue
                v = bases[layer].astype(np.float64)
                ref = w - (w @ v.T) @ v          # Conv1D c_proj is [F, D]: W (I - V V^T)
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=name)
                r = entries[[x.name for x in entries].index(name)]
                self.assertAlmostEqual(r.delta_norm, np.linalg.norm(w - ref), delta=1e-4 * r.delta_norm)
                self.assertAlmostEqual(r.weight_norm, np.linalg.norm(w), delta=1e-4 * r.weight_norm)

    def test_post_norm_flag(self):
        """Gemma-2's value matrix is projected post-norm aware (docs/core.md); its keys plainly."""
        if not os.path.isdir(GEMMA2):
            self.skipTest("tests/data/tf/gemma2 not found")
        rng = np.random.default_rng(5)
        q, _ = np.linalg.qr(rng.standard_normal((32, 2)))
        edit = profs.Edit(32)
        edit.add(1, profs.Subspace.from_basis(q.T.astype(np.float32)))
        with profs.Model(GEMMA2) as m:
            report = edit.apply(m, targets="both")
            self.assertEqual(report.architecture, "gemma2")
            got = [(r.name, r.role, r.post_norm) for r in report]
            self.assertEqual(got, [("model.layers.1.mlp.down_proj.weight", "value", True),
                                   ("model.layers.1.mlp.gate_proj.weight", "key", False),
                                   ("model.layers.1.mlp.up_proj.weight", "key", False)])
            self.assertIs(report.entries[0].post_norm, True)

    def test_apply_errors(self):
        src = os.path.join(FIXTURES, "gpt2")
        with profs.Model(src) as m:
            wrong_dim = profs.Edit(16)
            wrong_dim.add(0, profs.Subspace.from_basis(np.eye(1, 16, dtype=np.float32)))
            with self.assertRaises(profs.ProfsError) as cm:
                wrong_dim.apply(m)
            self.assertEqual(cm.exception.code, profs.ESHAPE)
            deep = profs.Edit(32)
            deep.add(9, profs.Subspace.from_basis(np.eye(1, 32, dtype=np.float32)))
            with self.assertRaises(profs.ProfsError) as cm:
                deep.apply(m)
            self.assertEqual(cm.exception.code, profs.ENOTFOUND)
            self.assertIn("9", cm.exception.message)
            with self.assertRaises(profs.ProfsError) as cm:
                deep.apply(m, targets="attention")
            self.assertEqual(cm.exception.code, profs.EINVAL)
            self.assertEqual(m.staged_count, 0)


if __name__ == "__main__":
    unittest.main()
