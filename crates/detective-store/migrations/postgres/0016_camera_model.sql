-- What each camera's agent last reported beyond its speed: the frames its
-- pipeline dropped since it started, and the model (name@version) of its latest
-- prediction, for /metrics.
ALTER TABLE cameras ADD COLUMN dropped_frames DOUBLE PRECISION;
ALTER TABLE cameras ADD COLUMN model TEXT;
