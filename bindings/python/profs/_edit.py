"""Edits (edit.h): per-layer subspaces, saved and loaded as safetensors, applied to a model."""

import collections
import ctypes

from ._lib import (lib, ProfsError, EINVAL, ECANCELLED, encode_path, encode_str, size_arg,
                   progress_callback, _s)
from ._handle import Handle, new_handle
from ._core import Collector, Estimator, Subspace
from ._model import Model

_TARGETS = {"value": 1, "key": 2, "both": 3}
_ROLES = {1: "value", 2: "key"}

ReportEntry = collections.namedtuple(
    "ReportEntry", "name layer rank role applied delta_norm weight_norm post_norm")
ReportEntry.__doc__ = ("One targeted tensor of an applied edit: its name, layer, the rank "
                       "projected out, role ('value' or 'key'), whether the projection ran "
                       "(during Model.save), the Frobenius norms of the change and of "
                       "the weight before it (NaN until it ran), and whether it is projected "
                       "post-norm aware (Gemma-2/3 value matrices: the span of diag(g) V, "
                       "docs/core.md).")


class Edit(Handle):
    """The subspaces of several layers, ready to apply to a model (profs_edit).

    Build one with Edit.estimate(estimator, collector, layers), or Edit(dim)
    and add(layer, subspace); save()/load() it as a portable safetensors
    artifact; apply(model) stages the projections, Model.save() writes them.
    """

    _free = "profs_edit_free"
    _kind = "edit"

    def __init__(self, dim):
        h = new_handle()
        lib.profs_edit_new(ctypes.byref(h), size_arg(dim, "dim"))
        self._adopt(h.value)

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        obj._adopt(ptr)
        return obj

    @classmethod
    def estimate(cls, estimator, collector, layers=None, progress=None):
        """Estimate the subspaces of `layers` (default: every layer of the collector)."""
        if estimator is not None and not isinstance(estimator, Estimator):
            raise ProfsError(EINVAL, "estimate: expected an Estimator or None")
        if not isinstance(collector, Collector):
            raise ProfsError(EINVAL, "estimate: expected a Collector")
        arr, n = None, 0
        if layers is not None:
            layers = [size_arg(x, "layers") for x in layers]
            n = len(layers)
            arr = (ctypes.c_size_t * max(n, 1))(*layers)
        h = new_handle()
        state = {}
        cb = progress_callback(progress, state)
        try:
            lib.profs_edit_estimate(ctypes.byref(h), None if estimator is None else estimator._p,
                                    collector._p, arr, n, cb, None)
        except ProfsError as e:
            if e.code == ECANCELLED and "error" in state:
                raise state["error"] from e
            raise
        return cls._wrap(h.value)

    @classmethod
    def load(cls, path):
        """Load an edit saved by save() (validated: shapes, orthonormal bases)."""
        h = new_handle()
        lib.profs_edit_load(ctypes.byref(h), encode_path(path))
        return cls._wrap(h.value)

    def save(self, path):
        """Save as a safetensors file (layers.{l}.basis, layers.{l}.singular_values, metadata)."""
        lib.profs_edit_save(self._p, encode_path(path))

    def add(self, layer, subspace):
        """Add a copy of a subspace for `layer`."""
        if not isinstance(subspace, Subspace):
            raise ProfsError(EINVAL, "add: expected a Subspace")
        lib.profs_edit_add(self._p, size_arg(layer, "layer"), subspace._p)

    @property
    def dim(self):
        return lib.profs_edit_dim(self._p)

    @property
    def layers(self):
        """Layer indices with a subspace, ascending."""
        p = self._p
        return [lib.profs_edit_layer_at(p, i) for i in range(lib.profs_edit_count(p))]

    def __len__(self):
        return lib.profs_edit_count(self._p)

    def _get(self, layer):
        try:
            layer = size_arg(layer, "layer")
        except ProfsError:
            return None  # not a layer number: no such key (mapping protocol)
        return lib.profs_edit_get(self._p, layer)

    def __getitem__(self, layer):
        """The subspace of `layer` (a view valid while this edit is open); KeyError when it has none."""
        ptr = self._get(layer)
        if not ptr:
            raise KeyError(layer)
        return Subspace._borrow(ptr, self)

    def __contains__(self, layer):
        return bool(self._get(layer))

    @property
    def architecture(self):
        return _s(lib.profs_edit_architecture(self._p))

    @architecture.setter
    def architecture(self, name):
        lib.profs_edit_set_architecture(self._p, None if name is None else encode_str(name))

    @property
    def model_id(self):
        return _s(lib.profs_edit_model_id(self._p))

    @model_id.setter
    def model_id(self, value):
        lib.profs_edit_set_model_id(self._p, None if value is None else encode_str(value))

    def apply(self, model, targets="value"):
        """Stage the projections into `model` ("value", "key" or "both" MLP matrices).

        Returns an EditReport listing every targeted tensor; its norms are filled
        in while model.save() runs. The model keeps the report alive.
        """
        if not isinstance(model, Model):
            raise ProfsError(EINVAL, "apply: expected a Model")
        if isinstance(targets, str):
            if targets not in _TARGETS:
                raise ProfsError(EINVAL, "targets: unknown value %r (value, key, both)" % targets)
            t = _TARGETS[targets]
        else:
            t = int(targets)
        h = new_handle()
        lib.profs_edit_apply(ctypes.byref(h), self._p, model._p, t)
        report = EditReport._wrap(h.value)
        # The staged transforms write into the report while the model saves:
        # it lives as long as the model's handle (the LM's, for LM.model views).
        anchor = model._anchor()
        anchor._retain(report)
        return report

    def __repr__(self):
        if self.closed:
            return "<profs.Edit closed>"
        return "<profs.Edit dim %d, layers %s>" % (self.dim, self.layers)


class EditReport(Handle):
    """What an applied edit targets and (after Model.save) what it changed."""

    _free = "profs_edit_report_free"
    _kind = "edit report"

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        obj._adopt(ptr)
        return obj

    @property
    def architecture(self):
        return _s(lib.profs_edit_report_architecture(self._p))

    def __len__(self):
        return lib.profs_edit_report_count(self._p)

    @property
    def entries(self):
        p = self._p
        out = []
        for i in range(lib.profs_edit_report_count(p)):
            out.append(ReportEntry(
                _s(lib.profs_edit_report_name(p, i)), lib.profs_edit_report_layer(p, i),
                lib.profs_edit_report_rank(p, i),
                _ROLES.get(lib.profs_edit_report_role(p, i)),
                bool(lib.profs_edit_report_applied(p, i)),
                lib.profs_edit_report_delta_norm(p, i), lib.profs_edit_report_weight_norm(p, i),
                bool(lib.profs_edit_report_post_norm(p, i))))
        return out

    def __iter__(self):
        return iter(self.entries)

    def __repr__(self):
        if self.closed:
            return "<profs.EditReport closed>"
        return "<profs.EditReport %s: %d tensors>" % (self.architecture, len(self))
