//! The object store against a local folder and against a real S3-protocol
//! server (s3s-fs on loopback), through the same calls.

use detective_store::testing::S3Server;
use detective_store::{Objects, StoreError, keys};

async fn exercise(objects: Objects) {
    objects.ping().await.unwrap();
    let img = keys::image("steel", &"ab".repeat(32), "png");
    let frame = keys::frame(
        "steel",
        "line1-cam2",
        "2026-11-24",
        "00000000-0000-4000-8000-000000000001",
    );
    assert!(!objects.exists(&img).await.unwrap());
    assert!(matches!(objects.get(&img).await, Err(StoreError::NotFound { .. })));
    objects
        .put(&img, bytes::Bytes::from_static(b"png bytes"))
        .await
        .unwrap();
    objects.put(&frame, bytes::Bytes::from_static(b"jpeg")).await.unwrap();
    assert!(objects.exists(&img).await.unwrap());
    assert_eq!(&objects.get(&img).await.unwrap()[..], b"png bytes");
    objects.put(&img, bytes::Bytes::from_static(b"replaced")).await.unwrap();
    assert_eq!(&objects.get(&img).await.unwrap()[..], b"replaced");
    assert_eq!(
        objects.list("projects/steel").await.unwrap(),
        vec![frame.clone(), img.clone()]
    );
    assert_eq!(
        objects.list("projects/steel/frames/").await.unwrap(),
        vec![frame.clone()]
    );
    for bad in ["../etc/passwd", "/etc/passwd", "projects/../x", ""] {
        assert!(
            matches!(objects.put(bad, bytes::Bytes::new()).await, Err(StoreError::Invalid(_))),
            "{bad}"
        );
    }
    objects.delete(&img).await.unwrap();
    objects.delete(&img).await.unwrap();
    assert!(!objects.exists(&img).await.unwrap());
}

#[tokio::test]
async fn local_folder_stores_lists_and_deletes_objects() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::from_url("", dir.path()).unwrap();
    assert_eq!(objects.kind(), "local");
    exercise(objects).await;
    assert!(
        !dir.path()
            .join("projects/steel/images")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
}

#[tokio::test]
async fn s3_server_stores_lists_and_deletes_objects() {
    let s3 = S3Server::start().unwrap();
    let objects = Objects::s3(&s3.config("run1")).unwrap();
    assert_eq!(objects.kind(), "s3");
    exercise(objects).await;
}

#[tokio::test]
async fn s3_prefixes_keep_stores_apart() {
    let s3 = S3Server::start().unwrap();
    let a = Objects::s3(&s3.config("a")).unwrap();
    let b = Objects::s3(&s3.config("b")).unwrap();
    a.put("models/m/v1/metrics.json", bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert!(!b.exists("models/m/v1/metrics.json").await.unwrap());
    assert!(b.list("models").await.unwrap().is_empty());
}

#[tokio::test]
async fn s3_with_wrong_credentials_fails_clearly() {
    let s3 = S3Server::start().unwrap();
    let mut cfg = s3.config("x");
    cfg.credentials = Some(("detective".into(), "wrong".into()));
    let objects = Objects::s3(&cfg).unwrap();
    assert!(objects.put("a/b", bytes::Bytes::from_static(b"1")).await.is_err());
}
