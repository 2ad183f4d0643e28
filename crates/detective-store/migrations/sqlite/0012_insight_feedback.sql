-- Grounded insights written by a language model: each answer kept with the
-- prompt and the figures it was written from, and the sentences people marked
-- wrong, for review.
CREATE TABLE insight_answers (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    answer      TEXT NOT NULL,
    facts       TEXT NOT NULL,
    sentences   TEXT NOT NULL,
    rejected    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX insight_answers_time ON insight_answers (created_at);

CREATE TABLE insight_feedback (
    id          INTEGER PRIMARY KEY,
    answer_id   BIGINT REFERENCES insight_answers (id),
    source      TEXT NOT NULL,
    sentence    TEXT NOT NULL,
    facts       TEXT NOT NULL,
    note        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX insight_feedback_time ON insight_feedback (created_at);
