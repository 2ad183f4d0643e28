//! The Insights panel through real HTTP: the period's figures become facts
//! with ids, and every sentence shown cites facts that hold its numbers.

use crate::common::{Kind, TestServer, logged_ago};
use crate::training::{get, post};
use detective_core::Role;
use detective_core::grounded::{Fact, Sentence, check};
use serde_json::{Value, json};

fn logged(i: u32, hours_ago: f64, defective: bool) -> Value {
    logged_ago(
        i,
        chrono::Duration::milliseconds((hours_ago * 3_600_000.0) as i64),
        defective,
    )
}

on_both!(
    insights_cite_the_figures_they_rest_on_and_every_number_checks_out,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let device = s.key(Role::Device).await;
        let viewer = s.key(Role::Viewer).await;
        // The day before: 5 % defective on line l1; today: 30 %.
        for (camera, base, rate_every, hours) in [("l1-cam1", 0u32, 20u32, 30.0), ("l1-cam1", 1000, 10, 6.0)] {
            let preds: Vec<Value> = (0..200u32)
                .map(|i| {
                    let defective = if rate_every == 20 { i % 20 == 0 } else { i % 10 < 3 };
                    logged(base + i, hours - f64::from(i) * 0.02, defective)
                })
                .collect();
            let (status, v) = post(
                &s,
                &device,
                "/api/log",
                json!({"camera_id": camera, "predictions": preds}),
            )
            .await;
            assert_eq!(status, 200, "{v}");
        }
        let r = get(&s, &viewer, "/api/analytics/insights").await;
        assert_eq!(r["source"], "rules");
        let facts: Vec<Fact> = serde_json::from_value(r["facts"].clone()).unwrap();
        let sentences: Vec<Sentence> = serde_json::from_value(r["sentences"].clone()).unwrap();
        let fact = |label: &str| {
            facts
                .iter()
                .find(|f| f.label == label)
                .unwrap_or_else(|| panic!("{label}: {r}"))
        };
        assert!((fact("defect rate this period").value - 0.3).abs() < 1e-9);
        assert!((fact("defect rate the period before").value - 0.05).abs() < 1e-9);
        assert!((fact("rate now: line l1").value - 0.3).abs() < 1e-9);
        assert!(sentences.len() >= 2, "{r}");
        for sentence in &sentences {
            assert_eq!(check(sentence, &facts), Ok(()), "{sentence:?}");
        }
        assert!(sentences[0].text.contains("rose to 30.0 %"), "{:?}", sentences[0]);
        assert!(
            sentences
                .iter()
                .any(|s| s.text.starts_with("line l1 went up to 30.0 %")),
            "{r}"
        );
        assert_eq!(r["rejected"], 0);
    }
);
