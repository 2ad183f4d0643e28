//! The Insights panel through real HTTP: the period's figures become facts
//! with ids, and every sentence shown cites facts that hold its numbers.

use crate::common::{Kind, TestServer, client, logged_ago};
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
        let viewer = s.key(Role::Viewer).await;
        log_two_periods(&s).await;
        // A model change in the period is a fact too.
        let db = &s.state.db;
        crate::common::bare_version(db, "det", detective_core::Task::Detect).await;
        detective_store::models::set_stage(db, "det", 1, detective_core::Stage::Production)
            .await
            .unwrap();
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
        let promoted = fact("hours since det@1 (detect) became Production");
        assert!(promoted.value < 0.1 && promoted.chart == "models", "{promoted:?}");
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

/// Two periods of line l1 (5 % defective the day before, 30 % today) logged.
async fn log_two_periods(s: &TestServer) {
    let device = s.key(Role::Device).await;
    for (base, rate_every, hours) in [(0u32, 20u32, 30.0), (1000, 10, 6.0)] {
        let preds: Vec<Value> = (0..200u32)
            .map(|i| {
                let defective = if rate_every == 20 { i % 20 == 0 } else { i % 10 < 3 };
                logged(base + i, hours - f64::from(i) * 0.02, defective)
            })
            .collect();
        let (status, v) = post(
            s,
            &device,
            "/api/log",
            json!({"camera_id": "l1-cam1", "predictions": preds}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
    }
}

fn checked_sentences(r: &Value) -> Vec<Sentence> {
    let facts: Vec<Fact> = serde_json::from_value(r["facts"].clone()).unwrap();
    let sentences: Vec<Sentence> = serde_json::from_value(r["sentences"].clone()).unwrap();
    for sentence in &sentences {
        assert_eq!(check(sentence, &facts), Ok(()), "{sentence:?}");
    }
    sentences
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_written_by_the_embedded_model_are_checked_kept_and_can_be_marked_wrong() {
    let llm = detective_ops::llm::LlmConfig {
        provider: detective_ops::llm::Provider::Embedded,
        wait_secs: 600,
        timeout_secs: 600,
        ..Default::default()
    };
    assert!(
        llm.gguf_path().is_file(),
        "{} missing: run ./scripts/setup-llm.sh",
        llm.gguf_path().display()
    );
    let s = TestServer::start_with_llm(Kind::SqliteFolder, &llm).await;
    log_two_periods(&s).await;
    let viewer = s.key(Role::Viewer).await;
    let operator = s.key(Role::Operator).await;
    // One fixed period, so both requests below name the same panel.
    let to = chrono::Utc::now();
    let range = format!(
        "/api/analytics/insights?from={}&to={}",
        (to - chrono::Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let r = get(&s, &viewer, &range).await;
    assert_eq!(r["source"], "embedded", "{r}");
    assert_eq!(r["model"], "SmolLM2-135M-Instruct.Q4_1");
    let sentences = checked_sentences(&r);
    assert!(!sentences.is_empty(), "the model wrote no sentence that passed: {r}");
    let answer_id = r["answer_id"].as_i64().expect("the answer is kept");
    // The same range again: the kept panel, not a second run of the model.
    let again = get(&s, &viewer, &range).await;
    assert_eq!(again["answer_id"], r["answer_id"]);

    // Whoever reads the panel may mark a sentence the answer holds; only
    // operators read the marks with the prompts.
    let mark = json!({"answer_id": answer_id, "sentence": sentences[0].text, "facts": sentences[0].facts, "note": "the direction is wrong"});
    let (status, v) = post(&s, &viewer, "/api/analytics/insights/feedback", mark).await;
    assert_eq!(status, 201, "{v}");
    let r = client()
        .get(s.at("/api/analytics/insights/feedback"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (status, v) = post(
        &s,
        &operator,
        "/api/analytics/insights/feedback",
        json!({"answer_id": answer_id, "sentence": "Something it never said.", "facts": ["F1"]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let review = get(&s, &operator, "/api/analytics/insights/feedback").await;
    let first = &review[0];
    assert_eq!(first["sentence"], json!(sentences[0].text));
    assert_eq!(first["note"], "the direction is wrong");
    assert_eq!(first["source"], "embedded:SmolLM2-135M-Instruct.Q4_1");
    assert!(
        first["prompt"]
            .as_str()
            .unwrap()
            .contains("F1: defect rate this period = 30.0 %"),
        "{first}"
    );
    assert!(
        first["answer"].as_str().unwrap().contains(&sentences[0].text),
        "{first}"
    );
}

on_both!(
    sentences_written_by_rule_or_kept_answers_can_be_marked_wrong,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let operator = s.key(Role::Operator).await;
        let (status, v) = post(
            &s,
            &operator,
            "/api/analytics/insights/feedback",
            json!({"answer_id": null, "sentence": "The defect rate rose to 30.0 %.", "facts": ["F1"], "note": ""}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let id = detective_store::insight_log::add_answer(
            &s.state.db,
            &detective_store::insight_log::NewAnswer {
                source: "openai:m".into(),
                prompt: "the prompt".into(),
                answer: "[F1] Up to 30.0 %.".into(),
                facts: json!([]),
                sentences: json!([{"text": "Up to 30.0 %.", "facts": ["F1"]}]),
                rejected: 0,
            },
        )
        .await
        .unwrap();
        let (status, v) = post(
            &s,
            &operator,
            "/api/analytics/insights/feedback",
            json!({"answer_id": id, "sentence": "Up to 30.0 %.", "facts": ["F1"], "note": "not up"}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let (status, _) = post(
            &s,
            &operator,
            "/api/analytics/insights/feedback",
            json!({"answer_id": id + 100, "sentence": "Up to 30.0 %.", "facts": ["F1"]}),
        )
        .await;
        assert_eq!(status, 404);
        let review = get(&s, &operator, "/api/analytics/insights/feedback").await;
        assert_eq!(review.as_array().unwrap().len(), 2, "{review}");
        assert_eq!(review[0]["answer"], "[F1] Up to 30.0 %.");
        assert_eq!(review[0]["prompt"], "the prompt");
        assert_eq!(review[1]["source"], "rules");
        assert_eq!(review[1]["prompt"], Value::Null);
    }
);

#[tokio::test]
async fn an_unreachable_model_endpoint_leaves_the_panel_written_by_rule_without_waiting() {
    let llm = detective_ops::llm::LlmConfig {
        provider: detective_ops::llm::Provider::Openai,
        // Nothing listens on the discard port.
        base_url: "http://127.0.0.1:9/v1".into(),
        model: "any".into(),
        ..Default::default()
    };
    let s = TestServer::start_with_llm(Kind::SqliteFolder, &llm).await;
    log_two_periods(&s).await;
    let viewer = s.key(Role::Viewer).await;
    let r = get(&s, &viewer, "/api/analytics/insights").await;
    assert_eq!(r["source"], "rules", "{r}");
    assert!(r["note"].as_str().unwrap().contains("failed"), "{r}");
    assert!(checked_sentences(&r).len() >= 2, "{r}");
    let again = get(&s, &viewer, "/api/analytics/insights").await;
    assert!(again["note"].as_str().unwrap().contains("a moment ago"), "{again}");
}

/// The OpenAI-compatible client against a real server (llama.cpp's, from
/// `scripts/check-llm-server.sh`, which sets `DETECTIVE_TEST_LLM_URL`): too
/// slow to build for CI, so it runs when that script runs it.
#[tokio::test]
#[ignore = "needs an OpenAI-compatible server: scripts/check-llm-server.sh runs it"]
async fn insights_from_an_openai_compatible_server_are_checked() {
    let url =
        std::env::var("DETECTIVE_TEST_LLM_URL").expect("DETECTIVE_TEST_LLM_URL (scripts/check-llm-server.sh sets it)");
    let llm = detective_ops::llm::LlmConfig {
        provider: detective_ops::llm::Provider::Openai,
        base_url: url,
        model: std::env::var("DETECTIVE_TEST_LLM_MODEL").unwrap_or_else(|_| "smollm2".into()),
        wait_secs: 300,
        timeout_secs: 300,
        ..Default::default()
    };
    let s = TestServer::start_with_llm(Kind::SqliteFolder, &llm).await;
    log_two_periods(&s).await;
    let viewer = s.key(Role::Viewer).await;
    let r = get(&s, &viewer, "/api/analytics/insights").await;
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r["source"], "openai", "{r}");
    let id = r["answer_id"].as_i64().unwrap();
    let kept = detective_store::insight_log::answer(&s.state.db, id)
        .await
        .unwrap()
        .unwrap();
    eprintln!("the server answered:\n{}", kept.answer);
    let sentences = checked_sentences(&r);
    eprintln!("{} shown, {} refused", sentences.len(), r["rejected"]);
    assert!(
        !sentences.is_empty() || r["rejected"].as_u64().unwrap() > 0,
        "the answer held no sentence at all: {}",
        kept.answer
    );
}
