//! The drift page: a drift check of the logged frames against detector@1's
//! training images, shown per feature with histograms and the share history.

use super::helpers::{Page, shot, until, visible};

/// Runs the check on the server's database (as its policy job would), then
/// shows the page.
pub(super) async fn check_and_show(p: &Page) {
    let Page { c, base, dir, .. } = p;
    // Drift: a check of the logged frames against detector@1's training images
    // (run here on the server's database, as its policy job would), shown per feature.
    {
        let db = detective_store::Db::open_sqlite_file(&dir.join("cloud/detective.db"))
            .await
            .unwrap();
        let objects = detective_store::Objects::local(&dir.join("cloud/objects")).unwrap();
        let cfg = detective_ops::drift::DriftConfig {
            min_rows: 5,
            window_secs: 24 * 3600,
            ..Default::default()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let report = detective_ops::drift::DriftMonitor::default()
            .check(&db, &objects, &cfg, now + 1000)
            .await
            .unwrap()
            .expect("a report");
        assert!(report.reference.contains("detector@1"), "{}", report.reference);
    }
    c.goto(&format!("{base}/drift")).await.unwrap();
    until(
        c,
        "the feature table",
        "document.querySelectorAll('#features tbody tr').length === 8 && document.querySelectorAll('#hists figure').length >= 7",
    )
    .await;
    let summary = visible(c, "#s-ref").await;
    assert!(summary.contains("training images of detector@1"), "{summary}");
    until(
        c,
        "the share history",
        "document.querySelectorAll('#share-chart circle').length === 1",
    )
    .await;
    shot(c, "drift").await;
}
