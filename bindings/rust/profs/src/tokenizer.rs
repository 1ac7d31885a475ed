//! Hugging Face tokenizer.json (tokenizer.h).
use std::path::Path;
use std::ptr;

use crate::{c_path, c_string, check, cstr, sys, Code, Result};

/// A tokenizer (byte-level or SentencePiece-style BPE), id for id with Hugging Face tokenizers.
/// Encoding and decoding on one tokenizer are safe from several threads.
pub struct Tokenizer {
    raw: *mut sys::profs_tokenizer,
}

unsafe impl Send for Tokenizer {}
unsafe impl Sync for Tokenizer {}

fn id_or_none(v: i32) -> Option<i32> {
    if v < 0 { None } else { Some(v) }
}

impl Tokenizer {
    /// Open a tokenizer.json file or a directory holding one.
    pub fn open(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let p = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::profs_tokenizer_open(&mut raw, p.as_ptr()) })?;
        Ok(Tokenizer { raw })
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::profs_tokenizer {
        self.raw
    }

    /// Token ids of UTF-8 text; `add_special` lets the post-processor add BOS etc.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<i32>> {
        self.encode_bytes(text.as_bytes(), add_special, false)
    }

    /// Token ids of raw bytes (must be UTF-8; `special_as_text` treats special-token text as text).
    pub fn encode_bytes(&self, text: &[u8], add_special: bool, special_as_text: bool) -> Result<Vec<i32>> {
        let mut flags = 0;
        if add_special {
            flags |= unsafe { sys::profs_encode_flag_add_special() };
        }
        if special_as_text {
            flags |= unsafe { sys::profs_encode_flag_special_as_text() };
        }
        let mut n = 0usize;
        let mut ids = vec![0i32; text.len() + 8];
        loop {
            let rc = unsafe {
                sys::profs_tokenizer_encode(self.raw, text.as_ptr().cast(), text.len(), flags, ids.as_mut_ptr(),
                                            ids.len(), &mut n)
            };
            if rc == sys::PROFS_EBUFS && n > ids.len() {
                ids.resize(n, 0);
                continue;
            }
            check(rc)?;
            ids.truncate(n);
            return Ok(ids);
        }
    }

    /// Text of token ids (invalid UTF-8 sequences are replaced).
    pub fn decode(&self, ids: &[i32], skip_special: bool) -> Result<String> {
        let flags = if skip_special { unsafe { sys::profs_decode_flag_skip_special() } } else { 0 };
        let mut buf = vec![0u8; 4 * ids.len() + 16];
        let mut len = 0usize;
        loop {
            let rc = unsafe {
                sys::profs_tokenizer_decode(self.raw, ids.as_ptr(), ids.len(), flags, buf.as_mut_ptr().cast(),
                                            buf.len(), &mut len)
            };
            if rc == sys::PROFS_EBUFS && len + 1 > buf.len() {
                buf.resize(len + 1, 0);
                continue;
            }
            check(rc)?;
            buf.truncate(len);
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
    }

    pub fn vocab_size(&self) -> usize {
        unsafe { sys::profs_tokenizer_vocab_size(self.raw) }
    }

    /// The token string of `id`.
    pub fn id_to_token(&self, id: i32) -> Option<&str> {
        unsafe { cstr(sys::profs_tokenizer_id_to_token(self.raw, id)) }
    }

    /// The id of a token string.
    pub fn token_to_id(&self, token: &str) -> Result<Option<i32>> {
        let t = c_string(token, "token")?;
        let mut id = 0;
        match check(unsafe { sys::profs_tokenizer_token_to_id(self.raw, t.as_ptr(), &mut id) }) {
            Ok(()) => Ok(Some(id)),
            Err(e) if e.code() == Code::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn bos_id(&self) -> Option<i32> {
        id_or_none(unsafe { sys::profs_tokenizer_bos_id(self.raw) })
    }
    pub fn eos_id(&self) -> Option<i32> {
        id_or_none(unsafe { sys::profs_tokenizer_eos_id(self.raw) })
    }
    pub fn pad_id(&self) -> Option<i32> {
        id_or_none(unsafe { sys::profs_tokenizer_pad_id(self.raw) })
    }
    pub fn unk_id(&self) -> Option<i32> {
        id_or_none(unsafe { sys::profs_tokenizer_unk_id(self.raw) })
    }
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        unsafe { sys::profs_tokenizer_free(self.raw) }
    }
}
