"""Python binding of libprofs (ProFS model editing) over ctypes and numpy.

Pure Python: the C library libprofs.so.0 is loaded from $PROFS_LIBRARY, from
next to this package, or through the system loader. See docs/bindings.md.

    import numpy as np, profs
    c = profs.Collector(n_layers, dim)
    c.add_pair(preferred, dispreferred)          # float32 (n_layers, dim) each
    sub = profs.Estimator(rank="screenot", rank_max=10).estimate(c, layer)
    sub.basis, sub.rank, sub.threshold, sub.singular_values

Every error raises profs.ProfsError with .code (a negative PROFS_E* number,
also available as profs.EINVAL, profs.ESHAPE, ...) and .message (the library's
detailed message).
"""

from ._lib import (ProfsError, LibraryNotFound, strerror, last_error, lib as _L,
                   OK, EINVAL, ENOMEM, EIO, EFORMAT, EUNSUPPORTED, ESHAPE, ENUMERIC,
                   ECANCELLED, ESTATE, EBUFS, ENOTFOUND, EEXIST)
from ._core import screenot, mean_pool, project, Collector, Estimator, Subspace
from ._model import Model, TensorInfo, safetensors_write
from ._tokenizer import Tokenizer
from ._lm import LM
from ._edit import Edit, EditReport, ReportEntry

__all__ = [
    "ProfsError", "LibraryNotFound", "strerror", "last_error", "version", "version_number", "library_path",
    "screenot", "mean_pool", "project", "Collector", "Estimator", "Subspace",
    "Model", "TensorInfo", "safetensors_write", "LM", "Tokenizer", "Edit", "EditReport", "ReportEntry",
    "OK", "EINVAL", "ENOMEM", "EIO", "EFORMAT", "EUNSUPPORTED", "ESHAPE", "ENUMERIC",
    "ECANCELLED", "ESTATE", "EBUFS", "ENOTFOUND", "EEXIST",
]


def version():
    """Version string of the loaded library ("0.1.0")."""
    return _L.profs_version_string().decode()


def version_number():
    """MAJOR * 10000 + MINOR * 100 + PATCH of the loaded library."""
    return _L.profs_version_number()


def library_path():
    """The path (or name) libprofs was loaded from."""
    return _L.path
