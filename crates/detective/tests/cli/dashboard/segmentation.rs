//! The segmentation lab: two epochs of a run compared on a validation sample.

use super::helpers::{Page, click, shot, until, visible};

/// As the admin, on the run `DATA_DIR/runs/seg1` trained before the server started.
pub(super) async fn compare_epochs(p: &Page) {
    let Page { c, base, .. } = p;
    // Segmentation lab (admin): two epochs of the run side by side on a validation
    // sample with a defect: heatmaps, overlays, ground truth, Dice and IoU.
    c.goto(&format!("{base}/segmentation")).await.unwrap();
    until(
        c,
        "the run's samples",
        "document.querySelectorAll('#s-sample option').length > 0",
    )
    .await;
    c.execute(
        "const s = document.getElementById('s-sample'); \
         s.value = [...s.options].find(o => !o.textContent.includes('no defect')).value;",
        vec![],
    )
    .await
    .unwrap();
    click(c, "#lab button[type=submit]").await;
    until(
        c,
        "the comparison",
        "document.querySelectorAll('.seg-card').length === 6",
    )
    .await;
    let metrics = c
        .execute(
            "return [...document.querySelectorAll('.seg-card .metric')].map(m => m.textContent).join(' | ');",
            vec![],
        )
        .await
        .unwrap();
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.matches("Dice").count() == 2 && metrics.contains("IoU"),
        "{metrics}"
    );
    let titles = visible(c, "#seg-grid").await;
    assert!(
        titles.contains("Ground truth") && titles.contains("Epoch 1") && titles.contains("Epoch 2"),
        "{titles}"
    );
    // The device selector lists this server's devices: the CPU, and a GPU it
    // cannot use (none here) disabled with the reason; `auto` runs on the CPU
    // and the status says why.
    let devices = c
        .execute(
            "return [...document.querySelectorAll('#s-device option')].map(o => `${o.value}:${o.disabled}`).join(',');",
            vec![],
        )
        .await
        .unwrap();
    let devices = devices.as_str().unwrap().to_string();
    assert!(
        devices.contains("auto:false") && devices.contains("cpu:false") && devices.contains("cuda:0:true"),
        "{devices}"
    );
    c.execute("document.getElementById('s-device').value = 'auto';", vec![])
        .await
        .unwrap();
    click(c, "#lab button[type=submit]").await;
    until(
        c,
        "auto's fallback in the status",
        "document.getElementById('s-status').textContent.includes('runs on cpu')",
    )
    .await;
    shot(c, "segmentation").await;
}
