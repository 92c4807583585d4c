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

-- For functions that change a job's schedule: the scheduler looks again
-- when the calling transaction commits instead of at its next wake-up.
CREATE FUNCTION wake_scheduler() RETURNS void
	AS 'MODULE_PATHNAME', 'pz_wake_scheduler_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION wake_scheduler() IS
	'make this database''s scheduler look at its jobs when the current transaction commits';
REVOKE ALL ON FUNCTION wake_scheduler() FROM PUBLIC;
