
-- The retrain job replays an ALS model stored before 0.5.0 with its flat
-- ridge (reg_exponent 0), not with the new row-scaled default.
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
