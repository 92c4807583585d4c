-- Progress of running training, called by hand or by a job.

CREATE FUNCTION training_progress(
	OUT pid integer, OUT purpose text, OUT algorithm text, OUT model_id bigint,
	OUT phase text, OUT iteration integer, OUT iterations integer, OUT rows_read bigint,
	OUT started_at timestamptz, OUT elapsed interval, OUT in_phase interval)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'pz_training_progress' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION training_progress() IS
	'every train_model() running in this database: phase, ALS iteration, rows read, time (details of other roles'' training need pg_read_all_stats)';

CREATE VIEW training_progress AS SELECT * FROM training_progress();
COMMENT ON VIEW training_progress IS
	'running training in this database: phase (reading, splitting, tuning, fitting, evaluating, checking privacy, storing), iteration i of n, rows read, elapsed time';
COMMENT ON COLUMN training_progress.pid IS 'the backend training';
COMMENT ON COLUMN training_progress.purpose IS 'the purpose trained for';
COMMENT ON COLUMN training_progress.algorithm IS 'als, ease, itemknn, rp3beta or popularity';
COMMENT ON COLUMN training_progress.model_id IS 'the model version being trained';
COMMENT ON COLUMN training_progress.phase IS 'reading, splitting, tuning, fitting, evaluating, checking privacy (the membership-inference check) or storing';
COMMENT ON COLUMN training_progress.iteration IS 'the ALS iteration under way';
COMMENT ON COLUMN training_progress.iterations IS 'the ALS iterations in all';
COMMENT ON COLUMN training_progress.rows_read IS 'interactions read so far';
COMMENT ON COLUMN training_progress.started_at IS 'when training started';
COMMENT ON COLUMN training_progress.elapsed IS 'time since it started';
COMMENT ON COLUMN training_progress.in_phase IS 'time spent in the current phase';

-- Like pg_stat_progress_*: everyone sees that training runs, only its role
-- (or pg_read_all_stats) sees what it is.
GRANT SELECT ON training_progress TO PUBLIC;
