"""screenot, Collector, Estimator, Subspace, project against independent numpy references."""

import gc
import math
import unittest

import numpy as np

import profs
from tests.util import (screenot_reference, spiked, planted_pairs, reference_subspace,
                        projector_distance, TempDirTest)


class TestScreeNOT(unittest.TestCase):
    def test_matches_reference_every_strategy(self):
        rng = np.random.default_rng(1)
        y = spiked(rng, 120, 300, [6.0, 4.0, 3.0])
        for strategy in ("impute", "winsorize", "zero"):
            thr, rank = profs.screenot(y, 120 / 300, 10, strategy=strategy)
            ref_thr, ref_rank = screenot_reference(y, 120 / 300, 10, strategy)
            self.assertAlmostEqual(thr / ref_thr, 1.0, delta=1e-9, msg=strategy)
            self.assertEqual(rank, ref_rank, strategy)

    def test_recovers_planted_rank(self):
        rng = np.random.default_rng(2)
        y = spiked(rng, 200, 400, [8.0, 6.0, 5.0, 4.0])
        thr, rank = profs.screenot(y, 0.5, 15)
        self.assertEqual(rank, 4)
        self.assertEqual(rank, int(np.sum(y > thr)))

    def test_order_and_scale(self):
        rng = np.random.default_rng(3)
        y = spiked(rng, 100, 100, [5.0, 3.0])
        t1, r1 = profs.screenot(y, 1.0, 8)
        t2, r2 = profs.screenot(rng.permutation(y) * 1e6, 1.0, 8)
        self.assertAlmostEqual(t2 / (t1 * 1e6), 1.0, delta=1e-9)
        self.assertEqual(r1, r2)

    def test_accepts_lists_and_float32(self):
        rng = np.random.default_rng(4)
        y = spiked(rng, 60, 90, [5.0])
        a = profs.screenot(list(y), 60 / 90, 5)
        b = profs.screenot(y.astype(np.float32).astype(np.float64), 60 / 90, 5)
        self.assertEqual(a[1], b[1])

    def test_errors(self):
        y = np.linspace(1, 2, 20)
        cases = [
            ((y, 0.5, 20), profs.EINVAL, "rank_max"),    # rank_max >= n
            ((y, 0.5, 10), profs.EINVAL, None),          # impute needs 2k + 1 < n
            ((y, 0.0, 3), profs.EINVAL, None),           # aspect ratio out of (0, 1]
            ((y, 1.5, 3), profs.EINVAL, None),
            ((-y, 0.5, 3), profs.EINVAL, None),          # negative values
        ]
        for args, code, word in cases:
            with self.assertRaises(profs.ProfsError, msg=str(args[1:])) as cm:
                profs.screenot(*args)
            self.assertEqual(cm.exception.code, code, cm.exception.message)
            self.assertTrue(cm.exception.message)
            if word:
                self.assertIn(word, cm.exception.message)
        bad = y.copy()
        bad[3] = math.nan
        with self.assertRaises(profs.ProfsError) as cm:
            profs.screenot(bad, 0.5, 3)
        self.assertEqual(cm.exception.code, profs.ENUMERIC)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.screenot(y, 0.5, 3, strategy="median")
        self.assertEqual(cm.exception.code, profs.EINVAL)
        self.assertIn("median", cm.exception.message)
        # rank_max 10 is fine with winsorization (10 < 20)
        profs.screenot(y, 0.5, 10, strategy="winsorize")


class TestCollector(unittest.TestCase):
    def test_add_and_read_back(self):
        rng = np.random.default_rng(5)
        c = profs.Collector(3, 8)
        self.assertEqual((c.n_layers, c.dim, c.n_pairs, len(c)), (3, 8, 0, 0))
        p = rng.standard_normal((4, 3, 8)).astype(np.float32)
        d = rng.standard_normal((4, 3, 8)).astype(np.float32)
        for i in range(4):
            c.add_pair(p[i], d[i])
        self.assertEqual(c.n_pairs, 4)
        for layer in range(3):
            np.testing.assert_array_equal(c.preferred(layer), p[:, layer, :])
            np.testing.assert_array_equal(c.dispreferred(layer), d[:, layer, :])
        np.testing.assert_array_equal(c.preferred(-1), p[:, 2, :])

    def test_converts_other_layouts(self):
        c = profs.Collector(2, 3)
        p = np.arange(6, dtype=np.float64).reshape(3, 2).T  # Fortran-ordered float64
        c.add_pair(p, [[0, 0, 0], [1, 1, 1]])
        np.testing.assert_array_equal(c.preferred(0), [[0, 2, 4]])
        np.testing.assert_array_equal(c.preferred(1), [[1, 3, 5]])
        np.testing.assert_array_equal(c.dispreferred(1), [[1, 1, 1]])

    def test_add_pairs_all_or_nothing(self):
        c = profs.Collector(1, 2)
        p = np.ones((3, 1, 2), dtype=np.float32)
        d = np.zeros((3, 1, 2), dtype=np.float32)
        d[2, 0, 1] = np.inf
        with self.assertRaises(profs.ProfsError) as cm:
            c.add_pairs(p, d)
        self.assertEqual(cm.exception.code, profs.ENUMERIC)
        self.assertEqual(c.n_pairs, 0)
        d[2, 0, 1] = 0
        c.add_pairs(p, d)
        self.assertEqual(c.n_pairs, 3)

    def test_rejects_bad_input(self):
        c = profs.Collector(2, 4)
        with self.assertRaises(profs.ProfsError) as cm:
            c.add_pair(np.zeros((2, 5)), np.zeros((2, 4)))
        self.assertEqual(cm.exception.code, profs.ESHAPE)
        self.assertIn("preferred", cm.exception.message)
        bad = np.zeros((2, 4), dtype=np.float32)
        bad[1, 2] = np.nan
        with self.assertRaises(profs.ProfsError) as cm:
            c.add_pair(np.zeros((2, 4)), bad)
        self.assertEqual(cm.exception.code, profs.ENUMERIC)
        self.assertIn("dispreferred", cm.exception.message)
        self.assertEqual(c.n_pairs, 0)
        with self.assertRaises(profs.ProfsError) as cm:
            c.preferred(2)
        self.assertEqual(cm.exception.code, profs.EINVAL)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Collector(0, 4)
        self.assertEqual(cm.exception.code, profs.EINVAL)

    def test_merge(self):
        a = profs.Collector(1, 3)
        b = profs.Collector(1, 3)
        a.add_pair([[1, 2, 3]], [[0, 0, 0]])
        b.add_pair([[4, 5, 6]], [[1, 1, 1]])
        b.add_pair([[7, 8, 9]], [[2, 2, 2]])
        a.merge(b)
        self.assertEqual(a.n_pairs, 3)
        self.assertEqual(b.n_pairs, 2)
        np.testing.assert_array_equal(a.preferred(0)[:, 0], [1, 4, 7])
        with self.assertRaises(profs.ProfsError) as cm:
            a.merge(profs.Collector(1, 4))
        self.assertEqual(cm.exception.code, profs.ESHAPE)
        self.assertEqual(a.n_pairs, 3)

    def test_model_id_and_producer(self):
        c = profs.Collector(1, 1)
        self.assertIsNone(c.model_id)
        c.model_id = "gpt2-medium"
        self.assertEqual(c.model_id, "gpt2-medium")
        self.assertTrue(c.producer.startswith("libprofs"))
        c.producer = "my pipeline"
        self.assertEqual(c.producer, "my pipeline")

    def test_close_and_context_manager(self):
        with profs.Collector(1, 2) as c:
            c.add_pair([[1, 2]], [[3, 4]])
        self.assertTrue(c.closed)
        with self.assertRaises(profs.ProfsError) as cm:
            c.n_pairs
        self.assertEqual(cm.exception.code, profs.ESTATE)
        c.close()  # twice is harmless
        # finalizer path: dropped without close
        for _ in range(100):
            profs.Collector(4, 64).add_pair(np.ones((4, 64)), np.zeros((4, 64)))
        gc.collect()


class TestCollectorFiles(TempDirTest):
    def test_save_load_roundtrip(self):
        rng = np.random.default_rng(12)
        p = rng.standard_normal((5, 2, 6)).astype(np.float32)
        d = rng.standard_normal((5, 2, 6)).astype(np.float32)
        path = self.path("pairs.safetensors")
        with profs.Collector(2, 6) as c:
            c.add_pairs(p, d)
            c.model_id = "tiny-model"
            c.save(path)
        with profs.Collector.load(path) as back:
            self.assertEqual((back.n_pairs, back.n_layers, back.dim), (5, 2, 6))
            self.assertEqual(back.model_id, "tiny-model")
            for layer in range(2):
                np.testing.assert_array_equal(back.preferred(layer), p[:, layer])
                np.testing.assert_array_equal(back.dispreferred(layer), d[:, layer])
        # the file is an ordinary safetensors file that the tensor store reads
        with profs.Model(path) as m:
            np.testing.assert_array_equal(m.read("layers.1.preferred"), p[:, 1])
            self.assertEqual(m.metadata["model_id"], "tiny-model")

    def test_load_errors(self):
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Collector.load(self.path("missing.safetensors"))
        self.assertEqual(cm.exception.code, profs.EIO)
        path = self.path("not-a-collector.safetensors")
        profs.safetensors_write(path, {"w": np.zeros((2, 2), np.float32)})
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Collector.load(path)
        self.assertEqual(cm.exception.code, profs.EFORMAT)
        self.assertIn("not-a-collector.safetensors", cm.exception.message)


class TestEstimator(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(6)
        self.pref, self.disp, self.bases = planted_pairs(rng, 80, 2, 48, rank=3)
        self.c = profs.Collector(2, 48)
        self.c.add_pairs(self.pref, self.disp)

    def test_screenot_finds_planted_subspace(self):
        e = profs.Estimator(centering="mean", rank="screenot", rank_max=8)
        for layer in range(2):
            s = e.estimate(self.c, layer)
            self.assertEqual(s.rank, 3)
            self.assertEqual(s.dim, 48)
            self.assertEqual(s.n_pairs, 80)
            self.assertEqual(s.basis.shape, (3, 48))
            self.assertEqual(s.basis.dtype, np.float32)
            np.testing.assert_allclose(s.basis @ s.basis.T, np.eye(3), atol=1e-5)
            # the principal angles to the planted subspace are small
            self.assertLess(projector_distance(s.basis, self.bases[layer]), 0.05)
            sv = s.singular_values
            self.assertEqual(sv.shape, (48,))
            self.assertTrue(np.all(np.diff(sv) <= 0))
            self.assertTrue(sv[2] > s.threshold > sv[3])
            self.assertEqual(s.rank, int(np.sum(sv > s.threshold)))

    def test_matches_numpy_reference(self):
        for centering in ("mean", "top-singular", "none"):
            e = profs.Estimator(centering=centering, rank="fixed", rank_max=3)
            s = e.estimate(self.c, 1)
            ref_sv, ref_basis = reference_subspace(self.pref[:, 1], self.disp[:, 1], centering, 3)
            np.testing.assert_allclose(s.singular_values[:10], ref_sv[:10], rtol=1e-4,
                                       atol=1e-5 * ref_sv[0], err_msg=centering)
            self.assertLess(projector_distance(s.basis, ref_basis), 1e-4, centering)
            self.assertTrue(math.isnan(s.threshold))

    def test_fixed_rank_shortcut_and_options(self):
        e = profs.Estimator(rank=2)
        self.assertEqual((e.rank, e.rank_max, e.centering, e.strategy),
                         ("fixed", 2, "mean", "impute"))
        self.assertEqual(e.estimate(self.c, 0).rank, 2)
        e = profs.Estimator(centering="top_singular", strategy="winsorize")
        self.assertEqual((e.centering, e.rank, e.rank_max, e.strategy),
                         ("top-singular", "screenot", 10, "winsorize"))

    def test_deterministic_signs(self):
        e = profs.Estimator(rank="fixed", rank_max=3)
        a = e.estimate(self.c, 0).basis
        b = e.estimate(self.c, 0).basis
        np.testing.assert_array_equal(a, b)

    def test_errors(self):
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Estimator(centering="median")
        self.assertEqual(cm.exception.code, profs.EINVAL)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Estimator(rank="elbow")
        self.assertEqual(cm.exception.code, profs.EINVAL)
        e = profs.Estimator()
        with self.assertRaises(profs.ProfsError) as cm:
            e.estimate(self.c, 2)
        self.assertEqual(cm.exception.code, profs.EINVAL)
        with self.assertRaises(profs.ProfsError) as cm:
            e.estimate(profs.Collector(2, 48), 0)
        self.assertEqual(cm.exception.code, profs.ESTATE)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Estimator(rank="fixed", rank_max=81).estimate(self.c, 0)
        self.assertEqual(cm.exception.code, profs.ESHAPE)


class TestProject(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(7)
        q, _ = np.linalg.qr(rng.standard_normal((32, 4)))
        self.v = q.T.astype(np.float32)  # (4, 32)
        self.rng = rng

    def dense(self, w, layout):
        p = np.eye(32) - self.v.T.astype(np.float64) @ self.v
        w = w.astype(np.float64)
        return p @ w if layout == "d_first" else w @ p

    def test_f32_both_layouts(self):
        for layout, shape in (("d_first", (32, 50)), ("d_last", (50, 32))):
            w = self.rng.standard_normal(shape).astype(np.float32)
            ref = self.dense(w, layout)
            before = w.copy()
            norm = profs.project(w, self.v, layout)
            np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-5)
            self.assertAlmostEqual(norm, np.linalg.norm(before - ref), delta=1e-4 * norm)
            left = self.v @ w if layout == "d_first" else w @ self.v.T
            self.assertLess(np.abs(left).max(), 1e-5)

    def test_f16_and_bf16(self):
        w = self.rng.standard_normal((32, 40)).astype(np.float32)
        ref = self.dense(w, "d_first")
        h = w.astype(np.float16)
        profs.project(h, profs.Subspace.from_basis(self.v), "d_first")
        np.testing.assert_allclose(h.astype(np.float32), ref, atol=4e-3)
        # bfloat16 bits: the top half of float32
        bits = (w.view(np.uint32) >> 16).astype(np.uint16)
        profs.project(bits, self.v, "d_first", dtype="bf16")
        back = (bits.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_allclose(back, ref, atol=3e-2)

    def test_errors(self):
        w = np.zeros((33, 10), dtype=np.float32)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.project(w, self.v, "d_first")
        self.assertEqual(cm.exception.code, profs.ESHAPE)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.project(np.zeros((32, 10)), self.v)
        self.assertEqual(cm.exception.code, profs.EUNSUPPORTED)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.project(np.zeros((10, 32), dtype=np.float32).T, self.v)
        self.assertEqual(cm.exception.code, profs.EINVAL)
        with self.assertRaises(profs.ProfsError) as cm:
            profs.project(np.zeros((32, 10), dtype=np.float32), self.v, "diagonal")
        self.assertEqual(cm.exception.code, profs.EINVAL)

    def test_subspace_from_basis_validates(self):
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Subspace.from_basis(self.v * 2)
        self.assertEqual(cm.exception.code, profs.ENUMERIC)
        s = profs.Subspace.from_basis(self.v)
        self.assertEqual((s.rank, s.dim), (4, 32))
        np.testing.assert_array_equal(s.basis, self.v)


if __name__ == "__main__":
    unittest.main()
