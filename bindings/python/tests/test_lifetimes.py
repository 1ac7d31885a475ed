"""Handles closed in any order: a handle another open handle still uses is freed only
after that user, and a view of a closed owner raises ProfsError(PROFS_ESTATE)
instead of reaching freed memory."""

import gc
import os
import unittest

import numpy as np

import profs

FIXTURES = os.environ.get("PROFS_LM_FIXTURES")
IDS = [5, 17, 42, 7]


class TestViews(unittest.TestCase):
    def test_subspace_view_of_closed_edit(self):
        edit = profs.Edit(4)
        edit.add(1, profs.Subspace.from_basis(np.eye(1, 4, dtype=np.float32)))
        view = edit[1]
        np.testing.assert_array_equal(view.basis, np.eye(1, 4, dtype=np.float32))
        self.assertFalse(view.closed)
        edit.close()
        self.assertTrue(view.closed)
        with self.assertRaises(profs.ProfsError) as cm:
            view.basis
        self.assertEqual(cm.exception.code, profs.ESTATE)
        self.assertEqual(cm.exception.message, "subspace is a view of a closed edit")
        view.close()  # harmless

    def test_closing_a_view_keeps_the_owner(self):
        with profs.Edit(4) as edit:
            edit.add(0, profs.Subspace.from_basis(np.eye(2, 4, dtype=np.float32)))
            edit[0].close()
            self.assertEqual(edit[0].rank, 2)


@unittest.skipUnless(FIXTURES, "PROFS_LM_FIXTURES not set (tests/sh/python.sh generates them)")
class TestUsers(unittest.TestCase):
    def setUp(self):
        self.src = os.path.join(FIXTURES, "gpt2")

    def test_model_closed_before_its_lm(self):
        m = profs.Model(self.src)
        lm = profs.LM(m)
        ref = lm.hidden_states(IDS)
        m.close()
        self.assertTrue(m.closed)
        with self.assertRaises(profs.ProfsError) as cm:
            len(m)
        self.assertEqual(cm.exception.code, profs.ESTATE)
        # The LM still runs on the store: it was not freed under it.
        gc.collect()
        np.testing.assert_array_equal(lm.hidden_states(IDS), ref)
        self.assertEqual(m._finalizer.alive, True)
        lm.close()
        self.assertEqual(m._finalizer.alive, False)  # freed with its last user

    def test_tokenizer_closed_while_attached(self):
        tok = profs.Tokenizer(os.path.join(self.src, "tokenizer.json"))
        with profs.Model(self.src) as m, profs.LM(m) as lm:
            lm.set_tokenizer(tok)
            ids = lm.tokenize("hello world")
            tok.close()
            gc.collect()
            np.testing.assert_array_equal(lm.tokenize("hello world"), ids)
            self.assertTrue(tok._finalizer.alive)
            lm.set_tokenizer(None)  # detached: now it goes
            self.assertFalse(tok._finalizer.alive)

    def test_report_closed_before_save(self):
        import tempfile
        edit = profs.Edit(32)
        edit.add(0, profs.Subspace.from_basis(np.eye(2, 32, dtype=np.float32)))
        with tempfile.TemporaryDirectory(dir=os.environ.get("PROFS_TEST_TMP")) as d:
            with profs.Model(self.src) as m:
                report = edit.apply(m)
                report.close()
                gc.collect()
                m.save(os.path.join(d, "out"))   # writes into the report the model still uses
                self.assertTrue(report._finalizer.alive)
            self.assertFalse(report._finalizer.alive)
            with profs.Model(os.path.join(d, "out")) as out:
                self.assertIn("h.0.mlp.c_proj.weight", out)


if __name__ == "__main__":
    unittest.main()
