-- Training workers as they were last seen polling the queue (for /metrics:
-- workers alive); a worker busy with a job is seen through the job's heartbeat.
CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);
