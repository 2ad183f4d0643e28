//! `detective worker` processes sharing the machine's PostgreSQL queue and one
//! object-store folder: every job runs exactly once, and a job whose worker is
//! killed (SIGKILL) mid-training is re-queued and taken by the other worker.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::detective;
use detective_core::JobStatus;
use detective_store::training_jobs::{self, NewJob};
use detective_store::{Db, Objects};
use detective_vision::synth::{SynthConfig, generate};

/// Twelve labelled 64×64 parts (8 train, 4 val) as dataset 1 of project `steel`.
pub(crate) async fn seed(db: &Db, objects: &Objects) -> i64 {
    let cfg = SynthConfig {
        width: 64,
        height: 64,
        defect_rate: 0.9,
        ..SynthConfig::default()
    };
    let mut items = Vec::new();
    for i in 0..12u64 {
        let s = generate(&cfg, 5, i).unwrap();
        let png = detective_vision::encode::encode_png(&s.image).unwrap();
        let sha = format!("{:064x}", i + 1);
        let key = detective_store::keys::image("steel", &sha, "png");
        objects.put(&key, png.clone().into()).await.unwrap();
        let label = crate::common::synth_label_text(&s);
        let img = detective_store::images::NewImage {
            project: "steel".into(),
            object_key: key,
            sha256: sha,
            filename: format!("p{i}.png"),
            content_type: "image/png".into(),
            width: 64,
            height: 64,
            bytes: png.len() as u64,
            split: None,
            tags: vec![],
            label: None,
            mask_key: None,
        };
        let id = detective_store::images::insert(db, &img).await.unwrap().0.id;
        items.push(detective_store::datasets::DatasetItem {
            image_id: id,
            split: if i < 8 { "train" } else { "val" }.into(),
            label: Some(label),
            mask_key: None,
            label_rev: None,
        });
    }
    detective_store::datasets::create(
        db,
        "parts",
        "steel",
        detective_core::Task::Detect,
        &cfg.class_names(),
        &items,
        None,
    )
    .await
    .unwrap()
    .id
}

pub(crate) fn job(dataset: i64, epochs: i64) -> NewJob {
    let params = serde_json::json!({"dataset_id": dataset, "dataset_version": 1, "model": "t", "epochs": epochs,
        "imgsz": 64, "batch": 4, "close_mosaic": 1, "model_name": "detector"});
    NewJob {
        task: detective_core::Task::Detect,
        dataset_id: dataset,
        dataset_version: 1,
        model_name: "detector".into(),
        params,
        base_model: None,
        epochs,
        created_by: "test".into(),
        max_attempts: 3,
    }
}

fn worker(dir: &Path, name: &str, url: &str, objects: &Path) -> Child {
    detective(dir)
        .args(["--data-dir", name, "worker", "--database-url", url, "--object-store"])
        .arg(objects)
        .args([
            "--poll-secs",
            "0.2",
            "--heartbeat-secs",
            "0.5",
            "--stale-secs",
            "3",
            "--threads",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn detective worker")
}

async fn wait_for<F: Fn(&[training_jobs::Job]) -> bool>(
    db: &Db,
    what: &str,
    secs: u64,
    done: F,
) -> Vec<training_jobs::Job> {
    let start = Instant::now();
    loop {
        let jobs = training_jobs::list(db, None, None, 100).await.unwrap();
        if done(&jobs) {
            return jobs;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}: {jobs:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_run_each_job_once_and_retry_the_job_of_a_killed_worker() {
    let dir = tempfile::tempdir().unwrap();
    let url = detective_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL on 127.0.0.1:5432, database test");
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let objects_dir = dir.path().join("objects");
    let objects = Objects::local(&objects_dir).unwrap();
    let ds = seed(&db, &objects).await;

    // Four short jobs, two workers: each job once.
    for _ in 0..4 {
        training_jobs::create(&db, &job(ds, 2)).await.unwrap();
    }
    let mut a = worker(dir.path(), "a", &url, &objects_dir);
    let mut b = worker(dir.path(), "b", &url, &objects_dir);
    let jobs = wait_for(&db, "four jobs succeed", 600, |j| {
        j.iter().all(|j| j.status == JobStatus::Succeeded)
    })
    .await;
    for j in &jobs {
        assert_eq!(j.attempts, 1, "job {} ran more than once", j.id);
        assert_eq!(j.log.matches("taken by").count(), 1, "{}", j.log);
        assert_eq!(j.history.as_array().unwrap().len(), 2);
        let best = format!("{}/weights/best.bpk", j.artifact_key.as_deref().unwrap());
        assert!(objects.exists(&best).await.unwrap(), "{best}");
    }

    // A long job: kill whichever worker has it, the other re-queues and takes it.
    let long = training_jobs::create(&db, &job(ds, 500)).await.unwrap();
    let running = wait_for(&db, "the long job runs an epoch", 300, |j| {
        j.iter()
            .any(|j| j.id == long.id && j.status == JobStatus::Running && j.epoch >= 1)
    })
    .await;
    let owner = running
        .iter()
        .find(|j| j.id == long.id)
        .unwrap()
        .worker
        .clone()
        .unwrap();
    let (victim, survivor) = if owner.contains(&format!(":{}:", a.id())) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    assert!(owner.contains(&format!(":{}:", victim.id())), "{owner}");
    victim.kill().unwrap(); // SIGKILL: no goodbye, the heartbeat just stops
    victim.wait().unwrap();
    let retried = wait_for(&db, "the other worker takes the job over", 120, |j| {
        j.iter()
            .any(|j| j.id == long.id && j.status == JobStatus::Running && j.attempts == 2)
    })
    .await;
    let j = retried.iter().find(|j| j.id == long.id).unwrap();
    assert!(j.worker.as_deref().unwrap().contains(&format!(":{}:", survivor.id())));
    assert!(j.log.contains("stopped answering: job re-queued"), "{}", j.log);
    training_jobs::request_stop(&db, long.id).await.unwrap();
    let jobs = wait_for(&db, "the retried job stops on request", 120, |j| {
        j.iter().any(|j| j.id == long.id && j.status == JobStatus::Stopped)
    })
    .await;
    let j = jobs.iter().find(|j| j.id == long.id).unwrap();
    assert_eq!(j.log.matches("taken by").count(), 2, "{}", j.log);
    survivor.kill().unwrap();
    let _ = survivor.wait();
}
