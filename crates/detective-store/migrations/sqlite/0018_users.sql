-- Named user accounts beside API keys: the dashboard's sign-in takes a user
-- name and password (an Argon2id hash is kept, never the password). Labels,
-- promotions and deletions made in a user's session record the user's name.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash       TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    disabled_at         BIGINT
);
