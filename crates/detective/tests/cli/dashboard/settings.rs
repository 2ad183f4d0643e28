//! The settings page: API keys, user accounts and the labeling thresholds.

use super::helpers::{Page, api, click, log_frames, login_user, shot, type_into, until, visible};
use fantoccini::Locator;

/// As the admin: a key made here works until it is revoked here; thresholds
/// saved here apply at once.
pub(super) async fn keys_and_thresholds(p: &Page) {
    let Page { c, base, admin, .. } = p;
    // Settings (admin): a key created on the page works once, then is revoked there.
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(c, "#k-name", "cam-9").await;
    click(c, "#new-key button[type=submit]").await;
    let secret = visible(c, "#secret-value").await;
    assert!(secret.starts_with("dd_"), "{secret}");
    let ok = reqwest::Client::new()
        .get(format!("{base}/api/model-status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the new device key works");
    until(
        c,
        "the key row",
        "document.querySelector('#keys tbody').textContent.includes('cam-9')",
    )
    .await;
    // Thresholds saved on the page apply at once.
    c.find(Locator::Css("#t-high")).await.unwrap().clear().await.unwrap();
    type_into(c, "#t-high", "0.65").await;
    click(c, "#thresholds button[type=submit]").await;
    let saved = until(c, "the save answer", "document.getElementById('t-status').textContent").await;
    assert!(saved.as_str().unwrap().contains("Saved"), "{saved}");
    let t = api(base, admin, "/api/settings/thresholds").await;
    assert_eq!(t["uncertain_high"].as_f64(), Some(0.65), "{t}");
    shot(c, "settings").await;
    c.execute(
        "[...document.querySelectorAll('#keys tbody tr')].find(r => r.textContent.includes('cam-9')).querySelector('button').click();",
        vec![],
    )
    .await
    .unwrap();
    c.accept_alert().await.unwrap();
    until(
        c,
        "the key revoked",
        "[...document.querySelectorAll('#keys tbody tr')].find(r => r.textContent.includes('cam-9')).textContent.includes('revoked')",
    )
    .await;
    let gone = reqwest::Client::new()
        .get(format!("{base}/api/model-status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "the revoked key no longer works");
}

/// As the admin: a zone drawn with the mouse on line1-cam1's frame and a class
/// threshold, saved as that camera's rules and listed; the API then applies them.
pub(super) async fn zones_and_class_thresholds(p: &Page) {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/settings")).await.unwrap();
    until(
        c,
        "the cameras to choose from",
        "[...document.querySelectorAll('#r-camera option')].some(o => o.value === 'line1-cam1')",
    )
    .await;
    c.execute("document.getElementById('r-camera').value = 'line1-cam1';", vec![])
        .await
        .unwrap();
    click(c, "#rules-scope button[type=submit]").await;
    until(
        c,
        "the camera's frame",
        "document.getElementById('r-frame').complete && document.getElementById('r-frame').naturalWidth > 0",
    )
    .await;
    // Three corners clicked on the frame (client coordinates computed in the page).
    for (fx, fy) in [(0.1, 0.1), (0.5, 0.1), (0.3, 0.6)] {
        c.execute(
            &format!(
                "const cv = document.getElementById('r-canvas'); const r = cv.getBoundingClientRect(); \
                 cv.dispatchEvent(new MouseEvent('click', {{clientX: r.left + {fx} * r.width, clientY: r.top + {fy} * r.height, bubbles: true}}));"
            ),
            vec![],
        )
        .await
        .unwrap();
    }
    until(
        c,
        "three corners",
        "document.querySelectorAll('#r-zones circle').length === 3",
    )
    .await;
    type_into(c, "#r-zone-name", "clamp").await;
    click(c, "#r-zone button[type=submit]").await;
    until(
        c,
        "the zone drawn",
        "document.querySelectorAll('#r-zones polygon.ignore').length === 1",
    )
    .await;
    click(c, "#r-add-class").await;
    type_into(c, "#r-classes tbody tr:last-child [data-k=name]", "scratch").await;
    type_into(c, "#r-classes tbody tr:last-child [data-k=conf]", "0.6").await;
    click(c, "#r-save").await;
    let saved = until(c, "the save answer", "document.getElementById('r-status').textContent").await;
    assert!(saved.as_str().unwrap().contains("1 class rules and 1 zones"), "{saved}");
    until(
        c,
        "the rule set listed",
        "document.querySelector('#rule-sets tbody').textContent.includes('clamp (ignore)')",
    )
    .await;
    shot(c, "settings-rules").await;
    let listed = api(base, admin, "/api/rules").await;
    let set = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["scope"]["camera"] == "line1-cam1")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(set["rules"]["classes"]["scratch"]["conf"], 0.6, "{set}");
    let zone = &set["rules"]["zones"][0];
    assert_eq!(
        (zone["name"].as_str(), zone["kind"].as_str()),
        (Some("clamp"), Some("ignore"))
    );
    let corners: Vec<[f64; 2]> = serde_json::from_value(zone["points"].clone()).unwrap();
    let want = [[0.1, 0.1], [0.5, 0.1], [0.3, 0.6]];
    for (got, want) in corners.iter().zip(want) {
        assert!(
            (got[0] - want[0]).abs() < 0.01 && (got[1] - want[1]).abs() < 0.01,
            "{corners:?}"
        );
    }
    assert_eq!(corners.len(), 3);
    let eff = api(base, admin, "/api/rules/effective?camera=line1-cam1").await;
    assert_eq!(eff["zones"][0]["name"], "clamp", "{eff}");
}

/// As the admin: sampling set for a camera on the Settings page reaches its
/// agent; the frames it picks wait in the labeling queue, which says why.
pub(super) async fn sampling_reaches_the_queue(p: &Page) {
    let Page {
        c,
        base,
        admin,
        dir,
        device,
        ..
    } = p;
    c.goto(&format!("{base}/settings")).await.unwrap();
    // Tab leaves the field: the page loads the camera's strategies (all off).
    type_into(c, "#s-camera", "line5-cam1\u{E004}").await;
    until(
        c,
        "the camera's strategies loaded",
        "document.getElementById('sampling-form').dataset.loaded === 'line5-cam1'",
    )
    .await;
    for (css, value) in [("#s-random", "100"), ("#s-hour", "2")] {
        c.find(Locator::Css(css)).await.unwrap().clear().await.unwrap();
        type_into(c, css, value).await;
    }
    click(c, "#sampling-form button[type=submit]").await;
    let saved = until(c, "the save answer", "document.getElementById('s-status').textContent").await;
    assert!(saved.as_str().unwrap().contains("Saved for line5-cam1"), "{saved}");
    let s = api(base, admin, "/api/cameras/line5-cam1/sampling").await;
    assert_eq!(
        (s["random_percent"].as_f64(), s["per_hour"].as_u64()),
        (Some(100.0), Some(2)),
        "{s}"
    );

    // The camera's agent samples (frames it finds uncertain queue as such).
    let sampled = || async {
        api(base, admin, "/api/labeling-queue?reason=sampled&limit=500").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["camera_id"] == "line5-cam1")
            .count()
    };
    let mut seed = 40;
    while sampled().await == 0 {
        log_frames(dir, p.port, device, "line5-cam1", 6, seed);
        seed += 1;
        assert!(seed < 44, "no frame of line5-cam1 was sampled");
    }
    assert!(sampled().await <= 2, "at most the hourly limit");

    // Settings lists the camera's sampling; the queue says why a frame is there.
    c.goto(&format!("{base}/settings")).await.unwrap();
    until(
        c,
        "the camera's sampling in the table",
        "document.querySelector('#cameras tr[data-camera=\"line5-cam1\"] .sampling')?.textContent.includes('100% at random')",
    )
    .await;
    c.goto(&format!("{base}/labeling")).await.unwrap();
    c.execute(
        "const w = document.getElementById('why'); w.value = 'sampled'; w.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    let why = until(
        c,
        "a sampled frame and why it is here",
        "document.getElementById('item-reason').dataset.reason === 'random' && document.getElementById('item-reason').textContent",
    )
    .await;
    assert!(why.as_str().unwrap().contains("sampled"), "{why}");
    shot(c, "labeling-sampled").await;
}

/// As the admin: an alert rule added on the Settings page fires when a model
/// is promoted, and the page lists the alert.
pub(super) async fn an_alert_rule_fires_and_is_listed(p: &Page) {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(c, "#a-name", "promotions").await;
    c.execute(
        "const k = document.getElementById('a-kind'); k.value = 'model_promoted'; k.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    click(c, "#alert-form button[type=submit]").await;
    let saved = until(c, "the rule saved", "document.getElementById('a-status').textContent").await;
    assert!(saved.as_str().unwrap().contains("promotions"), "{saved}");
    until(
        c,
        "the rule listed",
        "document.querySelector('#alert-rules tbody').textContent.includes('a model promoted')",
    )
    .await;
    // Promote the Production detector again: the rule fires.
    let status = api(base, admin, "/api/model-status").await;
    let m = &status["models"][0];
    let (name, version) = (m["name"].as_str().unwrap(), m["version"].as_i64().unwrap());
    let r = reqwest::Client::new()
        .post(format!("{base}/api/models/{name}/versions/{version}/stage"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"stage": "Production"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c.goto(&format!("{base}/settings")).await.unwrap();
    let row = until(
        c,
        "the alert in the list",
        "document.querySelector('#alert-events tr[data-kind=\"model_promoted\"]')?.textContent",
    )
    .await;
    assert!(
        row.as_str()
            .unwrap()
            .contains(&format!("{name}@{version} is now Production")),
        "{row}"
    );
    shot(c, "alerts").await;
    // the audit trail lists changes made on this page (a session) and through the API (a key)
    let audit = until(
        c,
        "the audit trail",
        "document.querySelector('#audit tbody tr[data-id]') && document.querySelector('#audit tbody').textContent",
    )
    .await;
    let audit = audit.as_str().unwrap();
    assert!(
        audit.contains("POST /api/models/{name}/versions/{version}/stage")
            && audit.contains(&format!("/api/models/{name}/versions/{version}/stage"))
            && audit.contains("PUT /api/settings/thresholds")
            && audit.contains("POST /api/alerts/rules"),
        "{audit}"
    );
}

/// As the admin: an operator account made on Settings → Users signs in on the
/// form with its password (a wrong one is refused there), shows its name, and
/// changing its own password sends it back to sign in with the new one.
pub(super) async fn an_account_made_here_signs_in_with_its_password(p: &Page) {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(c, "#u-name", "Ann").await;
    c.execute("document.getElementById('u-role').value = 'operator';", vec![])
        .await
        .unwrap();
    type_into(c, "#u-password", "line-two-operator").await;
    click(c, "#new-user button[type=submit]").await;
    until(
        c,
        "the account row",
        "document.querySelector('#users tbody').textContent.includes('ann')",
    )
    .await;
    let users = api(base, admin, "/api/users").await;
    assert_eq!(users["items"][0]["username"], "ann", "{users}");
    assert_eq!(users["items"][0]["role"], "operator", "{users}");
    shot(c, "settings-users").await;

    click(c, ".user button").await;
    until(c, "the login page after signing out", "location.pathname === '/login'").await;
    login_user(c, base, "ann", "not her password").await;
    let err = visible(c, ".error").await;
    assert!(err.contains("wrong password"), "{err}");
    login_user(c, base, "ann", "line-two-operator").await;
    // (the role is shown in capitals by the style sheet)
    let who = visible(c, ".user").await.to_lowercase();
    assert!(who.contains("ann") && who.contains("operator"), "{who}");

    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(c, "#p-current", "line-two-operator").await;
    type_into(c, "#p-new", "a-newer-password").await;
    click(c, "#own-password button[type=submit]").await;
    until(c, "back at the sign-in", "location.pathname === '/login'").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.query(), Some("next=/settings"), "{url}");
    login_user(c, base, "ann", "a-newer-password").await;
    until(c, "signed in again", "location.pathname === '/'").await;
}
