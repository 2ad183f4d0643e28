//! The style guide, as the browser renders it: the fonts come from the binary
//! and are the ones used (Space Grotesk for headings, Inter for the body), and
//! class names of real datasets get the icon of their family.

use super::helpers::{Page, shot, until};

/// As the viewer on the overview page.
pub(super) async fn fonts_from_the_binary_and_icons_by_family(p: &Page) {
    let Page { c, base, .. } = p;
    c.goto(&format!("{base}/")).await.unwrap();
    // The faces the page used, once loaded.
    let loaded = until(
        c,
        "the page's fonts loaded",
        "document.fonts.status === 'loaded' && [...document.fonts].filter(f => f.status === 'loaded') \
         .map(f => `${f.family.replace(/\"/g, '')} ${f.weight}`).sort().join(', ')",
    )
    .await;
    let loaded = loaded.as_str().unwrap().to_string();
    for face in ["Inter 400", "Space Grotesk 700"] {
        assert!(loaded.contains(face), "{face} not loaded: {loaded}");
    }
    let families = until(
        c,
        "the computed families",
        "[getComputedStyle(document.querySelector('h1')).fontFamily, getComputedStyle(document.body).fontFamily].join(' | ')",
    )
    .await;
    let families = families.as_str().unwrap();
    assert!(
        families.starts_with("\"Space Grotesk\"") && families.contains("| Inter"),
        "{families}"
    );
    // Served by the binary, as fonts.
    let r = reqwest::get(format!("{base}/static/fonts/inter-latin-400-normal.woff2"))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "font/woff2");
    assert!(r.bytes().await.unwrap().starts_with(b"wOF2"));
    shot(c, "fonts").await;
    // Real datasets' class names, by family.
    let fam = until(
        c,
        "the icon families",
        "import('/static/common.js').then(m => ['rolled-in_scale', 'Crazing', 'patches', 'Blowhole', 'Fray', \
         'Uneven', 'pitted_surface', 'inclusion', 'Break', 'scratches', 'mystery'].map(m.iconFamily).join(','))",
    )
    .await;
    assert_eq!(
        fam.as_str().unwrap(),
        "scale,crazing,patch,blowhole,fray,uneven,pit,inclusion,break,scratch,defect"
    );
    let symbols = until(
        c,
        "every family's symbol",
        "['scale','crazing','patch','blowhole','fray','uneven','pit','inclusion','break','scratch','defect'] \
         .every(f => document.getElementById('icon-' + f)) && 'all'",
    )
    .await;
    assert_eq!(symbols, "all");
}
