-- Failed API-key checks per client address: the login limiter's state, shared by
-- every replica (a client refused by one is refused by all).
CREATE TABLE auth_failures (
    client  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX auth_failures_client ON auth_failures (client, at);
