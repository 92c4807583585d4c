-- Models: registry tables sealed; activation serialized on a row lock no
-- other role can take; grants follow explicit inheritance; cards say only
-- what the rows visible under the purpose say.
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['interaction_kinds', 'models', 'model_item_factors', 'model_neighbors', 'model_popularity']::regclass[]) t;
CREATE OR REPLACE FUNCTION require_purpose(purpose text, action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller name := @extschema@.acting_role();
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = caller AND rolsuper)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g
	                    WHERE g.purpose = ANY (@extschema@.purpose_chain(require_purpose.purpose))
	                      AND pg_has_role(caller, g.role, 'USAGE')) THEN
		RAISE EXCEPTION 'role "%" may not % for purpose "%"', caller, action, purpose
			USING ERRCODE = 'insufficient_privilege',
			      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).', caller, purpose);
	END IF;
END $$;

CREATE OR REPLACE FUNCTION activate_model(model bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m @extschema@.models;
BEGIN
	SELECT * INTO m FROM @extschema@.models WHERE model_id = model FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist', model USING ERRCODE = 'undefined_object';
	END IF;
	IF m.status = 'active' THEN
		RETURN;
	END IF;
	IF m.status = 'training' THEN
		RAISE EXCEPTION 'model % has not finished training', model USING ERRCODE = 'object_not_in_prerequisite_state';
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

CREATE OR REPLACE FUNCTION rollback_model(purpose text DEFAULT 'recommendation') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	previous bigint;
BEGIN
	SELECT model_id INTO previous FROM @extschema@.models m
	 WHERE m.purpose = rollback_model.purpose AND m.status = 'retired'
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

DROP VIEW model_cards;
CREATE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'ndcg_at_k')::float8 AS ndcg_at_k,
       (m.metrics ->> 'recall_at_k')::float8 AS recall_at_k,
       (m.metrics ->> 'coverage')::float8 AS coverage,
       (m.metrics ->> 'gini')::float8 AS gini,
       @extschema@.model_card(m.model_id) AS card
  FROM @extschema@.models m;
COMMENT ON VIEW model_cards IS 'one row per model version with its card';
