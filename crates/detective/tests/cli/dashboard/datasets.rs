//! The datasets & images page: upload an image, select it into a new dataset,
//! and find the dataset listed with its export links.

use super::helpers::{Page, click, shot, type_into, until, visible};
use fantoccini::Locator;

/// As the admin.
pub(super) async fn upload_and_create(p: &Page) {
    let Page { c, base, dir, .. } = p;
    // Datasets & images: an uploaded image appears in the list, is selected into a
    // new dataset, and the dataset is listed with its export links.
    let part = dir.join("part-07.jpg");
    let mask = dir.join("part-07.mask.png");
    {
        let s = detective_vision::synth::generate(&detective_vision::synth::SynthConfig::default(), 7, 3).unwrap();
        std::fs::write(&part, detective_vision::encode::encode_jpeg(&s.image, 90).unwrap()).unwrap();
        std::fs::write(&mask, detective_vision::encode::encode_gray_png(&s.mask).unwrap()).unwrap();
    }
    c.goto(&format!("{base}/datasets")).await.unwrap();
    c.find(Locator::Css("#u-project")).await.unwrap().clear().await.unwrap();
    type_into(c, "#u-project", "steel").await;
    c.find(Locator::Css("#u-files"))
        .await
        .unwrap()
        .send_keys(&format!("{}\n{}", part.display(), mask.display()))
        .await
        .unwrap();
    // The image and its mask (NAME.mask.png) go up together.
    let status = visible(c, "#uploads li.stored").await;
    assert!(
        status.contains("part-07.jpg") && status.contains("stored with mask"),
        "{status}"
    );
    until(
        c,
        "the uploaded image in the list",
        "[...document.querySelectorAll('#images img')].some(i => i.alt === 'part-07.jpg' && i.naturalWidth > 0)",
    )
    .await;
    click(c, "#images .thumb input").await;
    type_into(c, "#d-name", "steel-parts").await;
    type_into(c, "#d-classes", "scratch, spot, crack, dent").await;
    click(c, "#create button[type=submit]").await;
    until(
        c,
        "the new dataset",
        "document.querySelector('#datasets tbody').textContent.includes('steel-parts')",
    )
    .await;
    let row = visible(c, "#datasets tbody tr").await;
    assert!(
        row.contains("v1: 1 image (") && row.contains("YOLOv8") && row.contains("COCO"),
        "{row}"
    );
    let more = c
        .execute(
            "return getComputedStyle(document.getElementById('more-images')).display;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(more, "none", "no 'Load more' without a next page");
    shot(c, "datasets").await;
}
