"""Hugging Face tokenizer.json (tokenizer.h): byte-level and SentencePiece-style BPE."""

import ctypes

import numpy as np

from ._lib import lib, ProfsError, EBUFS, ENOTFOUND, c_int32_p, encode_path, encode_str, _s
from ._handle import Handle, new_handle


def _id_or_none(v):
    return None if v < 0 else int(v)


class Tokenizer(Handle):
    """A tokenizer opened from a tokenizer.json file or a model directory (profs_tokenizer).

    Encodes exactly as Hugging Face tokenizers does (id for id); thread-safe
    for encode/decode on one shared tokenizer.
    """

    _free = "profs_tokenizer_free"
    _kind = "tokenizer"

    def __init__(self, path):
        h = new_handle()
        lib.profs_tokenizer_open(ctypes.byref(h), encode_path(path))
        self._adopt(h.value)

    def encode(self, text, add_special=True, special_as_text=False):
        """Token ids of a text (str, or UTF-8 bytes) as a list of ints.

        add_special:     let the post-processor add its special tokens (BOS, ...)
        special_as_text: treat special-token text in the input as plain text
        """
        data = encode_str(text)
        flags = 0
        if add_special:
            flags |= lib.profs_encode_flag_add_special()
        if special_as_text:
            flags |= lib.profs_encode_flag_special_as_text()
        cap = len(data) + 8
        while True:
            buf = np.empty(cap, dtype=np.int32)
            n = ctypes.c_size_t()
            try:
                lib.profs_tokenizer_encode(self._p, data, len(data), flags,
                                           buf.ctypes.data_as(c_int32_p), cap, ctypes.byref(n))
                return [int(x) for x in buf[:n.value]]
            except ProfsError as e:
                if e.code != EBUFS or n.value <= cap:
                    raise
                cap = n.value

    def decode(self, ids, skip_special=False):
        """The text of token ids (str; invalid UTF-8 is replaced)."""
        a = np.ascontiguousarray(ids, dtype=np.int32)
        flags = lib.profs_decode_flag_skip_special() if skip_special else 0
        cap = 4 * a.size + 16
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = ctypes.c_size_t()
            try:
                lib.profs_tokenizer_decode(self._p, a.ctypes.data_as(c_int32_p) if a.size else None,
                                           a.size, flags, buf, cap, ctypes.byref(n))
                return buf.raw[:n.value].decode("utf-8", "replace")
            except ProfsError as e:
                if e.code != EBUFS or n.value + 1 <= cap:
                    raise
                cap = n.value + 1

    @property
    def vocab_size(self):
        return lib.profs_tokenizer_vocab_size(self._p)

    def __len__(self):
        return self.vocab_size

    def id_to_token(self, token_id):
        """The token string of an id (None when out of range or unused)."""
        return _s(lib.profs_tokenizer_id_to_token(self._p, int(token_id)))

    def token_to_id(self, token):
        """The id of a token string (None when there is no such token)."""
        v = ctypes.c_int32()
        try:
            lib.profs_tokenizer_token_to_id(self._p, encode_str(token), ctypes.byref(v))
        except ProfsError as e:
            if e.code == ENOTFOUND:
                return None
            raise
        return v.value

    @property
    def bos_id(self):
        return _id_or_none(lib.profs_tokenizer_bos_id(self._p))

    @property
    def eos_id(self):
        return _id_or_none(lib.profs_tokenizer_eos_id(self._p))

    @property
    def pad_id(self):
        return _id_or_none(lib.profs_tokenizer_pad_id(self._p))

    @property
    def unk_id(self):
        return _id_or_none(lib.profs_tokenizer_unk_id(self._p))

    def __repr__(self):
        if self.closed:
            return "<profs.Tokenizer closed>"
        return "<profs.Tokenizer %d tokens>" % self.vocab_size
