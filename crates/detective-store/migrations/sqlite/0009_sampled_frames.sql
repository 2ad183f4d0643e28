-- Why a frame is in the labeling queue: 'uncertain' (a detection in its
-- class's band, as before) or the edge sampling strategy that sent it
-- ('class', 'more_than', 'random').
ALTER TABLE labeling_queue ADD COLUMN reason TEXT NOT NULL DEFAULT 'uncertain';
