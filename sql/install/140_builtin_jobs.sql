-- The built-in job kinds and jobs: retrain, retention, drift.

-- Retraining: when personalize.retrain_interval (or the job's "interval")
-- has passed since the purpose's newest model, or
-- personalize.retrain_min_interactions (or "min_interactions") new
-- interactions are visible under the purpose since the last retraining,
-- train with the job's algorithm and parameters (by default those of the
-- active model) and let train_model() evaluate, gate and activate.  A
-- purpose without an active model and without an algorithm in the job's
-- params is left alone: the first model is a decision for a person.  An
-- active model that may have learned from a subject erased since is
-- retrained at once (reason "erasure"), and the new version is activated
-- whatever its metrics: the erased subject must leave the served model.
-- Should the new version fail the membership-inference gate, the old model
-- is retired all the same and the purpose serves nothing (fail closed).
CREATE FUNCTION retrain_job(job jobs) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	target text := coalesce(job.params ->> 'purpose', 'recommendation');
	active @extschema@.models;
	algorithm text;
	params jsonb;
	newest timestamptz;
	since bigint := (job.last_result ->> 'interactions_up_to')::bigint;
	up_to bigint;
	fresh bigint;
	reason text;
	unpaid text;
	why text;
	model bigint;
	retired bigint;
	stale_after interval := coalesce((job.params ->> 'interval')::interval,
	                                 current_setting('personalize.retrain_interval')::interval);
	enough bigint := coalesce((job.params ->> 'min_interactions')::bigint,
	                          current_setting('personalize.retrain_min_interactions')::bigint);
BEGIN
	SELECT * INTO active FROM @extschema@.models m WHERE m.purpose = target AND m.status = 'active';
	algorithm := coalesce(job.params ->> 'algorithm', active.algorithm);
	IF algorithm IS NULL THEN
		RETURN jsonb_build_object('skipped', format('purpose "%s" has no active model and the job names no algorithm', target));
	END IF;
	SELECT max(created_at) INTO newest FROM @extschema@.models m
	 WHERE m.purpose = target AND m.status <> 'training';
	SELECT coalesce(max(interaction_id), 0) INTO up_to FROM @extschema@.interactions;
	IF EXISTS (SELECT 1 FROM @extschema@.model_erasures e WHERE e.model_id = active.model_id) THEN
		reason := 'erasure';
	ELSIF newest IS NULL OR now() - newest >= stale_after THEN
		reason := 'interval';
	ELSE
		-- counted only when it decides: the count reads up to "enough" rows
		fresh := @extschema@.visible_interactions_since(target, coalesce(since, up_to), enough);
		IF fresh < enough THEN
			RETURN jsonb_build_object('skipped', 'neither the interval has passed nor enough new interactions arrived',
			                          'last_model_at', newest, 'new_interactions', fresh,
			                          'interactions_up_to', coalesce(since, up_to));
		END IF;
		reason := 'new interactions';
	END IF;
	-- a model stored before weighting existed was trained on raw values, one
	-- stored before 0.5.0 with one flat ridge; a retraining after an erasure
	-- replaces the model whatever it scores
	params := jsonb_build_object('activate', 'auto')
	          || coalesce(job.params -> 'params',
	                      CASE WHEN active.algorithm = 'als' AND NOT active.params ? 'weighting'
	                           THEN '{"weighting": "none"}'::jsonb ELSE '{}'::jsonb END
	                      || CASE WHEN active.algorithm = 'als' AND NOT active.params ? 'reg_exponent'
	                              THEN '{"reg_exponent": 0}'::jsonb ELSE '{}'::jsonb END
	                      || (coalesce(active.params, '{}') - 'seed' - 'tuned') || jsonb_build_object('tune', false))
	          || CASE WHEN reason = 'erasure' THEN '{"activate": "always"}'::jsonb ELSE '{}'::jsonb END;
	-- the purpose's privacy budget decides before any work: a retraining it
	-- cannot pay for is skipped
	unpaid := @extschema@.privacy_budget_refusal(target, params);
	IF unpaid IS NOT NULL AND reason <> 'erasure' THEN
		RETURN jsonb_build_object('skipped', unpaid, 'interactions_up_to', coalesce(since, up_to));
	END IF;
	IF unpaid IS NULL THEN
		model := @extschema@.train_model(algorithm, target, params, job.owner);
		IF reason = 'erasure' AND (SELECT m.status FROM @extschema@.models m WHERE m.model_id = model) = 'rejected' THEN
			why := format('its replacement, model %s, was rejected', model);
		END IF;
	ELSE
		why := format('no replacement could be trained (%s)', unpaid);
	END IF;
	-- fail closed: after an erasure the old model must stop serving even
	-- when no replacement passes the membership-inference gate or the
	-- budget; the purpose then has no model until a person acts
	IF why IS NOT NULL THEN
		UPDATE @extschema@.models m SET status = 'retired', retired_at = clock_timestamp(),
		       status_reason = 'retired after an erasure: ' || why
		 WHERE m.model_id = active.model_id AND m.status = 'active';
		IF FOUND THEN
			retired := active.model_id;
		END IF;
	END IF;
	RETURN coalesce((SELECT jsonb_build_object('model_id', m.model_id, 'status', m.status, 'reason', reason,
	                                           'ndcg_at_k', m.metrics -> 'ndcg_at_k', 'status_reason', m.status_reason,
	                                           'interactions_up_to', up_to)
	                   FROM @extschema@.models m WHERE m.model_id = model),
	                jsonb_build_object('reason', reason, 'not_retrained', unpaid))
	       || CASE WHEN retired IS NOT NULL THEN jsonb_build_object(
	              'retired_model', retired,
	              'serving', format('nothing: model %s was trained with an erased subject and %s; recommend() fails for purpose "%s" until a model is activated', retired, why, target))
	          ELSE '{}'::jsonb END;
END $$;
REVOKE ALL ON FUNCTION retrain_job(jobs) FROM PUBLIC;
COMMENT ON FUNCTION retrain_job(jobs) IS
	'job handler: retrain a purpose''s model when its interval has passed or enough new consented interactions arrived';

-- Counts, up to a limit, the interactions newer than an id that training
-- under the purpose would read: new rows of withdrawn subjects do not make
-- a model stale.
CREATE FUNCTION visible_interactions_since(purpose text, since bigint, up_to_count bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- the caller's declared purpose comes back when the function returns
SET personalize.purpose = '' AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM set_config('personalize.purpose', purpose, true);
	SELECT count(*) INTO n FROM (
		SELECT 1 FROM @extschema@.interactions i
		 WHERE i.interaction_id > since
		   AND @extschema@.row_visible(i.subject_id, i.category, i.occurred_at)
		 LIMIT up_to_count) s;
	RETURN n;
END $$;
REVOKE ALL ON FUNCTION visible_interactions_since(text, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION visible_interactions_since(text, bigint, bigint) IS
	'how many interactions after an id are visible under a purpose (counting stops at a limit)';

-- One of the extension's logs (impressions, feedback): rows older than
-- keep go, and the deletion is logged in retention_purges.
CREATE FUNCTION purge_log(tbl regclass, time_column name, keep interval, purged_by name) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cutoff timestamptz := now() - keep;
	n bigint;
BEGIN
	EXECUTE format('DELETE FROM %s WHERE %I < $1', tbl, time_column) USING cutoff;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		INSERT INTO @extschema@.retention_purges (purged_by, table_name, retention, cutoff, rows_deleted)
		VALUES (purged_by, tbl::text, keep, cutoff, n);
	END IF;
	RETURN n;
END $$;
REVOKE ALL ON FUNCTION purge_log(regclass, name, interval, name) FROM PUBLIC;
COMMENT ON FUNCTION purge_log(regclass, name, interval, name) IS
	'internal: delete the rows of one of the extension''s logs older than an interval, and log how many went';

-- Retention: purge_expired() deletes interactions (and rows of protected
-- tables with a time column) older than their category's retention; then
-- impressions and feedback older than the job's "impressions" and
-- "feedback" intervals (default 180 days) go.  Every deletion is logged in
-- retention_purges.
CREATE FUNCTION retention_job(job jobs) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	purged jsonb := @extschema@.purge_expired();
	result jsonb;
BEGIN
	result := jsonb_build_object('interactions', purged -> '@extschema@.interactions');
	IF purged - '@extschema@.interactions' <> '{}' THEN
		result := result || jsonb_build_object('tables', purged - '@extschema@.interactions');
	END IF;
	RETURN result || jsonb_build_object(
		'impressions', @extschema@.purge_log('@extschema@.impressions', 'shown_at',
		                                     coalesce((job.params ->> 'impressions')::interval, interval '180 days'), job.owner),
		'feedback', @extschema@.purge_log('@extschema@.feedback', 'recorded_at',
		                                  coalesce((job.params ->> 'feedback')::interval, interval '180 days'), job.owner));
END $$;
REVOKE ALL ON FUNCTION retention_job(jobs) FROM PUBLIC;
COMMENT ON FUNCTION retention_job(jobs) IS
	'job handler: purge_expired() (interactions and protected tables past their category''s retention), then old impressions and feedback';

-- Drift: every complete period not measured yet (see 120_drift.sql).
CREATE FUNCTION drift_handler(job jobs) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT @extschema@.drift_job(job.params)
$$;
REVOKE ALL ON FUNCTION drift_handler(jobs) FROM PUBLIC;
COMMENT ON FUNCTION drift_handler(jobs) IS
	'job handler: drift snapshots of every complete period not measured yet, with their alerts (params as drift_job(jsonb))';

INSERT INTO job_kinds (kind, handler, description, builtin) VALUES
	('drift', 'drift_handler(jobs)', 'measure the concentration of what was shown, period by period, and alert when it rises', true),
	('retrain', 'retrain_job(jobs)', 'retrain a purpose''s model on schedule or when enough new interactions arrived', true),
	('retention', 'retention_job(jobs)', 'delete data older than its retention', true);

INSERT INTO jobs (job_name, kind, schedule, params, owner, builtin) VALUES
	('retrain', 'retrain', '5 minutes', '{"purpose": "recommendation"}', current_user, true),
	('retention', 'retention', '1 hour', '{}', current_user, true),
	('drift', 'drift', '15 minutes', '{}', current_user, true);
