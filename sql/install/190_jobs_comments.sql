-- Column comments of the jobs and training-progress objects (110_jobs.sql,
-- 150_progress.sql), kept here only because those files were being changed
-- by other work when the catalog_comments test arrived.  Fold each comment
-- in next to its object and delete this file (and its upgrade link,
-- sql/upgrade/personalize--0.2.0--0.3.0/069_jobs_comments.sql).

COMMENT ON COLUMN job_kinds.kind IS 'the kind''s name, as jobs.kind spells it';
COMMENT ON COLUMN job_kinds.handler IS 'the function that does the work: handler(job personalize.jobs) RETURNS jsonb';
COMMENT ON COLUMN job_kinds.description IS 'what a job of the kind does';
COMMENT ON COLUMN job_kinds.builtin IS 'installed by the extension (not dumped)';

COMMENT ON COLUMN jobs.job_name IS 'the job''s name';
COMMENT ON COLUMN jobs.kind IS 'what it does (personalize.job_kinds)';
COMMENT ON COLUMN jobs.schedule IS 'how often it runs';
COMMENT ON COLUMN jobs.params IS 'its parameters, passed to the handler (a purpose named here must be one its owner may act under)';
COMMENT ON COLUMN jobs.enabled IS 'false: never run by the scheduler or run_jobs() (run_job() still runs it)';
COMMENT ON COLUMN jobs.owner IS 'the role the job acts for: the caller of schedule_job(), or of the last alter_job() that changed its parameters';
COMMENT ON COLUMN jobs.next_run IS 'when it is due next';
COMMENT ON COLUMN jobs.last_started IS 'when the last run started';
COMMENT ON COLUMN jobs.last_finished IS 'when the last run ended';
COMMENT ON COLUMN jobs.last_status IS 'succeeded, skipped or failed';
COMMENT ON COLUMN jobs.last_error IS 'the error of the last run, if it failed';
COMMENT ON COLUMN jobs.last_result IS 'what the last successful or skipped run returned (the handler''s state between runs)';
COMMENT ON COLUMN jobs.runs IS 'runs so far';
COMMENT ON COLUMN jobs.failures IS 'failed runs so far';
COMMENT ON COLUMN jobs.consecutive_failures IS 'failures since the last success (retries back off with it)';
COMMENT ON COLUMN jobs.builtin IS 'installed by the extension: it can be disabled, not removed';

COMMENT ON COLUMN job_runs.run_id IS 'order of the runs';
COMMENT ON COLUMN job_runs.job_name IS 'the job';
COMMENT ON COLUMN job_runs.runner IS 'worker (the background scheduler) or session (run_jobs(), run_job())';
COMMENT ON COLUMN job_runs.pid IS 'the process that ran it';
COMMENT ON COLUMN job_runs.started_at IS 'when it started';
COMMENT ON COLUMN job_runs.finished_at IS 'when it ended';
COMMENT ON COLUMN job_runs.status IS 'succeeded, skipped or failed';
COMMENT ON COLUMN job_runs.result IS 'what the handler returned';
COMMENT ON COLUMN job_runs.error IS 'the error message of a failed run';
COMMENT ON COLUMN job_runs.sqlstate IS 'the SQLSTATE of a failed run';

COMMENT ON COLUMN training_progress.pid IS 'the backend training';
COMMENT ON COLUMN training_progress.purpose IS 'the purpose trained for';
COMMENT ON COLUMN training_progress.algorithm IS 'als, itemknn or popularity';
COMMENT ON COLUMN training_progress.model_id IS 'the model version being trained';
COMMENT ON COLUMN training_progress.phase IS 'reading, splitting, tuning, fitting, evaluating or storing';
COMMENT ON COLUMN training_progress.iteration IS 'the ALS iteration under way';
COMMENT ON COLUMN training_progress.iterations IS 'the ALS iterations in all';
COMMENT ON COLUMN training_progress.rows_read IS 'interactions read so far';
COMMENT ON COLUMN training_progress.started_at IS 'when training started';
COMMENT ON COLUMN training_progress.elapsed IS 'time since it started';
COMMENT ON COLUMN training_progress.in_phase IS 'time spent in the current phase';
