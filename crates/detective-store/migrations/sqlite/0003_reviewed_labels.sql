-- Human labels of queued (uncertain) predictions: one row per queue item, with who and when.
CREATE TABLE reviewed_labels (
    id            INTEGER PRIMARY KEY,
    queue_id      BIGINT NOT NULL UNIQUE REFERENCES labeling_queue (id),
    prediction_id TEXT NOT NULL,
    labels        TEXT NOT NULL,
    defect_free   BIGINT NOT NULL,
    labeled_by    TEXT NOT NULL,
    labeled_at    BIGINT NOT NULL
);
CREATE INDEX reviewed_labels_time ON reviewed_labels (labeled_at);
CREATE INDEX labeling_queue_margin ON labeling_queue (status, margin, id);
