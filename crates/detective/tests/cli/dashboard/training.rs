//! The training page: a job started from the form runs in the server's worker
//! and is registered; later, the retraining conditions and policy are shown.

use super::helpers::{Page, click, labelled_dataset, shot, type_into, until, visible};
use fantoccini::Locator;

/// As the admin: trains on a labelled dataset made for it, shows the curves and
/// the log, and registers the model as detector@1 (promoted on the Models page,
/// `models::promote_the_trained_version`).
pub(super) async fn train_and_register(p: &Page) {
    let Page { c, base, admin, .. } = p;
    // Training (admin): a job started from the form runs in the server's worker,
    // its curves and log appear, it is registered, and promoted on the Models page.
    let train_ds = labelled_dataset(base, admin).await;
    c.goto(&format!("{base}/training")).await.unwrap();
    until(
        c,
        "the dataset choice",
        "[...document.querySelectorAll('#t-dataset option')].some(o => o.textContent.includes('line-parts'))",
    )
    .await;
    c.execute(
        &format!(
            "const s = document.getElementById('t-dataset'); s.value = '{train_ds}'; s.dispatchEvent(new Event('change')); \
             document.getElementById('t-model').value = 't';"
        ),
        vec![],
    )
    .await
    .unwrap();
    for (field, value) in [("#t-epochs", "2"), ("#t-imgsz", "64"), ("#t-batch", "4")] {
        c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
        type_into(c, field, value).await;
    }
    click(c, "#start button[type=submit]").await;
    let queued = until(
        c,
        "the queued job",
        "document.getElementById('start-status').textContent",
    )
    .await;
    assert!(queued.as_str().unwrap().contains("queued"), "{queued}");
    until(
        c,
        "the job to succeed in the server's worker",
        "document.querySelector('#jobs tbody').textContent.includes('succeeded') && document.getElementById('job-status').textContent.includes('succeeded')",
    )
    .await;
    until(
        c,
        "loss curves of both epochs",
        "document.querySelectorAll('#loss-chart circle').length === 6 && document.querySelectorAll('#map-chart circle').length === 4",
    )
    .await;
    let log = visible(c, "#job-log").await;
    assert!(log.contains("epoch 2/2"), "{log}");
    c.execute("document.getElementById('job').scrollIntoView();", vec![])
        .await
        .unwrap();
    shot(c, "training").await;
    click(c, "#register").await;
    until(
        c,
        "the registration",
        "document.getElementById('job-status').textContent.includes('Registered as detector@1')",
    )
    .await;
}

/// After the labeling and drift pages: the retraining conditions count the new
/// label, and the policy form shows the policy.
pub(super) async fn retraining_conditions(p: &Page) {
    let Page { c, base, .. } = p;
    // Training & retraining: the conditions and the policy are on the Training page.
    c.goto(&format!("{base}/training")).await.unwrap();
    until(
        c,
        "the retraining conditions",
        "document.getElementById('rt-figures').textContent.includes('new labels 1 of 50')",
    )
    .await;
    until(
        c,
        "the policy form",
        "document.getElementById('p-labels').value === '50'",
    )
    .await;
}
