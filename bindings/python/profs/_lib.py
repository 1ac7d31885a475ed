"""Loading libprofs.so.0 and declaring its C functions for ctypes.

The library is looked up, in order:
  1. the file named by the environment variable PROFS_LIBRARY;
  2. libprofs.so.0 next to this package (a copy installed with it);
  3. the system loader (LD_LIBRARY_PATH, ld.so.cache, ...).

Every function is declared once in _PROTOTYPES with its exact C types.
Functions are bound lazily on first use, so a library that lacks a newer
function still loads; calling the missing function raises ProfsError
(PROFS_EUNSUPPORTED) naming it.
"""

import ctypes
import operator
import os
import threading

# Result codes of common.h (fixed numbers, never renumbered).
OK = 0
EINVAL = -1
ENOMEM = -2
EIO = -3
EFORMAT = -4
EUNSUPPORTED = -5
ESHAPE = -6
ENUMERIC = -7
ECANCELLED = -8
ESTATE = -9
EBUFS = -10
ENOTFOUND = -11
EEXIST = -12

CODE_NAMES = {
    OK: "PROFS_OK", EINVAL: "PROFS_EINVAL", ENOMEM: "PROFS_ENOMEM", EIO: "PROFS_EIO",
    EFORMAT: "PROFS_EFORMAT", EUNSUPPORTED: "PROFS_EUNSUPPORTED", ESHAPE: "PROFS_ESHAPE",
    ENUMERIC: "PROFS_ENUMERIC", ECANCELLED: "PROFS_ECANCELLED", ESTATE: "PROFS_ESTATE",
    EBUFS: "PROFS_EBUFS", ENOTFOUND: "PROFS_ENOTFOUND", EEXIST: "PROFS_EEXIST",
}


class ProfsError(Exception):
    """An error reported by libprofs (or detected by the binding before a call).

    Attributes:
        code:    the negative PROFS_E* code (see the module constants profs.EINVAL, ...)
        name:    the code's name, e.g. "PROFS_ESHAPE"
        message: the library's detailed message (profs_last_error), naming the
                 file, tensor or field involved
    """

    def __init__(self, code, message):
        self.code = int(code)
        self.name = CODE_NAMES.get(self.code, "PROFS_E%d" % -self.code)
        self.message = message
        super().__init__(code, message)

    def __str__(self):
        return "%s (%s)" % (self.message or strerror(self.code), self.name)


class LibraryNotFound(ProfsError, OSError):
    """libprofs.so.0 could not be loaded (code PROFS_ENOTFOUND); also an OSError."""

    def __init__(self, code, message):
        ProfsError.__init__(self, code, message)
        self.args = (code, message)


# ---- C types ----
c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
c_double = ctypes.c_double
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
P = ctypes.POINTER
c_float_p = P(ctypes.c_float)
c_double_p = P(ctypes.c_double)
c_size_t_p = P(ctypes.c_size_t)
c_int_p = P(ctypes.c_int)
c_int32_p = P(ctypes.c_int32)
c_int64_p = P(ctypes.c_int64)
c_uint64_p = P(ctypes.c_uint64)
c_uint8_p = P(ctypes.c_uint8)
c_handle_p = P(c_void_p)          # T **out

PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p, ctypes.c_uint64, ctypes.c_uint64)
TOKEN_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.c_int32)
TRANSFORM_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p, P(ctypes.c_float), c_size_t,
                                P(ctypes.c_int64))

# Marker for functions that return a status code (0 or a negative PROFS_E*):
# their result is checked and turned into ProfsError.
STATUS = "status"

# name: (restype, [argtypes])
_PROTOTYPES = {
    # common.h
    "profs_strerror": (c_char_p, [c_int]),
    "profs_last_error": (c_char_p, []),
    "profs_clear_error": (None, []),
    "profs_version_string": (c_char_p, []),
    "profs_version_number": (c_int, []),
    "profs_dtype_size": (c_size_t, [c_int]),
    "profs_dtype_name": (c_char_p, [c_int]),
    "profs_dtype_from_name": (STATUS, [c_int_p, c_char_p]),

    # model.h
    "profs_model_open": (STATUS, [c_handle_p, c_char_p]),
    "profs_model_free": (None, [c_void_p]),
    "profs_model_path": (c_char_p, [c_void_p]),
    "profs_model_tensor_count": (c_size_t, [c_void_p]),
    "profs_model_tensor_name": (c_char_p, [c_void_p, c_size_t]),
    "profs_model_has_tensor": (c_int, [c_void_p, c_char_p]),
    "profs_model_tensor_info": (STATUS, [c_void_p, c_char_p, c_int_p, c_size_t_p, P(c_int64_p)]),
    "profs_model_tensor_size": (STATUS, [c_void_p, c_char_p, c_uint64_p, c_uint64_p]),
    "profs_model_read_f32": (STATUS, [c_void_p, c_char_p, c_float_p, c_size_t]),
    "profs_model_tensor_data": (STATUS, [c_void_p, c_char_p, P(c_void_p), c_uint64_p]),
    "profs_model_release": (STATUS, [c_void_p, c_char_p]),
    "profs_model_metadata_count": (c_size_t, [c_void_p]),
    "profs_model_metadata_key": (c_char_p, [c_void_p, c_size_t]),
    "profs_model_metadata": (c_char_p, [c_void_p, c_char_p]),
    "profs_model_has_config": (c_int, [c_void_p]),
    "profs_model_config_int": (STATUS, [c_void_p, c_char_p, c_int64_p]),
    "profs_model_config_float": (STATUS, [c_void_p, c_char_p, c_double_p]),
    "profs_model_config_string": (STATUS, [c_void_p, c_char_p, P(c_char_p)]),
    "profs_model_config_bool": (STATUS, [c_void_p, c_char_p, c_int_p]),
    "profs_model_config_array_size": (STATUS, [c_void_p, c_char_p, c_size_t_p]),
    "profs_model_config_array_int": (STATUS, [c_void_p, c_char_p, c_size_t, c_int64_p]),
    "profs_model_config_array_string": (STATUS, [c_void_p, c_char_p, c_size_t, P(c_char_p)]),
    "profs_model_stage_f32": (STATUS, [c_void_p, c_char_p, c_float_p, c_size_t]),
    "profs_model_stage_transform": (STATUS, [c_void_p, c_char_p, TRANSFORM_FN, c_void_p]),
    "profs_model_unstage": (STATUS, [c_void_p, c_char_p]),
    "profs_model_staged_count": (c_size_t, [c_void_p]),
    "profs_model_save": (STATUS, [c_void_p, c_char_p, PROGRESS_FN, c_void_p]),
    "profs_model_set_follow_outside_links": (STATUS, [c_void_p, c_int]),
    "profs_model_check_save": (STATUS, [c_void_p]),
    "profs_safetensors_write": (STATUS, [c_char_p, c_size_t, P(c_char_p), c_int_p, c_size_t_p,
                                         P(c_int64_p), P(c_void_p), c_size_t, P(c_char_p),
                                         P(c_char_p)]),

    # collector.h
    "profs_collector_new": (STATUS, [c_handle_p, c_size_t, c_size_t]),
    "profs_collector_free": (None, [c_void_p]),
    "profs_collector_add_pair": (STATUS, [c_void_p, c_float_p, c_float_p]),
    "profs_collector_add_pairs": (STATUS, [c_void_p, c_size_t, c_float_p, c_float_p]),
    "profs_collector_n_pairs": (c_size_t, [c_void_p]),
    "profs_collector_n_layers": (c_size_t, [c_void_p]),
    "profs_collector_dim": (c_size_t, [c_void_p]),
    "profs_collector_preferred": (c_float_p, [c_void_p, c_size_t]),
    "profs_collector_dispreferred": (c_float_p, [c_void_p, c_size_t]),
    "profs_collector_merge": (STATUS, [c_void_p, c_void_p]),
    "profs_collector_set_model_id": (STATUS, [c_void_p, c_char_p]),
    "profs_collector_model_id": (c_char_p, [c_void_p]),
    "profs_collector_set_producer": (STATUS, [c_void_p, c_char_p]),
    "profs_collector_producer": (c_char_p, [c_void_p]),
    "profs_collector_save": (STATUS, [c_void_p, c_char_p]),
    "profs_collector_load": (STATUS, [c_handle_p, c_char_p]),
    "profs_mean_pool": (STATUS, [c_float_p, c_float_p, c_uint8_p, c_size_t, c_size_t]),

    # subspace.h
    "profs_screenot": (STATUS, [c_double_p, c_size_t_p, c_double_p, c_size_t, c_double,
                                c_size_t, c_int]),
    "profs_centering_name": (c_char_p, [c_int]),
    "profs_centering_from_name": (STATUS, [c_int_p, c_char_p]),
    "profs_rank_rule_name": (c_char_p, [c_int]),
    "profs_rank_rule_from_name": (STATUS, [c_int_p, c_char_p]),
    "profs_screenot_strategy_name": (c_char_p, [c_int]),
    "profs_screenot_strategy_from_name": (STATUS, [c_int_p, c_char_p]),
    "profs_estimator_new": (STATUS, [c_handle_p]),
    "profs_estimator_free": (None, [c_void_p]),
    "profs_estimator_set_centering": (STATUS, [c_void_p, c_int]),
    "profs_estimator_set_rank_rule": (STATUS, [c_void_p, c_int, c_size_t]),
    "profs_estimator_set_screenot_strategy": (STATUS, [c_void_p, c_int]),
    "profs_estimator_centering": (c_int, [c_void_p]),
    "profs_estimator_rank_rule": (c_int, [c_void_p]),
    "profs_estimator_rank_k": (c_size_t, [c_void_p]),
    "profs_estimator_screenot_strategy": (c_int, [c_void_p]),
    "profs_estimate": (STATUS, [c_handle_p, c_void_p, c_void_p, c_size_t]),
    "profs_subspace_from_basis": (STATUS, [c_handle_p, c_float_p, c_size_t, c_size_t]),
    "profs_subspace_free": (None, [c_void_p]),
    "profs_subspace_rank": (c_size_t, [c_void_p]),
    "profs_subspace_dim": (c_size_t, [c_void_p]),
    "profs_subspace_basis": (c_float_p, [c_void_p]),
    "profs_subspace_threshold": (c_double, [c_void_p]),
    "profs_subspace_n_singular_values": (c_size_t, [c_void_p]),
    "profs_subspace_singular_values": (c_double_p, [c_void_p]),
    "profs_subspace_n_pairs": (c_size_t, [c_void_p]),

    # edit.h: the projector kernel
    "profs_project": (STATUS, [c_double_p, c_void_p, c_int, c_size_t, c_size_t, c_int,
                               c_float_p, c_size_t, c_size_t]),
    "profs_project_f32": (STATUS, [c_double_p, c_float_p, c_size_t, c_size_t, c_int,
                                   c_float_p, c_size_t, c_size_t]),
    "profs_project_subspace": (STATUS, [c_double_p, c_void_p, c_int, c_size_t, c_size_t, c_int,
                                        c_void_p]),

    # edit.h: per-layer subspaces applied to a model
    "profs_edit_new": (STATUS, [c_handle_p, c_size_t]),
    "profs_edit_free": (None, [c_void_p]),
    "profs_edit_add": (STATUS, [c_void_p, c_size_t, c_void_p]),
    "profs_edit_estimate": (STATUS, [c_handle_p, c_void_p, c_void_p, c_size_t_p, c_size_t,
                                     PROGRESS_FN, c_void_p]),
    "profs_edit_dim": (c_size_t, [c_void_p]),
    "profs_edit_count": (c_size_t, [c_void_p]),
    "profs_edit_layer_at": (c_size_t, [c_void_p, c_size_t]),
    "profs_edit_get": (c_void_p, [c_void_p, c_size_t]),
    "profs_edit_set_architecture": (STATUS, [c_void_p, c_char_p]),
    "profs_edit_architecture": (c_char_p, [c_void_p]),
    "profs_edit_set_model_id": (STATUS, [c_void_p, c_char_p]),
    "profs_edit_model_id": (c_char_p, [c_void_p]),
    "profs_edit_save": (STATUS, [c_void_p, c_char_p]),
    "profs_edit_load": (STATUS, [c_handle_p, c_char_p]),
    "profs_edit_apply": (STATUS, [c_handle_p, c_void_p, c_void_p, c_int]),
    "profs_edit_report_free": (None, [c_void_p]),
    "profs_edit_report_architecture": (c_char_p, [c_void_p]),
    "profs_edit_report_count": (c_size_t, [c_void_p]),
    "profs_edit_report_name": (c_char_p, [c_void_p, c_size_t]),
    "profs_edit_report_layer": (c_size_t, [c_void_p, c_size_t]),
    "profs_edit_report_rank": (c_size_t, [c_void_p, c_size_t]),
    "profs_edit_report_role": (c_int, [c_void_p, c_size_t]),
    "profs_edit_report_applied": (c_int, [c_void_p, c_size_t]),
    "profs_edit_report_delta_norm": (c_double, [c_void_p, c_size_t]),
    "profs_edit_report_weight_norm": (c_double, [c_void_p, c_size_t]),
    "profs_edit_report_post_norm": (c_int, [c_void_p, c_size_t]),
    "profs_arch_default_first_layer": (c_int, [c_void_p, c_char_p, c_size_t]),
    "profs_arch_unembedding": (c_int, [c_char_p, c_size_t, c_void_p]),

    # tokenizer.h
    "profs_encode_flag_add_special": (ctypes.c_uint, []),
    "profs_encode_flag_special_as_text": (ctypes.c_uint, []),
    "profs_decode_flag_skip_special": (ctypes.c_uint, []),
    "profs_tokenizer_open": (STATUS, [c_handle_p, c_char_p]),
    "profs_tokenizer_free": (None, [c_void_p]),
    "profs_tokenizer_encode": (STATUS, [c_void_p, c_char_p, c_size_t, ctypes.c_uint, c_int32_p,
                                        c_size_t, c_size_t_p]),
    "profs_tokenizer_decode": (STATUS, [c_void_p, c_int32_p, c_size_t, ctypes.c_uint, c_char_p,
                                        c_size_t, c_size_t_p]),
    "profs_tokenizer_vocab_size": (c_size_t, [c_void_p]),
    "profs_tokenizer_id_to_token": (c_char_p, [c_void_p, ctypes.c_int32]),
    "profs_tokenizer_token_to_id": (STATUS, [c_void_p, c_char_p, c_int32_p]),
    "profs_tokenizer_bos_id": (ctypes.c_int32, [c_void_p]),
    "profs_tokenizer_eos_id": (ctypes.c_int32, [c_void_p]),
    "profs_tokenizer_pad_id": (ctypes.c_int32, [c_void_p]),
    "profs_tokenizer_unk_id": (ctypes.c_int32, [c_void_p]),

    # lm.h
    "profs_lm_open": (STATUS, [c_handle_p, c_char_p]),
    "profs_lm_open_model": (STATUS, [c_handle_p, c_void_p]),
    "profs_lm_free": (None, [c_void_p]),
    "profs_lm_n_layers": (c_size_t, [c_void_p]),
    "profs_lm_hidden_size": (c_size_t, [c_void_p]),
    "profs_lm_vocab_size": (c_size_t, [c_void_p]),
    "profs_lm_max_positions": (c_size_t, [c_void_p]),
    "profs_lm_architecture": (c_char_p, [c_void_p]),
    "profs_lm_model": (c_void_p, [c_void_p]),
    "profs_lm_tokenizer": (c_void_p, [c_void_p]),
    "profs_lm_set_tokenizer": (STATUS, [c_void_p, c_void_p]),
    "profs_lm_set_batch_tokens": (STATUS, [c_void_p, c_size_t]),
    "profs_lm_set_max_length": (STATUS, [c_void_p, c_size_t]),
    "profs_lm_set_pool_skip_bos": (STATUS, [c_void_p, c_int]),
    "profs_lm_set_resident_bytes": (STATUS, [c_void_p, c_size_t]),
    "profs_lm_hidden_states": (STATUS, [c_void_p, c_float_p, c_int32_p, c_size_t]),
    "profs_lm_pool_ids": (STATUS, [c_void_p, c_float_p, P(c_int32_p), c_size_t_p, c_size_t, c_int,
                                   PROGRESS_FN, c_void_p]),
    "profs_lm_pool_pairs": (STATUS, [c_void_p, c_float_p, c_uint64_p, P(c_int32_p), c_size_t_p, c_size_t,
                                     c_int, PROGRESS_FN, c_void_p]),
    "profs_lm_set_prefix_sharing": (STATUS, [c_void_p, c_int]),
    "profs_lm_set_compute": (STATUS, [c_void_p, c_int]),
    "profs_lm_compute": (c_int, [c_void_p]),
    "profs_compute_name": (c_char_p, [c_int]),
    "profs_lm_compute_kernel": (c_char_p, [c_void_p]),
    "profs_lm_tokenize": (STATUS, [c_void_p, c_int32_p, c_size_t, c_size_t_p, c_char_p]),
    "profs_lm_pool_texts": (STATUS, [c_void_p, c_float_p, P(c_char_p), c_size_t, PROGRESS_FN,
                                     c_void_p]),
    "profs_lm_collect": (STATUS, [c_void_p, c_void_p, P(c_char_p), P(c_char_p), c_size_t,
                                  PROGRESS_FN, c_void_p]),
    "profs_lm_logits": (STATUS, [c_void_p, c_float_p, c_int32_p, c_size_t]),
    "profs_lm_next_logprobs": (STATUS, [c_void_p, c_float_p, c_int32_p, c_size_t]),
    "profs_lm_perplexity": (STATUS, [c_void_p, c_double_p, c_double_p, c_int32_p, c_size_t,
                                     c_size_t, c_size_t, PROGRESS_FN, c_void_p]),
    "profs_sampler_new": (STATUS, [c_handle_p]),
    "profs_sampler_free": (None, [c_void_p]),
    "profs_sampler_set_temperature": (STATUS, [c_void_p, c_double]),
    "profs_sampler_set_top_k": (STATUS, [c_void_p, c_size_t]),
    "profs_sampler_set_top_p": (STATUS, [c_void_p, c_double]),
    "profs_sampler_set_seed": (STATUS, [c_void_p, ctypes.c_uint64]),
    "profs_lm_generate": (STATUS, [c_void_p, c_int32_p, c_size_t, c_size_t_p, c_int32_p, c_size_t,
                                   c_size_t, c_void_p, TOKEN_FN, c_void_p]),
    # eval.h (PROFS_0.2)
    "profs_lm_perplexity_windows": (STATUS, [c_void_p, c_double_p, c_double_p, c_size_t_p, c_int32_p,
                                             c_size_t, c_size_t, c_size_t, PROGRESS_FN, c_void_p]),
    "profs_lm_loglikelihood": (STATUS, [c_void_p, c_double_p, c_int_p, P(c_int32_p), c_size_t_p,
                                        c_size_t_p, c_size_t, PROGRESS_FN, c_void_p]),
    "profs_classifier_open": (STATUS, [c_handle_p, c_char_p]),
    "profs_classifier_free": (None, [c_void_p]),
    "profs_classifier_n_labels": (c_size_t, [c_void_p]),
    "profs_classifier_label": (c_char_p, [c_void_p, c_size_t]),
    "profs_classifier_label_index": (STATUS, [c_void_p, c_char_p, c_size_t_p]),
    "profs_classifier_architecture": (c_char_p, [c_void_p]),
    "profs_classifier_tokenizer": (c_void_p, [c_void_p]),
    "profs_classifier_max_length": (c_size_t, [c_void_p]),
    "profs_classifier_set_max_length": (STATUS, [c_void_p, c_size_t]),
    "profs_classifier_set_sigmoid": (STATUS, [c_void_p, c_int]),
    "profs_classifier_uses_sigmoid": (c_int, [c_void_p]),
    "profs_classifier_set_batch_tokens": (STATUS, [c_void_p, c_size_t]),
    "profs_classifier_logits": (STATUS, [c_void_p, c_float_p, P(c_int32_p), c_size_t_p, c_size_t]),
    "profs_classifier_classify": (STATUS, [c_void_p, c_float_p, P(c_char_p), c_size_t, PROGRESS_FN,
                                           c_void_p]),
}


def _candidates():
    env = os.environ.get("PROFS_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "libprofs.so.0"), "libprofs.so.0"]


class _Library:
    """The loaded libprofs with lazily declared functions (attribute = C function)."""

    def __init__(self):
        self._cdll = None
        self._path = None
        self._lock = threading.Lock()

    def _load(self):
        errors = []
        for cand in _candidates():
            if os.sep in cand and not os.path.exists(cand):
                errors.append("%s: no such file" % cand)
                continue
            try:
                self._cdll = ctypes.CDLL(cand)
                self._path = cand
                return
            except OSError as e:
                errors.append(str(e))
        raise LibraryNotFound(ENOTFOUND,
                              "libprofs: cannot load libprofs.so.0 (set PROFS_LIBRARY to its path): "
                              + "; ".join(errors))

    @property
    def path(self):
        if self._cdll is None:
            with self._lock:
                if self._cdll is None:
                    self._load()
        return self._path

    def __getattr__(self, name):
        if not name.startswith("profs_"):
            raise AttributeError(name)
        if self._cdll is None:
            self.path  # loads
        with self._lock:
            if name in self.__dict__:
                return self.__dict__[name]
            try:
                restype, argtypes = _PROTOTYPES[name]
            except KeyError:
                raise AttributeError("%s is not declared in profs/_lib.py" % name) from None
            try:
                fn = getattr(self._cdll, name)
            except AttributeError:
                def missing(*args, _name=name):
                    raise ProfsError(EUNSUPPORTED, "%s: this libprofs (%s) does not export %s"
                                     % (_name, self._path, _name))
                self.__dict__[name] = missing
                return missing
            fn.argtypes = argtypes
            if restype is STATUS:
                fn.restype = c_int
                fn.errcheck = _check_status
            else:
                fn.restype = restype
            fn = _checked_call(name, fn, argtypes)
            self.__dict__[name] = fn
            return fn

    def has(self, name):
        """True when the loaded library exports @p name."""
        if self._cdll is None:
            self.path
        return hasattr(self._cdll, name)


SIZE_MAX = 2 ** (8 * ctypes.sizeof(c_size_t)) - 1


def _checked_call(name, fn, argtypes):
    """fn with its arguments checked before ctypes converts them.

    ctypes silently wraps a negative or too large Python int passed as size_t
    (layer -1 would become 2^64 - 1, rank_max 2^70 would become 0); such an
    argument, and any argument ctypes cannot convert, raises ProfsError
    (PROFS_EINVAL) instead.
    """
    sizes = [i for i, t in enumerate(argtypes) if t is c_size_t]

    def call(*args):
        if sizes:
            args = list(args)
            for i in sizes:
                if i < len(args):
                    args[i] = size_arg(args[i], "%s: argument %d" % (name, i + 1))
        try:
            return fn(*args)
        except ctypes.ArgumentError as e:
            raise ProfsError(EINVAL, "%s: %s" % (name, e)) from None
    call.__name__ = name
    call.__wrapped__ = fn
    return call


def _check_status(result, func, args):
    if result < 0:
        raise ProfsError(result, last_error())
    return result


lib = _Library()


def _s(b):
    return None if b is None else b.decode("utf-8", "replace")


def strerror(code):
    """Fixed English text of a result code."""
    return _s(lib.profs_strerror(int(code)))


def last_error():
    """This thread's most recent detailed error message from libprofs."""
    return _s(lib.profs_last_error())


def encode_path(path):
    try:
        return os.fsencode(os.fspath(path))
    except TypeError:
        raise ProfsError(EINVAL, "expected a path (str, bytes or os.PathLike), got %s"
                         % type(path).__name__) from None


def encode_str(s):
    if isinstance(s, str):
        return s.encode("utf-8")
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    raise ProfsError(EINVAL, "expected a str or bytes, got %s" % type(s).__name__)


def size_arg(v, what):
    """v as a non-negative int (a size or count), or ProfsError(PROFS_EINVAL)."""
    if isinstance(v, bool):
        raise ProfsError(EINVAL, "%s: expected an integer, got %r" % (what, v))
    try:
        i = operator.index(v)
    except TypeError:
        raise ProfsError(EINVAL, "%s: expected an integer, got %r" % (what, v)) from None
    if not 0 <= i <= SIZE_MAX:
        raise ProfsError(EINVAL, "%s: %d out of range [0, 2^%d)"
                         % (what, i, 8 * ctypes.sizeof(c_size_t)))
    return i


def check(cond, code, message):
    """Raise ProfsError(code, message) unless cond (argument checks done in Python)."""
    if not cond:
        raise ProfsError(code, message)


def progress_callback(fn, state):
    """Wrap a Python progress function fn(stage, done, total) -> truthy to cancel.

    Exceptions raised by fn cancel the operation and are stored in state["error"]
    so that the caller can re-raise them after the C call returns.
    Returns the ctypes callback (keep a reference during the call).
    """
    if fn is None:
        return PROGRESS_FN()

    def cb(userdata, stage, done, total):
        try:
            return 1 if fn(_s(stage), int(done), int(total)) else 0
        except BaseException as e:  # noqa: B902 - re-raised by the caller
            state["error"] = e
            return 1
    return PROGRESS_FN(cb)
