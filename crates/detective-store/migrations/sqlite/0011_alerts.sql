-- Alerts: rules (a condition and where to send it), the events they fired
-- (with the key that deduplicates them), and one delivery per event and
-- channel with its attempts, so a webhook or broker that is down gets the event
-- later and the log shows what happened.
CREATE TABLE alert_rules (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY,
    rule_id     BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    title       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX alert_events_rule_key ON alert_events (rule_id, key, created_at);
CREATE INDEX alert_events_time ON alert_events (created_at);

CREATE TABLE alert_deliveries (
    id          INTEGER PRIMARY KEY,
    event_id    BIGINT NOT NULL REFERENCES alert_events (id),
    channel     TEXT NOT NULL,
    target      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    done_at     BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_at);
CREATE INDEX alert_deliveries_event ON alert_deliveries (event_id);

ALTER TABLE cameras ADD COLUMN spool_percent DOUBLE PRECISION;
