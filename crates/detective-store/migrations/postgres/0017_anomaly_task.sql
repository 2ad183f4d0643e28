-- Anomaly models (trained on good parts only) are a third task: training jobs
-- may be of it.
ALTER TABLE training_jobs DROP CONSTRAINT IF EXISTS training_jobs_task_check;
ALTER TABLE training_jobs ADD CONSTRAINT training_jobs_task_check
    CHECK (task IN ('detect', 'segment', 'anomaly'));
