//! The safe API against independent references computed here.
use profs::{Centering, Code, Collector, Estimator, Half, Layout, RankRule, Strategy, Subspace};

/// SplitMix64 + Box-Muller: deterministic normal samples without dependencies.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `k` orthonormal rows of width `dim` (Gram-Schmidt), orthogonal to `avoid` rows too.
fn orthonormal(rng: &mut Rng, k: usize, dim: usize, avoid: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut rows: Vec<Vec<f64>> = avoid.to_vec();
    let start = rows.len();
    while rows.len() < start + k {
        let mut v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        for r in &rows {
            let d: f64 = v.iter().zip(r).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(r).for_each(|(a, b)| *a -= d * b);
        }
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.iter_mut().for_each(|a| *a /= n);
        rows.push(v);
    }
    rows.split_off(start)
}

/// Planted data for one layer: X- = X+ + coefficients x V + noise, X+ sharing one direction.
fn planted(rng: &mut Rng, n: usize, dim: usize, rank: usize) -> (Vec<f32>, Vec<f32>, Vec<Vec<f64>>) {
    let common = orthonormal(rng, 1, dim, &[]);
    let v = orthonormal(rng, rank, dim, &common);
    let (mut p, mut d) = (vec![0f32; n * dim], vec![0f32; n * dim]);
    for i in 0..n {
        let coeff: Vec<f64> = (0..rank).map(|_| 4.0 * rng.normal()).collect();
        for j in 0..dim {
            let x = 0.3 * rng.normal() + 3.0 * common[0][j];
            let s: f64 = (0..rank).map(|r| coeff[r] * v[r][j]).sum();
            p[i * dim + j] = x as f32;
            d[i * dim + j] = (x + s + 0.05 * rng.normal()) as f32;
        }
    }
    (p, d, v)
}

/// max |A^T A - B^T B| for row sets A (from f32 slice) and B.
fn projector_distance(a: &[f32], b: &[Vec<f64>], dim: usize) -> f64 {
    let ka = a.len() / dim;
    let mut worst = 0f64;
    for i in 0..dim {
        for j in 0..dim {
            let pa: f64 = (0..ka).map(|r| a[r * dim + i] as f64 * a[r * dim + j] as f64).sum();
            let pb: f64 = b.iter().map(|r| r[i] * r[j]).sum();
            worst = worst.max((pa - pb).abs());
        }
    }
    worst
}

#[test]
fn version_and_errors() {
    let v = profs::version();
    let parts: Vec<i32> = v.split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(profs::version_number(), parts[0] * 10000 + parts[1] * 100 + parts[2]);
    assert_eq!(profs::strerror(Code::Shape.raw()), "shape or size mismatch");
    let e = profs::screenot(&[3.0, 2.0, 1.0], 0.5, 7, Strategy::Impute).unwrap_err();
    assert_eq!(e.code(), Code::Inval);
    assert!(e.message().contains("rank_max"), "{}", e.message());
    assert_eq!(e.to_string(), format!("{} (invalid argument)", e.message()));
}

#[test]
fn screenot_errors_and_equivariance() {
    let y: Vec<f64> = (1..=20).map(|i| i as f64 / 10.0).collect();
    let err = |r: profs::Result<(f64, usize)>| r.unwrap_err().code();
    assert_eq!(err(profs::screenot(&y, 0.5, 20, Strategy::Winsorize)), Code::Inval);
    assert_eq!(err(profs::screenot(&y, 0.5, 10, Strategy::Impute)), Code::Inval);
    assert_eq!(err(profs::screenot(&y, 0.0, 3, Strategy::Impute)), Code::Inval);
    assert_eq!(err(profs::screenot(&y, 1.5, 3, Strategy::Impute)), Code::Inval);
    let mut bad = y.clone();
    bad[4] = f64::NAN;
    assert_eq!(err(profs::screenot(&bad, 0.5, 3, Strategy::Impute)), Code::Numeric);
    bad[4] = -1.0;
    assert_eq!(err(profs::screenot(&bad, 0.5, 3, Strategy::Impute)), Code::Inval);

    let mut rng = Rng(11);
    let mut vals: Vec<f64> = (0..60).map(|_| 1.0 + 0.2 * rng.uniform()).collect();
    vals[7] = 9.0;
    vals[30] = 6.0;
    for s in [Strategy::Impute, Strategy::Winsorize, Strategy::Zero] {
        let (t1, r1) = profs::screenot(&vals, 0.6, 8, s).unwrap();
        let scaled: Vec<f64> = vals.iter().rev().map(|x| x * 1e5).collect();
        let (t2, r2) = profs::screenot(&scaled, 0.6, 8, s).unwrap();
        assert!((t2 / (t1 * 1e5) - 1.0).abs() < 1e-9, "{:?}: {} vs {}", s, t1, t2);
        assert_eq!(r1, r2);
        assert_eq!(r1, vals.iter().filter(|&&x| x > t1).count());
    }
}

#[test]
fn collector_roundtrip_merge_and_errors() {
    let mut c = Collector::new(2, 3).unwrap();
    assert_eq!((c.n_layers(), c.dim(), c.n_pairs()), (2, 3, 0));
    c.add_pair(&[1., 2., 3., 4., 5., 6.], &[0.; 6]).unwrap();
    c.add_pair(&[7., 8., 9., 10., 11., 12.], &[1.; 6]).unwrap();
    assert_eq!(c.preferred(1).unwrap(), &[4., 5., 6., 10., 11., 12.]);
    assert_eq!(c.dispreferred(0).unwrap(), &[0., 0., 0., 1., 1., 1.]);
    assert_eq!(c.preferred(2).unwrap_err().code(), Code::Inval);

    let e = c.add_pair(&[0.; 5], &[0.; 6]).unwrap_err();
    assert_eq!(e.code(), Code::Shape);
    let mut nan = [0f32; 6];
    nan[4] = f32::NAN;
    let e = c.add_pair(&[0.; 6], &nan).unwrap_err();
    assert_eq!(e.code(), Code::Numeric);
    assert!(!e.message().is_empty());
    assert_eq!(c.n_pairs(), 2);

    let mut d = Collector::new(2, 3).unwrap();
    d.add_pairs(2, &[5.; 12], &[6.; 12]).unwrap();
    c.merge(&d).unwrap();
    assert_eq!(c.n_pairs(), 4);
    assert_eq!(c.merge(&Collector::new(2, 4).unwrap()).unwrap_err().code(), Code::Shape);
    assert_eq!(Collector::new(0, 3).err().unwrap().code(), Code::Inval);

    c.set_model_id(Some("tiny")).unwrap();
    assert_eq!(c.model_id().as_deref(), Some("tiny"));
    c.set_model_id(None).unwrap();
    assert_eq!(c.model_id(), None);
    assert!(c.producer().unwrap().starts_with("libprofs"));
    c.set_producer(Some("rust")).unwrap();
    assert_eq!(c.producer().as_deref(), Some("rust"));
}

#[test]
fn estimator_finds_planted_subspace() {
    let (n, dim, rank) = (80, 40, 3);
    let mut rng = Rng(5);
    let (p, d, truth) = planted(&mut rng, n, dim, rank);
    let mut c = Collector::new(1, dim).unwrap();
    c.add_pairs(n, &p, &d).unwrap();

    let est = Estimator::new().unwrap()
        .centering(Centering::Mean).unwrap()
        .rank_rule(RankRule::ScreeNot, 8).unwrap()
        .strategy(Strategy::Impute).unwrap();
    assert_eq!(est.rank_k(), 8);
    let s = est.estimate(&c, 0).unwrap();
    assert_eq!((s.rank(), s.dim(), s.n_pairs()), (rank, dim, n));
    let sv = s.singular_values();
    assert_eq!(sv.len(), dim.min(n));
    assert!(sv.windows(2).all(|w| w[0] >= w[1]));
    assert!(sv[2] > s.threshold() && s.threshold() > sv[3]);
    assert!(projector_distance(s.basis(), &truth, dim) < 0.05);
    // the estimator's threshold is ScreeNOT of its own singular values
    let (thr, r) = profs::screenot(sv, dim.min(n) as f64 / dim.max(n) as f64, 8, Strategy::Impute).unwrap();
    assert!((thr / s.threshold() - 1.0).abs() < 1e-9, "{} vs {}", thr, s.threshold());
    assert_eq!(r, rank);

    let fixed = Estimator::new().unwrap().rank_rule(RankRule::Fixed, 2).unwrap().estimate(&c, 0).unwrap();
    assert_eq!(fixed.rank(), 2);
    assert!(fixed.threshold().is_nan());
    assert_eq!(est.estimate(&c, 1).err().unwrap().code(), Code::Inval);
    assert_eq!(est.estimate(&Collector::new(1, dim).unwrap(), 0).err().unwrap().code(), Code::State);
}

#[test]
fn project_matches_dense_reference() {
    let (dim, other, rank) = (24, 30, 3);
    let mut rng = Rng(9);
    let v = orthonormal(&mut rng, rank, dim, &[]);
    let flat: Vec<f32> = v.iter().flatten().map(|&x| x as f32).collect();
    let s = Subspace::from_basis(&flat, rank, dim).unwrap();
    assert_eq!(s.basis(), &flat[..]);
    let vf: Vec<Vec<f64>> = flat.chunks(dim).map(|r| r.iter().map(|&x| x as f64).collect()).collect();
    // P = I - V^T V, dense, in f64
    let p = |i: usize, j: usize| -> f64 {
        (if i == j { 1.0 } else { 0.0 }) - vf.iter().map(|r| r[i] * r[j]).sum::<f64>()
    };
    for layout in [Layout::DFirst, Layout::DLast] {
        let (rows, cols) = if layout == Layout::DFirst { (dim, other) } else { (other, dim) };
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.normal() as f32).collect();
        let mut reference = vec![0f64; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                reference[i * cols + j] = if layout == Layout::DFirst {
                    (0..dim).map(|k| p(i, k) * w[k * cols + j] as f64).sum()
                } else {
                    (0..dim).map(|k| w[i * cols + k] as f64 * p(k, j)).sum()
                };
            }
        }
        let mut x = w.clone();
        let norm = profs::project(&mut x, rows, cols, layout, &s).unwrap();
        let change: f64 = w.iter().zip(&reference).map(|(&a, &b)| (a as f64 - b).powi(2)).sum::<f64>().sqrt();
        assert!((norm - change).abs() < 1e-4 * change, "{:?} {} {}", layout, norm, change);
        for (a, b) in x.iter().zip(&reference) {
            assert!((*a as f64 - b).abs() < 1e-5, "{:?}", layout);
        }
        // bf16: the top halves of the f32 values, projected and rounded back
        let mut h: Vec<u16> = w.iter().map(|x| (x.to_bits() >> 16) as u16).collect();
        profs::project_u16(&mut h, rows, cols, Half::BF16, layout, &s).unwrap();
        for (a, b) in h.iter().zip(&reference) {
            let back = f32::from_bits((*a as u32) << 16) as f64;
            assert!((back - b).abs() < 3e-2, "{:?} bf16 {} vs {}", layout, back, b);
        }
    }
    let mut wrong = vec![0f32; (dim + 1) * other];
    assert_eq!(profs::project(&mut wrong, dim + 1, other, Layout::DFirst, &s).unwrap_err().code(), Code::Shape);
    assert_eq!(profs::project(&mut wrong, dim, other, Layout::DFirst, &s).unwrap_err().code(), Code::Shape);
    let not_orthonormal: Vec<f32> = flat.iter().map(|x| 2.0 * x).collect();
    assert_eq!(Subspace::from_basis(&not_orthonormal, rank, dim).err().unwrap().code(), Code::Numeric);
}

#[test]
fn mean_pool_respects_mask() {
    let states = [1f32, 2., 3., 4., 100., 100.];
    assert_eq!(profs::mean_pool(&states, Some(&[1, 1, 0]), 2).unwrap(), vec![2., 3.]);
    assert_eq!(profs::mean_pool(&states[..4], None, 2).unwrap(), vec![2., 3.]);
    assert_eq!(profs::mean_pool(&states, Some(&[0, 0, 0]), 2).unwrap_err().code(), Code::Inval);
    assert_eq!(profs::mean_pool(&states, Some(&[1]), 2).unwrap_err().code(), Code::Shape);
}
