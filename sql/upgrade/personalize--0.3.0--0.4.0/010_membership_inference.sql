-- The membership-inference gate (src/privacy/mia.c): a model that failed
-- the check cannot be activated, even by a person, nor rolled back to; the
-- retrain job retires a model trained with an erased subject even when its
-- replacement was rejected.  The same definitions as sql/install/090_models.sql
-- and 140_builtin_jobs.sql.

CREATE OR REPLACE FUNCTION activate_model(model bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m @extschema@.models;
BEGIN
	IF model IS NULL THEN
		RAISE EXCEPTION 'model must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO m FROM @extschema@.models WHERE model_id = model FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist', model
			USING ERRCODE = 'undefined_object', HINT = 'Models are listed in personalize.models.';
	END IF;
	IF m.status = 'active' THEN
		RETURN;
	END IF;
	IF m.status = 'training' THEN
		RAISE EXCEPTION 'model % has not finished training', model USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- a person cannot override the membership-inference gate either: the
	-- check measured that the model gives its training subjects away
	IF (m.privacy -> 'membership_inference' ->> 'passed')::boolean IS FALSE THEN
		RAISE EXCEPTION 'model % failed the membership-inference check (attack AUC %, personalize.mia_max_auc was %)',
			model, m.privacy -> 'membership_inference' ->> 'auc', m.privacy -> 'membership_inference' ->> 'max_auc'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Train a new version that memorises less (more regularization, fewer neighbors, differential privacy); a superuser may raise personalize.mia_max_auc before training it.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.model_item_factors WHERE model_id = model)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.model_neighbors WHERE model_id = model)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.model_popularity WHERE model_id = model) THEN
		RAISE EXCEPTION 'model % has no stored parameters (pruned?)', model
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- lock out a concurrent activation for the same purpose (a row lock no
	-- other role can take: FOR UPDATE needs UPDATE on purposes)
	PERFORM 1 FROM @extschema@.purposes p WHERE p.name = m.purpose FOR NO KEY UPDATE;
	UPDATE @extschema@.models SET status = 'retired', retired_at = clock_timestamp(),
	       status_reason = format('replaced by model %s', model)
	 WHERE purpose = m.purpose AND status = 'active';
	UPDATE @extschema@.models SET status = 'active', activated_at = clock_timestamp(),
	       status_reason = NULL, retired_at = NULL
	 WHERE model_id = model;
END $$;
COMMENT ON FUNCTION activate_model(bigint) IS 'make a model the active one for its purpose (atomically retires the previous); refused for a model that failed the membership-inference check';

CREATE OR REPLACE FUNCTION rollback_model(purpose text DEFAULT 'recommendation') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	previous bigint;
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	SELECT model_id INTO previous FROM @extschema@.models m
	 WHERE m.purpose = rollback_model.purpose AND m.status = 'retired'
	   AND (m.privacy -> 'membership_inference' ->> 'passed')::boolean IS NOT FALSE
	   AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
	 ORDER BY m.activated_at DESC NULLS LAST, m.model_id DESC LIMIT 1;
	IF previous IS NULL THEN
		RAISE EXCEPTION 'no previous model to roll back to for purpose "%"', purpose
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	PERFORM @extschema@.activate_model(previous);
	RETURN previous;
END $$;

CREATE OR REPLACE FUNCTION retrain_job(job jobs) RETURNS jsonb
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
	-- a model stored before weighting existed was trained on raw values; a
	-- retraining after an erasure replaces the model whatever it scores
	params := jsonb_build_object('activate', 'auto')
	          || coalesce(job.params -> 'params',
	                      CASE WHEN active.algorithm = 'als' AND NOT active.params ? 'weighting'
	                           THEN '{"weighting": "none"}'::jsonb ELSE '{}'::jsonb END
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
COMMENT ON FUNCTION retrain_job(jobs) IS
	'job handler: retrain a purpose''s model when its interval has passed or enough new consented interactions arrived';
