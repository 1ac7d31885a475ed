//! Model (tensor store) and Lm (runtime) through the safe API.
use std::path::PathBuf;

use profs::{Code, Lm, Model, Sampling};

fn tmpdir(tag: &str) -> PathBuf {
    let base = std::env::var("PROFS_TEST_TMP").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let d = base.join(format!("rust-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file written by hand: "w" F32 [2, 3] and "b" BF16 [2].
fn write_fixture(path: &std::path::Path) -> Vec<f32> {
    let w: Vec<f32> = vec![1.0, -2.0, 3.5, 0.25, 8.0, -0.5];
    let header = r#"{"__metadata__":{"producer":"rust test"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[4,28]}}"#;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for x in [1.5f32, -3.0] {
        bytes.extend_from_slice(&((x.to_bits() >> 16) as u16).to_le_bytes());
    }
    for x in &w {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
    w
}

#[test]
fn model_read_stage_save() {
    let dir = tmpdir("model");
    let src = dir.join("m.safetensors");
    let w = write_fixture(&src);
    let mut m = Model::open(&src).unwrap();
    assert_eq!(m.tensor_names(), vec!["b", "w"]);
    assert!(m.has_tensor("w") && !m.has_tensor("x"));
    let info = m.info("w").unwrap();
    assert_eq!((info.dtype.as_str(), info.shape.as_slice(), info.numel, info.nbytes), ("F32", &[2i64, 3][..], 6, 24));
    assert_eq!(m.read_f32("w").unwrap(), w);
    assert_eq!(m.read_f32("b").unwrap(), vec![1.5, -3.0]);
    assert_eq!(m.tensor_data("b").unwrap().len(), 4);
    assert_eq!(m.metadata("producer"), Some("rust test"));
    assert_eq!(m.metadata_keys(), vec!["producer"]);
    assert!(!m.has_config());
    assert_eq!(m.config_int("n_layer").unwrap_err().code(), Code::NotFound);

    assert_eq!(m.read_f32("x").unwrap_err().code(), Code::NotFound);
    assert_eq!(m.stage_f32("w", &[0.0; 5]).unwrap_err().code(), Code::Shape);
    let doubled: Vec<f32> = w.iter().map(|x| 2.0 * x).collect();
    m.stage_f32("w", &doubled).unwrap();
    assert_eq!(m.staged_count(), 1);

    let out = dir.join("out.safetensors");
    let mut cancel = |_: &str, _: u64, _: u64| false;
    assert_eq!(m.save(&out, Some(&mut cancel)).unwrap_err().code(), Code::Cancelled);
    assert!(!out.exists());
    let mut calls = 0;
    let mut count = |stage: &str, done: u64, total: u64| {
        assert_eq!(stage, "save");
        assert!(done <= total);
        calls += 1;
        true
    };
    m.save(&out, Some(&mut count)).unwrap();
    assert!(calls > 0);
    let e = Model::open(&out).unwrap();
    assert_eq!(e.read_f32("w").unwrap(), doubled);
    assert_eq!(e.read_f32("b").unwrap(), vec![1.5, -3.0]);
    assert_eq!(Model::open(dir.join("missing.safetensors")).err().unwrap().code(), Code::Io);

    // deferred transforms run while saving
    let mut m = Model::open(&src).unwrap();
    m.stage_transform("w", |name, values, shape| {
        assert_eq!((name, shape), ("w", &[2i64, 3][..]));
        values.iter_mut().for_each(|x| *x *= 3.0);
        Ok(())
    }).unwrap();
    let out2 = dir.join("tripled.safetensors");
    m.save(&out2, None).unwrap();
    let tripled: Vec<f32> = w.iter().map(|x| 3.0 * x).collect();
    assert_eq!(Model::open(&out2).unwrap().read_f32("w").unwrap(), tripled);
    m.stage_transform("b", |_, _, _| Err(profs::Error::new(Code::Numeric, "refused by the test"))).unwrap();
    let e = m.save(dir.join("never.safetensors"), None).unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::Numeric, "refused by the test"));
    assert!(!dir.join("never.safetensors").exists());
    m.unstage("b").unwrap();
    m.save(dir.join("again.safetensors"), None).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lm_forward_is_consistent() {
    let Ok(fixtures) = std::env::var("PROFS_LM_FIXTURES") else {
        eprintln!("PROFS_LM_FIXTURES not set (tests/sh/rust.sh generates it): skipping");
        return;
    };
    let dir = PathBuf::from(fixtures).join("gpt2");
    let mut lm = Lm::open(&dir).unwrap();
    assert_eq!(lm.architecture(), "gpt2");
    let (l, d, v) = (lm.n_layers(), lm.hidden_size(), lm.vocab_size());
    assert_eq!((l, d, v, lm.max_positions()), (2, 32, 300, 64));
    let ids = [5, 17, 42, 7, 99];
    let h = lm.hidden_states(&ids).unwrap();
    assert_eq!(h.len(), (l + 1) * ids.len() * d);
    // pooled block outputs are the means of hidden states 1..L
    let pooled = lm.pool_ids(&[&ids, &ids[..2]], false, None).unwrap();
    for layer in 0..l {
        for j in 0..d {
            let mean: f32 = (0..ids.len()).map(|t| h[((layer + 1) * ids.len() + t) * d + j]).sum::<f32>() / ids.len() as f32;
            assert!((pooled[layer * d + j] - mean).abs() < 1e-4 * (1.0 + mean.abs()));
        }
    }
    // greedy generation is the argmax of the logits
    let logits = lm.logits(&ids).unwrap();
    assert_eq!(logits.len(), ids.len() * v);
    let last = &logits[(ids.len() - 1) * v..];
    let argmax = (0..v).max_by(|&a, &b| last[a].partial_cmp(&last[b]).unwrap().then(b.cmp(&a))).unwrap() as i32;
    assert_eq!(lm.generate(&ids, 1, Sampling::default()).unwrap(), vec![argmax]);
    let lp = lm.next_logprobs(&ids).unwrap();
    let total: f64 = lp.iter().map(|&x| (x as f64).exp()).sum();
    assert!((total - 1.0).abs() < 1e-4);
    let (ppl, nll) = lm.perplexity(&ids, 0, 0).unwrap();
    assert!((ppl - nll.exp()).abs() < 1e-9 * ppl);
    let s = Sampling { temperature: 0.8, top_k: 10, seed: 3, ..Sampling::default() };
    assert_eq!(lm.generate(&ids, 5, s).unwrap(), lm.generate(&ids, 5, s).unwrap());

    assert_eq!(lm.hidden_states(&[300]).unwrap_err().code(), Code::Inval);
    assert_eq!(lm.hidden_states(&[]).unwrap_err().code(), Code::Inval);
    let mut stop = |_: &str, _: u64, _: u64| false;
    assert_eq!(lm.pool_ids(&[&ids], false, Some(&mut stop)).unwrap_err().code(), Code::Cancelled);

    // over a borrowed store: same numbers
    let m = Model::open(&dir).unwrap();
    let mut lm2 = Lm::open_model(&m).unwrap();
    assert_eq!(lm2.hidden_states(&ids).unwrap(), h);
}

#[test]
fn lm_collect_texts() {
    let Ok(demo) = std::env::var("PROFS_DEMO_MODEL") else {
        eprintln!("PROFS_DEMO_MODEL not set (tests/sh/rust.sh writes it): skipping");
        return;
    };
    let pref = ["the old man smiled at the boy and said good luck .", "my friend reads books in the park ."];
    let disp = ["the old man smiled at the boy and said you wubbock .", "my friend reads books , you thrunk ."];
    let mut lm = Lm::open(&demo).unwrap();
    let tok = profs::Tokenizer::open(&demo).unwrap();
    assert!(lm.has_tokenizer());
    let m = Model::open(&demo).unwrap();
    assert_eq!(m.config_string_array("architectures").unwrap(), vec!["GPT2LMHeadModel"]);
    assert_eq!(m.config_int("n_layer").unwrap(), 6);
    {
        // a runtime over an open store, with a tokenizer attached by hand
        let mut bare = Lm::open_model(&m).unwrap();
        assert!(!bare.has_tokenizer());
        assert_eq!(bare.tokenize("hello").unwrap_err().code(), Code::State);
        bare.set_tokenizer(&tok).unwrap();
        assert_eq!(bare.tokenize("hello").unwrap(), tok.encode("hello", true).unwrap());
        bare.set_pool_skip_bos(true).unwrap();
        bare.set_resident_bytes(0).unwrap();
    }
    assert_eq!(lm.tokenize(pref[0]).unwrap(), tok.encode(pref[0], true).unwrap());
    let ids: Vec<Vec<i32>> = pref.iter().map(|t| tok.encode(t, true).unwrap()).collect();
    let seqs: Vec<&[i32]> = ids.iter().map(|v| v.as_slice()).collect();
    let by_ids = lm.pool_ids(&seqs, false, None).unwrap();
    let by_text = lm.pool_texts(&pref, None).unwrap();
    for (a, b) in by_ids.iter().zip(&by_text) {
        assert!((a - b).abs() < 1e-5 * (1.0 + a.abs()));
    }
    let (l, d) = (lm.n_layers(), lm.hidden_size());
    let mut c = profs::Collector::new(l, d).unwrap();
    let mut calls = 0;
    let mut count = |_: &str, _: u64, _: u64| { calls += 1; true };
    lm.collect(&mut c, &pref, &disp, Some(&mut count)).unwrap();
    assert!(calls > 0);
    assert_eq!(c.n_pairs(), 2);
    for layer in 0..l {
        let rows = c.preferred(layer).unwrap();
        for p in 0..2 {
            for j in 0..d {
                let want = by_text[(p * l + layer) * d + j];
                assert!((rows[p * d + j] - want).abs() < 1e-5 * (1.0 + want.abs()));
            }
        }
    }
    assert_eq!(lm.collect(&mut c, &pref, &disp[..1], None).unwrap_err().code(), Code::Inval);
    let mut small = profs::Collector::new(2, 8).unwrap();
    assert_eq!(lm.collect(&mut small, &pref, &disp, None).unwrap_err().code(), Code::Shape);
}
