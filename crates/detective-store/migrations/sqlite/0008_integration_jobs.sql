-- Background jobs of the integrations (Roboflow push and pull): status,
-- progress, the result or the error, and a cancel flag the job polls.
CREATE TABLE integration_jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params      TEXT NOT NULL,
    done        BIGINT NOT NULL DEFAULT 0,
    total       BIGINT NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    result      TEXT,
    cancel      BIGINT NOT NULL DEFAULT 0,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX integration_jobs_kind ON integration_jobs (kind, id);

-- What a push sent to Roboflow, per image and Roboflow project: a re-push skips
-- images sent with the same labels, and re-annotates those whose labels changed.
CREATE TABLE roboflow_pushed (
    target      TEXT NOT NULL,
    image_id    BIGINT NOT NULL,
    roboflow_id TEXT NOT NULL,
    label_sha   TEXT NOT NULL,
    pushed_at   BIGINT NOT NULL,
    PRIMARY KEY (target, image_id)
);
