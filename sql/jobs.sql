-- Jobs: the registry, the runner (run_jobs, run_job), failures and retries,
-- owners bound to purposes, the built-in retrain and retention handlers,
-- and what other roles can do to any of it.  Times are shown relative to
-- now(), never as values.
SET search_path = public, personalize;
SET client_min_messages = warning;

SELECT kind, handler, builtin FROM job_kinds ORDER BY kind;
SELECT job_name, kind, schedule, params, enabled, builtin FROM jobs ORDER BY job_name;

-- A purpose of its own, with a small consented data set.
SELECT create_purpose('jobs_test', 'Regression test of scheduled jobs', 'personalization', decides_terms => false);
INSERT INTO items (item_id, category) SELECT i, 'jt' || (i % 2) FROM generate_series(9001, 9010) i;
SELECT count(*) FROM (SELECT set_consent(s, 'jobs_test', 'personalization')
                        FROM generate_series(9001, 9020) s) t;
INSERT INTO interactions (subject_id, item_id, category)
SELECT s, i, 'browsing_history' FROM generate_series(9001, 9020) s, generate_series(9001, 9010) i
 WHERE (s + i) % 3 = 0;

-- Scheduling: bad input is refused with a hint.
SELECT schedule_job('jt_retrain', 'no_such_kind', '1 minute');
SELECT schedule_job('jt_retrain', 'retrain', '1 minute', '{"purpose": "no_such_purpose"}');
SELECT schedule_job('jt_retrain', 'retrain', NULL);
SELECT schedule_job('Bad Name', 'retrain', '1 minute');
SELECT schedule_job('jt_retrain', 'retrain', '10 milliseconds');
SELECT schedule_job('jt_retrain', 'retrain', '1 minute', '[1]');
SELECT alter_job('retrain', every => '0 seconds');
SELECT schedule_job('jt_retrain', 'retrain', '1 minute', '{"purpose": "jobs_test"}',
                    first_run => now() + interval '1 hour');
SELECT schedule_job('jt_retrain', 'retrain', '1 minute');
SELECT job_name, kind, schedule, owner = current_user AS mine, next_run > now() AS later
  FROM jobs WHERE job_name = 'jt_retrain';

-- Not due: run_jobs() leaves it alone; run_job() runs it now without
-- moving its schedule.  No active model yet: skipped, and says why.
SELECT job_name, status FROM run_jobs() WHERE job_name = 'jt_retrain';
SELECT status, result FROM run_job('jt_retrain');
SELECT last_status, runs, next_run > now() + interval '50 minutes' AS schedule_kept
  FROM jobs WHERE job_name = 'jt_retrain';

-- With an active model, retraining waits for its interval or for enough
-- new interactions visible under the purpose.
SELECT train('popularity', 'jobs_test') > 0 AS trained;
SELECT status, result - 'interactions_up_to' - 'last_model_at' AS result FROM run_job('jt_retrain');
SET personalize.retrain_min_interactions = 5;
-- new rows of a subject without consent do not count
INSERT INTO interactions (subject_id, item_id, category)
SELECT 9100, i, 'browsing_history' FROM generate_series(9001, 9010) i;
SELECT status, result->>'new_interactions' AS new FROM run_job('jt_retrain');
INSERT INTO interactions (subject_id, item_id, category)
SELECT 9001, i, 'browsing_history' FROM generate_series(9001, 9006) i;
SELECT status, result->>'reason' AS reason, result->>'status' AS model_status
  FROM run_job('jt_retrain');
SELECT count(*) AS models, count(*) FILTER (WHERE status = 'active') AS active
  FROM models WHERE purpose = 'jobs_test';
-- the interval: a model older than personalize.retrain_interval is stale
SET personalize.retrain_min_interactions = 1000;
SET personalize.retrain_interval = '1h';
SELECT status, result->>'skipped' AS skipped FROM run_job('jt_retrain');
UPDATE models SET created_at = created_at - interval '2 hours' WHERE purpose = 'jobs_test';
SELECT status, result->>'reason' AS reason FROM run_job('jt_retrain');
RESET personalize.retrain_min_interactions;
RESET personalize.retrain_interval;
SHOW personalize.retrain_interval;

-- The job's algorithm and parameters, when given, override the active model's.
SELECT alter_job('jt_retrain', params => '{"purpose": "jobs_test", "algorithm": "itemknn", "params": {"neighbors": 3}}');
UPDATE models SET created_at = created_at - interval '2 days' WHERE purpose = 'jobs_test';
SELECT status, result->>'reason' AS reason FROM run_job('jt_retrain');
SELECT algorithm, params->>'neighbors' AS neighbors FROM models
 WHERE purpose = 'jobs_test' ORDER BY model_id DESC LIMIT 1;
SELECT trained_by = current_user AS trained_by_owner FROM models
 WHERE purpose = 'jobs_test' ORDER BY model_id DESC LIMIT 1;

-- An ALS model stored before 0.5.0 (no reg_exponent among its parameters)
-- is retrained with its flat ridge, not with the row-scaled default.
SELECT alter_job('jt_retrain', params => '{"purpose": "jobs_test"}');
SELECT train('als', 'jobs_test', factors => 2, iterations => 2, regularization => 0.05, activate => 'always') AS old_als \gset
UPDATE models SET params = params - 'reg_exponent' WHERE model_id = :old_als;
UPDATE models SET created_at = created_at - interval '2 days' WHERE purpose = 'jobs_test';
SELECT status, result->>'reason' AS reason FROM run_job('jt_retrain');
SELECT algorithm, model_id > :old_als AS retrained, params->>'reg_exponent' AS reg_exponent,
       params->>'regularization' AS regularization
  FROM models WHERE purpose = 'jobs_test' ORDER BY model_id DESC LIMIT 1;

-- A failing job: recorded with its error and SQLSTATE, retried soon (never
-- later than its schedule), and the other due jobs still run.
SELECT create_purpose('jobs_empty', 'A purpose nobody consented to', 'personalization', decides_terms => false);
SELECT schedule_job('jt_failing', 'retrain', '1 hour', '{"purpose": "jobs_empty", "algorithm": "popularity"}');
SELECT schedule_job('jt_retention', 'retention', '1 day');
SELECT job_name, status, error FROM run_jobs() WHERE job_name LIKE 'jt\_%' ORDER BY job_name;
SELECT last_status, last_error, failures, consecutive_failures,
       next_run > now() AND next_run <= now() + interval '30 seconds' AS retried_soon
  FROM jobs WHERE job_name = 'jt_failing';
SELECT status, error, sqlstate FROM job_runs WHERE job_name = 'jt_failing';
SELECT count(*) AS half_trained FROM models WHERE purpose = 'jobs_empty';
UPDATE jobs SET next_run = now() WHERE job_name = 'jt_failing';
SELECT status FROM run_jobs() WHERE job_name = 'jt_failing';
SELECT consecutive_failures, next_run <= now() + interval '60 seconds' AS backing_off
  FROM jobs WHERE job_name = 'jt_failing';
-- re-enabling a job clears its failure streak
SELECT alter_job('jt_failing', enabled => false);
SELECT alter_job('jt_failing', enabled => true);
SELECT consecutive_failures, failures FROM jobs WHERE job_name = 'jt_failing';

-- Run history is capped per job.
SET personalize.job_history_size = 2;
SELECT count(*) FROM (SELECT run_job('jt_retention') FROM generate_series(1, 4)) t;
SELECT count(*) AS kept FROM job_runs WHERE job_name = 'jt_retention';
RESET personalize.job_history_size;

-- Retention: interactions older than their category's retention go;
-- impressions and feedback after the job's intervals.
INSERT INTO interactions (subject_id, item_id, category, occurred_at) VALUES
	(9001, 9001, 'session', now() - interval '2 days'),
	(9001, 9002, 'session', now() - interval '1 hour'),
	(9002, 9001, 'location', now() - interval '31 days'),
	(9002, 9002, 'location', now() - interval '29 days');
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, explored, sponsored)
VALUES (now() - interval '10 days', 9001, 'jobs_test', 0, 9001, 1, false, false),
       (now() - interval '1 day', 9001, 'jobs_test', 0, 9002, 1, false, false);
SELECT alter_job('jt_retention', params => '{"impressions": "7 days"}');
SELECT status, result FROM run_job('jt_retention');
SELECT category, count(*) FROM interactions WHERE category IN ('session', 'location') GROUP BY 1 ORDER BY 1;
SELECT count(*) AS impressions_left FROM impressions WHERE purpose = 'jobs_test';
SELECT alter_job('jt_retention', params => '{"impressions": "soon"}');
SELECT status, error FROM run_job('jt_retention');

-- Removing jobs.
SELECT unschedule_job('retention');
SELECT unschedule_job('no_such_job');
SELECT alter_job('no_such_job', enabled => false);
SELECT run_job('no_such_job');
SELECT unschedule_job('jt_failing');
SELECT count(*) AS runs_left FROM job_runs WHERE job_name = 'jt_failing';

-- Training progress: nothing is running now, and the view has its columns.
SELECT count(*) AS running FROM training_progress;

-- Roles.  A role that may not act for a purpose cannot schedule jobs for
-- it, and a job whose owner loses the purpose stops with an error.
CREATE ROLE regress_jobs_admin;
CREATE ROLE regress_jobs_stranger;
GRANT USAGE ON SCHEMA personalize TO regress_jobs_admin, regress_jobs_stranger;
GRANT EXECUTE ON FUNCTION schedule_job(text, text, interval, jsonb, boolean, timestamptz),
                          run_job(text), run_jobs() TO regress_jobs_admin;
SELECT grant_purpose('regress_jobs_admin', 'jobs_test');
SET ROLE regress_jobs_admin;
SELECT schedule_job('jt_admin', 'retrain', '1 hour', '{"purpose": "recommendation"}');
SELECT schedule_job('jt_admin', 'retrain', '1 hour', '{"purpose": "jobs_test"}');
RESET ROLE;
SELECT owner FROM jobs WHERE job_name = 'jt_admin';
SELECT revoke_purpose('regress_jobs_admin', 'jobs_test');
SELECT status, error FROM run_job('jt_admin');

-- Everything else is refused to other roles: reading the registry, the
-- runner's internals, writing the tables directly.
SET ROLE regress_jobs_stranger;
SELECT count(*) FROM jobs;
SELECT count(*) FROM job_runs;
SELECT run_jobs();
SELECT execute_job('retrain', 'worker', true);
SELECT record_job_failure('retrain', 'worker', 'forged', 'XX000');
SELECT alter_job('retrain', enabled => false);
SELECT retrain_job(NULL::jobs);
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs, job_kinds TO regress_jobs_stranger;
SET ROLE regress_jobs_stranger;
-- row-level security is forced on the registry: grants do not let anyone write
INSERT INTO job_kinds VALUES ('evil', 'pg_catalog.pg_reload_conf()', 'x');
WITH u AS (UPDATE jobs SET params = '{"purpose": "recommendation"}' WHERE job_name = 'jt_admin' RETURNING 1)
SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM jobs RETURNING 1) SELECT count(*) AS deleted FROM d;
SELECT count(*) AS visible_jobs FROM jobs WHERE builtin;
RESET ROLE;
REVOKE ALL ON jobs, job_kinds FROM regress_jobs_stranger;
-- a handler is resolved by OID, so a function of the same name earlier on
-- the search path is never called
SELECT alter_job('jt_retention', params => '{}');
CREATE FUNCTION public.retention_job(j personalize.jobs) RETURNS jsonb
	LANGUAGE sql AS $$ SELECT '{"hijacked": true}'::jsonb $$;
SET search_path = public, personalize;
SELECT status, result ? 'hijacked' AS hijacked FROM run_job('jt_retention');
DROP FUNCTION public.retention_job(personalize.jobs);

SELECT unschedule_job(job_name) FROM jobs WHERE job_name LIKE 'jt\_%' ORDER BY job_name;
DROP OWNED BY regress_jobs_admin, regress_jobs_stranger;
DROP ROLE regress_jobs_admin, regress_jobs_stranger;
