"""Owned library handles: deterministic release (close / with) plus a finalizer."""

import ctypes
import weakref

import numpy as np

from ._lib import lib, ProfsError, ESTATE, ESHAPE, EINVAL, c_float_p, c_double_p


class Handle:
    """Base of every class that owns a libprofs handle.

    The handle is released by close(), by leaving a ``with`` block, or by the
    garbage collector (weakref.finalize) — whichever comes first; releasing
    twice is harmless. Using a closed object raises ProfsError(PROFS_ESTATE).
    """

    _free = None  # name of the C destructor
    _kind = "handle"

    def _adopt(self, ptr, keep=()):
        self._ptr = ptr
        # Objects this handle borrows from must outlive it.
        self._keep = tuple(keep)
        self._finalizer = weakref.finalize(self, getattr(lib, self._free), ptr)

    @property
    def _p(self):
        ptr = getattr(self, "_ptr", None)
        if ptr is None:
            raise ProfsError(ESTATE, "%s is closed" % self._kind)
        return ptr

    @property
    def closed(self):
        return getattr(self, "_ptr", None) is None

    def close(self):
        """Release the library handle now (idempotent)."""
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()
        self._ptr = None
        self._keep = ()

    def __enter__(self):
        self._p
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def new_handle():
    return ctypes.c_void_p()


def f32(x, what, shape=None):
    """x as a C-contiguous float32 array (no copy when it already is one)."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    if shape is not None and a.shape != tuple(shape):
        raise ProfsError(ESHAPE, "%s: shape %s, expected %s" % (what, a.shape, tuple(shape)))
    return a


def f64(x, what):
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ProfsError(ESHAPE, "%s: expected a 1-D array, got shape %s" % (what, a.shape))
    return a


def fptr(a):
    return a.ctypes.data_as(c_float_p)


def dptr(a):
    return a.ctypes.data_as(c_double_p)


def copy_f32(ptr, shape):
    """Copy (shape) floats from a borrowed C pointer into a new numpy array."""
    n = int(np.prod(shape)) if len(shape) else 1
    if n == 0 or not ptr:
        return np.zeros(shape, dtype=np.float32)
    return np.ctypeslib.as_array(ptr, shape=(n,)).copy().reshape(shape)


def copy_f64(ptr, n):
    if n == 0 or not ptr:
        return np.zeros((0,), dtype=np.float64)
    return np.ctypeslib.as_array(ptr, shape=(n,)).copy()


def index(i, n, what):
    i = int(i)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise ProfsError(EINVAL, "%s %d out of range [0, %d)" % (what, i, n))
    return i
