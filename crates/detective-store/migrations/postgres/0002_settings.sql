-- Settings changed at run time from the dashboard (e.g. thresholds), as JSON per key.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
