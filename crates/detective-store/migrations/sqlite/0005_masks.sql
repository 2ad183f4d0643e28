-- Segmentation masks: the mask an image has (a binary PNG in the object store,
-- under projects/{project}/masks/{sha256}.png) and the mask each dataset version
-- holds for its image (a version keeps the mask it was made with).
ALTER TABLE images ADD COLUMN mask_key TEXT;
ALTER TABLE dataset_items ADD COLUMN mask_key TEXT;
