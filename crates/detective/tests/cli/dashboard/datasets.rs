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

    // A labelled zip (YOLO layout) imported through the page becomes a dataset.
    let zip = dir.join("labelled.zip");
    {
        use std::io::Write;
        let s = detective_vision::synth::generate(&detective_vision::synth::SynthConfig::default(), 7, 4).unwrap();
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file("data.yaml", opts).unwrap();
        w.write_all(b"path: .\ntrain: images/train\nnames: [scratch, spot, crack, dent, pit]\n")
            .unwrap();
        w.start_file("images/train/z1.jpg", opts).unwrap();
        w.write_all(&detective_vision::encode::encode_jpeg(&s.image, 90).unwrap())
            .unwrap();
        w.start_file("labels/train/z1.txt", opts).unwrap();
        w.write_all(crate::common::synth_label_text(&s).as_bytes()).unwrap();
        w.finish().unwrap();
    }
    c.find(Locator::Css("#i-project")).await.unwrap().clear().await.unwrap();
    type_into(c, "#i-project", "zipped").await;
    type_into(c, "#i-name", "from-zip").await;
    c.find(Locator::Css("#i-file"))
        .await
        .unwrap()
        .send_keys(&zip.display().to_string())
        .await
        .unwrap();
    click(c, "#import button[type=submit]").await;
    let done = until(
        c,
        "the zip imported",
        "document.getElementById('import-status').textContent.startsWith('Imported') && \
         document.getElementById('import-status').textContent",
    )
    .await;
    assert!(done.as_str().unwrap().contains("1 images"), "{done}");
    until(
        c,
        "the imported dataset listed",
        "document.querySelector('#datasets tbody').textContent.includes('from-zip')",
    )
    .await;
}

/// As the admin, after a queued frame was labelled: the labeling queue's
/// reviewed frames become a dataset in one action.
pub(super) async fn seed_from_the_labeling_queue(p: &Page) {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/datasets")).await.unwrap();
    type_into(c, "#s-name", "from-the-queue").await;
    c.execute(
        "document.getElementById('s-source').value = 'all'; document.getElementById('s-task').value = 'segment';",
        vec![],
    )
    .await
    .unwrap();
    click(c, "#seed button[type=submit]").await;
    let done = until(
        c,
        "the seeded dataset",
        "document.getElementById('seed-status').textContent.startsWith('Created') && \
         document.getElementById('seed-status').textContent",
    )
    .await;
    assert!(done.as_str().unwrap().contains("1 with defects"), "{done}");
    until(
        c,
        "the seeded dataset listed",
        "document.querySelector('#datasets tbody').textContent.includes('from-the-queue')",
    )
    .await;
    let list = super::helpers::api(base, admin, "/api/datasets?project=default").await;
    let ds = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "from-the-queue")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(ds["task"], "segment", "{ds}");
}
