//! Progress callbacks: a Rust closure behind the C `profs_progress_fn`.
use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A progress function: `(stage, done, total)`; return `false` to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64) -> bool;

pub(crate) struct Slot<'a> {
    f: Option<Progress<'a>>,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

impl<'a> Slot<'a> {
    pub(crate) fn new(f: Option<Progress<'a>>) -> Slot<'a> {
        Slot { f, panic: None }
    }
    /// The C callback and its userdata (null when there is no closure).
    pub(crate) fn raw(&mut self) -> (profs_sys::profs_progress_fn, *mut c_void) {
        if self.f.is_none() {
            return (None, std::ptr::null_mut());
        }
        (Some(trampoline), self as *mut Slot as *mut c_void)
    }
    /// Re-raise a panic of the closure after the C call returned.
    pub(crate) fn finish(self) {
        if let Some(p) = self.panic {
            resume_unwind(p);
        }
    }
}

unsafe extern "C" fn trampoline(userdata: *mut c_void, stage: *const c_char, done: u64, total: u64) -> c_int {
    let slot = &mut *(userdata as *mut Slot);
    let stage = if stage.is_null() { "" } else { std::ffi::CStr::from_ptr(stage).to_str().unwrap_or("") };
    let f = slot.f.as_mut().unwrap();
    match catch_unwind(AssertUnwindSafe(|| f(stage, done, total))) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(p) => {
            slot.panic = Some(p);
            1
        }
    }
}
