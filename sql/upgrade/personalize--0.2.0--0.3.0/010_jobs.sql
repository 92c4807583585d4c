-- Jobs: work the database does on its own (retraining, drift snapshots,
-- retention), run by the background scheduler of each database or by
-- run_jobs() from any session (cron, pg_cron).  A job kind names a handler
-- function (job personalize.jobs) RETURNS jsonb, which gets the job's row
-- (its params, owner, and last_result: state carried between runs); the
-- rights and privacy work adds kinds the same way.  A handler that decides
-- there is nothing to do returns an object with a "skipped" key saying why.

CREATE TABLE job_kinds (
	kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
	handler     regprocedure NOT NULL,
	description text NOT NULL,
	builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE job_kinds IS 'what a job can do: each kind names its handler function (job personalize.jobs) RETURNS jsonb';

CREATE TABLE jobs (
	job_name      text PRIMARY KEY CHECK (job_name ~ '^[a-z][a-z0-9_]{0,62}$'),
	kind          text NOT NULL REFERENCES job_kinds (kind) ON UPDATE CASCADE,
	schedule      interval NOT NULL CHECK (schedule >= interval '1 second'),
	params        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
	enabled       boolean NOT NULL DEFAULT true,
	owner         name NOT NULL,
	next_run      timestamptz NOT NULL DEFAULT now(),
	last_started  timestamptz,
	last_finished timestamptz,
	last_status   text CHECK (last_status IN ('succeeded', 'skipped', 'failed')),
	last_error    text,
	last_result   jsonb,
	runs          bigint NOT NULL DEFAULT 0,
	failures      bigint NOT NULL DEFAULT 0,
	consecutive_failures integer NOT NULL DEFAULT 0,
	builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE jobs IS 'scheduled jobs of this database: kind, schedule, parameters, owner and the outcome of the last run';

CREATE TABLE job_runs (
	run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_name    text NOT NULL REFERENCES jobs ON DELETE CASCADE ON UPDATE CASCADE,
	runner      text NOT NULL CHECK (runner IN ('worker', 'session')),
	pid         integer NOT NULL DEFAULT pg_backend_pid(),
	started_at  timestamptz,
	finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	status      text NOT NULL CHECK (status IN ('succeeded', 'skipped', 'failed')),
	result      jsonb,
	error       text,
	sqlstate    text
);
CREATE INDEX ON job_runs (job_name, run_id);
COMMENT ON TABLE job_runs IS 'the last runs of each job (personalize.job_history_size per job): who ran it, when, the result or the error';

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

SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['job_kinds', 'jobs', 'job_runs']::regclass[]) t;

-- pg_dump writes every job, built-in ones included, so that a built-in job
-- an administrator disabled stays disabled after a restore.  The restore
-- first runs CREATE EXTENSION, which inserts the built-in jobs again; this
-- trigger turns the restored copy into an update of that row.
CREATE FUNCTION jobs_merge_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.builtin AND EXISTS (SELECT 1 FROM @extschema@.jobs j WHERE j.job_name = NEW.job_name AND j.builtin) THEN
		UPDATE @extschema@.jobs j SET schedule = NEW.schedule, params = NEW.params, enabled = NEW.enabled,
		       owner = NEW.owner, next_run = NEW.next_run, last_started = NEW.last_started,
		       last_finished = NEW.last_finished, last_status = NEW.last_status,
		       last_error = NEW.last_error, last_result = NEW.last_result, runs = NEW.runs,
		       failures = NEW.failures, consecutive_failures = NEW.consecutive_failures
		 WHERE j.job_name = NEW.job_name;
		RETURN NULL;
	END IF;
	RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION jobs_merge_restored() FROM PUBLIC;
COMMENT ON FUNCTION jobs_merge_restored() IS 'trigger: a restored built-in job updates the one CREATE EXTENSION made instead of colliding with it';
CREATE TRIGGER merge_restored BEFORE INSERT ON jobs
	FOR EACH ROW EXECUTE FUNCTION jobs_merge_restored();

SELECT pg_catalog.pg_extension_config_dump('job_kinds', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('jobs', '');
SELECT pg_catalog.pg_extension_config_dump('job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('job_runs_run_id_seq', '');

CREATE FUNCTION check_job_kind(kind text) RETURNS regprocedure
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	handler regprocedure;
BEGIN
	SELECT k.handler INTO handler FROM @extschema@.job_kinds k WHERE k.kind = check_job_kind.kind;
	IF handler IS NULL THEN
		RAISE EXCEPTION 'job kind "%" does not exist', kind
			USING ERRCODE = 'undefined_object',
			      HINT = 'The kinds are listed in personalize.job_kinds.';
	END IF;
	RETURN handler;
END $$;
REVOKE ALL ON FUNCTION check_job_kind(text) FROM PUBLIC;
COMMENT ON FUNCTION check_job_kind(text) IS 'the handler of a job kind, or an error naming the kinds';

CREATE FUNCTION check_job_exists(job text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.jobs j WHERE j.job_name = job) THEN
		RAISE EXCEPTION 'job "%" does not exist', job
			USING ERRCODE = 'undefined_object',
			      HINT = 'The jobs are listed in personalize.jobs.';
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_job_exists(text) FROM PUBLIC;
COMMENT ON FUNCTION check_job_exists(text) IS 'an error unless the job exists';

-- A job that acts under a purpose (its params name one) needs an owner who
-- may: checked when it is scheduled and again at every run, so revoking the
-- purpose stops the job.
CREATE FUNCTION check_job_owner(owner name, params jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF params ? 'purpose' THEN
		PERFORM @extschema@.check_purpose_exists(params ->> 'purpose');
		IF NOT @extschema@.may_act_for(owner, params ->> 'purpose') THEN
			RAISE EXCEPTION 'role "%" may not run jobs for purpose "%"', owner, params ->> 'purpose'
				USING ERRCODE = 'insufficient_privilege',
				      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).',
				                    owner, params ->> 'purpose');
		END IF;
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_job_owner(name, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION check_job_owner(name, jsonb) IS 'an error unless the job''s owner may act under the purpose its parameters name';

CREATE FUNCTION check_job_definition(job text, every interval, params jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF job !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid job name "%"', job
			USING ERRCODE = 'invalid_name',
			      HINT = 'A job name is a lower-case letter followed by up to 62 lower-case letters, digits or underscores.';
	END IF;
	IF every < interval '1 second' THEN
		RAISE EXCEPTION 'a job cannot run more often than once a second (asked: every %)', every
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION 'job parameters must be a JSON object, not %', jsonb_typeof(params)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example: ''{"purpose": "recommendation"}''.';
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_job_definition(text, interval, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION check_job_definition(text, interval, jsonb) IS 'an error unless a job''s name, schedule and parameters are valid';

CREATE FUNCTION schedule_job(job text, kind text, every interval, params jsonb DEFAULT '{}',
                             enabled boolean DEFAULT true, first_run timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF job IS NULL OR kind IS NULL OR every IS NULL THEN
		RAISE EXCEPTION 'job, kind and every must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_job_definition(job, every, coalesce(params, '{}'));
	PERFORM @extschema@.check_job_kind(kind);
	PERFORM @extschema@.check_job_owner(@extschema@.acting_role(), coalesce(params, '{}'));
	INSERT INTO @extschema@.jobs (job_name, kind, schedule, params, enabled, owner, next_run)
	VALUES (job, kind, every, coalesce(params, '{}'), coalesce(enabled, true),
	        @extschema@.acting_role(), coalesce(first_run, now()));
	PERFORM @extschema@.wake_scheduler();
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'job "%" already exists', job
		USING ERRCODE = 'duplicate_object',
		      HINT = 'Change it with personalize.alter_job(), or remove it with personalize.unschedule_job().';
END $$;
REVOKE ALL ON FUNCTION schedule_job(text, text, interval, jsonb, boolean, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION schedule_job(text, text, interval, jsonb, boolean, timestamptz) IS
	'add a job of a kind (see job_kinds) that runs every interval, first at first_run (default now); the caller becomes its owner (the scheduler looks at it when the transaction commits)';

CREATE FUNCTION alter_job(job text, every interval DEFAULT NULL, params jsonb DEFAULT NULL,
                          enabled boolean DEFAULT NULL, next_run timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j @extschema@.jobs;
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	SELECT * INTO j FROM @extschema@.jobs WHERE job_name = job FOR UPDATE;
	PERFORM @extschema@.check_job_definition(job, coalesce(every, j.schedule), coalesce(params, j.params));
	IF params IS NOT NULL THEN
		PERFORM @extschema@.check_job_owner(@extschema@.acting_role(), params);
	END IF;
	UPDATE @extschema@.jobs SET schedule = coalesce(every, j.schedule),
	       params = coalesce(alter_job.params, j.params),
	       enabled = coalesce(alter_job.enabled, j.enabled),
	       next_run = coalesce(alter_job.next_run, j.next_run),
	       owner = CASE WHEN alter_job.params IS NULL THEN j.owner ELSE @extschema@.acting_role() END,
	       consecutive_failures = CASE WHEN alter_job.enabled THEN 0 ELSE j.consecutive_failures END
	 WHERE job_name = job;
	PERFORM @extschema@.wake_scheduler();
END $$;
REVOKE ALL ON FUNCTION alter_job(text, interval, jsonb, boolean, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION alter_job(text, interval, jsonb, boolean, timestamptz) IS
	'change a job''s schedule, parameters (the caller becomes its owner), enabled flag or next run; NULL keeps the current value';

CREATE FUNCTION unschedule_job(job text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	IF (SELECT builtin FROM @extschema@.jobs WHERE job_name = job) THEN
		RAISE EXCEPTION 'job "%" is built in and cannot be removed', job
			USING ERRCODE = 'object_in_use',
			      HINT = format('Disable it with SELECT personalize.alter_job(%L, enabled => false).', job);
	END IF;
	DELETE FROM @extschema@.jobs WHERE job_name = job;
END $$;
REVOKE ALL ON FUNCTION unschedule_job(text) FROM PUBLIC;
COMMENT ON FUNCTION unschedule_job(text) IS 'remove a job and its run history (built-in jobs can only be disabled)';

CREATE FUNCTION due_jobs() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT job_name FROM @extschema@.jobs WHERE enabled AND next_run <= now() ORDER BY next_run, job_name
$$;
REVOKE ALL ON FUNCTION due_jobs() FROM PUBLIC;
COMMENT ON FUNCTION due_jobs() IS 'names of the enabled jobs whose next run is due, oldest first';

CREATE FUNCTION next_job_due() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT min(next_run) FROM @extschema@.jobs WHERE enabled
$$;
REVOKE ALL ON FUNCTION next_job_due() FROM PUBLIC;
COMMENT ON FUNCTION next_job_due() IS 'when the next enabled job is due (NULL when none is enabled): the scheduler sleeps until then';

-- The next slot on the job's grid that lies in the future: a job late by
-- several periods (the server was down) runs once, not once per missed slot.
CREATE FUNCTION next_slot(last timestamptz, every interval) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN last > now() THEN last
	            ELSE last + every * (floor(extract(epoch FROM now() - last) / extract(epoch FROM every)) + 1)
	       END
$$;
REVOKE ALL ON FUNCTION next_slot(timestamptz, interval) FROM PUBLIC;
COMMENT ON FUNCTION next_slot(timestamptz, interval) IS 'the first time after now on the grid last + n * every';

CREATE FUNCTION prune_job_runs(job text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	DELETE FROM @extschema@.job_runs r
	 WHERE r.job_name = job
	   AND r.run_id <= (SELECT run_id FROM @extschema@.job_runs h WHERE h.job_name = job
	                     ORDER BY run_id DESC
	                    OFFSET current_setting('personalize.job_history_size')::int LIMIT 1)
$$;
REVOKE ALL ON FUNCTION prune_job_runs(text) FROM PUBLIC;
COMMENT ON FUNCTION prune_job_runs(text) IS 'keep the newest personalize.job_history_size runs of a job';

-- Runs one job in the caller's transaction.  Returns NULL without doing
-- anything when another session holds the job (it is running there) or,
-- unless forced, when it is not due: the scheduler and run_jobs() may race
-- for the same job, and exactly one of them runs it.
CREATE FUNCTION execute_job(job text, runner text DEFAULT 'session', force boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j @extschema@.jobs;
	started timestamptz := clock_timestamp();
	result jsonb;
	status text;
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	SELECT * INTO j FROM @extschema@.jobs WHERE job_name = job FOR UPDATE SKIP LOCKED;
	IF NOT FOUND OR (NOT force AND (NOT j.enabled OR j.next_run > now())) THEN
		RETURN NULL;
	END IF;
	PERFORM @extschema@.check_job_owner(j.owner, j.params);
	EXECUTE format('SELECT %s($1)', @extschema@.check_job_kind(j.kind)::regproc) INTO result USING j;
	result := coalesce(result, '{}');
	status := CASE WHEN result ? 'skipped' THEN 'skipped' ELSE 'succeeded' END;
	UPDATE @extschema@.jobs SET last_started = started, last_finished = clock_timestamp(),
	       last_status = status, last_error = NULL, last_result = result,
	       runs = runs + 1, consecutive_failures = 0,
	       next_run = CASE WHEN force THEN next_run ELSE @extschema@.next_slot(next_run, schedule) END
	 WHERE job_name = job;
	INSERT INTO @extschema@.job_runs (job_name, runner, started_at, status, result)
	VALUES (job, runner, started, status, result);
	PERFORM @extschema@.prune_job_runs(job);
	RETURN result;
END $$;
REVOKE ALL ON FUNCTION execute_job(text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION execute_job(text, text, boolean) IS
	'run one job now in this transaction if it is due (or forced) and nobody else is running it; NULL when it did not run';

-- Called in a fresh transaction after the failed run was rolled back.  A
-- failing job is retried at its next slot, or sooner while failures are
-- few: after 30 s, 1, 2, 4 ... minutes, never later than its schedule.
CREATE FUNCTION record_job_failure(job text, runner text, message text, code text,
                                   started timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE @extschema@.jobs SET last_started = started, last_finished = clock_timestamp(),
	       last_status = 'failed', last_error = message, last_result = NULL,
	       runs = runs + 1, failures = failures + 1,
	       consecutive_failures = consecutive_failures + 1,
	       next_run = now() + least(schedule, interval '30 seconds' * power(2, least(consecutive_failures, 16)))
	 WHERE job_name = job;
	IF FOUND THEN
		INSERT INTO @extschema@.job_runs (job_name, runner, started_at, status, error, sqlstate)
		VALUES (job, runner, started, 'failed', message, code);
		PERFORM @extschema@.prune_job_runs(job);
	END IF;
END $$;
REVOKE ALL ON FUNCTION record_job_failure(text, text, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION record_job_failure(text, text, text, text, timestamptz) IS
	'record that a run of a job failed (after its transaction was rolled back) and when it will be retried';

-- One job in a subtransaction: its failure is rolled back and recorded,
-- and the caller goes on.
CREATE FUNCTION run_one_job(job text, force boolean,
                            OUT status text, OUT result jsonb, OUT error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	started timestamptz := clock_timestamp();
	state text;
BEGIN
	BEGIN
		result := @extschema@.execute_job(job, 'session', force);
		status := CASE WHEN result IS NULL THEN 'not run' WHEN result ? 'skipped' THEN 'skipped' ELSE 'succeeded' END;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS error = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
		PERFORM @extschema@.record_job_failure(job, 'session', error, state, started);
		status := 'failed';
	END;
END $$;
REVOKE ALL ON FUNCTION run_one_job(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION run_one_job(text, boolean) IS 'run a job in a subtransaction, recording a failure instead of raising it';

CREATE FUNCTION run_jobs() RETURNS TABLE (job_name text, status text, result jsonb, error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	FOR job_name IN SELECT @extschema@.due_jobs() LOOP
		SELECT r.status, r.result, r.error INTO status, result, error
		  FROM @extschema@.run_one_job(job_name, false) r;
		RETURN NEXT;
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION run_jobs() FROM PUBLIC;
COMMENT ON FUNCTION run_jobs() IS
	'run every due job in this session, each in a subtransaction (for servers without the background workers: call it from cron or pg_cron)';

CREATE FUNCTION run_job(job text, OUT status text, OUT result jsonb, OUT error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	SELECT r.status, r.result, r.error INTO status, result, error
	  FROM @extschema@.run_one_job(job, true) r;
END $$;
REVOKE ALL ON FUNCTION run_job(text) FROM PUBLIC;
COMMENT ON FUNCTION run_job(text) IS
	'run one job now, due or not, without moving its schedule; a failure is recorded and returned, not raised';
