//! Safe Rust interface to libprofs: ProFS model editing (Projection Filter for
//! Subspaces, arXiv 2405.13967).
//!
//! Owned handles free themselves on drop; every fallible call returns
//! `Result<_, Error>` carrying the library's code and message; arrays go in
//! and out as slices (row-major, shapes in the docs).
//!
//! ```no_run
//! use profs::{Collector, Estimator, RankRule};
//! # fn main() -> Result<(), profs::Error> {
//! let (layers, dim) = (2, 64);
//! let mut c = Collector::new(layers, dim)?;
//! let preferred = vec![0.0f32; layers * dim];       // (n_layers, dim), row-major
//! let dispreferred = vec![1.0f32; layers * dim];
//! c.add_pair(&preferred, &dispreferred)?;
//! let est = Estimator::new()?.rank_rule(RankRule::ScreeNot, 10)?;
//! # let _ = (est, c);
//! # Ok(()) }
//! ```

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::c_int;
use std::path::Path;
use std::ptr;

pub use profs_sys as sys;

mod edit;
mod lm;
mod model;
mod progress;
mod tokenizer;
pub use tokenizer::Tokenizer;
pub use edit::{Edit, EditReport, ReportEntry, SubspaceRef, Targets};
pub use lm::{Lm, Sampling};
pub use model::{Model, TensorInfo};
pub use progress::Progress;


/// Result codes of the library (common.h). Fixed numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Inval,
    NoMem,
    Io,
    Format,
    Unsupported,
    Shape,
    Numeric,
    Cancelled,
    State,
    Bufs,
    NotFound,
    Exist,
    /// A code this binding does not know (a newer library).
    Other(i32),
}

impl Code {
    /// The code for a negative C status.
    pub fn from_raw(code: i32) -> Code {
        match code {
            sys::PROFS_EINVAL => Code::Inval,
            sys::PROFS_ENOMEM => Code::NoMem,
            sys::PROFS_EIO => Code::Io,
            sys::PROFS_EFORMAT => Code::Format,
            sys::PROFS_EUNSUPPORTED => Code::Unsupported,
            sys::PROFS_ESHAPE => Code::Shape,
            sys::PROFS_ENUMERIC => Code::Numeric,
            sys::PROFS_ECANCELLED => Code::Cancelled,
            sys::PROFS_ESTATE => Code::State,
            sys::PROFS_EBUFS => Code::Bufs,
            sys::PROFS_ENOTFOUND => Code::NotFound,
            sys::PROFS_EEXIST => Code::Exist,
            other => Code::Other(other),
        }
    }

    /// The C value (a negative `PROFS_E*`).
    pub fn raw(self) -> i32 {
        match self {
            Code::Inval => sys::PROFS_EINVAL,
            Code::NoMem => sys::PROFS_ENOMEM,
            Code::Io => sys::PROFS_EIO,
            Code::Format => sys::PROFS_EFORMAT,
            Code::Unsupported => sys::PROFS_EUNSUPPORTED,
            Code::Shape => sys::PROFS_ESHAPE,
            Code::Numeric => sys::PROFS_ENUMERIC,
            Code::Cancelled => sys::PROFS_ECANCELLED,
            Code::State => sys::PROFS_ESTATE,
            Code::Bufs => sys::PROFS_EBUFS,
            Code::NotFound => sys::PROFS_ENOTFOUND,
            Code::Exist => sys::PROFS_EEXIST,
            Code::Other(c) => c,
        }
    }
}

/// An error: the library's result code and its detailed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
}

impl Error {
    /// An error detected by the binding itself (before calling the library).
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }
    /// The result code.
    pub fn code(&self) -> Code {
        self.code
    }
    /// The library's detailed message (which file, tensor, field or value).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", strerror(self.code.raw()))
        } else {
            write!(f, "{} ({})", self.message, strerror(self.code.raw()))
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's error.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) unsafe fn cstr<'a>(p: *const std::os::raw::c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        CStr::from_ptr(p).to_str().ok()
    }
}

/// Turn a C status into a Result, reading this thread's message on error.
pub(crate) fn check(rc: c_int) -> Result<()> {
    if rc >= 0 {
        return Ok(());
    }
    let message = unsafe { cstr(sys::profs_last_error()) }.unwrap_or("").to_string();
    Err(Error { code: Code::from_raw(rc), message })
}

pub(crate) fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(Code::Inval, format!("{}: contains a NUL byte", what)))
}

pub(crate) fn c_path(p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::new(Code::Inval, format!("{}: contains a NUL byte", p.display())))
}

/// Fixed English text of a result code.
pub fn strerror(code: i32) -> &'static str {
    unsafe { cstr(sys::profs_strerror(code)) }.unwrap_or("unknown error")
}

/// Version string of the loaded library ("0.1.0").
pub fn version() -> &'static str {
    unsafe { cstr(sys::profs_version_string()) }.unwrap_or("")
}

/// MAJOR * 10000 + MINOR * 100 + PATCH of the loaded library.
pub fn version_number() -> i32 {
    unsafe { sys::profs_version_number() }
}

/// ScreeNOT's pseudo-noise continuation of the top `rank_max` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Imputation (the authors' default); needs 2 rank_max + 1 < n.
    #[default]
    Impute,
    /// Winsorization.
    Winsorize,
    /// Zeros.
    Zero,
}

impl Strategy {
    fn raw(self) -> c_int {
        match self {
            Strategy::Impute => sys::PROFS_SCREENOT_IMPUTE,
            Strategy::Winsorize => sys::PROFS_SCREENOT_WINSORIZE,
            Strategy::Zero => sys::PROFS_SCREENOT_ZERO,
        }
    }
}

/// The ScreeNOT threshold of singular values (Donoho, Gavish, Romanov 2023).
///
/// `singular_values` in any order; `aspect_ratio` = min(rows, cols) / max(rows, cols)
/// in (0, 1]; returns `(threshold, rank)` with rank = number of values strictly above.
pub fn screenot(singular_values: &[f64], aspect_ratio: f64, rank_max: usize,
                strategy: Strategy) -> Result<(f64, usize)> {
    let mut thr = 0.0f64;
    let mut rank = 0usize;
    check(unsafe {
        sys::profs_screenot(&mut thr, &mut rank, singular_values.as_ptr(), singular_values.len(),
                            aspect_ratio, rank_max, strategy.raw())
    })?;
    Ok((thr, rank))
}

/// Mean of the rows of `states` (n_tokens x dim, row-major) whose `mask` entry is
/// non-zero (`None`: all rows).
pub fn mean_pool(states: &[f32], mask: Option<&[u8]>, dim: usize) -> Result<Vec<f32>> {
    if dim == 0 || states.len() % dim != 0 {
        return Err(Error::new(Code::Shape, format!("states: {} values is not a multiple of dim {}",
                                                   states.len(), dim)));
    }
    let n_tokens = states.len() / dim;
    if let Some(m) = mask {
        if m.len() != n_tokens {
            return Err(Error::new(Code::Shape, format!("mask: {} entries for {} tokens", m.len(), n_tokens)));
        }
    }
    let mut out = vec![0.0f32; dim];
    check(unsafe {
        sys::profs_mean_pool(out.as_mut_ptr(), states.as_ptr(), mask.map_or(ptr::null(), |m| m.as_ptr()),
                             n_tokens, dim)
    })?;
    Ok(out)
}

/// Pooled embeddings of preference pairs, per layer.
pub struct Collector {
    raw: *mut sys::profs_collector,
}

// A collector may move between threads (used by one at a time).
unsafe impl Send for Collector {}

impl Collector {
    /// An empty collector for `n_layers` layers of width `dim`.
    pub fn new(n_layers: usize, dim: usize) -> Result<Collector> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_collector_new(&mut raw, n_layers, dim) })?;
        Ok(Collector { raw })
    }

    /// Load a collector saved with [`Collector::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Collector> {
        let p = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_collector_load(&mut raw, p.as_ptr()) })?;
        Ok(Collector { raw })
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *mut sys::profs_collector {
        self.raw
    }

    pub fn n_layers(&self) -> usize {
        unsafe { sys::profs_collector_n_layers(self.raw) }
    }
    pub fn dim(&self) -> usize {
        unsafe { sys::profs_collector_dim(self.raw) }
    }
    pub fn n_pairs(&self) -> usize {
        unsafe { sys::profs_collector_n_pairs(self.raw) }
    }

    fn check_len(&self, what: &str, len: usize, pairs: usize) -> Result<()> {
        let want = pairs * self.n_layers() * self.dim();
        if len != want {
            return Err(Error::new(Code::Shape, format!(
                "{}: {} values, expected {} ({} x {} x {})", what, len, want, pairs,
                self.n_layers(), self.dim())));
        }
        Ok(())
    }

    /// Append one pair: `preferred` and `dispreferred` are (n_layers, dim) row-major.
    pub fn add_pair(&mut self, preferred: &[f32], dispreferred: &[f32]) -> Result<()> {
        self.check_len("preferred", preferred.len(), 1)?;
        self.check_len("dispreferred", dispreferred.len(), 1)?;
        check(unsafe { sys::profs_collector_add_pair(self.raw, preferred.as_ptr(), dispreferred.as_ptr()) })
    }

    /// Append `n_pairs` pairs at once (all or nothing): (n_pairs, n_layers, dim) each.
    pub fn add_pairs(&mut self, n_pairs: usize, preferred: &[f32], dispreferred: &[f32]) -> Result<()> {
        self.check_len("preferred", preferred.len(), n_pairs)?;
        self.check_len("dispreferred", dispreferred.len(), n_pairs)?;
        check(unsafe {
            sys::profs_collector_add_pairs(self.raw, n_pairs, preferred.as_ptr(), dispreferred.as_ptr())
        })
    }

    fn rows(&self, layer: usize, p: *const f32) -> Result<&[f32]> {
        if layer >= self.n_layers() {
            return Err(Error::new(Code::Inval, format!("layer {} out of range [0, {})", layer, self.n_layers())));
        }
        let n = self.n_pairs() * self.dim();
        if p.is_null() || n == 0 {
            return Ok(&[]);
        }
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Layer `layer`'s preferred rows X+ (n_pairs, dim), borrowed.
    pub fn preferred(&self, layer: usize) -> Result<&[f32]> {
        self.rows(layer, unsafe { sys::profs_collector_preferred(self.raw, layer) })
    }

    /// Layer `layer`'s dispreferred rows X- (n_pairs, dim), borrowed.
    pub fn dispreferred(&self, layer: usize) -> Result<&[f32]> {
        self.rows(layer, unsafe { sys::profs_collector_dispreferred(self.raw, layer) })
    }

    /// Append all pairs of `other` (same n_layers and dim).
    pub fn merge(&mut self, other: &Collector) -> Result<()> {
        check(unsafe { sys::profs_collector_merge(self.raw, other.raw) })
    }

    /// Save as a safetensors file, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        check(unsafe { sys::profs_collector_save(self.raw, p.as_ptr()) })
    }

    /// The model id recorded with the embeddings.
    pub fn model_id(&self) -> Option<String> {
        unsafe { cstr(sys::profs_collector_model_id(self.raw)) }.map(str::to_string)
    }

    /// The producer recorded with the embeddings.
    pub fn producer(&self) -> Option<String> {
        unsafe { cstr(sys::profs_collector_producer(self.raw)) }.map(str::to_string)
    }

    /// Record the producer (`None` restores the default).
    pub fn set_producer(&mut self, producer: Option<&str>) -> Result<()> {
        let s = producer.map(|s| c_string(s, "producer")).transpose()?;
        check(unsafe { sys::profs_collector_set_producer(self.raw, s.as_ref().map_or(ptr::null(), |s| s.as_ptr())) })
    }

    /// Record the model id (`None` clears it).
    pub fn set_model_id(&mut self, id: Option<&str>) -> Result<()> {
        let s = id.map(|s| c_string(s, "model_id")).transpose()?;
        check(unsafe { sys::profs_collector_set_model_id(self.raw, s.as_ref().map_or(ptr::null(), |s| s.as_ptr())) })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        unsafe { sys::profs_collector_free(self.raw) }
    }
}

/// Centering of the difference matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Centering {
    /// No centering.
    None,
    /// The normalised mean of X+ (the paper; default).
    #[default]
    Mean,
    /// The top right singular vector of X+ (the authors' released code).
    TopSingular,
}

/// How the rank of the subspace is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankRule {
    /// ScreeNOT, with k as the upper bound.
    ScreeNot,
    /// Exactly k directions.
    Fixed,
}

/// Estimation options.
pub struct Estimator {
    raw: *mut sys::profs_estimator,
}

unsafe impl Send for Estimator {}
unsafe impl Sync for Estimator {}

impl Estimator {
    /// Defaults: mean centering, ScreeNOT with rank_max 10, imputation.
    pub fn new() -> Result<Estimator> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_estimator_new(&mut raw) })?;
        Ok(Estimator { raw })
    }

    /// Set the centering (builder style).
    pub fn centering(self, c: Centering) -> Result<Estimator> {
        let v = match c {
            Centering::None => sys::PROFS_CENTER_NONE,
            Centering::Mean => sys::PROFS_CENTER_MEAN,
            Centering::TopSingular => sys::PROFS_CENTER_TOP_SINGULAR,
        };
        check(unsafe { sys::profs_estimator_set_centering(self.raw, v) })?;
        Ok(self)
    }

    /// Set the rank rule and its k (upper bound for ScreeNOT, the rank for Fixed).
    pub fn rank_rule(self, rule: RankRule, k: usize) -> Result<Estimator> {
        let v = match rule {
            RankRule::ScreeNot => sys::PROFS_RANK_SCREENOT,
            RankRule::Fixed => sys::PROFS_RANK_FIXED,
        };
        check(unsafe { sys::profs_estimator_set_rank_rule(self.raw, v, k) })?;
        Ok(self)
    }

    /// Set the ScreeNOT strategy.
    pub fn strategy(self, s: Strategy) -> Result<Estimator> {
        check(unsafe { sys::profs_estimator_set_screenot_strategy(self.raw, s.raw()) })?;
        Ok(self)
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::profs_estimator {
        self.raw
    }

    /// The k of the rank rule.
    pub fn rank_k(&self) -> usize {
        unsafe { sys::profs_estimator_rank_k(self.raw) }
    }

    /// Estimate layer `layer`'s subspace from the collected pairs.
    pub fn estimate(&self, collector: &Collector, layer: usize) -> Result<Subspace> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_estimate(&mut raw, self.raw, collector.raw, layer) })?;
        Ok(Subspace { raw })
    }
}

impl Drop for Estimator {
    fn drop(&mut self) {
        unsafe { sys::profs_estimator_free(self.raw) }
    }
}

/// An estimated (or given) subspace of one layer.
pub struct Subspace {
    raw: *mut sys::profs_subspace,
}

unsafe impl Send for Subspace {}
unsafe impl Sync for Subspace {}

impl Subspace {
    /// A subspace from `rank` orthonormal rows of width `dim` (row-major).
    pub fn from_basis(basis: &[f32], rank: usize, dim: usize) -> Result<Subspace> {
        if basis.len() != rank * dim {
            return Err(Error::new(Code::Shape, format!("basis: {} values, expected {} x {}", basis.len(), rank, dim)));
        }
        let mut raw = ptr::null_mut();
        let p = if rank == 0 { ptr::null() } else { basis.as_ptr() };
        check(unsafe { sys::profs_subspace_from_basis(&mut raw, p, rank, dim) })?;
        Ok(Subspace { raw })
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::profs_subspace {
        self.raw
    }
    pub fn rank(&self) -> usize {
        unsafe { sys::profs_subspace_rank(self.raw) }
    }
    pub fn dim(&self) -> usize {
        unsafe { sys::profs_subspace_dim(self.raw) }
    }
    /// The basis: (rank, dim) row-major, orthonormal rows.
    pub fn basis(&self) -> &[f32] {
        let p = unsafe { sys::profs_subspace_basis(self.raw) };
        let n = self.rank() * self.dim();
        if p.is_null() || n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
    }
    /// The ScreeNOT threshold (NaN for a fixed rank).
    pub fn threshold(&self) -> f64 {
        unsafe { sys::profs_subspace_threshold(self.raw) }
    }
    /// All singular values of the centred difference matrix, descending.
    pub fn singular_values(&self) -> &[f64] {
        let p = unsafe { sys::profs_subspace_singular_values(self.raw) };
        let n = unsafe { sys::profs_subspace_n_singular_values(self.raw) };
        if p.is_null() || n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
    }
    /// Number of pairs it was estimated from.
    pub fn n_pairs(&self) -> usize {
        unsafe { sys::profs_subspace_n_pairs(self.raw) }
    }
}

impl Drop for Subspace {
    fn drop(&mut self) {
        unsafe { sys::profs_subspace_free(self.raw) }
    }
}

/// Which axis of a weight matrix is the model dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// W is [D, X] (nn.Linear down_proj / fc2 / fc_out): W <- (I - V V^T) W.
    DFirst,
    /// W is [X, D] (GPT-2 Conv1D c_proj): W <- W (I - V V^T).
    DLast,
}

impl Layout {
    fn raw(self) -> c_int {
        match self {
            Layout::DFirst => sys::PROFS_LAYOUT_D_FIRST,
            Layout::DLast => sys::PROFS_LAYOUT_D_LAST,
        }
    }
}

/// Element type of a 16-bit weight buffer for [`project_u16`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    F16,
    BF16,
}

fn weight_len(len: usize, rows: usize, cols: usize) -> Result<()> {
    if rows.checked_mul(cols) != Some(len) {
        return Err(Error::new(Code::Shape, format!("weight: {} values, expected {} x {}", len, rows, cols)));
    }
    Ok(())
}

/// Project `s` out of a row-major (rows, cols) f32 weight in place: W - V (V^T W).
/// Returns the Frobenius norm of the change.
pub fn project(weight: &mut [f32], rows: usize, cols: usize, layout: Layout, s: &Subspace) -> Result<f64> {
    weight_len(weight.len(), rows, cols)?;
    let mut norm = 0.0;
    check(unsafe {
        sys::profs_project_subspace(&mut norm, weight.as_mut_ptr().cast(), sys::PROFS_DTYPE_F32, rows, cols,
                                    layout.raw(), s.raw)
    })?;
    Ok(norm)
}

/// [`project`] for F16 or BF16 weights given as their 16-bit patterns (rounded to nearest even).
pub fn project_u16(weight: &mut [u16], rows: usize, cols: usize, half: Half, layout: Layout,
                   s: &Subspace) -> Result<f64> {
    weight_len(weight.len(), rows, cols)?;
    let dtype = match half {
        Half::F16 => sys::PROFS_DTYPE_F16,
        Half::BF16 => sys::PROFS_DTYPE_BF16,
    };
    let mut norm = 0.0;
    check(unsafe {
        sys::profs_project_subspace(&mut norm, weight.as_mut_ptr().cast(), dtype, rows, cols, layout.raw(), s.raw)
    })?;
    Ok(norm)
}
