-- Who changed what, when, from where: every successful change made with an
-- operator or admin key (or such a dashboard session), for GET /api/audit.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    status      BIGINT NOT NULL,
    client      TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
