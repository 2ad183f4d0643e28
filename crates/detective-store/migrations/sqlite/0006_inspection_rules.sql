-- Inspection rules (per-class thresholds and bands, zones) per scope: a model
-- version, a camera, both, or neither (an empty text means "any").
CREATE TABLE inspection_rules (
    model      TEXT NOT NULL DEFAULT '',
    camera     TEXT NOT NULL DEFAULT '',
    rules      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (model, camera)
);
