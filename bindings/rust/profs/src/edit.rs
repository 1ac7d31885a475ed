//! Edits (edit.h): per-layer subspaces, saved and loaded, applied to a model.
use std::marker::PhantomData;
use std::path::Path;
use std::ptr;

use crate::progress::{Progress, Slot};
use crate::{c_path, c_string, check, cstr, sys, Collector, Estimator, Model, Result, Subspace};

/// Which MLP matrices an edit changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Targets {
    /// The MLP output ("value") matrix (default, as in the paper).
    #[default]
    Value,
    /// The MLP input ("key") matrices.
    Key,
    Both,
}

/// The subspaces of several layers.
pub struct Edit {
    raw: *mut sys::profs_edit,
}

unsafe impl Send for Edit {}

/// A subspace owned by an [`Edit`], borrowed.
pub struct SubspaceRef<'e> {
    raw: *const sys::profs_subspace,
    _edit: PhantomData<&'e Edit>,
}

impl SubspaceRef<'_> {
    pub fn rank(&self) -> usize {
        unsafe { sys::profs_subspace_rank(self.raw) }
    }
    pub fn dim(&self) -> usize {
        unsafe { sys::profs_subspace_dim(self.raw) }
    }
    /// (rank, dim) row-major orthonormal rows.
    pub fn basis(&self) -> &[f32] {
        let p = unsafe { sys::profs_subspace_basis(self.raw) };
        let n = self.rank() * self.dim();
        if p.is_null() || n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
    }
    pub fn threshold(&self) -> f64 {
        unsafe { sys::profs_subspace_threshold(self.raw) }
    }
}

impl Edit {
    /// An empty edit for hidden size `dim`.
    pub fn new(dim: usize) -> Result<Edit> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_edit_new(&mut raw, dim) })?;
        Ok(Edit { raw })
    }

    /// Estimate the subspaces of `layers` (`None`: every layer of the collector).
    pub fn estimate(est: Option<&Estimator>, c: &Collector, layers: Option<&[usize]>,
                    progress: Option<Progress>) -> Result<Edit> {
        let mut raw = ptr::null_mut();
        let (lp, ln) = layers.map_or((ptr::null(), 0), |l| (l.as_ptr(), l.len()));
        let mut slot = Slot::new(progress);
        let (f, ud) = slot.raw();
        let rc = unsafe {
            sys::profs_edit_estimate(&mut raw, est.map_or(ptr::null(), |e| e.as_ptr()), c.as_ptr(), lp, ln, f, ud)
        };
        slot.finish();
        check(rc)?;
        Ok(Edit { raw })
    }

    /// Load an edit saved by [`Edit::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Edit> {
        let p = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_edit_load(&mut raw, p.as_ptr()) })?;
        Ok(Edit { raw })
    }

    /// Save as a safetensors file, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        check(unsafe { sys::profs_edit_save(self.raw, p.as_ptr()) })
    }

    /// Add a copy of `s` for `layer`.
    pub fn add(&mut self, layer: usize, s: &Subspace) -> Result<()> {
        check(unsafe { sys::profs_edit_add(self.raw, layer, s.as_ptr()) })
    }

    pub fn dim(&self) -> usize {
        unsafe { sys::profs_edit_dim(self.raw) }
    }

    /// Layers with a subspace, ascending.
    pub fn layers(&self) -> Vec<usize> {
        let n = unsafe { sys::profs_edit_count(self.raw) };
        (0..n).map(|i| unsafe { sys::profs_edit_layer_at(self.raw, i) }).collect()
    }

    /// The subspace of `layer`.
    pub fn get(&self, layer: usize) -> Option<SubspaceRef<'_>> {
        let p = unsafe { sys::profs_edit_get(self.raw, layer) };
        if p.is_null() { None } else { Some(SubspaceRef { raw: p, _edit: PhantomData }) }
    }

    pub fn set_model_id(&mut self, id: Option<&str>) -> Result<()> {
        let s = id.map(|s| c_string(s, "model_id")).transpose()?;
        check(unsafe { sys::profs_edit_set_model_id(self.raw, s.as_ref().map_or(ptr::null(), |s| s.as_ptr())) })
    }
    pub fn model_id(&self) -> Option<&str> {
        unsafe { cstr(sys::profs_edit_model_id(self.raw)) }
    }

    /// Stage the projections into `model`. The report borrows the model: its
    /// norms are filled in by `Model::save`, so read them after saving.
    pub fn apply<'m>(&self, model: &'m mut Model, targets: Targets) -> Result<EditReport<'m>> {
        let t = match targets {
            Targets::Value => sys::PROFS_TARGET_VALUE,
            Targets::Key => sys::PROFS_TARGET_KEY,
            Targets::Both => sys::PROFS_TARGET_BOTH,
        };
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_edit_apply(&mut raw, self.raw, model.as_ptr(), t) })?;
        Ok(EditReport { raw, model: model as *mut Model, _m: PhantomData })
    }
}

impl Drop for Edit {
    fn drop(&mut self) {
        unsafe { sys::profs_edit_free(self.raw) }
    }
}

/// One targeted tensor of an applied edit.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportEntry {
    pub name: String,
    pub layer: usize,
    pub rank: usize,
    /// true for the MLP value matrix, false for a key matrix.
    pub value: bool,
    /// Whether the projection ran (during `Model::save`).
    pub applied: bool,
    /// |V V^T W| (NaN until applied).
    pub delta_norm: f64,
    /// |W| before the edit (NaN until applied).
    pub weight_norm: f64,
    /// Projected post-norm aware: Gemma-2/3 value matrices, whose output passes
    /// through a norm, lose span(diag(g) V) (docs/core.md).
    pub post_norm: bool,
}

/// The report of [`Edit::apply`]. It holds the model mutably borrowed, because
/// the staged projections write into it; save through [`EditReport::save_model`].
pub struct EditReport<'m> {
    raw: *mut sys::profs_edit_report,
    model: *mut Model,
    _m: PhantomData<&'m mut Model>,
}

impl EditReport<'_> {
    /// Architecture the model was resolved as.
    pub fn architecture(&self) -> &str {
        unsafe { cstr(sys::profs_edit_report_architecture(self.raw)) }.unwrap_or("")
    }

    /// Every targeted tensor.
    pub fn entries(&self) -> Vec<ReportEntry> {
        let n = unsafe { sys::profs_edit_report_count(self.raw) };
        (0..n).map(|i| unsafe {
            ReportEntry {
                name: cstr(sys::profs_edit_report_name(self.raw, i)).unwrap_or("").to_string(),
                layer: sys::profs_edit_report_layer(self.raw, i),
                rank: sys::profs_edit_report_rank(self.raw, i),
                value: sys::profs_edit_report_role(self.raw, i) == sys::PROFS_TARGET_VALUE,
                applied: sys::profs_edit_report_applied(self.raw, i) != 0,
                delta_norm: sys::profs_edit_report_delta_norm(self.raw, i),
                weight_norm: sys::profs_edit_report_weight_norm(self.raw, i),
                post_norm: sys::profs_edit_report_post_norm(self.raw, i) != 0,
            }
        }).collect()
    }

    /// Save the edited model (Model::save), filling in this report's norms.
    pub fn save_model(&mut self, out: impl AsRef<Path>, progress: Option<Progress>) -> Result<()> {
        unsafe { &mut *self.model }.save(out, progress)
    }
}

impl Drop for EditReport<'_> {
    fn drop(&mut self) {
        // The staged transforms point into the report: unstage them first.
        let names: Vec<String> = self.entries().into_iter().filter(|e| e.rank > 0).map(|e| e.name).collect();
        let model = unsafe { &mut *self.model };
        for n in names {
            let _ = model.unstage(&n);
        }
        unsafe { sys::profs_edit_report_free(self.raw) }
    }
}
