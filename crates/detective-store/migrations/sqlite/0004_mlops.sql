-- The MLOps loop: training jobs (a queue that in-process and `detective worker`
-- runners take from), retraining events, and drift reports.

CREATE TABLE training_jobs (
    id              INTEGER PRIMARY KEY,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'stopped')),
    task            TEXT NOT NULL CHECK (task IN ('detect', 'segment')),
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
CREATE INDEX training_jobs_status ON training_jobs (status, id);

CREATE TABLE retraining_events (
    id              INTEGER PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    conditions      TEXT NOT NULL,
    dataset_id      BIGINT,
    dataset_version BIGINT,
    job_id          BIGINT,
    outcome         TEXT NOT NULL DEFAULT 'pending',
    detail          TEXT,
    model_version   TEXT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX retraining_events_time ON retraining_events (created_at);

CREATE TABLE drift_reports (
    id            INTEGER PRIMARY KEY,
    created_at    BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    window_end    BIGINT NOT NULL,
    reference     TEXT NOT NULL,
    n_reference   BIGINT NOT NULL,
    n_current     BIGINT NOT NULL,
    drift_share   DOUBLE PRECISION NOT NULL,
    dataset_drift BIGINT NOT NULL,
    min_p_value   DOUBLE PRECISION,
    features      TEXT NOT NULL
);
CREATE INDEX drift_reports_time ON drift_reports (created_at);

-- When a version last became Production: rollback brings back the one before.
ALTER TABLE model_versions ADD COLUMN promoted_at BIGINT;
