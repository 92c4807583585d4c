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
	'running training in this database: phase (reading, splitting, tuning, fitting, evaluating, storing), iteration i of n, rows read, elapsed time';
-- Like pg_stat_progress_*: everyone sees that training runs, only its role
-- (or pg_read_all_stats) sees what it is.
GRANT SELECT ON training_progress TO PUBLIC;
