"""The built-in transformer runtime (lm.h): hidden states, pooled embeddings, collection,
logits, perplexity and generation for GPT-2, Mistral/Llama, OPT and GPT-J checkpoints."""

import ctypes

import numpy as np

from ._lib import (lib, ProfsError, EINVAL, EBUFS, ECANCELLED, TOKEN_FN, c_int32_p, size_arg,
                   encode_path, encode_str, progress_callback, _s)
from ._handle import Handle, new_handle, fptr
from ._model import Model
from ._core import Collector
from ._tokenizer import Tokenizer

# enum profs_compute (lm.h)
_COMPUTE = {"f32": 0, "bf16": 1, "int8": 2}


def _ids(ids, what="ids"):
    a = np.ascontiguousarray(ids, dtype=np.int32)
    if a.ndim != 1 or a.size == 0:
        raise ProfsError(EINVAL, "%s: expected a non-empty 1-D sequence of token ids" % what)
    return a


def _iptr(a):
    return a.ctypes.data_as(c_int32_p)


def _texts(texts, what):
    if isinstance(texts, (str, bytes)):
        raise ProfsError(EINVAL, "%s: expected a list of texts, not one text" % what)
    enc = [encode_str(t) for t in texts]
    return enc, (ctypes.c_char_p * max(len(enc), 1))(*enc)


def _run(fn, progress, *args):
    """Call fn(*args, callback, None), re-raising an exception of the progress callback."""
    state = {}
    cb = progress_callback(progress, state)
    try:
        fn(*args, cb, None)
    except ProfsError as e:
        if e.code == ECANCELLED and "error" in state:
            raise state["error"] from e
        raise


class LM(Handle):
    """A transformer runtime over a Hugging Face model directory (profs_lm).

    ``LM(directory)`` opens config.json, the safetensors weights and, when
    present, tokenizer.json; ``LM(model)`` runs over an open profs.Model (which
    must stay open; the LM keeps a reference to it).

    Hidden-state convention: (L + 1) entries, entry 0 the embedding output,
    entry l the raw output of block l - 1 **without** the final norm.
    Collection pools entries 1..L, so a Collector for an LM has n_layers = L.
    """

    _free = "profs_lm_free"
    _kind = "lm"

    def __init__(self, source):
        h = new_handle()
        if isinstance(source, Model):
            lib.profs_lm_open_model(ctypes.byref(h), source._p)
            self._adopt(h.value, keep=(source,))
        else:
            lib.profs_lm_open(ctypes.byref(h), encode_path(source))
            self._adopt(h.value)

    @property
    def n_layers(self):
        return lib.profs_lm_n_layers(self._p)

    @property
    def hidden_size(self):
        return lib.profs_lm_hidden_size(self._p)

    @property
    def vocab_size(self):
        return lib.profs_lm_vocab_size(self._p)

    @property
    def max_positions(self):
        return lib.profs_lm_max_positions(self._p)

    @property
    def architecture(self):
        return _s(lib.profs_lm_architecture(self._p))

    @property
    def model(self):
        """The tensor store the runtime reads (a view, valid while this LM is open)."""
        return Model._borrow(lib.profs_lm_model(self._p), self)

    @property
    def has_tokenizer(self):
        return bool(lib.profs_lm_tokenizer(self._p))

    def set_tokenizer(self, tokenizer):
        """Attach a Tokenizer (kept alive by this LM), or None to detach."""
        if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
            raise ProfsError(EINVAL, "set_tokenizer: expected a Tokenizer or None")
        lib.profs_lm_set_tokenizer(self._p, None if tokenizer is None else tokenizer._p)
        for k in [k for k in self._keep if isinstance(k, Tokenizer)]:
            self._unretain(k)
        if tokenizer is not None:
            self._retain(tokenizer)

    # ---- options ----
    def set_batch_tokens(self, tokens):
        """Most tokens that go through the blocks together (bounds activation memory)."""
        lib.profs_lm_set_batch_tokens(self._p, size_arg(tokens, "tokens"))

    def set_max_length(self, tokens):
        """Tokenisation limit of collection and pooling (default 128)."""
        lib.profs_lm_set_max_length(self._p, size_arg(tokens, "tokens"))

    def set_pool_skip_bos(self, skip):
        """Leave a BOS the tokenizer added out of the mean."""
        lib.profs_lm_set_pool_skip_bos(self._p, 1 if skip else 0)

    def set_resident_bytes(self, nbytes):
        """Keep converted weights between calls when they need at most this many bytes."""
        lib.profs_lm_set_resident_bytes(self._p, size_arg(nbytes, "nbytes"))

    def set_prefix_sharing(self, on):
        """Compute each pair's common token prefix once in pool_pairs and collect (default on)."""
        lib.profs_lm_set_prefix_sharing(self._p, 1 if on else 0)

    def set_compute(self, mode):
        """How the blocks' matrix products run: "f32" (default), "bf16" (AMX-BF16) or "int8" (AMX-INT8,
        else AVX512-VNNI or AVX-VNNI).
        A mode this processor cannot run raises ProfsError (PROFS_EUNSUPPORTED) naming the
        instruction set it lacks."""
        if mode not in _COMPUTE:
            raise ProfsError(EINVAL, "set_compute: mode must be one of %s" % ", ".join(sorted(_COMPUTE)))
        lib.profs_lm_set_compute(self._p, _COMPUTE[mode])

    @property
    def compute(self):
        """The compute mode ("f32", "bf16" or "int8")."""
        return lib.profs_compute_name(lib.profs_lm_compute(self._p)).decode()

    @property
    def compute_kernel(self):
        """What runs the products: "OpenBLAS sgemm", "AMX-BF16 tiles", "AMX-INT8 tiles", "AVX512-VNNI"
        or "AVX-VNNI"."""
        return lib.profs_lm_compute_kernel(self._p).decode()

    # ---- forward ----
    def hidden_states(self, ids):
        """(L + 1, n_ids, D) float32 hidden states of one sequence of token ids (no BOS added)."""
        a = _ids(ids)
        out = np.empty((self.n_layers + 1, a.size, self.hidden_size), dtype=np.float32)
        lib.profs_lm_hidden_states(self._p, fptr(out), _iptr(a), a.size)
        return out

    def pool_ids(self, sequences, skip_first=False, progress=None):
        """(n_seqs, L, D): each block's output mean-pooled over each id sequence."""
        arrays = [_ids(s, "sequence %d" % i) for i, s in enumerate(sequences)]
        n = len(arrays)
        ptrs = (c_int32_p * max(n, 1))(*[_iptr(a) for a in arrays])
        lens = (ctypes.c_size_t * max(n, 1))(*[a.size for a in arrays])
        out = np.empty((n, self.n_layers, self.hidden_size), dtype=np.float32)
        _run(lib.profs_lm_pool_ids, progress, self._p, fptr(out), ptrs, lens, n,
             1 if skip_first else 0)
        return out

    def pool_pairs(self, pairs, skip_first=False, progress=None):
        """((2 n_pairs, L, D), saved): pooled block outputs of (first, second) id
        sequence pairs, row 2i and 2i + 1 for pair i, each pair's common token
        prefix computed once; saved is the number of tokens not computed."""
        arrays = []
        for i, (a, b) in enumerate(pairs):
            arrays.append(_ids(a, "pair %d first sentence" % i))
            arrays.append(_ids(b, "pair %d second sentence" % i))
        n = len(arrays)
        ptrs = (c_int32_p * max(n, 1))(*[_iptr(a) for a in arrays])
        lens = (ctypes.c_size_t * max(n, 1))(*[a.size for a in arrays])
        out = np.empty((n, self.n_layers, self.hidden_size), dtype=np.float32)
        saved = ctypes.c_uint64()
        _run(lib.profs_lm_pool_pairs, progress, self._p, fptr(out), ctypes.byref(saved), ptrs, lens, n // 2,
             1 if skip_first else 0)
        return out, saved.value

    def tokenize(self, text):
        """Token ids of a text as collection sees them (special tokens, max_length)."""
        data = encode_str(text)
        cap = max(16, len(data) + 8)
        while True:
            buf = np.empty(cap, dtype=np.int32)
            n = ctypes.c_size_t()
            try:
                lib.profs_lm_tokenize(self._p, _iptr(buf), cap, ctypes.byref(n), data)
                return buf[:n.value].copy()
            except ProfsError as e:
                if e.code != EBUFS or n.value <= cap:
                    raise
                cap = n.value

    def pool_texts(self, texts, progress=None):
        """(n_texts, L, D): pooled block outputs of texts."""
        keep, arr = _texts(texts, "texts")
        out = np.empty((len(keep), self.n_layers, self.hidden_size), dtype=np.float32)
        _run(lib.profs_lm_pool_texts, progress, self._p, fptr(out), arr, len(keep))
        return out

    def collect(self, collector, preferred, dispreferred, progress=None):
        """Tokenise, forward and pool preference pairs into a Collector (n_layers = L, dim = D).

        progress: optional fn(stage, done, total); a true return value (or an
        exception, re-raised here) cancels; pairs added so far stay.
        """
        if not isinstance(collector, Collector):
            raise ProfsError(EINVAL, "collect: expected a Collector")
        kp, ap = _texts(preferred, "preferred")
        kd, ad = _texts(dispreferred, "dispreferred")
        if len(kp) != len(kd):
            raise ProfsError(EINVAL, "collect: %d preferred but %d dispreferred texts"
                             % (len(kp), len(kd)))
        _run(lib.profs_lm_collect, progress, self._p, collector._p, ap, ad, len(kp))

    def logits(self, ids):
        """(n_ids, vocab) raw scores at every position."""
        a = _ids(ids)
        out = np.empty((a.size, self.vocab_size), dtype=np.float32)
        lib.profs_lm_logits(self._p, fptr(out), _iptr(a), a.size)
        return out

    def next_logprobs(self, ids):
        """(vocab,) log-probabilities of the token after ids."""
        a = _ids(ids)
        out = np.empty(self.vocab_size, dtype=np.float32)
        lib.profs_lm_next_logprobs(self._p, fptr(out), _iptr(a), a.size)
        return out

    def perplexity(self, ids, max_length=0, stride=0, progress=None):
        """(perplexity, mean NLL) with a sliding window, as the transformers guide computes it."""
        a = _ids(ids)
        ppl = ctypes.c_double()
        nll = ctypes.c_double()
        _run(lib.profs_lm_perplexity, progress, self._p, ctypes.byref(ppl), ctypes.byref(nll),
             _iptr(a), a.size, size_arg(max_length, "max_length"), size_arg(stride, "stride"))
        return ppl.value, nll.value

    def generate(self, prompt, max_new_tokens, temperature=0.0, top_k=0, top_p=1.0, seed=0,
                 on_token=None):
        """Generated ids (without the prompt); greedy unless temperature > 0.

        on_token: optional fn(token) called for every token; a true return stops.
        """
        a = _ids(prompt, "prompt")
        h = new_handle()
        lib.profs_sampler_new(ctypes.byref(h))
        sampler = h.value
        state = {}

        def cb(userdata, token):
            try:
                return 1 if on_token(int(token)) else 0
            except BaseException as e:  # noqa: B902 - re-raised below
                state["error"] = e
                return 1
        ccb = TOKEN_FN(cb) if on_token is not None else TOKEN_FN()
        try:
            lib.profs_sampler_set_temperature(sampler, float(temperature))
            lib.profs_sampler_set_top_k(sampler, size_arg(top_k, "top_k"))
            lib.profs_sampler_set_top_p(sampler, float(top_p))
            lib.profs_sampler_set_seed(sampler, int(seed))
            cap = max(size_arg(max_new_tokens, "max_new_tokens"), 1)
            out = np.empty(cap, dtype=np.int32)
            n = ctypes.c_size_t()
            lib.profs_lm_generate(self._p, _iptr(out), cap, ctypes.byref(n), _iptr(a), a.size,
                                  size_arg(max_new_tokens, "max_new_tokens"), sampler, ccb, None)
        finally:
            lib.profs_sampler_free(sampler)
        if "error" in state:
            raise state["error"]
        return [int(t) for t in out[:n.value]]

    def __repr__(self):
        if self.closed:
            return "<profs.LM closed>"
        return "<profs.LM %s: %d layers x %d>" % (self.architecture, self.n_layers,
                                                  self.hidden_size)
