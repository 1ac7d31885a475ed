"""The whole ProFS pipeline through the Python binding on the demo model (profs demo-model):
tokenize pairs, pool block outputs, collect, estimate, apply, save, and measure that the
planted toxic behaviour is gone while neutral text is modelled as before."""

import json
import os
import unittest

import numpy as np

import profs
from tests.util import TempDirTest

DEMO = os.environ.get("PROFS_DEMO_MODEL")
DATA = os.path.join(os.environ.get("PROFS_TEST_SRC") or
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."), "data")


@unittest.skipUnless(DEMO, "PROFS_DEMO_MODEL not set (tests/sh/python.sh writes it with profs demo-model)")
class TestPipeline(TempDirTest):
    def test_edit_removes_the_planted_behaviour(self):
        with open(os.path.join(DATA, "pairs.jsonl"), encoding="utf-8") as f:
            pairs = [json.loads(line) for line in f][:128]
        with open(os.path.join(DATA, "prompts.txt"), encoding="utf-8") as f:
            prompts = [line.strip() for line in f if line.strip()]
        with open(os.path.join(DATA, "watch_words.txt"), encoding="utf-8") as f:
            words = f.read().split()
        with open(os.path.join(DATA, "neutral.txt"), encoding="utf-8") as f:
            neutral = f.read()[:3000]

        tok = profs.Tokenizer(DEMO)
        watch = [tok.encode(" " + w, add_special=False) for w in words]
        self.assertTrue(all(len(w) == 1 for w in watch))  # each insult word is one token
        watch = [w[0] for w in watch]
        neutral_ids = tok.encode(neutral)

        def toxic_mass(lm):
            return float(np.mean([np.exp(lm.next_logprobs(tok.encode(p))[watch]).sum()
                                  for p in prompts]))

        out = self.path("edited")
        with profs.LM(DEMO) as lm:
            pref = lm.pool_ids([tok.encode(p["preferred"]) for p in pairs])
            disp = lm.pool_ids([tok.encode(p["dispreferred"]) for p in pairs])
            collector = profs.Collector(lm.n_layers, lm.hidden_size)
            collector.add_pairs(pref, disp)
            before = toxic_mass(lm)
            ppl_before, _ = lm.perplexity(neutral_ids, max_length=128, stride=64)

        edit = profs.Edit.estimate(profs.Estimator(rank="screenot", rank_max=5), collector,
                                   layers=[2, 3, 4, 5])
        self.assertEqual(edit.layers, [2, 3, 4, 5])
        self.assertTrue(all(1 <= edit[layer].rank <= 5 for layer in edit.layers))
        with profs.Model(DEMO) as model:
            report = edit.apply(model)
            model.save(out)
        names = [r.name for r in report]
        self.assertEqual(names, ["transformer.h.%d.mlp.c_proj.weight" % i for i in (2, 3, 4, 5)])
        self.assertTrue(all(r.applied and r.delta_norm > 0 for r in report))

        with profs.LM(out) as lm:
            after = toxic_mass(lm)
            ppl_after, _ = lm.perplexity(neutral_ids, max_length=128, stride=64)
        self.assertGreater(before, 0.9)      # the planted mechanism works ...
        self.assertLess(after, 0.01)         # ... and the edit removes it
        self.assertLess(abs(ppl_after / ppl_before - 1), 0.01)   # neutral text: unchanged


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(DEMO, "PROFS_DEMO_MODEL not set (tests/sh/python.sh writes it with profs demo-model)")
class TestTextCollection(unittest.TestCase):
    def test_collect_equals_tokenize_and_pool(self):
        with open(os.path.join(DATA, "pairs.jsonl"), encoding="utf-8") as f:
            pairs = [json.loads(line) for line in f][:12]
        pref = [p["preferred"] for p in pairs]
        disp = [p["dispreferred"] for p in pairs]
        tok = profs.Tokenizer(DEMO)
        with profs.LM(DEMO) as lm:
            self.assertTrue(lm.has_tokenizer)
            for text in pref[:3]:
                self.assertEqual(list(lm.tokenize(text)), tok.encode(text))
            pooled = lm.pool_texts(pref)
            np.testing.assert_allclose(pooled, lm.pool_ids([tok.encode(t) for t in pref]),
                                       rtol=1e-5, atol=1e-6)
            c = profs.Collector(lm.n_layers, lm.hidden_size)
            seen = []
            lm.collect(c, pref, disp, progress=lambda *a: seen.append(a))
            self.assertEqual(c.n_pairs, 12)
            self.assertEqual(seen[-1][1:], (24, 24))
            pooled_disp = lm.pool_texts(disp)
            for layer in range(lm.n_layers):
                np.testing.assert_allclose(c.preferred(layer), pooled[:, layer], rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(c.dispreferred(layer), pooled_disp[:, layer],
                                           rtol=1e-5, atol=1e-6)
            # cancelling keeps the pairs added so far
            with self.assertRaises(profs.ProfsError) as cm:
                lm.collect(c, pref, disp, progress=lambda stage, done, total: done >= 4)
            self.assertEqual(cm.exception.code, profs.ECANCELLED)
            self.assertGreaterEqual(c.n_pairs, 12)
            with self.assertRaises(profs.ProfsError) as cm:
                lm.collect(profs.Collector(2, 8), pref, disp)
            self.assertEqual(cm.exception.code, profs.ESHAPE)
            with self.assertRaises(profs.ProfsError) as cm:
                lm.collect(c, pref, disp[:3])
            self.assertEqual(cm.exception.code, profs.EINVAL)
