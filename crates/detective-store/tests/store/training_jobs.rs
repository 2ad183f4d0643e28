//! The training-job queue against SQLite and the machine's PostgreSQL: each job
//! is taken once however many runners race, heartbeats carry stop requests, a
//! dead runner's job goes back to the queue and its late writes are refused.

use std::collections::BTreeSet;

use detective_core::{JobStatus, Task};
use detective_store::datasets::{self, DatasetItem};
use detective_store::images::{self, NewImage};
use detective_store::training_jobs::{self, Beat, NewJob, Outcome};
use detective_store::{Db, StoreError};

async fn dataset(db: &Db) -> i64 {
    let sha = format!("{:064x}", 7);
    let img = NewImage {
        project: "steel".into(),
        object_key: detective_store::keys::image("steel", &sha, "png"),
        sha256: sha,
        filename: "a.png".into(),
        content_type: "image/png".into(),
        width: 64,
        height: 48,
        bytes: 10,
        split: None,
        tags: vec![],
        label: None,
        mask_key: None,
    };
    let id = images::insert(db, &img).await.unwrap().0.id;
    let item = DatasetItem {
        image_id: id,
        split: "train".into(),
        label: None,
        mask_key: None,
        label_rev: None,
    };
    datasets::create(db, "parts", "steel", Task::Detect, &["scratch".into()], &[item], None)
        .await
        .unwrap()
        .id
}

fn new_job(dataset_id: i64) -> NewJob {
    NewJob {
        task: Task::Detect,
        dataset_id,
        dataset_version: 1,
        model_name: "line-model".into(),
        params: serde_json::json!({"model": "t", "imgsz": 64}),
        base_model: None,
        epochs: 2,
        created_by: "tester".into(),
        max_attempts: 2,
    }
}

on_both!(racing_runners_take_each_job_exactly_once, |db: Db| async move {
    let ds = dataset(&db).await;
    let mut ids = BTreeSet::new();
    for _ in 0..6 {
        ids.insert(training_jobs::create(&db, &new_job(ds)).await.unwrap().id);
    }
    let mut runners = Vec::new();
    for r in 0..4 {
        let db = db.clone();
        runners.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = training_jobs::claim(&db, &format!("runner-{r}")).await.unwrap() {
                assert_eq!(job.status, JobStatus::Running);
                assert_eq!(job.attempts, 1);
                got.push(job.id);
            }
            got
        }));
    }
    let mut taken = Vec::new();
    for r in runners {
        taken.extend(r.await.unwrap());
    }
    taken.sort();
    assert_eq!(taken, ids.into_iter().collect::<Vec<_>>(), "every job once, none twice");
});

on_both!(
    a_stop_request_reaches_the_runner_and_a_queued_job_stops_at_once,
    |db: Db| async move {
        let ds = dataset(&db).await;
        let a = training_jobs::create(&db, &new_job(ds)).await.unwrap();
        let b = training_jobs::create(&db, &new_job(ds)).await.unwrap();
        let job = training_jobs::claim(&db, "w1").await.unwrap().unwrap();
        assert_eq!(job.id, a.id, "oldest first");
        assert_eq!(
            training_jobs::heartbeat(&db, a.id, "w1", &serde_json::json!({"batch": 3}))
                .await
                .unwrap(),
            Beat::Running
        );
        let row = serde_json::json!({"epoch": 1, "box_loss": 1.5});
        training_jobs::record_epoch(&db, a.id, "w1", 1, &row).await.unwrap();
        training_jobs::append_log(&db, a.id, "w1", "epoch 1 done")
            .await
            .unwrap();
        training_jobs::request_stop(&db, a.id).await.unwrap();
        assert_eq!(
            training_jobs::heartbeat(&db, a.id, "w1", &serde_json::json!({"batch": 3}))
                .await
                .unwrap(),
            Beat::StopRequested
        );
        let stopped = training_jobs::request_stop(&db, b.id).await.unwrap();
        assert_eq!(
            stopped.status,
            JobStatus::Stopped,
            "a queued job needs no runner to stop"
        );
        assert!(training_jobs::claim(&db, "w2").await.unwrap().is_none());
        let out = Outcome {
            status: JobStatus::Stopped,
            metrics: serde_json::json!({}),
            artifact_key: Some(format!("training/{}", a.id)),
            error: None,
        };
        assert!(training_jobs::finish(&db, a.id, "w1", &out).await.unwrap());
        let a = training_jobs::get(&db, a.id).await.unwrap();
        assert_eq!((a.status.as_str(), a.epoch), ("stopped", 1));
        assert_eq!(a.progress, serde_json::json!({"batch": 3}));
        assert_eq!(a.history, serde_json::json!([row]));
        assert_eq!(a.log, "epoch 1 done\n");
        assert!(matches!(
            training_jobs::request_stop(&db, a.id).await,
            Err(StoreError::Conflict(_))
        ));
        let listed = training_jobs::list(&db, Some(JobStatus::Stopped), None, 10)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        assert!("sleeping".parse::<JobStatus>().is_err(), "no status sleeping to list");
    }
);

on_both!(
    a_dead_runners_job_is_requeued_then_failed_after_its_attempts,
    |db: Db| async move {
        let ds = dataset(&db).await;
        let job = training_jobs::create(&db, &new_job(ds)).await.unwrap();
        training_jobs::claim(&db, "dead-1").await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            training_jobs::requeue_stale(&db, 60_000).await.unwrap().is_empty(),
            "fresh heartbeat"
        );
        assert_eq!(training_jobs::requeue_stale(&db, 5).await.unwrap(), vec![job.id]);
        let j = training_jobs::get(&db, job.id).await.unwrap();
        assert_eq!((j.status.as_str(), j.worker.as_deref()), ("queued", None));
        assert!(j.log.contains("re-queued"), "{}", j.log);
        assert_eq!(
            training_jobs::heartbeat(&db, job.id, "dead-1", &serde_json::json!({}))
                .await
                .unwrap(),
            Beat::Lost
        );
        let out = Outcome {
            status: JobStatus::Succeeded,
            metrics: serde_json::json!({}),
            artifact_key: None,
            error: None,
        };
        assert!(
            !training_jobs::finish(&db, job.id, "dead-1", &out).await.unwrap(),
            "a lost job is not finished by its old runner"
        );

        let again = training_jobs::claim(&db, "dead-2").await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (job.id, 2));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        training_jobs::requeue_stale(&db, 5).await.unwrap();
        let j = training_jobs::get(&db, job.id).await.unwrap();
        assert_eq!(j.status, JobStatus::Failed, "two attempts were all it had");
        assert!(j.error.unwrap().contains("2 of 2 attempts"));
    }
);
