-- Annotations made in the app: every save of an image's labels is a revision
-- (boxes and polygons as JSON with where each came from, the YOLO label text
-- derived from the boxes, the brush layer and the combined mask); the image
-- row points at its newest revision and says whether it is unlabelled,
-- labelled or reviewed; a dataset version pins the revision of each image.
-- Each project has a class list with a colour and an icon per class.
CREATE TABLE image_labels (
    id         INTEGER PRIMARY KEY,
    image_id   BIGINT NOT NULL REFERENCES images (id),
    revision   BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('labelled', 'reviewed')),
    shapes     TEXT NOT NULL,
    label      TEXT NOT NULL,
    mask_key   TEXT,
    brush_key  TEXT,
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (image_id, revision)
);
ALTER TABLE images ADD COLUMN label_rev BIGINT;
ALTER TABLE images ADD COLUMN label_status TEXT NOT NULL DEFAULT 'unlabelled';
UPDATE images SET label_status = 'labelled' WHERE label IS NOT NULL OR mask_key IS NOT NULL;
CREATE INDEX images_label_status ON images (project, label_status, id);
ALTER TABLE dataset_items ADD COLUMN label_rev BIGINT;

CREATE TABLE project_classes (
    project TEXT NOT NULL,
    idx     BIGINT NOT NULL,
    name    TEXT NOT NULL,
    color   TEXT NOT NULL,
    icon    TEXT NOT NULL,
    PRIMARY KEY (project, idx)
);
