-- Background workers (src/jobs/): a launcher per cluster starts a scheduler
-- in each database that has this extension, which runs the due jobs of
-- personalize.jobs.  They run only when the library is in
-- shared_preload_libraries; personalize.run_jobs() is the alternative.

-- The launcher and the schedulers, from shared memory.  Like
-- pg_stat_activity's query column, what other databases' schedulers are
-- doing is shown only to roles with pg_read_all_stats; any other role sees
-- the launcher and its own database's scheduler (the function filters, so
-- no view or grant can widen it).
CREATE FUNCTION worker_status(
	OUT kind text, OUT datid oid, OUT datname name, OUT pid integer, OUT state text,
	OUT job text, OUT job_started timestamptz, OUT started_at timestamptz,
	OUT last_heartbeat timestamptz, OUT jobs_run bigint, OUT jobs_failed bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'pz_worker_status' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION worker_status() IS
	'the personalize launcher and the schedulers (of every database for pg_read_all_stats, else of this one): state, current job, heartbeat, jobs run and failed since start; no rows unless personalize is in shared_preload_libraries';

CREATE VIEW worker_status AS
	SELECT w.kind, w.datid, w.datname, w.pid, w.state, w.job, w.job_started,
	       w.started_at, w.last_heartbeat, w.jobs_run, w.jobs_failed
	  FROM @extschema@.worker_status() w
	 WHERE w.kind = 'launcher'
	    OR w.datid = (SELECT d.oid FROM pg_catalog.pg_database d
	                   WHERE d.datname = pg_catalog.current_database());
COMMENT ON VIEW worker_status IS
	'the personalize launcher and this database''s scheduler: state, current job, heartbeat, jobs run and failed since start';
GRANT SELECT ON worker_status TO PUBLIC;
COMMENT ON COLUMN worker_status.kind IS 'launcher (one per cluster) or scheduler (one per database)';
COMMENT ON COLUMN worker_status.datid IS 'the scheduler''s database (NULL for the launcher)';
COMMENT ON COLUMN worker_status.datname IS 'the scheduler''s database name (NULL for the launcher)';
COMMENT ON COLUMN worker_status.pid IS 'process id, as in pg_stat_activity (NULL while starting)';
COMMENT ON COLUMN worker_status.state IS 'idle, running job, waiting for extension update, not coordinator, waiting for extension lock, starting, stopping; the launcher: idle or scanning databases';
COMMENT ON COLUMN worker_status.job IS 'the job being run, while one runs';
COMMENT ON COLUMN worker_status.job_started IS 'when the job being run started';
COMMENT ON COLUMN worker_status.started_at IS 'when the process started';
COMMENT ON COLUMN worker_status.last_heartbeat IS 'the end of its latest look at the jobs (or the databases), or the start of the running job';
COMMENT ON COLUMN worker_status.jobs_run IS 'jobs run since the process started (runs another session made are not counted)';
COMMENT ON COLUMN worker_status.jobs_failed IS 'jobs that failed since the process started (their errors are in personalize.jobs and job_runs)';

-- For functions that change a job's schedule: the scheduler looks again
-- when the calling transaction commits instead of at its next wake-up.
CREATE FUNCTION wake_scheduler() RETURNS void
	AS 'MODULE_PATHNAME', 'pz_wake_scheduler_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION wake_scheduler() IS
	'make this database''s scheduler look at its jobs when the current transaction commits';
REVOKE ALL ON FUNCTION wake_scheduler() FROM PUBLIC;
