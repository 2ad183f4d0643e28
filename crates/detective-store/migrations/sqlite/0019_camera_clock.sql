-- How far each camera's agent clock was from the server's at its last
-- report (seconds, ahead positive): its captured_at times carry that error.
ALTER TABLE cameras ADD COLUMN clock_skew_s DOUBLE PRECISION;
