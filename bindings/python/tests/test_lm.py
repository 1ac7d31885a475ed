"""profs.LM on the runtime's tiny random fixtures (tests/gen/gen_lm_fixtures), checked
for consistency with numpy computations on the binding's own outputs."""

import os
import unittest

import numpy as np

import profs

FIXTURES = os.environ.get("PROFS_LM_FIXTURES")


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@unittest.skipUnless(FIXTURES, "PROFS_LM_FIXTURES not set (tests/sh/python.sh generates them)")
class TestLM(unittest.TestCase):
    def setUp(self):
        self.lm = profs.LM(os.path.join(FIXTURES, "gpt2"))
        self.ids = [5, 17, 42, 7, 99, 3, 250]

    def tearDown(self):
        self.lm.close()

    def test_shape_queries(self):
        lm = self.lm
        self.assertEqual(lm.architecture, "gpt2")
        self.assertEqual((lm.n_layers, lm.hidden_size, lm.vocab_size, lm.max_positions),
                         (2, 32, 300, 64))
        self.assertIn("h.0.mlp.c_proj.weight", lm.model)

    def test_pooling_is_the_mean_of_block_outputs(self):
        h = self.lm.hidden_states(self.ids)
        self.assertEqual(h.shape, (3, 7, 32))
        short = [8, 9, 10]
        pooled = self.lm.pool_ids([self.ids, short])
        self.assertEqual(pooled.shape, (2, 2, 32))
        np.testing.assert_allclose(pooled[0], h[1:].mean(axis=1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(pooled[1], self.lm.hidden_states(short)[1:].mean(axis=1),
                                   rtol=1e-5, atol=1e-5)
        skip = self.lm.pool_ids([self.ids], skip_first=True)
        np.testing.assert_allclose(skip[0], h[1:, 1:].mean(axis=1), rtol=1e-5, atol=1e-5)

    def test_pool_pairs_shares_prefixes(self):
        a, b = self.ids, self.ids[:3] + [40, 41]
        pooled, saved = self.lm.pool_pairs([(a, b), (a, a)])
        self.assertEqual(pooled.shape, (4, 2, 32))
        self.assertEqual(saved, 3 + len(a))
        whole = self.lm.pool_ids([a, b, a, a])
        np.testing.assert_allclose(pooled, whole, rtol=1e-6, atol=1e-7)
        self.lm.set_prefix_sharing(False)
        pooled, saved = self.lm.pool_pairs([(a, b)])
        self.assertEqual(saved, 0)
        np.testing.assert_array_equal(pooled, self.lm.pool_ids([a, b]))
        self.lm.set_prefix_sharing(True)

    def test_compute_modes(self):
        self.assertEqual((self.lm.compute, self.lm.compute_kernel), ("f32", "OpenBLAS sgemm"))
        with self.assertRaises(profs.ProfsError) as cm:
            self.lm.set_compute("fp8")
        self.assertEqual(cm.exception.code, profs.EINVAL)
        old = os.environ.get("PROFS_DISABLE_ISA")
        os.environ["PROFS_DISABLE_ISA"] = "amx_tile"
        try:
            with self.assertRaises(profs.ProfsError) as cm:
                self.lm.set_compute("bf16")
            self.assertEqual(cm.exception.code, profs.EUNSUPPORTED)
            self.assertIn("amx_tile", str(cm.exception))
        finally:
            if old is None:
                del os.environ["PROFS_DISABLE_ISA"]
            else:
                os.environ["PROFS_DISABLE_ISA"] = old
        self.assertEqual(self.lm.compute, "f32")
        ref = self.lm.pool_ids([self.ids])
        try:
            self.lm.set_compute("bf16")
        except profs.ProfsError as e:  # no AMX here: the refusal names what is missing
            self.assertEqual(e.code, profs.EUNSUPPORTED)
            self.assertIn("amx_", str(e))
            return
        self.assertEqual((self.lm.compute, self.lm.compute_kernel), ("bf16", "AMX-BF16 tiles"))
        np.testing.assert_allclose(self.lm.pool_ids([self.ids]), ref, rtol=1e-4, atol=1e-5)
        self.lm.set_compute("f32")

    def test_logits_perplexity_generation(self):
        logits = self.lm.logits(self.ids)
        self.assertEqual(logits.shape, (7, 300))
        lp = self.lm.next_logprobs(self.ids)
        np.testing.assert_allclose(lp, log_softmax(logits[-1]), atol=1e-4)
        nll = -np.mean([log_softmax(logits[i])[self.ids[i + 1]] for i in range(6)])
        ppl, mean_nll = self.lm.perplexity(self.ids)
        self.assertAlmostEqual(mean_nll, nll, delta=1e-4 * abs(nll))
        self.assertAlmostEqual(ppl / np.exp(nll), 1.0, delta=1e-4)
        # greedy generation = repeated argmax of the logits
        out = self.lm.generate(self.ids[:3], 4)
        seq = list(self.ids[:3])
        for _ in range(4):
            seq.append(int(np.argmax(self.lm.logits(seq)[-1])))
        self.assertEqual(out, seq[3:])
        seen = []
        self.assertEqual(self.lm.generate(self.ids[:3], 4, on_token=seen.append), out)
        self.assertEqual(seen, out)
        self.assertEqual(self.lm.generate(self.ids[:3], 4, on_token=lambda t: True), out[:1])
        a = self.lm.generate(self.ids[:3], 6, temperature=1.0, top_k=20, seed=7)
        b = self.lm.generate(self.ids[:3], 6, temperature=1.0, top_k=20, seed=7)
        self.assertEqual(a, b)

    def test_progress_and_cancel(self):
        seen = []
        self.lm.pool_ids([self.ids, self.ids], progress=lambda s, d, t: seen.append((s, d, t)))
        self.assertTrue(seen)
        self.assertEqual(seen[-1][1], seen[-1][2])
        with self.assertRaises(profs.ProfsError) as cm:
            self.lm.pool_ids([self.ids], progress=lambda *a: 1)
        self.assertEqual(cm.exception.code, profs.ECANCELLED)

        def boom(*a):
            raise RuntimeError("stop here")
        with self.assertRaises(RuntimeError):
            self.lm.perplexity(self.ids, progress=boom)

    def test_errors(self):
        with self.assertRaises(profs.ProfsError) as cm:
            self.lm.hidden_states([1, 300])
        self.assertEqual(cm.exception.code, profs.EINVAL)
        self.assertIn("300", cm.exception.message)
        with self.assertRaises(profs.ProfsError) as cm:
            self.lm.hidden_states([])
        self.assertEqual(cm.exception.code, profs.EINVAL)
        with self.assertRaises(profs.ProfsError) as cm:
            self.lm.set_batch_tokens(0)
        self.assertEqual(cm.exception.code, profs.EINVAL)
        with self.assertRaises(profs.ProfsError):
            profs.LM(os.path.join(FIXTURES, "no-such-model"))

    def test_model_view_keeps_staged_work_alive(self):
        import gc
        import tempfile
        view = self.lm.model
        view.stage_transform("h.0.mlp.c_proj.weight", lambda name, a: a.__imul__(2))
        w = view.read("h.0.mlp.c_proj.weight")
        del view
        gc.collect()   # the callback must survive its view: the LM holds it
        with tempfile.TemporaryDirectory(dir=os.environ.get("PROFS_TEST_TMP")) as d:
            self.lm.model.save(os.path.join(d, "out"))
            with profs.Model(os.path.join(d, "out")) as m:
                np.testing.assert_array_equal(m.read("h.0.mlp.c_proj.weight"), w * 2)

    def test_over_an_open_model(self):
        with profs.Model(os.path.join(FIXTURES, "gpt2")) as m:
            lm = profs.LM(m)
            np.testing.assert_array_equal(lm.hidden_states(self.ids), self.lm.hidden_states(self.ids))
            lm.close()


if __name__ == "__main__":
    unittest.main()
