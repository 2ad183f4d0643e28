//! The drift statistics against SciPy and NumPy on the committed fixture
//! (written by `scripts/fixtures/drift_stats.py`): KS statistic and exact
//! p-value, Wasserstein distance (raw and normalised by the reference std), PSI.

use detective_ops::drift::stats;

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn statistics_match_scipy_on_every_fixture_case() {
    let text = include_str!("fixtures/drift_stats.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let (r, cur) = (floats(&c["reference"]), floats(&c["current"]));
        let want = |k: &str| c[k].as_f64().unwrap();
        let (d, p) = stats::ks_2samp(&r, &cur);
        assert!((d - want("ks_d")).abs() < 1e-12, "{name}: D {d} vs {}", want("ks_d"));
        assert!(
            (p - want("ks_p")).abs() < 1e-9 + 1e-6 * want("ks_p"),
            "{name}: p {p} vs {}",
            want("ks_p")
        );
        let w = stats::wasserstein(&r, &cur);
        assert!(
            (w - want("wasserstein")).abs() < 1e-9,
            "{name}: W {w} vs {}",
            want("wasserstein")
        );
        let wn = stats::wasserstein_norm(&r, &cur);
        assert!((wn - want("wasserstein_norm")).abs() < 1e-9, "{name}: W/std {wn}");
        let psi = stats::psi(&r, &cur);
        assert!((psi - want("psi")).abs() < 1e-9, "{name}: PSI {psi} vs {}", want("psi"));
    }
}
