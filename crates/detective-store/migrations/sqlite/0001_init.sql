-- Defect Detective schema, SQLite dialect. migrations/postgres/0001_init.sql is the
-- same schema for PostgreSQL: keep the two in step (tests run every repository
-- function on both). Times are milliseconds since the Unix epoch (UTC); flags are
-- 0/1 integers; JSON is stored as text.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'device', 'viewer')),
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE cameras (
    id           TEXT PRIMARY KEY,
    project      TEXT NOT NULL,
    name         TEXT,
    line         TEXT,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    fps          DOUBLE PRECISION,
    inference_ms DOUBLE PRECISION
);

CREATE TABLE prediction_logs (
    id             TEXT PRIMARY KEY,
    camera_id      TEXT NOT NULL,
    project        TEXT NOT NULL,
    captured_at    BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    model_version  TEXT NOT NULL,
    n_detections   BIGINT NOT NULL,
    max_confidence DOUBLE PRECISION NOT NULL,
    defective      BIGINT NOT NULL,
    uncertain      BIGINT NOT NULL,
    classes        TEXT NOT NULL,
    detections     TEXT NOT NULL,
    features       TEXT NOT NULL,
    frame_key      TEXT
);
CREATE INDEX prediction_logs_time ON prediction_logs (captured_at, id);
CREATE INDEX prediction_logs_camera_time ON prediction_logs (camera_id, captured_at, id);
CREATE INDEX prediction_logs_received ON prediction_logs (received_at);

CREATE TABLE labeling_queue (
    id            INTEGER PRIMARY KEY,
    prediction_id TEXT NOT NULL UNIQUE REFERENCES prediction_logs (id),
    camera_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    margin        DOUBLE PRECISION NOT NULL,
    frame_key     TEXT,
    updated_at    BIGINT
);
CREATE INDEX labeling_queue_status ON labeling_queue (status, created_at);

CREATE TABLE images (
    id           INTEGER PRIMARY KEY,
    project      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    object_key   TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    split        TEXT,
    tags         TEXT NOT NULL DEFAULT '[]',
    label        TEXT,
    created_at   BIGINT NOT NULL,
    UNIQUE (project, sha256)
);

CREATE TABLE datasets (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    project    TEXT NOT NULL,
    task       TEXT NOT NULL DEFAULT 'detect',
    classes    TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    UNIQUE (project, name)
);

CREATE TABLE dataset_versions (
    id         INTEGER PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    version    BIGINT NOT NULL,
    note       TEXT,
    n_images   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (dataset_id, version)
);

CREATE TABLE dataset_items (
    version_id BIGINT NOT NULL REFERENCES dataset_versions (id),
    image_id   BIGINT NOT NULL REFERENCES images (id),
    split      TEXT NOT NULL,
    label      TEXT,
    PRIMARY KEY (version_id, image_id)
);

CREATE TABLE models (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    task       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE model_versions (
    id                 INTEGER PRIMARY KEY,
    model_id           BIGINT NOT NULL REFERENCES models (id),
    version            BIGINT NOT NULL,
    stage              TEXT NOT NULL DEFAULT 'None',
    metrics            TEXT NOT NULL DEFAULT '{}',
    params             TEXT NOT NULL DEFAULT '{}',
    artifact_key       TEXT NOT NULL,
    dataset_version_id BIGINT,
    created_at         BIGINT NOT NULL,
    UNIQUE (model_id, version)
);
