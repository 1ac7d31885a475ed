"""The tensor store (model.h): safetensors files and Hugging Face model directories."""

import collections
import ctypes

import numpy as np

from ._lib import (lib, ProfsError, EINVAL, ENOTFOUND, EFORMAT, ECANCELLED, TRANSFORM_FN,
                   encode_path, encode_str, progress_callback, _s)
from ._handle import Handle, new_handle, f32, fptr

DTYPE_NAMES = ["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32",
               "U64", "BOOL", "F8_E4M3", "F8_E5M2"]
_NUMPY_DTYPES = {
    np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.float64): 3,
    np.dtype(np.int8): 4, np.dtype(np.int16): 5, np.dtype(np.int32): 6, np.dtype(np.int64): 7,
    np.dtype(np.uint8): 8, np.dtype(np.uint16): 9, np.dtype(np.uint32): 10,
    np.dtype(np.uint64): 11, np.dtype(np.bool_): 12,
}

TensorInfo = collections.namedtuple("TensorInfo", "dtype shape numel nbytes")
TensorInfo.__doc__ = "A tensor's dtype name ('F32', 'BF16', ...), shape tuple, element and byte counts."


class Model(Handle):
    """A read-only, memory-mapped tensor store with staged edits (profs_model).

    ``Model(path)`` opens a ``.safetensors`` file or a Hugging Face model
    directory (``model.safetensors``, or an index plus shards). Reading a
    tensor costs that tensor only; edits are staged and written by save().
    """

    _free = "profs_model_free"
    _kind = "model"

    def __init__(self, path):
        h = new_handle()
        lib.profs_model_open(ctypes.byref(h), encode_path(path))
        self._adopt(h.value)

    @classmethod
    def _borrow(cls, ptr, owner):
        """A Model view of a store owned by another handle (never freed here)."""
        obj = cls.__new__(cls)
        obj._ptr = ptr
        obj._keep = (owner,)
        obj._finalizer = None
        return obj

    def _anchor(self):
        """The object that lives as long as the C handle: self, or the owner of a view."""
        if getattr(self, "_finalizer", None) is None and self._keep:
            return self._keep[0]
        return self

    @property
    def path(self):
        return _s(lib.profs_model_path(self._p))

    def __len__(self):
        return lib.profs_model_tensor_count(self._p)

    def tensor_names(self):
        """All tensor names, sorted."""
        p = self._p
        return [_s(lib.profs_model_tensor_name(p, i))
                for i in range(lib.profs_model_tensor_count(p))]

    def __iter__(self):
        return iter(self.tensor_names())

    def __contains__(self, name):
        return bool(lib.profs_model_has_tensor(self._p, encode_str(name)))

    def info(self, name):
        """TensorInfo(dtype, shape, numel, nbytes) of a tensor."""
        dtype = ctypes.c_int()
        ndim = ctypes.c_size_t()
        shape = ctypes.POINTER(ctypes.c_int64)()
        key = encode_str(name)
        lib.profs_model_tensor_info(self._p, key, ctypes.byref(dtype), ctypes.byref(ndim),
                                    ctypes.byref(shape))
        numel = ctypes.c_uint64()
        nbytes = ctypes.c_uint64()
        lib.profs_model_tensor_size(self._p, key, ctypes.byref(numel), ctypes.byref(nbytes))
        dims = tuple(int(shape[i]) for i in range(ndim.value))
        return TensorInfo(_s(lib.profs_dtype_name(dtype.value)), dims, numel.value, nbytes.value)

    def read(self, name):
        """A tensor converted to float32 (from F32, F16, BF16 or F64), with its shape."""
        info = self.info(name)
        out = np.empty(info.shape, dtype=np.float32)
        lib.profs_model_read_f32(self._p, encode_str(name), fptr(out), out.size)
        return out

    def read_bytes(self, name):
        """A copy of a tensor's raw little-endian bytes."""
        data = ctypes.c_void_p()
        n = ctypes.c_uint64()
        lib.profs_model_tensor_data(self._p, encode_str(name), ctypes.byref(data), ctypes.byref(n))
        return ctypes.string_at(data.value, n.value) if n.value else b""

    def release(self, name):
        """Let the kernel drop the mapped pages of a tensor (later reads fault them in again)."""
        lib.profs_model_release(self._p, encode_str(name))

    @property
    def metadata(self):
        """The ``__metadata__`` map of the first (or only) safetensors file."""
        p = self._p
        out = {}
        for i in range(lib.profs_model_metadata_count(p)):
            k = lib.profs_model_metadata_key(p, i)
            out[_s(k)] = _s(lib.profs_model_metadata(p, k))
        return out

    # ---- config.json ----
    @property
    def has_config(self):
        return bool(lib.profs_model_has_config(self._p))

    def config_int(self, key):
        v = ctypes.c_int64()
        lib.profs_model_config_int(self._p, encode_str(key), ctypes.byref(v))
        return v.value

    def config_float(self, key):
        v = ctypes.c_double()
        lib.profs_model_config_float(self._p, encode_str(key), ctypes.byref(v))
        return v.value

    def config_string(self, key):
        v = ctypes.c_char_p()
        lib.profs_model_config_string(self._p, encode_str(key), ctypes.byref(v))
        return _s(v.value)

    def config_bool(self, key):
        v = ctypes.c_int()
        lib.profs_model_config_bool(self._p, encode_str(key), ctypes.byref(v))
        return bool(v.value)

    def config_array(self, key):
        """An array value as a list of ints or strings."""
        k = encode_str(key)
        n = ctypes.c_size_t()
        lib.profs_model_config_array_size(self._p, k, ctypes.byref(n))
        out = []
        for i in range(n.value):
            try:
                v = ctypes.c_int64()
                lib.profs_model_config_array_int(self._p, k, i, ctypes.byref(v))
                out.append(v.value)
            except ProfsError as e:
                if e.code != EFORMAT:
                    raise
                s = ctypes.c_char_p()
                lib.profs_model_config_array_string(self._p, k, i, ctypes.byref(s))
                out.append(_s(s.value))
        return out

    def config(self, key, default=None):
        """A config.json value of any type (int, float, bool, str, list); default when absent."""
        for getter in (self.config_int, self.config_float, self.config_bool, self.config_string,
                       self.config_array):
            try:
                return getter(key)
            except ProfsError as e:
                if e.code == ENOTFOUND:
                    return default
                if e.code != EFORMAT:
                    raise
        raise ProfsError(EFORMAT, "config.json: key '%s' has a type the binding cannot read" % key)

    # ---- staging and saving ----
    def stage(self, name, values):
        """Stage a replacement of a tensor (same element count; converted to its dtype now)."""
        a = f32(values, name)
        lib.profs_model_stage_f32(self._p, encode_str(name), fptr(a), a.size)

    def stage_transform(self, name, fn):
        """Stage fn(name, array) to modify a tensor in place while save() streams it.

        `array` is a float32 numpy view (with the tensor's shape) of the tensor's
        values, valid only during the call. An exception raised by fn aborts the
        save and is re-raised from save().
        """
        anchor = self._anchor()

        def cb(userdata, cname, data, ndim, shape):
            try:
                dims = tuple(int(shape[i]) for i in range(ndim))
                numel = int(np.prod(dims)) if dims else 1
                arr = (np.ctypeslib.as_array(data, shape=(numel,)).reshape(dims) if numel
                       else np.zeros(dims, dtype=np.float32))
                fn(_s(cname), arr)
                return 0
            except BaseException as e:  # noqa: B902 - re-raised by save()
                anchor._transform_error = e
                return ECANCELLED
        ccb = TRANSFORM_FN(cb)
        lib.profs_model_stage_transform(self._p, encode_str(name), ccb, None)
        # The callback must live until save(), unstage() or the handle is freed.
        if not hasattr(anchor, "_transforms"):
            anchor._transforms = {}
        anchor._transforms[name] = ccb

    def unstage(self, name):
        lib.profs_model_unstage(self._p, encode_str(name))
        getattr(self._anchor(), "_transforms", {}).pop(name, None)

    @property
    def staged_count(self):
        return lib.profs_model_staged_count(self._p)

    def save(self, out_path, progress=None):
        """Write the model with its staged edits (a directory, or a file for a single-file store).

        progress: optional fn(stage, done, total); a true return value, or an
        exception (re-raised here), cancels the save (ProfsError PROFS_ECANCELLED).
        """
        state = {}
        cb = progress_callback(progress, state)
        anchor = self._anchor()
        anchor._transform_error = None
        try:
            lib.profs_model_save(self._p, encode_path(out_path), cb, None)
        except ProfsError as e:
            err, anchor._transform_error = anchor._transform_error, None
            if err is not None:
                raise err from e
            if e.code == ECANCELLED and "error" in state:
                raise state["error"] from e
            raise

    def __repr__(self):
        if self.closed:
            return "<profs.Model closed>"
        return "<profs.Model %s: %d tensors>" % (self.path, len(self))


def safetensors_write(path, tensors, metadata=None):
    """Write a safetensors file atomically.

    tensors:  dict name -> numpy array (float32/16/64, int*, uint*, bool), or
              name -> (dtype_name, array) to name the dtype ("BF16" with uint16 bits)
    metadata: optional dict str -> str (``__metadata__``)
    """
    names, dtypes, ndims, shapes, datas, keep = [], [], [], [], [], []
    for name, value in tensors.items():
        if isinstance(value, tuple):
            dname, arr = value
            if dname not in DTYPE_NAMES:
                raise ProfsError(EINVAL, "%s: unknown dtype %r" % (name, dname))
            dt = DTYPE_NAMES.index(dname)
            arr = np.ascontiguousarray(arr)
        else:
            arr = np.ascontiguousarray(value)
            if arr.dtype not in _NUMPY_DTYPES:
                raise ProfsError(EINVAL, "%s: numpy dtype %s has no safetensors twin"
                                 % (name, arr.dtype))
            dt = _NUMPY_DTYPES[arr.dtype]
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        shape = (ctypes.c_int64 * max(arr.ndim, 1))(*arr.shape)
        keep += [arr, shape]
        names.append(encode_str(name))
        dtypes.append(dt)
        ndims.append(arr.ndim)
        shapes.append(ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)))
        datas.append(arr.ctypes.data_as(ctypes.c_void_p) if arr.size else None)
    n = len(names)
    meta = metadata or {}
    mk = [encode_str(k) for k in meta]
    mv = [encode_str(v) for v in meta.values()]
    lib.profs_safetensors_write(
        encode_path(path), n, (ctypes.c_char_p * max(n, 1))(*names),
        (ctypes.c_int * max(n, 1))(*dtypes), (ctypes.c_size_t * max(n, 1))(*ndims),
        (ctypes.POINTER(ctypes.c_int64) * max(n, 1))(*shapes),
        (ctypes.c_void_p * max(n, 1))(*datas), len(mk),
        (ctypes.c_char_p * max(len(mk), 1))(*mk), (ctypes.c_char_p * max(len(mv), 1))(*mv))



