//! The built-in transformer runtime (lm.h).
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::path::Path;
use std::ptr;

use crate::progress::{Progress, Slot};
use crate::{c_path, c_string, check, cstr, sys, Code, Collector, Error, Model, Result, Tokenizer};

/// A transformer runtime over a Hugging Face checkpoint. `'m` is the lifetime
/// of the [`Model`] it reads when opened with [`Lm::open_model`].
///
/// Hidden states: (L + 1) entries; entry 0 the embedding output, entry l the
/// raw output of block l - 1 without the final norm.
pub struct Lm<'m> {
    raw: *mut sys::profs_lm,
    _model: PhantomData<&'m Model>,
}

unsafe impl Send for Lm<'_> {}

/// Sampling settings of [`Lm::generate`] (default: greedy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 }
    }
}

fn ids_ok(ids: &[i32], what: &str) -> Result<()> {
    if ids.is_empty() {
        return Err(Error::new(Code::Inval, format!("{}: no token ids", what)));
    }
    Ok(())
}

impl Lm<'static> {
    /// Open a model directory (config.json, weights, tokenizer.json when present).
    pub fn open(dir: impl AsRef<Path>) -> Result<Lm<'static>> {
        let p = c_path(dir.as_ref())?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_lm_open(&mut raw, p.as_ptr()) })?;
        Ok(Lm { raw, _model: PhantomData })
    }
}

impl<'m> Lm<'m> {
    /// A runtime over an open tensor store, which it borrows.
    pub fn open_model(model: &'m Model) -> Result<Lm<'m>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_lm_open_model(&mut raw, model.as_ptr()) })?;
        Ok(Lm { raw, _model: PhantomData })
    }

    pub fn n_layers(&self) -> usize {
        unsafe { sys::profs_lm_n_layers(self.raw) }
    }
    pub fn hidden_size(&self) -> usize {
        unsafe { sys::profs_lm_hidden_size(self.raw) }
    }
    pub fn vocab_size(&self) -> usize {
        unsafe { sys::profs_lm_vocab_size(self.raw) }
    }
    pub fn max_positions(&self) -> usize {
        unsafe { sys::profs_lm_max_positions(self.raw) }
    }
    pub fn architecture(&self) -> &str {
        unsafe { cstr(sys::profs_lm_architecture(self.raw)) }.unwrap_or("")
    }

    /// Most tokens that go through the blocks together.
    pub fn set_batch_tokens(&mut self, tokens: usize) -> Result<()> {
        check(unsafe { sys::profs_lm_set_batch_tokens(self.raw, tokens) })
    }
    /// Tokenisation limit of collection (default 128).
    pub fn set_max_length(&mut self, tokens: usize) -> Result<()> {
        check(unsafe { sys::profs_lm_set_max_length(self.raw, tokens) })
    }
    /// Leave a BOS the tokenizer added out of the pooled mean.
    pub fn set_pool_skip_bos(&mut self, skip: bool) -> Result<()> {
        check(unsafe { sys::profs_lm_set_pool_skip_bos(self.raw, skip as i32) })
    }
    /// Keep converted weights between calls when they need at most `bytes`.
    pub fn set_resident_bytes(&mut self, bytes: usize) -> Result<()> {
        check(unsafe { sys::profs_lm_set_resident_bytes(self.raw, bytes) })
    }
    /// Attach a tokenizer, which must outlive the runtime (`'m`).
    pub fn set_tokenizer(&mut self, tok: &'m Tokenizer) -> Result<()> {
        check(unsafe { sys::profs_lm_set_tokenizer(self.raw, tok.as_ptr()) })
    }
    /// Whether a tokenizer is attached.
    pub fn has_tokenizer(&self) -> bool {
        !unsafe { sys::profs_lm_tokenizer(self.raw) }.is_null()
    }

    /// ((L + 1) x n x D) hidden states of one id sequence (no BOS added).
    pub fn hidden_states(&mut self, ids: &[i32]) -> Result<Vec<f32>> {
        ids_ok(ids, "ids")?;
        let mut out = vec![0f32; (self.n_layers() + 1) * ids.len() * self.hidden_size()];
        check(unsafe { sys::profs_lm_hidden_states(self.raw, out.as_mut_ptr(), ids.as_ptr(), ids.len()) })?;
        Ok(out)
    }

    /// (n_seqs x L x D) block outputs mean-pooled over each sequence.
    pub fn pool_ids(&mut self, seqs: &[&[i32]], skip_first: bool, progress: Option<Progress>) -> Result<Vec<f32>> {
        for (i, s) in seqs.iter().enumerate() {
            ids_ok(s, &format!("sequence {}", i))?;
        }
        let ptrs: Vec<*const i32> = seqs.iter().map(|s| s.as_ptr()).collect();
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let mut out = vec![0f32; seqs.len() * self.n_layers() * self.hidden_size()];
        let mut slot = Slot::new(progress);
        let (f, ud) = slot.raw();
        let rc = unsafe {
            sys::profs_lm_pool_ids(self.raw, out.as_mut_ptr(), ptrs.as_ptr(), lens.as_ptr(), seqs.len(),
                                   skip_first as i32, f, ud)
        };
        slot.finish();
        check(rc)?;
        Ok(out)
    }

    /// Tokenise, forward and pool preference pairs into `collector`.
    pub fn collect(&mut self, collector: &mut Collector, preferred: &[&str], dispreferred: &[&str],
                   progress: Option<Progress>) -> Result<()> {
        if preferred.len() != dispreferred.len() {
            return Err(Error::new(Code::Inval, format!("collect: {} preferred but {} dispreferred texts",
                                                       preferred.len(), dispreferred.len())));
        }
        let p: Vec<_> = preferred.iter().map(|t| c_string(t, "preferred")).collect::<Result<_>>()?;
        let d: Vec<_> = dispreferred.iter().map(|t| c_string(t, "dispreferred")).collect::<Result<_>>()?;
        let pp: Vec<_> = p.iter().map(|s| s.as_ptr()).collect();
        let dp: Vec<_> = d.iter().map(|s| s.as_ptr()).collect();
        let mut slot = Slot::new(progress);
        let (f, ud) = slot.raw();
        let rc = unsafe {
            sys::profs_lm_collect(self.raw, collector.as_ptr(), pp.as_ptr(), dp.as_ptr(), pp.len(), f, ud)
        };
        slot.finish();
        check(rc)
    }

    /// Token ids of a text as collection sees them (special tokens, max_length).
    pub fn tokenize(&self, text: &str) -> Result<Vec<i32>> {
        let t = c_string(text, "text")?;
        let mut ids = vec![0i32; text.len() + 8];
        let mut n = 0usize;
        loop {
            let rc = unsafe { sys::profs_lm_tokenize(self.raw, ids.as_mut_ptr(), ids.len(), &mut n, t.as_ptr()) };
            if rc == sys::PROFS_EBUFS && n > ids.len() {
                ids.resize(n, 0);
                continue;
            }
            check(rc)?;
            ids.truncate(n);
            return Ok(ids);
        }
    }

    /// (n_texts x L x D) pooled block outputs of texts.
    pub fn pool_texts(&mut self, texts: &[&str], progress: Option<Progress>) -> Result<Vec<f32>> {
        let t: Vec<_> = texts.iter().map(|x| c_string(x, "text")).collect::<Result<_>>()?;
        let tp: Vec<_> = t.iter().map(|s| s.as_ptr()).collect();
        let mut out = vec![0f32; texts.len() * self.n_layers() * self.hidden_size()];
        let mut slot = Slot::new(progress);
        let (f, ud) = slot.raw();
        let rc = unsafe { sys::profs_lm_pool_texts(self.raw, out.as_mut_ptr(), tp.as_ptr(), tp.len(), f, ud) };
        slot.finish();
        check(rc)?;
        Ok(out)
    }

    /// (n x V) logits at every position.
    pub fn logits(&mut self, ids: &[i32]) -> Result<Vec<f32>> {
        ids_ok(ids, "ids")?;
        let mut out = vec![0f32; ids.len() * self.vocab_size()];
        check(unsafe { sys::profs_lm_logits(self.raw, out.as_mut_ptr(), ids.as_ptr(), ids.len()) })?;
        Ok(out)
    }

    /// (V) log-probabilities of the next token.
    pub fn next_logprobs(&mut self, ids: &[i32]) -> Result<Vec<f32>> {
        ids_ok(ids, "ids")?;
        let mut out = vec![0f32; self.vocab_size()];
        check(unsafe { sys::profs_lm_next_logprobs(self.raw, out.as_mut_ptr(), ids.as_ptr(), ids.len()) })?;
        Ok(out)
    }

    /// (perplexity, mean NLL) with a sliding window (0: defaults).
    pub fn perplexity(&mut self, ids: &[i32], max_length: usize, stride: usize) -> Result<(f64, f64)> {
        let (mut ppl, mut nll) = (0f64, 0f64);
        check(unsafe {
            sys::profs_lm_perplexity(self.raw, &mut ppl, &mut nll, ids.as_ptr(), ids.len(), max_length, stride,
                                     None, ptr::null_mut())
        })?;
        Ok((ppl, nll))
    }

    /// Generate up to `max_new` ids after `prompt` (the prompt is not repeated).
    pub fn generate(&mut self, prompt: &[i32], max_new: usize, sampling: Sampling) -> Result<Vec<i32>> {
        ids_ok(prompt, "prompt")?;
        let mut s = ptr::null_mut();
        check(unsafe { sys::profs_sampler_new(&mut s) })?;
        struct Guard(*mut sys::profs_sampler);
        impl Drop for Guard {
            fn drop(&mut self) {
                unsafe { sys::profs_sampler_free(self.0) }
            }
        }
        let g = Guard(s);
        check(unsafe { sys::profs_sampler_set_temperature(g.0, sampling.temperature) })?;
        check(unsafe { sys::profs_sampler_set_top_k(g.0, sampling.top_k) })?;
        check(unsafe { sys::profs_sampler_set_top_p(g.0, sampling.top_p) })?;
        check(unsafe { sys::profs_sampler_set_seed(g.0, sampling.seed) })?;
        let mut out = vec![0i32; max_new.max(1)];
        let mut n = 0usize;
        check(unsafe {
            sys::profs_lm_generate(self.raw, out.as_mut_ptr(), out.len(), &mut n, prompt.as_ptr(), prompt.len(),
                                   max_new, g.0, None, ptr::null_mut::<c_void>())
        })?;
        out.truncate(n);
        Ok(out)
    }
}

impl Drop for Lm<'_> {
    fn drop(&mut self) {
        unsafe { sys::profs_lm_free(self.raw) }
    }
}
