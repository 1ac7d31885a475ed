"""Owned library handles: deterministic release (close / with) plus a finalizer."""

import ctypes
import operator
import weakref

import numpy as np

from ._lib import lib, ProfsError, ESTATE, ESHAPE, EINVAL, c_float_p, c_double_p


class Handle:
    """Base of every class that owns a libprofs handle.

    The handle is released by close(), by leaving a ``with`` block, or by the
    garbage collector (weakref.finalize) — whichever comes first; releasing
    twice is harmless. Using a closed object raises ProfsError(PROFS_ESTATE).

    A handle whose C object another open handle still uses (a Model under an
    LM, a Tokenizer attached to an LM, an EditReport a Model's staged edit
    writes into) is closed for Python at once but freed only when the last
    such user is closed, so close() in any order never leaves the library a
    dangling pointer. A view (a Subspace of an Edit, LM.model) is never freed
    by itself and raises ProfsError(PROFS_ESTATE) once its owner is closed.
    """

    _free = None  # name of the C destructor
    _kind = "handle"

    def _adopt(self, ptr, keep=()):
        self._ptr = ptr
        self._keep = ()
        self._users = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, getattr(lib, self._free), ptr)
        self._retain(*keep)

    def _retain(self, *objs):
        """Record that this handle's C object uses the C objects of objs: they outlive it."""
        self._keep = tuple(self._keep) + objs
        for o in objs:
            users = getattr(o, "_users", None)
            if users is not None:
                users.add(self)

    def _unretain(self, obj):
        """Undo _retain(obj) (e.g. a detached tokenizer); frees obj if it was closed meanwhile."""
        self._keep = tuple(k for k in self._keep if k is not obj)
        users = getattr(obj, "_users", None)
        if users is not None:
            users.discard(self)
            if getattr(obj, "_ptr", None) is None:
                obj._release()

    @property
    def _p(self):
        ptr = getattr(self, "_ptr", None)
        if ptr is None:
            raise ProfsError(ESTATE, "%s is closed" % self._kind)
        if getattr(self, "_finalizer", None) is None:
            # A view: valid only while the handle that owns the C object is open.
            for owner in self._keep:
                if isinstance(owner, Handle) and owner.closed:
                    raise ProfsError(ESTATE, "%s is a view of a closed %s" % (self._kind, owner._kind))
        return ptr

    @property
    def closed(self):
        if getattr(self, "_ptr", None) is None:
            return True
        if getattr(self, "_finalizer", None) is None:
            return any(isinstance(o, Handle) and o.closed for o in getattr(self, "_keep", ()))
        return False

    def close(self):
        """Release the library handle now (idempotent); see the class comment for handles in use."""
        self._ptr = None
        self._release()

    def _release(self):
        fin = getattr(self, "_finalizer", None)
        if fin is None:  # a view owns nothing
            self._keep = ()
            return
        if any(not u.closed for u in getattr(self, "_users", ())):
            return  # freed when the last user closes
        fin()
        kept, self._keep = self._keep, ()
        for k in kept:
            users = getattr(k, "_users", None)
            if users is not None:
                users.discard(self)
                if getattr(k, "_ptr", None) is None:
                    k._release()

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
    try:
        a = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ProfsError(EINVAL, "%s: not convertible to a float32 array: %s" % (what, e)) from None
    if shape is not None and a.shape != tuple(shape):
        raise ProfsError(ESHAPE, "%s: shape %s, expected %s" % (what, a.shape, tuple(shape)))
    return a


def f64(x, what):
    try:
        a = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ProfsError(EINVAL, "%s: not convertible to a float64 array: %s" % (what, e)) from None
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
    if isinstance(i, bool):
        raise ProfsError(EINVAL, "%s: expected an integer, got %r" % (what, i))
    try:
        i = operator.index(i)
    except TypeError:
        raise ProfsError(EINVAL, "%s: expected an integer, got %r" % (what, i)) from None
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise ProfsError(EINVAL, "%s %d out of range [0, %d)" % (what, i, n))
    return i
