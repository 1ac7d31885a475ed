#!/usr/bin/python3
"""Goldens of the evaluation tests (tests/test_eval.c, tests/sh/eval_cli.sh) from
transformers itself, run in the transformers environment (tests/reference/transformers-env,
default ${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}). Regenerate, from the
repository root (the chroot sees the repository copied to /xchg/eval):

    E=${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}
    rm -rf $E/xchg/eval && mkdir -p $E/xchg/eval && cp -r tests scripts $E/xchg/eval/
    chroot $E python3 /xchg/eval/tests/reference/tf_goldens_eval.py /xchg/eval [NAME...]
    cp -r $E/xchg/eval/tests/data/eval/. tests/data/eval/
    for t in bert-wordpiece xlmr-unigram; do cp $E/xchg/eval/tests/data/tokenizers/$t/* tests/data/tokenizers/$t/; done

then run tests/test_eval, test_tokenizer_corpus and tests/sh/eval_cli.sh (some expectations in
test_eval.c name ids of the trained tokenizers: the [CLS]/[SEP] ids 2/3 and the vocabulary size).

NAME: causal (the tiny GPT-2 and its perplexity / zero-shot goldens), wordpiece,
bert, roberta, unigram, xlmr (the tokenizers and classifiers); all by default.
The trained tokenizers are not byte-identical from run to run (ties in the trainers);
the goldens of a run are made with that run's files, so commit them together. After causal or bert, the greedy
continuations are scored with bert-tiny-cls (label toxic) into gpt2-tiny/golden.json.

causal: tests/data/eval/gpt2-tiny/ is a GPT2LMHeadModel (random init, torch seed 0,
save_pretrained) with the committed GPT-2 tokenizer.json. golden.json holds
  ppl: the authors' perplexity() (Uppaal/detox-edit evaluation/evaluate_model.py,
       reproduced below line for line) of "\\n\\n".join(non-empty "prompt" fields of
       wiki_sample.jsonl) for several (max_length, stride);
  tasks: per task file tasks/<task>.jsonl, every request's (context, continuation),
       its token ids as lm-evaluation-harness v0.4.9.1 (HFLM._encode_pair and
       _loglikelihood_tokens: trailing context spaces move into the continuation,
       the continuation is the tail of the joint encoding, no BOS, empty context ->
       prefix_token_id (BOS, else EOS; both <|endoftext|> for GPT-2), left truncation to max_length + 1) builds them, the log-likelihood and
       is_greedy from the model, and acc / acc_norm per document and per task as
       lm_eval/api/task.py process_results computes them (argmax of ll, argmax of
       ll / len(choice) in characters; np.argmax keeps the first maximum);
  toxicity: the authors' greedy continuations (max_new_tokens 10, decoded without
       skipping special tokens, stripped) of prompts_challenge.jsonl.
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_grad_enabled(False)

import transformers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "eval")
TASKS = ["boolq", "rte", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa", "custom"]
ACC_NORM = {"hellaswag", "arc_easy", "arc_challenge", "openbookqa"}  # tasks whose yaml lists acc_norm


def meta():
    return {"transformers_version": transformers.__version__, "torch_version": torch.__version__, "seed": 0}


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


# ---- the authors' perplexity (evaluation/evaluate_model.py), max_length passed in ----
def perplexity(model, encodings, max_length, stride):
    seq_len = encodings.input_ids.size(1)
    nlls = []
    prev_end_loc = 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        input_ids = encodings.input_ids[:, begin_loc:end_loc]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        outputs = model(input_ids, labels=target_ids)
        nlls.append(outputs.loss)
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return torch.exp(torch.stack(nlls).mean()).item(), torch.stack(nlls).mean().item(), len(nlls)


# ---- lm-evaluation-harness v0.4.9.1, HFLM ----
class Harness:
    def __init__(self, model, hf_tok, max_length, eot):
        self.model, self.tok, self.max_length, self.eot = model, hf_tok, max_length, eot

    def tok_encode(self, s):
        return self.tok.encode(s, add_special_tokens=False)

    def encode_pair(self, context, continuation):
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole_enc = self.tok_encode(context + continuation)
        context_enc = self.tok_encode(context)
        return context_enc, whole_enc[len(context_enc):]

    def loglikelihood(self, context, continuation):
        if context == "":
            context_enc, continuation_enc = [self.eot], self.tok_encode(continuation)
        else:
            context_enc, continuation_enc = self.encode_pair(context, continuation)
        inp = (context_enc + continuation_enc)[-(self.max_length + 1):][:-1]
        logits = self.model(torch.tensor([inp])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)[-len(continuation_enc):]
        cont = torch.tensor(continuation_enc)
        greedy = bool((logp.argmax(dim=-1) == cont).all())
        ll = float(logp.gather(1, cont[:, None]).sum())
        return context_enc, continuation_enc, ll, greedy


def causal():
    d = os.path.join(OUT, "gpt2-tiny")
    os.makedirs(d, exist_ok=True)
    src_tok = os.path.join(ROOT, "tests", "data", "tokenizers", "gpt2")
    cfg = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                                  n_inner=48, initializer_range=0.3, bos_token_id=50256, eos_token_id=50256)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(d)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src_tok, f), os.path.join(d, f))
    model = transformers.GPT2LMHeadModel.from_pretrained(d).eval()
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"),
                                                  eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    golden = {"__metadata__": meta(), "ppl": [], "tasks": {}, "toxicity": []}

    # perplexity as the authors: drop empty samples, join with "\n\n"
    with open(os.path.join(OUT, "wiki_sample.jsonl"), encoding="utf-8") as f:
        samples = [json.loads(line)["prompt"] for line in f]
    samples = [x for x in samples if len(x) > 0]
    enc = hf_tok("\n\n".join(samples), return_tensors="pt")
    golden["ppl_tokens"] = int(enc.input_ids.size(1))
    for max_length, stride in ((64, 16), (64, 64), (32, 8), (48, 48), (64, 5)):
        ppl, nll, windows = perplexity(model, enc, max_length, stride)
        golden["ppl"].append({"max_length": max_length, "stride": stride, "ppl": ppl, "mean_nll": nll,
                              "windows": windows})

    prefix = hf_tok.bos_token_id if hf_tok.bos_token_id is not None else hf_tok.eos_token_id  # HFLM.prefix_token_id
    h = Harness(model, hf_tok, cfg.n_positions, prefix)
    for task in TASKS:
        docs = []
        with open(os.path.join(OUT, "tasks", task + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                if "contexts" in doc:
                    reqs = [(c, " " + doc["continuation"]) for c in doc["contexts"]]
                    choices = doc["contexts"]
                else:
                    reqs = [(doc["context"], " " + c) for c in doc["choices"]]
                    choices = doc["choices"]
                out = []
                for ctx, cont in reqs:
                    ce, ke, ll, greedy = h.loglikelihood(ctx, cont)
                    out.append({"context_ids": ce, "continuation_ids": ke, "ll": ll, "is_greedy": greedy})
                lls = np.array([r["ll"] for r in out])
                completion_len = np.array([float(len(c)) for c in choices])
                pred, pred_norm = int(np.argmax(lls)), int(np.argmax(lls / completion_len))
                docs.append({"requests": out, "acc": float(pred == doc["gold"]),
                             "acc_norm": float(pred_norm == doc["gold"])})
        golden["tasks"][task] = {"docs": docs, "acc": float(np.mean([x["acc"] for x in docs])),
                                 "acc_norm": float(np.mean([x["acc_norm"] for x in docs])),
                                 "reports_acc_norm": task in ACC_NORM}

    # toxicity continuations as the authors (greedy, 10 new tokens, no skip of special tokens)
    with open(os.path.join(OUT, "prompts_challenge.jsonl"), encoding="utf-8") as f:
        prompts = [json.loads(line)["prompt"] for line in f]
    for p in prompts:
        input_ids = hf_tok(p, return_tensors="pt").input_ids
        response = model.generate(input_ids=input_ids, max_new_tokens=10, do_sample=False,
                                  pad_token_id=cfg.eos_token_id)
        new = response[0, len(input_ids[0]):].tolist()
        golden["toxicity"].append({"prompt": p, "ids": new, "response": hf_tok.decode(new).strip(),
                                   "response_skip_special": hf_tok.decode(new, skip_special_tokens=True).strip()})
    write_json(os.path.join(d, "golden.json"), golden)


# ---- tokenizers: trained with HF tokenizers on the committed corpus, small vocabularies ----
def corpus_lines():
    with open(os.path.join(ROOT, "tests", "data", "tokenizers", "corpus.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_expected(name):
    """expected.jsonl as tests/reference/tokenizer_reference.js writes it, with the Python binding."""
    d = os.path.join(ROOT, "tests", "data", "tokenizers", name)
    path = os.path.join(d, "tokenizer.json")
    tok = Tokenizer.from_file(path)
    js = json.load(open(path, encoding="utf-8"))
    changed = {}
    for t in js["added_tokens"]:
        i = tok.token_to_id(t["content"])
        if t["special"]:
            t["content"] = "\U0010FFFDnever-in-the-corpus-%d\U0010FFFD" % t["id"]
        changed[t["content"]] = i
    tok_text = Tokenizer.from_str(json.dumps(js))
    id_map = {tok_text.token_to_id(c): i for c, i in changed.items()}
    lines = []
    for x in corpus_lines():
        ids = tok.encode(x, add_special_tokens=False).ids
        ids_special = tok.encode(x, add_special_tokens=True).ids
        ids_text = [id_map.get(i, i) for i in tok_text.encode(x, add_special_tokens=False).ids]
        lines.append(json.dumps({"ids": ids, "ids_special": ids_special, "ids_text": ids_text,
                                 "decode": tok.decode(ids, skip_special_tokens=False),
                                 "decode_skip": tok.decode(ids_special, skip_special_tokens=True)},
                                ensure_ascii=False, separators=(",", ":")))
    with open(os.path.join(d, "expected.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def wordpiece():
    from tokenizers import models, normalizers, pre_tokenizers, processors, decoders, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=1200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    d = os.path.join(ROOT, "tests", "data", "tokenizers", "bert-wordpiece")
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    write_expected("bert-wordpiece")


def roberta_bpe():
    """A small byte-level BPE with RoBERTa's special tokens and post-processor (tests/data/eval/roberta-tok)."""
    from tokenizers import models, pre_tokenizers, processors, decoders, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")), trim_offsets=True,
                                                      add_prefix_space=False)
    return tok


# ---- sequence classifiers ----
CLS_TEXTS = ["The quick brown fox jumps over the lazy dog.", "You are a wonderful person!",
             "I hate this so much, it is the worst thing ever.", "", "Café déjà vu — naïve résumé",
             "a " * 300, "Shall I compare thee to a summer's day?"]


def classifier(name, model_cls, cfg, tok_dir_files, hf_tok_kwargs, problem_type=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    model = model_cls(cfg).eval()
    model.save_pretrained(d)
    for src, dst in tok_dir_files:
        shutil.copy(src, os.path.join(d, dst))
    model = model_cls.from_pretrained(d).eval()
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), **hf_tok_kwargs)
    out = {"__metadata__": meta(), "texts": [], "max_length": hf_tok.model_max_length}
    for text in CLS_TEXTS:
        enc = hf_tok(text, truncation=True, max_length=hf_tok.model_max_length, return_tensors="pt")
        logits = model(**enc).logits[0].double()
        out["texts"].append({"text": text, "ids": enc.input_ids[0].tolist(), "logits": logits.tolist(),
                             "sigmoid": torch.sigmoid(logits).tolist(), "softmax": torch.softmax(logits, -1).tolist()})
    # a batch with padding, as Detoxify predicts a list (the padded rows must not change the results)
    enc = hf_tok(CLS_TEXTS[:3], truncation=True, padding=True, return_tensors="pt")
    out["batch_logits"] = model(**enc).logits.double().tolist()
    write_json(os.path.join(d, "golden.json"), out)


def bert():
    tokdir = os.path.join(ROOT, "tests", "data", "tokenizers", "bert-wordpiece")
    vocab = Tokenizer.from_file(os.path.join(tokdir, "tokenizer.json")).get_vocab_size()
    cfg = transformers.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                                  initializer_range=0.2, num_labels=3, problem_type="multi_label_classification",
                                  id2label={0: "toxic", 1: "insult", 2: "threat"},
                                  label2id={"toxic": 0, "insult": 1, "threat": 2}, pad_token_id=0)
    with open(os.path.join(OUT, "tokenizer_config.bert.json"), "w") as f:
        json.dump({"model_max_length": 48, "do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f)
    classifier("bert-tiny-cls", transformers.BertForSequenceClassification, cfg,
               [(os.path.join(tokdir, "tokenizer.json"), "tokenizer.json"),
                (os.path.join(OUT, "tokenizer_config.bert.json"), "tokenizer_config.json")],
               {"model_max_length": 48, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                "cls_token": "[CLS]", "mask_token": "[MASK]"})
    os.remove(os.path.join(OUT, "tokenizer_config.bert.json"))


def roberta():
    d = os.path.join(OUT, "roberta-tiny-cls")
    os.makedirs(d, exist_ok=True)
    tok = roberta_bpe()
    tok.save(os.path.join(d, "tokenizer.json"))
    cfg = transformers.RobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=40,
                                     type_vocab_size=1, initializer_range=0.2, num_labels=2, pad_token_id=1,
                                     bos_token_id=0, eos_token_id=2, id2label={0: "non-toxic", 1: "toxicity"},
                                     label2id={"non-toxic": 0, "toxicity": 1})
    classifier("roberta-tiny-cls", transformers.RobertaForSequenceClassification, cfg, [],
               {"model_max_length": 38, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"})
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 38, "tokenizer_class": "RobertaTokenizer"}, f)


def unigram():
    """A SentencePiece-style Unigram tokenizer as XLM-R's tokenizer.json has it, without the Precompiled
    normalizer (which the library refuses by name): NFKC + Replace(" {2,}", " "), WhitespaceSplit +
    Metaspace, <s> $A </s>, Metaspace decoder (tests/data/tokenizers/xlmr-unigram)."""
    from tokenizers import models, normalizers, pre_tokenizers, processors, decoders, trainers, Regex
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")])
    trainer = trainers.UnigramTrainer(vocab_size=3000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                      unk_token="<unk>", shrinking_factor=0.75, max_piece_length=12)
    # the special tokens' text is kept out of training, so that no piece duplicates them
    specials = ["<s>", "</s>", "<pad>", "<unk>", "<mask>"]
    lines = []
    for x in corpus_lines():
        for sp in specials:
            x = x.replace(sp, " ")
        lines.append(x)
    tok.train_from_iterator(lines, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>")),
                                                                       ("</s>", tok.token_to_id("</s>"))])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    d = os.path.join(ROOT, "tests", "data", "tokenizers", "xlmr-unigram")
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    write_expected("xlmr-unigram")


def xlmr():
    tokdir = os.path.join(ROOT, "tests", "data", "tokenizers", "xlmr-unigram")
    vocab = Tokenizer.from_file(os.path.join(tokdir, "tokenizer.json")).get_vocab_size()
    cfg = transformers.XLMRobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=64, max_position_embeddings=44, type_vocab_size=1,
                                        initializer_range=0.2, num_labels=2, pad_token_id=1, bos_token_id=0,
                                        eos_token_id=2, hidden_act="gelu",
                                        id2label={0: "toxicity", 1: "severe_toxicity"},
                                        label2id={"toxicity": 0, "severe_toxicity": 1},
                                        problem_type="multi_label_classification")
    d = os.path.join(OUT, "xlmr-tiny-cls")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 40, "tokenizer_class": "XLMRobertaTokenizer"}, f)
    classifier("xlmr-tiny-cls", transformers.XLMRobertaForSequenceClassification, cfg,
               [(os.path.join(tokdir, "tokenizer.json"), "tokenizer.json")],
               {"model_max_length": 40, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"})


def toxicity_scores():
    """Score the greedy continuations of gpt2-tiny with bert-tiny-cls as Detoxify does: truncation at
    model_max_length, padding in one batch, sigmoid of every logit; label 'toxic'."""
    gpath = os.path.join(OUT, "gpt2-tiny", "golden.json")
    golden = json.load(open(gpath, encoding="utf-8"))
    d = os.path.join(OUT, "bert-tiny-cls")
    model = transformers.BertForSequenceClassification.from_pretrained(d).eval()
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"),
                                                  model_max_length=48, pad_token="[PAD]")
    for key in ("response", "response_skip_special"):
        texts = [x[key] for x in golden["toxicity"]]
        enc = hf_tok(texts, return_tensors="pt", truncation=True, padding=True)
        scores = torch.sigmoid(model(**enc).logits.double())[:, 0].tolist()
        for x, sc in zip(golden["toxicity"], scores):
            x["toxic_" + key] = sc
        golden["toxicity_mean_" + key] = float(np.mean(scores))
        golden["toxicity_share_above_" + key] = float(np.mean([sc > 0.5 for sc in scores]))
    write_json(gpath, golden)


def main(names):
    names = names or ["causal", "wordpiece", "bert", "roberta", "unigram", "xlmr"]
    for n in names:
        {"causal": causal, "wordpiece": wordpiece, "bert": bert, "roberta": roberta, "unigram": unigram,
         "xlmr": xlmr}[n]()
    if "causal" in names or "bert" in names:
        toxicity_scores()


if __name__ == "__main__":
    main(sys.argv[2:])
