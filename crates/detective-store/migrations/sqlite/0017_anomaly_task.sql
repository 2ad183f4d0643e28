-- Anomaly models (trained on good parts only) are a third task: training jobs
-- may be of it. SQLite cannot change a CHECK in place: the table is rebuilt.

CREATE TABLE training_jobs_new (
    id              INTEGER PRIMARY KEY,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'stopped')),
    task            TEXT NOT NULL CHECK (task IN ('detect', 'segment', 'anomaly')),
    dataset_id      BIGINT NOT NULL REFERENCES datasets (id),
    dataset_version BIGINT NOT NULL,
    model_name      TEXT NOT NULL,
    params          TEXT NOT NULL,
    base_model      TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    heartbeat_at    BIGINT,
    worker          TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL DEFAULT 3,
    stop_requested  BIGINT NOT NULL DEFAULT 0,
    epoch           BIGINT NOT NULL DEFAULT 0,
    epochs          BIGINT NOT NULL,
    history         TEXT NOT NULL DEFAULT '[]',
    progress        TEXT NOT NULL DEFAULT '{}',
    metrics         TEXT NOT NULL DEFAULT '{}',
    log             TEXT NOT NULL DEFAULT '',
    error           TEXT,
    artifact_key    TEXT,
    updated_at      BIGINT NOT NULL
);
INSERT INTO training_jobs_new SELECT * FROM training_jobs;
DROP TABLE training_jobs;
ALTER TABLE training_jobs_new RENAME TO training_jobs;
CREATE INDEX training_jobs_status ON training_jobs (status, id);
