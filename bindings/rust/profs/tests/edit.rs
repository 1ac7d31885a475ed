//! Edit: estimate over layers, save/load, apply to a GPT-2 fixture, save the model; collector files.
use std::path::PathBuf;

use profs::{Code, Collector, Edit, Estimator, Model, RankRule, Subspace, Targets};

fn tmpdir(tag: &str) -> PathBuf {
    let base = std::env::var("PROFS_TEST_TMP").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let d = base.join(format!("rust-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n).map(|_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }).collect()
}

/// Orthonormal rows by Gram-Schmidt.
fn orthonormal(seed: u64, k: usize, dim: usize) -> Vec<f32> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, r) in values(seed, k * dim).chunks(dim).enumerate() {
        let mut v: Vec<f64> = r.iter().map(|&x| x as f64).collect();
        for q in &rows[..i] {
            let d: f64 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(q).for_each(|(a, b)| *a -= d * b);
        }
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        rows.push(v.iter().map(|a| a / n).collect());
    }
    rows.into_iter().flatten().map(|x| x as f32).collect()
}

fn collector(layers: usize, dim: usize, n: usize) -> Collector {
    let mut c = Collector::new(layers, dim).unwrap();
    let p = values(1, n * layers * dim);
    let d: Vec<f32> = p.iter().zip(values(2, n * layers * dim)).map(|(a, b)| a + 0.5 * b).collect();
    c.add_pairs(n, &p, &d).unwrap();
    c
}

#[test]
fn collector_save_load() {
    let dir = tmpdir("collector");
    let mut c = collector(2, 8, 5);
    c.set_model_id(Some("tiny")).unwrap();
    let path = dir.join("pairs.safetensors");
    c.save(&path).unwrap();
    let back = Collector::load(&path).unwrap();
    assert_eq!((back.n_pairs(), back.n_layers(), back.dim()), (5, 2, 8));
    assert_eq!(back.model_id().as_deref(), Some("tiny"));
    for l in 0..2 {
        assert_eq!(back.preferred(l).unwrap(), c.preferred(l).unwrap());
        assert_eq!(back.dispreferred(l).unwrap(), c.dispreferred(l).unwrap());
    }
    assert_eq!(Collector::load(dir.join("missing")).err().unwrap().code(), Code::Io);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn edit_estimate_save_load() {
    let dir = tmpdir("edit");
    let c = collector(3, 16, 40);
    let est = Estimator::new().unwrap().rank_rule(RankRule::Fixed, 2).unwrap();
    let mut calls = 0;
    let mut count = |_: &str, _: u64, _: u64| { calls += 1; true };
    let mut e = Edit::estimate(Some(&est), &c, Some(&[0, 2]), Some(&mut count)).unwrap();
    assert!(calls > 0);
    assert_eq!((e.dim(), e.layers()), (16, vec![0, 2]));
    assert!(e.get(1).is_none());
    assert_eq!(e.get(2).unwrap().basis(), est.estimate(&c, 2).unwrap().basis());
    e.set_model_id(Some("m")).unwrap();
    let path = dir.join("edit.safetensors");
    e.save(&path).unwrap();
    let back = Edit::load(&path).unwrap();
    assert_eq!((back.layers(), back.model_id()), (vec![0, 2], Some("m")));
    assert_eq!(back.get(0).unwrap().basis(), e.get(0).unwrap().basis());
    let mut stop = |_: &str, _: u64, _: u64| false;
    assert_eq!(Edit::estimate(None, &c, None, Some(&mut stop)).err().unwrap().code(), Code::Cancelled);
    assert_eq!(Edit::estimate(None, &c, Some(&[5]), None).err().unwrap().code(), Code::Inval);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn edit_apply_to_gpt2() {
    let Ok(fixtures) = std::env::var("PROFS_LM_FIXTURES") else {
        eprintln!("PROFS_LM_FIXTURES not set (tests/sh/rust.sh generates it): skipping");
        return;
    };
    let dir = tmpdir("apply");
    let (dim, ffn) = (32usize, 128usize);
    let basis = orthonormal(7, 2, dim);
    let mut e = Edit::new(dim).unwrap();
    e.add(1, &Subspace::from_basis(&basis, 2, dim).unwrap()).unwrap();
    assert_eq!(e.add(1, &Subspace::from_basis(&basis, 2, dim).unwrap()).unwrap_err().code(), Code::Exist);

    let mut m = Model::open(PathBuf::from(&fixtures).join("gpt2")).unwrap();
    let name = "h.1.mlp.c_proj.weight";
    let w = m.read_f32(name).unwrap();       // Conv1D [F, D]
    let untouched = m.read_f32("h.0.mlp.c_proj.weight").unwrap();
    let out = dir.join("edited");
    {
        let mut report = e.apply(&mut m, Targets::Value).unwrap();
        assert_eq!(report.architecture(), "gpt2");
        let before = report.entries();
        assert_eq!(before.len(), 1);
        assert_eq!((before[0].name.as_str(), before[0].layer, before[0].rank, before[0].value, before[0].applied),
                   (name, 1, 2, true, false));
        assert!(!before[0].post_norm);
        report.save_model(&out, None).unwrap();
        let after = &report.entries()[0];
        assert!(after.applied);
        // reference: W (I - V^T V)
        let mut reference = w.clone();
        for r in 0..ffn {
            for k in 0..2 {
                let d: f64 = (0..dim).map(|j| w[r * dim + j] as f64 * basis[k * dim + j] as f64).sum();
                for j in 0..dim {
                    reference[r * dim + j] -= (d * basis[k * dim + j] as f64) as f32;
                }
            }
        }
        let edited = Model::open(&out).unwrap();
        let got = edited.read_f32(name).unwrap();
        for (a, b) in got.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-5, "{} vs {}", a, b);
        }
        let change: f64 = w.iter().zip(&reference).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
        assert!((after.delta_norm - change).abs() < 1e-4 * change);
        assert_eq!(edited.read_f32("h.0.mlp.c_proj.weight").unwrap(), untouched);
    }
    // the report is gone: nothing stays staged
    assert_eq!(m.staged_count(), 0);
    let mut wrong = Edit::new(16).unwrap();
    wrong.add(0, &Subspace::from_basis(&orthonormal(3, 1, 16), 1, 16).unwrap()).unwrap();
    assert_eq!(wrong.apply(&mut m, Targets::Value).err().unwrap().code(), Code::Shape);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Gemma-2's value matrix is projected post-norm aware (docs/core.md); its key matrices plainly.
#[test]
fn edit_post_norm_flag_on_gemma2() {
    let src = std::env::var("PROFS_TEST_SRC").map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.."));
    let dir = src.join("tests/data/tf/gemma2");
    if !dir.is_dir() {
        eprintln!("{} not found: skipping", dir.display());
        return;
    }
    let dim = 32usize;
    let mut e = Edit::new(dim).unwrap();
    e.add(1, &Subspace::from_basis(&orthonormal(11, 2, dim), 2, dim).unwrap()).unwrap();
    let mut m = Model::open(&dir).unwrap();
    let report = e.apply(&mut m, Targets::Both).unwrap();
    assert_eq!(report.architecture(), "gemma2");
    let got: Vec<(String, bool, bool)> =
        report.entries().into_iter().map(|r| (r.name, r.value, r.post_norm)).collect();
    assert_eq!(got, vec![
        ("model.layers.1.mlp.down_proj.weight".to_string(), true, true),
        ("model.layers.1.mlp.gate_proj.weight".to_string(), false, false),
        ("model.layers.1.mlp.up_proj.weight".to_string(), false, false),
    ]);
}
