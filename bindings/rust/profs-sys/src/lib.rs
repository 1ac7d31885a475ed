//! Raw declarations of the libprofs C API (`include/profs/*.h`), written by hand.
//!
//! Every function is `unsafe`: pointers must be valid for the sizes the C
//! header documents, handles must come from the matching constructor, and
//! borrowed pointers must not outlive what they borrow from. Use the `profs`
//! crate for a safe interface.
//!
//! Conventions (common.h): fallible functions return 0 (`PROFS_OK`) or a
//! negative `PROFS_E*` code; `profs_last_error()` then holds this thread's
//! detailed message. Enum values are fixed numbers and never change.
#![allow(non_camel_case_types)]
#![cfg_attr(not(test), no_std)]

use core::ffi::{c_char, c_double, c_int, c_void};
use core::marker::{PhantomData, PhantomPinned};

macro_rules! opaque {
    ($($name:ident),* $(,)?) => {$(
        /// Opaque handle (the struct body is private to the library).
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}
opaque!(profs_model, profs_collector, profs_estimator, profs_subspace, profs_edit, profs_edit_report,
        profs_lm, profs_sampler, profs_tokenizer, profs_classifier);

// ---- common.h: result codes (fixed numbers) ----
pub const PROFS_OK: c_int = 0;
pub const PROFS_EINVAL: c_int = -1;
pub const PROFS_ENOMEM: c_int = -2;
pub const PROFS_EIO: c_int = -3;
pub const PROFS_EFORMAT: c_int = -4;
pub const PROFS_EUNSUPPORTED: c_int = -5;
pub const PROFS_ESHAPE: c_int = -6;
pub const PROFS_ENUMERIC: c_int = -7;
pub const PROFS_ECANCELLED: c_int = -8;
pub const PROFS_ESTATE: c_int = -9;
pub const PROFS_EBUFS: c_int = -10;
pub const PROFS_ENOTFOUND: c_int = -11;
pub const PROFS_EEXIST: c_int = -12;

// ---- common.h: dtypes ----
pub const PROFS_DTYPE_F32: c_int = 0;
pub const PROFS_DTYPE_F16: c_int = 1;
pub const PROFS_DTYPE_BF16: c_int = 2;
pub const PROFS_DTYPE_F64: c_int = 3;
pub const PROFS_DTYPE_I8: c_int = 4;
pub const PROFS_DTYPE_I16: c_int = 5;
pub const PROFS_DTYPE_I32: c_int = 6;
pub const PROFS_DTYPE_I64: c_int = 7;
pub const PROFS_DTYPE_U8: c_int = 8;
pub const PROFS_DTYPE_U16: c_int = 9;
pub const PROFS_DTYPE_U32: c_int = 10;
pub const PROFS_DTYPE_U64: c_int = 11;
pub const PROFS_DTYPE_BOOL: c_int = 12;
pub const PROFS_DTYPE_F8_E4M3: c_int = 13;
pub const PROFS_DTYPE_F8_E5M2: c_int = 14;

// ---- subspace.h / edit.h enums ----
pub type profs_centering = c_int;
pub const PROFS_CENTER_NONE: profs_centering = 0;
pub const PROFS_CENTER_MEAN: profs_centering = 1;
pub const PROFS_CENTER_TOP_SINGULAR: profs_centering = 2;
pub type profs_rank_rule = c_int;
pub const PROFS_RANK_SCREENOT: profs_rank_rule = 0;
pub const PROFS_RANK_FIXED: profs_rank_rule = 1;
pub type profs_screenot_strategy = c_int;
pub const PROFS_SCREENOT_IMPUTE: profs_screenot_strategy = 0;
pub const PROFS_SCREENOT_WINSORIZE: profs_screenot_strategy = 1;
pub const PROFS_SCREENOT_ZERO: profs_screenot_strategy = 2;
pub type profs_layout = c_int;
pub const PROFS_LAYOUT_D_FIRST: profs_layout = 0;
pub const PROFS_LAYOUT_D_LAST: profs_layout = 1;
pub type profs_edit_target = c_int;
pub const PROFS_TARGET_VALUE: profs_edit_target = 1;
pub const PROFS_TARGET_KEY: profs_edit_target = 2;
pub const PROFS_TARGET_BOTH: profs_edit_target = 3;
pub type profs_compute = c_int;
pub const PROFS_COMPUTE_F32: profs_compute = 0;
pub const PROFS_COMPUTE_BF16: profs_compute = 1;
pub const PROFS_COMPUTE_INT8: profs_compute = 2;

/// Progress callback: non-zero return cancels (`PROFS_ECANCELLED`).
pub type profs_progress_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, stage: *const c_char, done: u64, total: u64) -> c_int,
>;
/// Streaming callback of `profs_lm_generate`: non-zero return stops generation.
pub type profs_token_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, token: i32) -> c_int>;
/// Deferred in-place transform run by `profs_model_save`.
pub type profs_transform_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, name: *const c_char, data: *mut f32, ndim: usize,
                         shape: *const i64) -> c_int,
>;

extern "C" {
    // ---- common.h ----
    pub fn profs_strerror(code: c_int) -> *const c_char;
    pub fn profs_last_error() -> *const c_char;
    pub fn profs_clear_error();
    pub fn profs_version_string() -> *const c_char;
    pub fn profs_version_number() -> c_int;
    pub fn profs_dtype_size(dtype: c_int) -> usize;
    pub fn profs_dtype_name(dtype: c_int) -> *const c_char;
    pub fn profs_dtype_from_name(dtype: *mut c_int, name: *const c_char) -> c_int;

    // ---- model.h ----
    pub fn profs_model_open(out: *mut *mut profs_model, path: *const c_char) -> c_int;
    pub fn profs_model_free(m: *mut profs_model);
    pub fn profs_model_path(m: *const profs_model) -> *const c_char;
    pub fn profs_model_tensor_count(m: *const profs_model) -> usize;
    pub fn profs_model_tensor_name(m: *const profs_model, index: usize) -> *const c_char;
    pub fn profs_model_has_tensor(m: *const profs_model, name: *const c_char) -> c_int;
    pub fn profs_model_tensor_info(m: *const profs_model, name: *const c_char, dtype: *mut c_int,
                                   ndim: *mut usize, shape: *mut *const i64) -> c_int;
    pub fn profs_model_tensor_size(m: *const profs_model, name: *const c_char, numel: *mut u64,
                                   nbytes: *mut u64) -> c_int;
    pub fn profs_model_read_f32(m: *const profs_model, name: *const c_char, dst: *mut f32,
                                count: usize) -> c_int;
    pub fn profs_model_tensor_data(m: *const profs_model, name: *const c_char,
                                   data: *mut *const c_void, nbytes: *mut u64) -> c_int;
    pub fn profs_model_release(m: *const profs_model, name: *const c_char) -> c_int;
    pub fn profs_model_metadata_count(m: *const profs_model) -> usize;
    pub fn profs_model_metadata_key(m: *const profs_model, index: usize) -> *const c_char;
    pub fn profs_model_metadata(m: *const profs_model, key: *const c_char) -> *const c_char;
    pub fn profs_model_has_config(m: *const profs_model) -> c_int;
    pub fn profs_model_config_int(m: *const profs_model, key: *const c_char, out: *mut i64) -> c_int;
    pub fn profs_model_config_float(m: *const profs_model, key: *const c_char, out: *mut c_double) -> c_int;
    pub fn profs_model_config_string(m: *const profs_model, key: *const c_char,
                                     out: *mut *const c_char) -> c_int;
    pub fn profs_model_config_bool(m: *const profs_model, key: *const c_char, out: *mut c_int) -> c_int;
    pub fn profs_model_config_array_size(m: *const profs_model, key: *const c_char, out: *mut usize) -> c_int;
    pub fn profs_model_config_array_int(m: *const profs_model, key: *const c_char, index: usize,
                                        out: *mut i64) -> c_int;
    pub fn profs_model_config_array_string(m: *const profs_model, key: *const c_char, index: usize,
                                           out: *mut *const c_char) -> c_int;
    pub fn profs_model_stage_f32(m: *mut profs_model, name: *const c_char, src: *const f32,
                                 count: usize) -> c_int;
    pub fn profs_model_stage_transform(m: *mut profs_model, name: *const c_char,
                                       f: profs_transform_fn, userdata: *mut c_void) -> c_int;
    pub fn profs_model_unstage(m: *mut profs_model, name: *const c_char) -> c_int;
    pub fn profs_model_staged_count(m: *const profs_model) -> usize;
    pub fn profs_model_save(m: *mut profs_model, out_path: *const c_char, progress: profs_progress_fn,
                            userdata: *mut c_void) -> c_int;
    pub fn profs_model_set_follow_outside_links(m: *mut profs_model, allow: c_int) -> c_int;
    pub fn profs_model_check_save(m: *const profs_model) -> c_int;
    pub fn profs_safetensors_write(path: *const c_char, n_tensors: usize, names: *const *const c_char,
                                   dtypes: *const c_int, ndims: *const usize,
                                   shapes: *const *const i64, data: *const *const c_void,
                                   n_meta: usize, meta_keys: *const *const c_char,
                                   meta_values: *const *const c_char) -> c_int;

    // ---- collector.h ----
    pub fn profs_collector_new(out: *mut *mut profs_collector, n_layers: usize, dim: usize) -> c_int;
    pub fn profs_collector_free(c: *mut profs_collector);
    pub fn profs_collector_add_pair(c: *mut profs_collector, preferred: *const f32,
                                    dispreferred: *const f32) -> c_int;
    pub fn profs_collector_add_pairs(c: *mut profs_collector, n_pairs: usize, preferred: *const f32,
                                     dispreferred: *const f32) -> c_int;
    pub fn profs_collector_n_pairs(c: *const profs_collector) -> usize;
    pub fn profs_collector_n_layers(c: *const profs_collector) -> usize;
    pub fn profs_collector_dim(c: *const profs_collector) -> usize;
    pub fn profs_collector_preferred(c: *const profs_collector, layer: usize) -> *const f32;
    pub fn profs_collector_dispreferred(c: *const profs_collector, layer: usize) -> *const f32;
    pub fn profs_collector_merge(dst: *mut profs_collector, src: *const profs_collector) -> c_int;
    pub fn profs_collector_set_model_id(c: *mut profs_collector, model_id: *const c_char) -> c_int;
    pub fn profs_collector_model_id(c: *const profs_collector) -> *const c_char;
    pub fn profs_collector_set_producer(c: *mut profs_collector, producer: *const c_char) -> c_int;
    pub fn profs_collector_producer(c: *const profs_collector) -> *const c_char;
    pub fn profs_collector_save(c: *const profs_collector, path: *const c_char) -> c_int;
    pub fn profs_collector_load(out: *mut *mut profs_collector, path: *const c_char) -> c_int;
    pub fn profs_mean_pool(out: *mut f32, states: *const f32, mask: *const u8, n_tokens: usize,
                           dim: usize) -> c_int;

    // ---- subspace.h ----
    pub fn profs_screenot(threshold: *mut c_double, rank: *mut usize, singular_values: *const c_double,
                          n: usize, aspect_ratio: c_double, rank_max: usize,
                          strategy: profs_screenot_strategy) -> c_int;
    pub fn profs_centering_name(centering: c_int) -> *const c_char;
    pub fn profs_centering_from_name(centering: *mut c_int, name: *const c_char) -> c_int;
    pub fn profs_rank_rule_name(rule: c_int) -> *const c_char;
    pub fn profs_rank_rule_from_name(rule: *mut c_int, name: *const c_char) -> c_int;
    pub fn profs_screenot_strategy_name(strategy: c_int) -> *const c_char;
    pub fn profs_screenot_strategy_from_name(strategy: *mut c_int, name: *const c_char) -> c_int;
    pub fn profs_estimator_new(out: *mut *mut profs_estimator) -> c_int;
    pub fn profs_estimator_free(e: *mut profs_estimator);
    pub fn profs_estimator_set_centering(e: *mut profs_estimator, c: profs_centering) -> c_int;
    pub fn profs_estimator_set_rank_rule(e: *mut profs_estimator, rule: profs_rank_rule, k: usize) -> c_int;
    pub fn profs_estimator_set_screenot_strategy(e: *mut profs_estimator,
                                                 s: profs_screenot_strategy) -> c_int;
    pub fn profs_estimator_centering(e: *const profs_estimator) -> c_int;
    pub fn profs_estimator_rank_rule(e: *const profs_estimator) -> c_int;
    pub fn profs_estimator_rank_k(e: *const profs_estimator) -> usize;
    pub fn profs_estimator_screenot_strategy(e: *const profs_estimator) -> c_int;
    pub fn profs_estimate(out: *mut *mut profs_subspace, e: *const profs_estimator,
                          c: *const profs_collector, layer: usize) -> c_int;
    pub fn profs_subspace_from_basis(out: *mut *mut profs_subspace, basis: *const f32, rank: usize,
                                     dim: usize) -> c_int;
    pub fn profs_subspace_free(s: *mut profs_subspace);
    pub fn profs_subspace_rank(s: *const profs_subspace) -> usize;
    pub fn profs_subspace_dim(s: *const profs_subspace) -> usize;
    pub fn profs_subspace_basis(s: *const profs_subspace) -> *const f32;
    pub fn profs_subspace_threshold(s: *const profs_subspace) -> c_double;
    pub fn profs_subspace_n_singular_values(s: *const profs_subspace) -> usize;
    pub fn profs_subspace_singular_values(s: *const profs_subspace) -> *const c_double;
    pub fn profs_subspace_n_pairs(s: *const profs_subspace) -> usize;

    // ---- edit.h: the projector kernel ----
    pub fn profs_project(delta_norm: *mut c_double, weight: *mut c_void, dtype: c_int, rows: usize,
                         cols: usize, layout: profs_layout, basis: *const f32, rank: usize,
                         dim: usize) -> c_int;
    pub fn profs_project_f32(delta_norm: *mut c_double, weight: *mut f32, rows: usize, cols: usize,
                             layout: profs_layout, basis: *const f32, rank: usize, dim: usize) -> c_int;
    pub fn profs_project_subspace(delta_norm: *mut c_double, weight: *mut c_void, dtype: c_int,
                                  rows: usize, cols: usize, layout: profs_layout,
                                  s: *const profs_subspace) -> c_int;

    // ---- edit.h: per-layer subspaces applied to a model ----
    pub fn profs_edit_new(out: *mut *mut profs_edit, dim: usize) -> c_int;
    pub fn profs_edit_free(e: *mut profs_edit);
    pub fn profs_edit_add(e: *mut profs_edit, layer: usize, s: *const profs_subspace) -> c_int;
    pub fn profs_edit_estimate(out: *mut *mut profs_edit, est: *const profs_estimator, c: *const profs_collector,
                               layers: *const usize, n_layers: usize, progress: profs_progress_fn,
                               userdata: *mut c_void) -> c_int;
    pub fn profs_edit_dim(e: *const profs_edit) -> usize;
    pub fn profs_edit_count(e: *const profs_edit) -> usize;
    pub fn profs_edit_layer_at(e: *const profs_edit, index: usize) -> usize;
    pub fn profs_edit_get(e: *const profs_edit, layer: usize) -> *const profs_subspace;
    pub fn profs_edit_set_architecture(e: *mut profs_edit, name: *const c_char) -> c_int;
    pub fn profs_edit_architecture(e: *const profs_edit) -> *const c_char;
    pub fn profs_edit_set_model_id(e: *mut profs_edit, model_id: *const c_char) -> c_int;
    pub fn profs_edit_model_id(e: *const profs_edit) -> *const c_char;
    pub fn profs_edit_save(e: *const profs_edit, path: *const c_char) -> c_int;
    pub fn profs_edit_load(out: *mut *mut profs_edit, path: *const c_char) -> c_int;
    pub fn profs_edit_apply(report: *mut *mut profs_edit_report, e: *const profs_edit, m: *mut profs_model,
                            targets: c_int) -> c_int;
    pub fn profs_edit_report_free(r: *mut profs_edit_report);
    pub fn profs_edit_report_architecture(r: *const profs_edit_report) -> *const c_char;
    pub fn profs_edit_report_count(r: *const profs_edit_report) -> usize;
    pub fn profs_edit_report_name(r: *const profs_edit_report, i: usize) -> *const c_char;
    pub fn profs_edit_report_layer(r: *const profs_edit_report, i: usize) -> usize;
    pub fn profs_edit_report_rank(r: *const profs_edit_report, i: usize) -> usize;
    pub fn profs_edit_report_role(r: *const profs_edit_report, i: usize) -> c_int;
    pub fn profs_edit_report_applied(r: *const profs_edit_report, i: usize) -> c_int;
    pub fn profs_edit_report_delta_norm(r: *const profs_edit_report, i: usize) -> c_double;
    pub fn profs_edit_report_weight_norm(r: *const profs_edit_report, i: usize) -> c_double;
    pub fn profs_edit_report_post_norm(r: *const profs_edit_report, i: usize) -> c_int;
    pub fn profs_arch_default_first_layer(first: *mut usize, arch: *const c_char, n_layers: usize) -> c_int;
    pub fn profs_arch_unembedding(buf: *mut c_char, size: usize, m: *const profs_model) -> c_int;

    // ---- tokenizer.h ----
    pub fn profs_encode_flag_add_special() -> core::ffi::c_uint;
    pub fn profs_encode_flag_special_as_text() -> core::ffi::c_uint;
    pub fn profs_decode_flag_skip_special() -> core::ffi::c_uint;
    pub fn profs_tokenizer_open(out: *mut *mut profs_tokenizer, path: *const c_char) -> c_int;
    pub fn profs_tokenizer_free(t: *mut profs_tokenizer);
    pub fn profs_tokenizer_encode(t: *const profs_tokenizer, text: *const c_char, len: usize,
                                  flags: core::ffi::c_uint, ids: *mut i32, capacity: usize,
                                  n_ids: *mut usize) -> c_int;
    pub fn profs_tokenizer_decode(t: *const profs_tokenizer, ids: *const i32, n_ids: usize,
                                  flags: core::ffi::c_uint, text: *mut c_char, capacity: usize,
                                  len: *mut usize) -> c_int;
    pub fn profs_tokenizer_vocab_size(t: *const profs_tokenizer) -> usize;
    pub fn profs_tokenizer_id_to_token(t: *const profs_tokenizer, id: i32) -> *const c_char;
    pub fn profs_tokenizer_token_to_id(t: *const profs_tokenizer, token: *const c_char, id: *mut i32) -> c_int;
    pub fn profs_tokenizer_bos_id(t: *const profs_tokenizer) -> i32;
    pub fn profs_tokenizer_eos_id(t: *const profs_tokenizer) -> i32;
    pub fn profs_tokenizer_pad_id(t: *const profs_tokenizer) -> i32;
    pub fn profs_tokenizer_unk_id(t: *const profs_tokenizer) -> i32;

    // ---- lm.h ----
    pub fn profs_lm_open(out: *mut *mut profs_lm, dir: *const c_char) -> c_int;
    pub fn profs_lm_open_model(out: *mut *mut profs_lm, model: *mut profs_model) -> c_int;
    pub fn profs_lm_free(lm: *mut profs_lm);
    pub fn profs_lm_n_layers(lm: *const profs_lm) -> usize;
    pub fn profs_lm_hidden_size(lm: *const profs_lm) -> usize;
    pub fn profs_lm_vocab_size(lm: *const profs_lm) -> usize;
    pub fn profs_lm_max_positions(lm: *const profs_lm) -> usize;
    pub fn profs_lm_architecture(lm: *const profs_lm) -> *const c_char;
    pub fn profs_lm_model(lm: *const profs_lm) -> *mut profs_model;
    pub fn profs_lm_tokenizer(lm: *const profs_lm) -> *const profs_tokenizer;
    pub fn profs_lm_set_tokenizer(lm: *mut profs_lm, tok: *const profs_tokenizer) -> c_int;
    pub fn profs_lm_set_batch_tokens(lm: *mut profs_lm, tokens: usize) -> c_int;
    pub fn profs_lm_set_max_length(lm: *mut profs_lm, tokens: usize) -> c_int;
    pub fn profs_lm_set_pool_skip_bos(lm: *mut profs_lm, skip: c_int) -> c_int;
    pub fn profs_lm_set_resident_bytes(lm: *mut profs_lm, bytes: usize) -> c_int;
    pub fn profs_lm_hidden_states(lm: *mut profs_lm, out: *mut f32, ids: *const i32, n_ids: usize) -> c_int;
    pub fn profs_lm_pool_ids(lm: *mut profs_lm, out: *mut f32, ids: *const *const i32, lens: *const usize,
                             n_seqs: usize, skip_first: c_int, progress: profs_progress_fn,
                             userdata: *mut c_void) -> c_int;
    pub fn profs_lm_pool_pairs(lm: *mut profs_lm, out: *mut f32, prefix_tokens_saved: *mut u64,
                               ids: *const *const i32, lens: *const usize, n_pairs: usize, skip_first: c_int,
                               progress: profs_progress_fn, userdata: *mut c_void) -> c_int;
    pub fn profs_lm_set_prefix_sharing(lm: *mut profs_lm, on: c_int) -> c_int;
    pub fn profs_lm_set_compute(lm: *mut profs_lm, mode: c_int) -> c_int;
    pub fn profs_lm_compute(lm: *const profs_lm) -> c_int;
    pub fn profs_compute_name(mode: c_int) -> *const c_char;
    pub fn profs_lm_compute_kernel(lm: *const profs_lm) -> *const c_char;
    pub fn profs_lm_tokenize(lm: *const profs_lm, ids: *mut i32, capacity: usize, n: *mut usize,
                             text: *const c_char) -> c_int;
    pub fn profs_lm_pool_texts(lm: *mut profs_lm, out: *mut f32, texts: *const *const c_char, n_texts: usize,
                               progress: profs_progress_fn, userdata: *mut c_void) -> c_int;
    pub fn profs_lm_collect(lm: *mut profs_lm, collector: *mut profs_collector,
                            preferred: *const *const c_char, dispreferred: *const *const c_char,
                            n_pairs: usize, progress: profs_progress_fn, userdata: *mut c_void) -> c_int;
    pub fn profs_lm_logits(lm: *mut profs_lm, logits: *mut f32, ids: *const i32, n_ids: usize) -> c_int;
    pub fn profs_lm_next_logprobs(lm: *mut profs_lm, logprobs: *mut f32, ids: *const i32, n_ids: usize) -> c_int;
    pub fn profs_lm_perplexity(lm: *mut profs_lm, ppl: *mut c_double, mean_nll: *mut c_double, ids: *const i32,
                               n_ids: usize, max_length: usize, stride: usize, progress: profs_progress_fn,
                               userdata: *mut c_void) -> c_int;
    pub fn profs_sampler_new(out: *mut *mut profs_sampler) -> c_int;
    pub fn profs_sampler_free(s: *mut profs_sampler);
    pub fn profs_sampler_set_temperature(s: *mut profs_sampler, temperature: c_double) -> c_int;
    pub fn profs_sampler_set_top_k(s: *mut profs_sampler, k: usize) -> c_int;
    pub fn profs_sampler_set_top_p(s: *mut profs_sampler, p: c_double) -> c_int;
    pub fn profs_sampler_set_seed(s: *mut profs_sampler, seed: u64) -> c_int;
    pub fn profs_lm_generate(lm: *mut profs_lm, out: *mut i32, capacity: usize, n_out: *mut usize,
                             prompt: *const i32, n_prompt: usize, max_new: usize,
                             sampler: *const profs_sampler, on_token: profs_token_fn,
                             userdata: *mut c_void) -> c_int;

    // ---- eval.h (PROFS_0.2) ----
    pub fn profs_lm_perplexity_windows(lm: *mut profs_lm, ppl: *mut c_double, mean_nll: *mut c_double,
                                       n_windows: *mut usize, ids: *const i32, n_ids: usize, max_length: usize,
                                       stride: usize, progress: profs_progress_fn, userdata: *mut c_void) -> c_int;
    pub fn profs_lm_loglikelihood(lm: *mut profs_lm, ll: *mut c_double, greedy: *mut c_int,
                                  ids: *const *const i32, lens: *const usize, n_cont: *const usize, n: usize,
                                  progress: profs_progress_fn, userdata: *mut c_void) -> c_int;
    pub fn profs_classifier_open(out: *mut *mut profs_classifier, dir: *const c_char) -> c_int;
    pub fn profs_classifier_free(c: *mut profs_classifier);
    pub fn profs_classifier_n_labels(c: *const profs_classifier) -> usize;
    pub fn profs_classifier_label(c: *const profs_classifier, i: usize) -> *const c_char;
    pub fn profs_classifier_label_index(c: *const profs_classifier, name: *const c_char, index: *mut usize) -> c_int;
    pub fn profs_classifier_architecture(c: *const profs_classifier) -> *const c_char;
    pub fn profs_classifier_tokenizer(c: *const profs_classifier) -> *const profs_tokenizer;
    pub fn profs_classifier_max_length(c: *const profs_classifier) -> usize;
    pub fn profs_classifier_set_max_length(c: *mut profs_classifier, tokens: usize) -> c_int;
    pub fn profs_classifier_set_sigmoid(c: *mut profs_classifier, always: c_int) -> c_int;
    pub fn profs_classifier_uses_sigmoid(c: *const profs_classifier) -> c_int;
    pub fn profs_classifier_set_batch_tokens(c: *mut profs_classifier, tokens: usize) -> c_int;
    pub fn profs_classifier_logits(c: *mut profs_classifier, logits: *mut f32, ids: *const *const i32,
                                   lens: *const usize, n: usize) -> c_int;
    pub fn profs_classifier_classify(c: *mut profs_classifier, probs: *mut f32, texts: *const *const c_char,
                                     n: usize, progress: profs_progress_fn, userdata: *mut c_void) -> c_int;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_strerror() {
        unsafe {
            let v = core::ffi::CStr::from_ptr(profs_version_string());
            assert!(!v.to_bytes().is_empty());
            assert!(profs_version_number() > 0 || v.to_bytes() == b"0.0.0");
            let s = core::ffi::CStr::from_ptr(profs_strerror(PROFS_ESHAPE));
            assert_eq!(s.to_bytes(), b"shape or size mismatch");
            assert_eq!(profs_dtype_size(PROFS_DTYPE_BF16), 2);
        }
    }
}
