-- The MLflow outbox: what is to be sent to MLflow (runs, metrics, artifacts,
-- model versions, aliases), in order, kept until delivered so an MLflow that
-- is down never fails or slows a training job; the links from our jobs and
-- model versions to MLflow's runs and versions; and the lease that lets one
-- server replica at a time deliver.
CREATE TABLE mlflow_outbox (
    id          INTEGER PRIMARY KEY,
    subject     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    done_at     BIGINT
);
CREATE INDEX mlflow_outbox_status ON mlflow_outbox (status, id);
CREATE INDEX mlflow_outbox_subject ON mlflow_outbox (subject, status);

CREATE TABLE mlflow_links (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE mlflow_lease (
    id          BIGINT PRIMARY KEY,
    holder      TEXT NOT NULL,
    until_ms    BIGINT NOT NULL
);
INSERT INTO mlflow_lease (id, holder, until_ms) VALUES (1, '', 0);
