"""profs.Tokenizer against the Hugging Face reference ids committed with the tokenizer tests
(tests/data/tokenizers/*/expected.jsonl, produced by tokenizers 0.23)."""

import json
import os
import unittest

import profs

DATA = os.environ.get("PROFS_TEST_DATA") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "data")
TOKENIZERS = os.path.join(DATA, "tokenizers")


@unittest.skipUnless(os.path.isdir(TOKENIZERS), "tests/data/tokenizers not found")
class TestTokenizer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(TOKENIZERS, "corpus.jsonl"), encoding="utf-8") as f:
            cls.corpus = [json.loads(line) for line in f]

    def check_reference(self, name):
        with open(os.path.join(TOKENIZERS, name, "expected.jsonl"), encoding="utf-8") as f:
            expected = [json.loads(line) for line in f]
        self.assertEqual(len(expected), len(self.corpus))
        with profs.Tokenizer(os.path.join(TOKENIZERS, name)) as t:
            for i in range(0, len(self.corpus), 7):   # every 7th string keeps the test quick
                text, e = self.corpus[i], expected[i]
                self.assertEqual(t.encode(text, add_special=False), e["ids"], (name, i, text))
                self.assertEqual(t.encode(text), e["ids_special"], (name, i, text))
                self.assertEqual(t.encode(text, add_special=False, special_as_text=True),
                                 e["ids_text"], (name, i, text))
                self.assertEqual(t.decode(e["ids"]), e["decode"], (name, i))
                self.assertEqual(t.decode(e["ids_special"], skip_special=True), e["decode_skip"])

    def test_gpt2_matches_reference(self):
        self.check_reference("gpt2")

    def test_mistral_matches_reference(self):
        self.check_reference("mistral")

    def test_vocabulary(self):
        with profs.Tokenizer(os.path.join(TOKENIZERS, "mistral", "tokenizer.json")) as t:
            self.assertEqual(t.vocab_size, 32000)
            self.assertEqual(len(t), 32000)
            self.assertEqual((t.bos_id, t.eos_id, t.unk_id), (1, 2, 0))
            self.assertEqual(t.id_to_token(1), "<s>")
            self.assertEqual(t.token_to_id("<s>"), 1)
            self.assertIsNone(t.token_to_id("no such token at all"))
            self.assertIsNone(t.id_to_token(10 ** 6))
        with profs.Tokenizer(os.path.join(TOKENIZERS, "gpt2")) as t:
            self.assertEqual(t.vocab_size, 50257)
            self.assertEqual(t.id_to_token(262), "\u0120the")
            self.assertEqual(t.encode(b"hello world", add_special=False), t.encode("hello world", add_special=False))
            long_text = "word " * 5000
            self.assertEqual(t.decode(t.encode(long_text)), long_text)

    def test_errors(self):
        with self.assertRaises(profs.ProfsError) as cm:
            profs.Tokenizer(os.path.join(TOKENIZERS, "no-such-tokenizer"))
        self.assertIn(cm.exception.code, (profs.EIO, profs.ENOTFOUND))
        with profs.Tokenizer(os.path.join(TOKENIZERS, "gpt2")) as t:
            with self.assertRaises(profs.ProfsError) as cm:
                t.encode(b"\xff\xfe broken")
            self.assertEqual(cm.exception.code, profs.EFORMAT)
            with self.assertRaises(profs.ProfsError) as cm:
                t.decode([1, 10 ** 7])
            self.assertEqual(cm.exception.code, profs.EINVAL)


if __name__ == "__main__":
    unittest.main()
