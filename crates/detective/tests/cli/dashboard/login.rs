//! The login page: strangers are sent to it and refused there; signing out
//! leads back to it, and the admin signs in through it.

use super::helpers::{Page, click, login, shot, until, visible};

/// Not signed in, every page leads to the login form, which refuses a wrong
/// key and a device key with a message.
pub(super) async fn refuses_strangers(p: &Page) {
    let Page { c, base, device, .. } = p;
    // Not signed in: every page leads to the login form.
    c.goto(&format!("{base}/inspections")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "{url}");
    assert_eq!(url.query(), Some("next=/inspections"));
    shot(c, "login").await;
    // A wrong key and a device key are refused with a message.
    login(c, base, "dd_wrong").await;
    let err = visible(c, ".error").await;
    assert!(err.contains("Unknown or revoked"), "{err}");
    login(c, base, device).await;
    let err = visible(c, ".error").await;
    assert!(err.contains("for agents"), "{err}");
}

/// Signs the viewer out (from the page the browser is on) and the admin in.
pub(super) async fn sign_out_then_in_as_admin(p: &Page) {
    let Page { c, base, admin, .. } = p;
    // Sign out, then in as admin.
    click(c, ".user button").await;
    until(c, "the login page after signing out", "location.pathname === '/login'").await;
    login(c, base, admin).await;
}
