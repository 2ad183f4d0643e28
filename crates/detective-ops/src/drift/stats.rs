//! The statistics of drift detection, as Evidently computes them for numeric
//! columns: two-sample Kolmogorov–Smirnov test (exact two-sided p-value, the
//! lattice-path recursion R's `ks.test` and SciPy's `method="exact"` use),
//! Wasserstein-1 distance between the empirical distributions (normalised by
//! the reference's population standard deviation), and the population
//! stability index over equal-width bins. Checked against SciPy/NumPy in
//! `tests/drift_stats_scipy.rs`.

/// Two-sample KS statistic D = sup |F_a − F_b|.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let mut a: Vec<f64> = a.to_vec();
    let mut b: Vec<f64> = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    d
}

/// Exact two-sided p-value P(D ≥ d) for sample sizes `m` and `n` (no ties).
pub fn ks_exact_p(d: f64, m: usize, n: usize) -> f64 {
    if m == 0 || n == 0 {
        return 1.0;
    }
    let (m, n) = if m > n { (n, m) } else { (m, n) };
    let (md, nd) = (m as f64, n as f64);
    // D takes values k/(m·n); this threshold makes "> q" mean "≥ d".
    let q = (0.5 + (d * md * nd - 1e-7).floor()) / (md * nd);
    let mut u: Vec<f64> = (0..=n).map(|j| if j as f64 / nd > q { 0.0 } else { 1.0 }).collect();
    for i in 1..=m {
        let w = i as f64 / (i + n) as f64;
        u[0] = if i as f64 / md > q { 0.0 } else { w * u[0] };
        for j in 1..=n {
            u[j] = if (i as f64 / md - j as f64 / nd).abs() > q {
                0.0
            } else {
                w * u[j] + u[j - 1]
            };
        }
    }
    (1.0 - u[n]).clamp(0.0, 1.0)
}

/// KS statistic and its exact p-value.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> (f64, f64) {
    let d = ks_statistic(a, b);
    (d, ks_exact_p(d, a.len(), b.len()))
}

/// Wasserstein-1 distance between the empirical distributions of `a` and `b`.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut a: Vec<f64> = a.to_vec();
    let mut b: Vec<f64> = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = a.iter().chain(b.iter()).copied().collect();
    all.sort_by(f64::total_cmp);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut ia, mut ib, mut sum) = (0usize, 0usize, 0f64);
    for w in all.windows(2) {
        let x = w[0];
        while ia < a.len() && a[ia] <= x {
            ia += 1;
        }
        while ib < b.len() && b[ib] <= x {
            ib += 1;
        }
        sum += (ia as f64 / na - ib as f64 / nb).abs() * (w[1] - w[0]);
    }
    sum
}

/// Population standard deviation.
pub fn std(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Wasserstein distance divided by the reference's std (a constant reference
/// is compared in absolute units).
pub fn wasserstein_norm(reference: &[f64], current: &[f64]) -> f64 {
    let s = std(reference);
    let w = wasserstein(reference, current);
    if s > 0.0 { w / s } else { w }
}

/// Edges of `bins` equal-width bins spanning both samples (NumPy's
/// `histogram_bin_edges(concat, bins)`; a single value gets ±0.5).
pub fn bin_edges(a: &[f64], b: &[f64], bins: usize) -> Vec<f64> {
    let all = a.iter().chain(b.iter()).copied().filter(|x| x.is_finite());
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in all {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    // As NumPy's linspace: i·step + lo, the last edge exactly the maximum.
    let step = (hi - lo) / bins as f64;
    (0..=bins)
        .map(|i| if i == bins { hi } else { i as f64 * step + lo })
        .collect()
}

/// Shares of `v` in the bins of `edges` (half-open, the last one closed), as NumPy's `histogram`.
pub fn histogram(v: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0usize; bins];
    if bins == 0 || v.is_empty() {
        return vec![0.0; bins];
    }
    let (lo, hi) = (edges[0], edges[bins]);
    let norm = bins as f64 / (hi - lo);
    for &x in v {
        if !(lo..=hi).contains(&x) {
            continue;
        }
        let mut i = (((x - lo) * norm) as usize).min(bins - 1);
        if x < edges[i] && i > 0 {
            i -= 1;
        }
        if x >= edges[i + 1] && i != bins - 1 {
            i += 1;
        }
        counts[i] += 1;
    }
    counts.iter().map(|&c| c as f64 / v.len() as f64).collect()
}

/// Population stability index over 10 equal-width bins of both samples
/// (empty-bin shares count as 0.0001).
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let edges = bin_edges(reference, current, 10);
    let r = histogram(reference, &edges);
    let c = histogram(current, &edges);
    r.iter()
        .zip(&c)
        .map(|(&r, &c)| {
            let (r, c) = (if r == 0.0 { 0.0001 } else { r }, if c == 0.0 { 0.0001 } else { c });
            (r - c) * (r / c).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_show_no_drift() {
        let a: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
        let (d, p) = ks_2samp(&a, &a);
        assert_eq!(d, 0.0);
        assert!((p - 1.0).abs() < 1e-12);
        assert_eq!(wasserstein(&a, &a), 0.0);
        assert!(psi(&a, &a).abs() < 1e-12);
    }

    #[test]
    fn disjoint_samples_have_d_one_and_a_tiny_p() {
        let a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let b = [1.1, 1.2, 1.3, 1.4, 1.5, 1.6];
        let (d, p) = ks_2samp(&a, &b);
        assert_eq!(d, 1.0);
        // Exactly 2 of the C(12, 6) = 924 orderings separate them completely.
        assert!((p - 2.0 / 924.0).abs() < 1e-12, "{p}");
        assert!((wasserstein(&a, &b) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn empty_windows_are_not_evidence() {
        assert_eq!(ks_exact_p(0.5, 0, 10), 1.0);
        assert_eq!(wasserstein(&[], &[1.0]), 0.0);
    }
}
