//! The tensor store (model.h): safetensors files and Hugging Face model directories.
use std::collections::HashMap;
use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;

use crate::progress::{Progress, Slot};
use crate::{c_path, c_string, check, cstr, sys, Error, Result};

/// A deferred in-place edit of one tensor: `(name, values, shape)`.
pub type Transform = Box<dyn FnMut(&str, &mut [f32], &[i64]) -> Result<()> + Send>;

struct TransformSlot {
    f: Transform,
    error: Option<Error>,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

unsafe extern "C" fn transform_trampoline(userdata: *mut c_void, name: *const c_char, data: *mut f32,
                                          ndim: usize, shape: *const i64) -> c_int {
    let slot = &mut *(userdata as *mut TransformSlot);
    let name = cstr(name).unwrap_or("");
    let dims: &[i64] = if ndim == 0 { &[] } else { std::slice::from_raw_parts(shape, ndim) };
    let numel: usize = dims.iter().map(|&d| d as usize).product();
    let values: &mut [f32] = if numel == 0 { &mut [] } else { std::slice::from_raw_parts_mut(data, numel) };
    match catch_unwind(AssertUnwindSafe(|| (slot.f)(name, values, dims))) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            let code = e.code().raw();
            slot.error = Some(e);
            if code < 0 { code } else { sys::PROFS_ECANCELLED }
        }
        Err(p) => {
            slot.panic = Some(p);
            sys::PROFS_ECANCELLED
        }
    }
}

/// A tensor's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// safetensors dtype name: "F32", "BF16", ...
    pub dtype: String,
    pub shape: Vec<i64>,
    pub numel: u64,
    pub nbytes: u64,
}

/// A read-only, memory-mapped tensor store with staged edits.
pub struct Model {
    raw: *mut sys::profs_model,
    transforms: HashMap<String, Box<TransformSlot>>,
}

unsafe impl Send for Model {}

impl Model {
    /// Open a `.safetensors` file or a Hugging Face model directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Model> {
        let p = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_model_open(&mut raw, p.as_ptr()) })?;
        Ok(Model { raw, transforms: HashMap::new() })
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *mut sys::profs_model {
        self.raw
    }

    pub fn path(&self) -> &str {
        unsafe { cstr(sys::profs_model_path(self.raw)) }.unwrap_or("")
    }

    /// All tensor names, sorted.
    pub fn tensor_names(&self) -> Vec<&str> {
        let n = unsafe { sys::profs_model_tensor_count(self.raw) };
        (0..n).filter_map(|i| unsafe { cstr(sys::profs_model_tensor_name(self.raw, i)) }).collect()
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        match c_string(name, "name") {
            Ok(n) => unsafe { sys::profs_model_has_tensor(self.raw, n.as_ptr()) != 0 },
            Err(_) => false,
        }
    }

    /// Describe a tensor.
    pub fn info(&self, name: &str) -> Result<TensorInfo> {
        let n = c_string(name, "name")?;
        let (mut dtype, mut ndim, mut shape) = (0, 0usize, ptr::null());
        let (mut numel, mut nbytes) = (0u64, 0u64);
        check(unsafe { sys::profs_model_tensor_info(self.raw, n.as_ptr(), &mut dtype, &mut ndim, &mut shape) })?;
        check(unsafe { sys::profs_model_tensor_size(self.raw, n.as_ptr(), &mut numel, &mut nbytes) })?;
        let shape = if ndim == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(shape, ndim) }.to_vec() };
        let dtype = unsafe { cstr(sys::profs_dtype_name(dtype)) }.unwrap_or("?").to_string();
        Ok(TensorInfo { dtype, shape, numel, nbytes })
    }

    /// A tensor converted to f32 (from F32, F16, BF16 or F64), row-major.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.info(name)?;
        let n = c_string(name, "name")?;
        let mut out = vec![0f32; info.numel as usize];
        check(unsafe { sys::profs_model_read_f32(self.raw, n.as_ptr(), out.as_mut_ptr(), out.len()) })?;
        Ok(out)
    }

    /// A tensor's raw little-endian bytes, borrowed from the mapping.
    pub fn tensor_data(&self, name: &str) -> Result<&[u8]> {
        let n = c_string(name, "name")?;
        let (mut data, mut nbytes) = (ptr::null(), 0u64);
        check(unsafe { sys::profs_model_tensor_data(self.raw, n.as_ptr(), &mut data, &mut nbytes) })?;
        if nbytes == 0 {
            return Ok(&[]);
        }
        Ok(unsafe { std::slice::from_raw_parts(data as *const u8, nbytes as usize) })
    }

    /// `__metadata__[key]` of the first (or only) file.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        let k = c_string(key, "key").ok()?;
        unsafe { cstr(sys::profs_model_metadata(self.raw, k.as_ptr())) }
    }

    /// The `__metadata__` keys of the first (or only) file, sorted.
    pub fn metadata_keys(&self) -> Vec<&str> {
        let n = unsafe { sys::profs_model_metadata_count(self.raw) };
        (0..n).filter_map(|i| unsafe { cstr(sys::profs_model_metadata_key(self.raw, i)) }).collect()
    }

    /// Whether a config.json was found.
    pub fn has_config(&self) -> bool {
        unsafe { sys::profs_model_has_config(self.raw) != 0 }
    }

    /// A boolean value of config.json.
    pub fn config_bool(&self, key: &str) -> Result<bool> {
        let k = c_string(key, "key")?;
        let mut v = 0;
        check(unsafe { sys::profs_model_config_bool(self.raw, k.as_ptr(), &mut v) })?;
        Ok(v != 0)
    }

    /// An array of integers of config.json.
    pub fn config_int_array(&self, key: &str) -> Result<Vec<i64>> {
        let k = c_string(key, "key")?;
        let mut n = 0usize;
        check(unsafe { sys::profs_model_config_array_size(self.raw, k.as_ptr(), &mut n) })?;
        (0..n).map(|i| {
            let mut v = 0i64;
            check(unsafe { sys::profs_model_config_array_int(self.raw, k.as_ptr(), i, &mut v) }).map(|_| v)
        }).collect()
    }

    /// An array of strings of config.json.
    pub fn config_string_array(&self, key: &str) -> Result<Vec<&str>> {
        let k = c_string(key, "key")?;
        let mut n = 0usize;
        check(unsafe { sys::profs_model_config_array_size(self.raw, k.as_ptr(), &mut n) })?;
        (0..n).map(|i| {
            let mut v = ptr::null();
            check(unsafe { sys::profs_model_config_array_string(self.raw, k.as_ptr(), i, &mut v) })
                .map(|_| unsafe { cstr(v) }.unwrap_or(""))
        }).collect()
    }

    /// An integer value of config.json (dotted keys reach nested objects).
    pub fn config_int(&self, key: &str) -> Result<i64> {
        let k = c_string(key, "key")?;
        let mut v = 0i64;
        check(unsafe { sys::profs_model_config_int(self.raw, k.as_ptr(), &mut v) })?;
        Ok(v)
    }

    /// A real value of config.json.
    pub fn config_float(&self, key: &str) -> Result<f64> {
        let k = c_string(key, "key")?;
        let mut v = 0f64;
        check(unsafe { sys::profs_model_config_float(self.raw, k.as_ptr(), &mut v) })?;
        Ok(v)
    }

    /// A string value of config.json.
    pub fn config_string(&self, key: &str) -> Result<&str> {
        let k = c_string(key, "key")?;
        let mut v = ptr::null();
        check(unsafe { sys::profs_model_config_string(self.raw, k.as_ptr(), &mut v) })?;
        Ok(unsafe { cstr(v) }.unwrap_or(""))
    }

    /// Stage a replacement of a tensor (same element count), converted to its dtype now.
    pub fn stage_f32(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let n = c_string(name, "name")?;
        check(unsafe { sys::profs_model_stage_f32(self.raw, n.as_ptr(), values.as_ptr(), values.len()) })
    }

    /// Stage `f` to modify tensor `name` in place while [`Model::save`] streams it.
    /// An `Err` from `f` aborts the save with that error; a panic aborts it and is resumed.
    pub fn stage_transform(&mut self, name: &str,
                           f: impl FnMut(&str, &mut [f32], &[i64]) -> Result<()> + Send + 'static) -> Result<()> {
        let n = c_string(name, "name")?;
        let mut slot = Box::new(TransformSlot { f: Box::new(f), error: None, panic: None });
        let ud = &mut *slot as *mut TransformSlot as *mut c_void;
        check(unsafe { sys::profs_model_stage_transform(self.raw, n.as_ptr(), Some(transform_trampoline), ud) })?;
        self.transforms.insert(name.to_string(), slot);
        Ok(())
    }

    /// Drop a staged replacement or transform.
    pub fn unstage(&mut self, name: &str) -> Result<()> {
        let n = c_string(name, "name")?;
        check(unsafe { sys::profs_model_unstage(self.raw, n.as_ptr()) })?;
        self.transforms.remove(name);
        Ok(())
    }

    pub fn staged_count(&self) -> usize {
        unsafe { sys::profs_model_staged_count(self.raw) }
    }

    /// Write the model with its staged edits (atomic; see model.h). A progress
    /// closure returning `false` cancels with `Code::Cancelled`.
    pub fn save(&mut self, out: impl AsRef<Path>, progress: Option<Progress>) -> Result<()> {
        let p = c_path(out.as_ref())?;
        let mut slot = Slot::new(progress);
        let (f, ud) = slot.raw();
        let rc = unsafe { sys::profs_model_save(self.raw, p.as_ptr(), f, ud) };
        slot.finish();
        let mut error = None;
        for t in self.transforms.values_mut() {
            if let Some(p) = t.panic.take() {
                resume_unwind(p);
            }
            if let Some(e) = t.error.take() {
                error = Some(e);
            }
        }
        if rc < 0 {
            if let Some(e) = error {
                return Err(e);
            }
        }
        check(rc)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::profs_model_free(self.raw) }
    }
}
