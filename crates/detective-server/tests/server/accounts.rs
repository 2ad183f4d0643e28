//! User accounts end to end over HTTP: an admin creates one, its owner signs in
//! on the dashboard's form with name and password, their changes carry their
//! name in the audit trail; a new password or a disabled account ends the
//! sessions; password guesses are limited per user name from any address.

use detective_core::Role;
use serde_json::{Value, json};

use crate::common::{Kind, TestServer, client, get_json, post_login};

/// `application/x-www-form-urlencoded` of `fields`.
fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `POST /login` with a user name and password (from `from`, an
/// `X-Forwarded-For` address): the status and the session cookie, if any.
async fn sign_in(s: &TestServer, username: &str, password: &str, from: &str) -> (u16, Option<String>) {
    let body = form_body(&[("username", username), ("password", password), ("next", "/settings")]);
    post_login(s, body, Some(from)).await
}

async fn post_json(s: &TestServer, auth: (&str, &str), path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(s.at(path))
        .header(auth.0, auth.1)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get_status(s: &TestServer, cookie: &str, path: &str) -> u16 {
    client()
        .get(s.at(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

const PASSWORD: &str = "grinding-line-7";

on_both!(
    a_user_signs_in_with_a_password_and_their_changes_carry_their_name,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let admin = format!("Bearer {}", s.key(Role::Admin).await);
        let admin = ("authorization", admin.as_str());

        // Wrong requests change nothing.
        for (body, status) in [
            (json!({"username": "cam", "role": "device", "password": PASSWORD}), 400),
            (json!({"username": "ann", "role": "operator", "password": "short"}), 400),
            (
                json!({"username": "ann lee", "role": "operator", "password": PASSWORD}),
                400,
            ),
            (json!({"username": "ann", "role": "boss", "password": PASSWORD}), 400),
        ] {
            assert_eq!(post_json(&s, admin, "/api/users", &body).await.0, status, "{body}");
        }
        let (status, created) = post_json(
            &s,
            admin,
            "/api/users",
            &json!({"username": "Ann", "role": "operator", "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["user"]["username"], "ann");
        assert!(created["user"].get("password_hash").is_none());
        let id = created["user"]["id"].as_str().unwrap().to_string();
        let again = json!({"username": "ann", "role": "viewer", "password": PASSWORD});
        assert_eq!(post_json(&s, admin, "/api/users", &again).await.0, 409);
        // An operator key may not manage accounts.
        let operator = format!("Bearer {}", s.key(Role::Operator).await);
        let (status, _) = post_json(&s, ("authorization", &operator), "/api/users", &again).await;
        assert_eq!(status, 403);

        assert_eq!(sign_in(&s, "ann", "wrong password!", "10.0.0.1").await, (401, None));
        assert_eq!(sign_in(&s, "nobody", PASSWORD, "10.0.0.1").await, (401, None));
        let (status, cookie) = sign_in(&s, "ANN", PASSWORD, "10.0.0.1").await;
        assert_eq!(status, 303);
        let cookie = cookie.expect("a session cookie");
        assert_eq!(get_status(&s, &cookie, "/settings").await, 200);
        let page = client()
            .get(s.at("/settings"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("id=\"own-password\""), "a user sees the password form");

        // An operator's change, made in her session, is recorded under her name.
        let r = client()
            .put(s.at("/api/rules"))
            .header("cookie", &cookie)
            .json(&json!({"camera": "cam-a", "rules": {"classes": {"scratch": {"conf": 0.5}}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = client()
            .put(s.at("/api/settings/thresholds"))
            .header("cookie", &cookie)
            .json(&json!({"conf": 0.25, "uncertain_low": 0.4, "uncertain_high": 0.7}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "an operator may not change settings");
        let audit = get_json(&s, admin, "/api/audit?actor=ann").await;
        let entries = audit["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{audit}");
        assert_eq!(entries[0]["action"], "PUT /api/rules");
        assert_eq!(entries[0]["role"], "operator");

        // Her own password: the current one is checked; a new one ends her sessions.
        let own = ("cookie", cookie.as_str());
        let (status, _) = post_json(
            &s,
            own,
            "/api/account/password",
            &json!({"current": "not it at all", "new": "another-password-1"}),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = post_json(
            &s,
            admin,
            "/api/account/password",
            &json!({"current": PASSWORD, "new": "another-password-1"}),
        )
        .await;
        assert_eq!(status, 400, "a key has no password");
        let (status, body) = post_json(
            &s,
            own,
            "/api/account/password",
            &json!({"current": PASSWORD, "new": "another-password-1"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            get_status(&s, &cookie, "/api/metrics").await,
            401,
            "the old session ended"
        );
        assert_eq!(sign_in(&s, "ann", PASSWORD, "10.0.0.1").await.0, 401);
        let (status, cookie) = sign_in(&s, "ann", "another-password-1", "10.0.0.1").await;
        assert_eq!(status, 303);
        let cookie = cookie.unwrap();
        assert_eq!(get_status(&s, &cookie, "/api/metrics").await, 200);

        // An admin sets a password (her sessions end), disables and enables her.
        let (status, _) = post_json(
            &s,
            admin,
            &format!("/api/users/{id}/password"),
            &json!({"password": "set-by-the-admin"}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(get_status(&s, &cookie, "/api/metrics").await, 401);
        let (_, cookie) = sign_in(&s, "ann", "set-by-the-admin", "10.0.0.1").await;
        let cookie = cookie.unwrap();
        let (status, body) = post_json(&s, admin, "/api/users/ann/disable", &Value::Null).await;
        assert_eq!((status, body["user"]["disabled"].as_bool()), (200, Some(true)));
        assert_eq!(
            get_status(&s, &cookie, "/api/metrics").await,
            401,
            "disabled: sessions end"
        );
        assert_eq!(sign_in(&s, "ann", "set-by-the-admin", "10.0.0.1").await.0, 401);
        assert_eq!(
            post_json(&s, admin, &format!("/api/users/{id}/enable"), &Value::Null)
                .await
                .0,
            200
        );
        assert_eq!(sign_in(&s, "ann", "set-by-the-admin", "10.0.0.1").await.0, 303);
        let list = get_json(&s, admin, "/api/users").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(!list.to_string().contains("argon2"), "no hash is ever sent: {list}");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guesses_are_limited_per_user_name_from_any_address() {
    let settings = detective_server::ServerSettings {
        failed_key_limit: 3,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    };
    let s = TestServer::start_with(Kind::SqliteFolder, settings, None).await;
    for name in ["ann", "bob"] {
        detective_ops::accounts::create(&s.state.db, name, Role::Viewer, PASSWORD)
            .await
            .unwrap();
    }
    // Three wrong passwords for ann, each from another address.
    for i in 1..=3 {
        assert_eq!(
            sign_in(&s, "ann", "not her password", &format!("10.0.1.{i}")).await.0,
            401
        );
    }
    // Her right password from a fourth address is held back; bob is not.
    assert_eq!(sign_in(&s, "Ann", PASSWORD, "10.0.1.4").await.0, 429);
    assert_eq!(sign_in(&s, "bob", PASSWORD, "10.0.1.5").await.0, 303);
}
