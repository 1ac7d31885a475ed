"""The ProFS core: ScreeNOT, the collector, the estimator, subspaces, the projector kernel."""

import ctypes

import numpy as np

from ._lib import (lib, ProfsError, EINVAL, ESHAPE, EUNSUPPORTED, encode_path, encode_str, _s,
                   size_arg)
from ._handle import Handle, new_handle, f32, f64, fptr, dptr, copy_f32, copy_f64, index

# Fixed enum numbers of subspace.h / edit.h.
_CENTERING = {"none": 0, "mean": 1, "top-singular": 2}
_RANK_RULE = {"screenot": 0, "fixed": 1}
_STRATEGY = {"impute": 0, "winsorize": 1, "zero": 2}
_LAYOUT = {"d_first": 0, "d_last": 1}
_DTYPE_F32, _DTYPE_F16, _DTYPE_BF16 = 0, 1, 2


def _choice(table, value, what):
    if isinstance(value, str):
        key = value.lower().replace("_", "-")
        if key in table:
            return table[key]
        key = value.lower()
        if key in table:
            return table[key]
    raise ProfsError(EINVAL, "%s: unknown value %r (one of %s)"
                     % (what, value, ", ".join(sorted(table))))


def _real(x, what):
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ProfsError(EINVAL, "%s: expected a real number, got %r" % (what, x)) from None


def _name_of(table, number):
    for k, v in table.items():
        if v == number:
            return k
    return None


def screenot(singular_values, aspect_ratio, rank_max, strategy="impute"):
    """ScreeNOT hard threshold for singular values (Donoho, Gavish, Romanov 2023).

    Args:
        singular_values: 1-D array of the n non-negative singular values (any order)
        aspect_ratio:    min(rows, cols) / max(rows, cols) of the matrix, in (0, 1]
        rank_max:        upper bound k on the signal rank (k < n; 2k + 1 < n for "impute")
        strategy:        "impute" (default), "winsorize" or "zero"
    Returns:
        (threshold, rank): rank = number of values strictly above the threshold.
    Raises:
        ProfsError on invalid input (code PROFS_EINVAL / PROFS_ENUMERIC).
    """
    y = f64(singular_values, "singular_values")
    s = _choice(_STRATEGY, strategy, "strategy")
    rank_max = size_arg(rank_max, "rank_max")
    aspect_ratio = _real(aspect_ratio, "aspect_ratio")
    thr = ctypes.c_double()
    rank = ctypes.c_size_t()
    lib.profs_screenot(ctypes.byref(thr), ctypes.byref(rank), dptr(y), y.size,
                       aspect_ratio, rank_max, s)
    return thr.value, rank.value


def mean_pool(states, mask=None):
    """Mean of the rows of states (n_tokens, dim) whose mask entry is non-zero."""
    x = f32(states, "states")
    if x.ndim != 2:
        raise ProfsError(ESHAPE, "states: expected (n_tokens, dim), got shape %s" % (x.shape,))
    m = None
    if mask is not None:
        m = np.ascontiguousarray(mask, dtype=np.uint8)
        if m.shape != (x.shape[0],):
            raise ProfsError(ESHAPE, "mask: shape %s, expected (%d,)" % (m.shape, x.shape[0]))
    out = np.empty(x.shape[1], dtype=np.float32)
    lib.profs_mean_pool(fptr(out), fptr(x),
                        None if m is None else m.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                        x.shape[0], x.shape[1])
    return out


class Collector(Handle):
    """Pooled embeddings of preference pairs, per layer (profs_collector).

    ``Collector(n_layers, dim)`` starts empty; add pairs with add_pair() from any
    source (the built-in runtime, PyTorch hooks, your own code).
    """

    _free = "profs_collector_free"
    _kind = "collector"

    def __init__(self, n_layers, dim):
        h = new_handle()
        n_layers = size_arg(n_layers, "n_layers")
        dim = size_arg(dim, "dim")
        lib.profs_collector_new(ctypes.byref(h), n_layers, dim)
        self._adopt(h.value)

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        obj._adopt(ptr)
        return obj

    @classmethod
    def load(cls, path):
        """Load a collector saved by save() (a safetensors file)."""
        h = new_handle()
        lib.profs_collector_load(ctypes.byref(h), encode_path(path))
        return cls._wrap(h.value)

    @property
    def n_layers(self):
        return lib.profs_collector_n_layers(self._p)

    @property
    def dim(self):
        return lib.profs_collector_dim(self._p)

    @property
    def n_pairs(self):
        return lib.profs_collector_n_pairs(self._p)

    def __len__(self):
        return self.n_pairs

    def add_pair(self, preferred, dispreferred):
        """Append one pair: two float32 arrays of shape (n_layers, dim).

        C-contiguous float32 arrays are passed to the library without a copy;
        anything else is converted first. The library copies the values.
        """
        shape = (self.n_layers, self.dim)
        a = f32(preferred, "preferred", shape)
        b = f32(dispreferred, "dispreferred", shape)
        lib.profs_collector_add_pair(self._p, fptr(a), fptr(b))

    def add_pairs(self, preferred, dispreferred):
        """Append many pairs at once (all or nothing): arrays (n_pairs, n_layers, dim)."""
        a = f32(preferred, "preferred")
        if a.ndim != 3 or a.shape[1:] != (self.n_layers, self.dim):
            raise ProfsError(ESHAPE, "preferred: shape %s, expected (n_pairs, %d, %d)"
                             % (a.shape, self.n_layers, self.dim))
        b = f32(dispreferred, "dispreferred", a.shape)
        lib.profs_collector_add_pairs(self._p, a.shape[0], fptr(a), fptr(b))

    def preferred(self, layer):
        """Copy of layer's preferred rows X+ (n_pairs, dim)."""
        layer = index(layer, self.n_layers, "layer")
        return copy_f32(lib.profs_collector_preferred(self._p, layer), (self.n_pairs, self.dim))

    def dispreferred(self, layer):
        """Copy of layer's dispreferred rows X- (n_pairs, dim)."""
        layer = index(layer, self.n_layers, "layer")
        return copy_f32(lib.profs_collector_dispreferred(self._p, layer), (self.n_pairs, self.dim))

    def merge(self, other):
        """Append all pairs of another collector (same n_layers and dim)."""
        if not isinstance(other, Collector):
            raise ProfsError(EINVAL, "merge: expected a Collector, got %s" % type(other).__name__)
        lib.profs_collector_merge(self._p, other._p)

    def save(self, path):
        """Save as a safetensors file (layers.{l}.preferred / .dispreferred), atomically."""
        lib.profs_collector_save(self._p, encode_path(path))

    @property
    def model_id(self):
        return _s(lib.profs_collector_model_id(self._p))

    @model_id.setter
    def model_id(self, value):
        lib.profs_collector_set_model_id(self._p, None if value is None else encode_str(value))

    @property
    def producer(self):
        return _s(lib.profs_collector_producer(self._p))

    @producer.setter
    def producer(self, value):
        lib.profs_collector_set_producer(self._p, None if value is None else encode_str(value))

    def __repr__(self):
        if self.closed:
            return "<profs.Collector closed>"
        return "<profs.Collector %d pairs x %d layers x %d>" % (self.n_pairs, self.n_layers, self.dim)


class Subspace(Handle):
    """An estimated subspace of one layer (profs_subspace)."""

    _free = "profs_subspace_free"
    _kind = "subspace"

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        obj._adopt(ptr)
        return obj

    @classmethod
    def _borrow(cls, ptr, owner):
        """A view of a subspace owned by another handle (e.g. an Edit); never freed here."""
        obj = cls.__new__(cls)
        obj._ptr = ptr
        obj._keep = (owner,)
        obj._finalizer = None
        return obj

    @classmethod
    def from_basis(cls, basis):
        """A subspace from a given (rank, dim) array of orthonormal rows."""
        b = f32(basis, "basis")
        if b.ndim != 2:
            raise ProfsError(ESHAPE, "basis: expected (rank, dim), got shape %s" % (b.shape,))
        h = new_handle()
        lib.profs_subspace_from_basis(ctypes.byref(h), fptr(b) if b.size else None,
                                      b.shape[0], b.shape[1])
        return cls._wrap(h.value)

    @property
    def rank(self):
        return lib.profs_subspace_rank(self._p)

    @property
    def dim(self):
        return lib.profs_subspace_dim(self._p)

    @property
    def basis(self):
        """(rank, dim) float32 array with orthonormal rows (a copy)."""
        return copy_f32(lib.profs_subspace_basis(self._p), (self.rank, self.dim))

    @property
    def threshold(self):
        """The ScreeNOT threshold (NaN for a fixed rank)."""
        return lib.profs_subspace_threshold(self._p)

    @property
    def singular_values(self):
        """All singular values of the centred difference matrix, descending (float64)."""
        n = lib.profs_subspace_n_singular_values(self._p)
        return copy_f64(lib.profs_subspace_singular_values(self._p), n)

    @property
    def n_pairs(self):
        return lib.profs_subspace_n_pairs(self._p)

    def project(self, weight, layout="d_first"):
        """Project this subspace out of a weight array in place; see profs.project()."""
        return project(weight, self, layout)

    def __repr__(self):
        if self.closed:
            return "<profs.Subspace closed>"
        return "<profs.Subspace rank %d of %d>" % (self.rank, self.dim)


class Estimator(Handle):
    """Estimation options (profs_estimator).

    Args:
        centering: "mean" (the paper, default), "top-singular" (the authors' code) or "none"
        rank:      "screenot" (default; rank_max is the upper bound) or "fixed"
                   (rank_max is the rank); an int n means rank="fixed", rank_max=n
        rank_max:  the k of the rank rule (default 10)
        strategy:  ScreeNOT strategy, "impute" (default), "winsorize" or "zero"
    """

    _free = "profs_estimator_free"
    _kind = "estimator"

    def __init__(self, centering="mean", rank="screenot", rank_max=10, strategy="impute"):
        if isinstance(rank, int) and not isinstance(rank, bool):
            rank, rank_max = "fixed", rank
        c = _choice(_CENTERING, centering, "centering")
        r = _choice(_RANK_RULE, rank, "rank")
        s = _choice(_STRATEGY, strategy, "strategy")
        rank_max = size_arg(rank_max, "rank_max")
        h = new_handle()
        lib.profs_estimator_new(ctypes.byref(h))
        self._adopt(h.value)
        lib.profs_estimator_set_centering(self._p, c)
        lib.profs_estimator_set_rank_rule(self._p, r, rank_max)
        lib.profs_estimator_set_screenot_strategy(self._p, s)

    @property
    def centering(self):
        return _name_of(_CENTERING, lib.profs_estimator_centering(self._p))

    @property
    def rank(self):
        return _name_of(_RANK_RULE, lib.profs_estimator_rank_rule(self._p))

    @property
    def rank_max(self):
        return lib.profs_estimator_rank_k(self._p)

    @property
    def strategy(self):
        return _name_of(_STRATEGY, lib.profs_estimator_screenot_strategy(self._p))

    def estimate(self, collector, layer):
        """Estimate layer's subspace from the collector's pairs -> Subspace."""
        if not isinstance(collector, Collector):
            raise ProfsError(EINVAL, "estimate: expected a Collector, got %s"
                             % type(collector).__name__)
        layer = index(layer, collector.n_layers, "layer")
        h = new_handle()
        lib.profs_estimate(ctypes.byref(h), self._p, collector._p, layer)
        return Subspace._wrap(h.value)

    def __repr__(self):
        if self.closed:
            return "<profs.Estimator closed>"
        return "<profs.Estimator centering=%s rank=%s rank_max=%d strategy=%s>" % (
            self.centering, self.rank, self.rank_max, self.strategy)


def project(weight, basis, layout="d_first", dtype=None):
    """Project a subspace out of a weight matrix in place: W - V (V^T W), low rank.

    Args:
        weight: C-contiguous writable 2-D numpy array, modified in place:
                float32, float16, or uint16 holding bfloat16 bits with dtype="bf16"
        basis:  a Subspace, or a (rank, dim) float32 array of orthonormal rows
        layout: "d_first" (W is [D, X], e.g. nn.Linear down_proj: W <- (I - V V^T) W)
                or "d_last" (W is [X, D], e.g. GPT-2 Conv1D c_proj: W <- W (I - V V^T))
        dtype:  None (from the array) or "bf16" for uint16 arrays of bfloat16 bits
    Returns:
        the Frobenius norm of the change (computed in f32).
    """
    if not isinstance(weight, np.ndarray) or weight.ndim != 2:
        raise ProfsError(ESHAPE, "weight: expected a 2-D numpy array")
    if not (weight.flags.c_contiguous and weight.flags.writeable):
        raise ProfsError(EINVAL, "weight: must be C-contiguous and writeable (it is modified in place)")
    if dtype is not None and str(dtype).lower() in ("bf16", "bfloat16"):
        if weight.dtype != np.uint16:
            raise ProfsError(EINVAL, "weight: bf16 data must be given as a uint16 array")
        dt = _DTYPE_BF16
    elif weight.dtype == np.float32:
        dt = _DTYPE_F32
    elif weight.dtype == np.float16:
        dt = _DTYPE_F16
    else:
        raise ProfsError(EUNSUPPORTED, "weight: dtype %s (float32, float16 or bf16 bits as uint16)"
                         % weight.dtype)
    if isinstance(layout, str):
        lay = _choice(_LAYOUT, layout.replace("-", "_"), "layout")
    else:
        lay = int(layout)
    norm = ctypes.c_double()
    rows, cols = weight.shape
    if isinstance(basis, Subspace):
        lib.profs_project_subspace(ctypes.byref(norm), weight.ctypes.data_as(ctypes.c_void_p), dt,
                                   rows, cols, lay, basis._p)
    else:
        b = f32(basis, "basis")
        if b.ndim != 2:
            raise ProfsError(ESHAPE, "basis: expected (rank, dim), got shape %s" % (b.shape,))
        lib.profs_project(ctypes.byref(norm), weight.ctypes.data_as(ctypes.c_void_p), dt,
                          rows, cols, lay, fptr(b) if b.size else None, b.shape[0], b.shape[1])
    return norm.value

