-- Models: every version trained in the database, with what it was trained
-- on, how it scored on held-out data, and its status.  Only item-side
-- parameters are stored: subject factors are folded in at request time from
-- the history visible then (subject_factors()), so no per-subject model data
-- is kept at rest.

CREATE TABLE interaction_kinds (
	kind    text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,30}$'),
	weight  real NOT NULL CHECK (weight > 0 AND weight < 'Infinity'::real),
	builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE interaction_kinds IS 'training weight of each interaction kind (multiplied by the interaction''s own weight)';
INSERT INTO interaction_kinds VALUES
	('view', 1, true), ('click', 1, true), ('wishlist', 2, true),
	('cart', 3, true), ('purchase', 5, true), ('rating', 1, true);
GRANT SELECT ON interaction_kinds TO PUBLIC;

CREATE TABLE models (
	model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	algorithm       text NOT NULL CHECK (algorithm IN ('als', 'itemknn', 'popularity', 'rp3beta')),
	purpose         text NOT NULL REFERENCES purposes (name),
	status          text NOT NULL DEFAULT 'training'
	                CHECK (status IN ('training', 'candidate', 'active', 'rejected', 'retired')),
	params          jsonb NOT NULL DEFAULT '{}',
	data            jsonb NOT NULL DEFAULT '{}',
	metrics         jsonb NOT NULL DEFAULT '{}',
	privacy         jsonb,
	warnings        text[] NOT NULL DEFAULT '{}',
	trained_by      name NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	training_ms     double precision,
	activated_at    timestamptz,
	retired_at      timestamptz,
	status_reason   text
);
CREATE UNIQUE INDEX models_one_active ON models (purpose) WHERE status = 'active';
COMMENT ON TABLE models IS 'every model version: parameters, data snapshot, held-out metrics, status';
GRANT SELECT ON models TO PUBLIC;

CREATE TABLE model_item_factors (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	factors  embedding NOT NULL,
	PRIMARY KEY (model_id, item_id)
);
CREATE TABLE model_neighbors (
	model_id    bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id     bigint NOT NULL,
	neighbor_id bigint NOT NULL,
	score       real NOT NULL,
	PRIMARY KEY (model_id, item_id, neighbor_id)
);
CREATE TABLE model_popularity (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	category text,
	score    real NOT NULL,
	PRIMARY KEY (model_id, item_id)
);
GRANT SELECT ON model_item_factors, model_neighbors, model_popularity TO PUBLIC;
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['interaction_kinds', 'models', 'model_item_factors', 'model_neighbors', 'model_popularity']::regclass[]) t;

SELECT pg_catalog.pg_extension_config_dump('interaction_kinds', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('models', '');
SELECT pg_catalog.pg_extension_config_dump('model_item_factors', '');
SELECT pg_catalog.pg_extension_config_dump('model_neighbors', '');
SELECT pg_catalog.pg_extension_config_dump('model_popularity', '');

CREATE FUNCTION train_model(algorithm text, purpose text, params jsonb, trained_by name)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'pz_train_model' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION train_model(text, text, jsonb, name) FROM PUBLIC;

-- A role may act under a purpose when it is a superuser or is a member of a
-- role the purpose, or a purpose it inherits from, was granted to.
CREATE FUNCTION may_act_for(role name, purpose text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = may_act_for.role AND rolsuper)
	    OR EXISTS (SELECT 1 FROM @extschema@.purpose_grants g
	                WHERE g.purpose = ANY (@extschema@.purpose_chain(may_act_for.purpose))
	                  AND pg_has_role(may_act_for.role, g.role, 'USAGE'))
$$;
COMMENT ON FUNCTION may_act_for(name, text) IS 'whether a role may act under a purpose (a superuser, or a member of a role it was granted to)';
REVOKE ALL ON FUNCTION may_act_for(name, text) FROM PUBLIC;

-- The caller (SET ROLE counts) must hold a purpose to act under it.
CREATE FUNCTION require_purpose(purpose text, action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller name := @extschema@.acting_role();
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	IF NOT @extschema@.may_act_for(caller, purpose) THEN
		RAISE EXCEPTION 'role "%" may not % for purpose "%"', caller, action, purpose
			USING ERRCODE = 'insufficient_privilege',
			      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).', caller, purpose);
	END IF;
END $$;
REVOKE ALL ON FUNCTION require_purpose(text, text) FROM PUBLIC;

CREATE FUNCTION train(algorithm text, purpose text DEFAULT 'recommendation',
                      factors integer DEFAULT NULL, iterations integer DEFAULT NULL,
                      regularization real DEFAULT NULL, alpha real DEFAULT NULL,
                      neighbors integer DEFAULT NULL, weighting text DEFAULT NULL,
                      half_life interval DEFAULT NULL, tune boolean DEFAULT false,
                      holdout real DEFAULT NULL, k integer DEFAULT NULL,
                      seed bigint DEFAULT NULL, activate text DEFAULT 'auto',
                      params jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p jsonb := coalesce(params, '{}') || jsonb_strip_nulls(jsonb_build_object(
		'factors', factors, 'iterations', iterations, 'regularization', regularization,
		'alpha', alpha, 'neighbors', neighbors, 'weighting', weighting,
		'half_life_days', extract(epoch FROM half_life) / 86400, 'tune', tune,
		'holdout', holdout, 'k', k, 'seed', seed, 'activate', activate));
BEGIN
	IF purpose IS NULL OR algorithm IS NULL THEN
		RAISE EXCEPTION 'algorithm and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'train models');
	RETURN @extschema@.train_model(algorithm, purpose, p, @extschema@.acting_role());
END $$;
COMMENT ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) IS
	'train a model (als, itemknn, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one';
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) FROM PUBLIC;

CREATE FUNCTION subject_factors(model bigint, subject bigint) RETURNS embedding
	AS 'MODULE_PATHNAME', 'pz_subject_factors' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION subject_factors(bigint, bigint) IS
	'a subject''s ALS factors, solved exactly from their history visible under the model''s purpose now (NULL without any); the caller must hold the purpose';

-- Activation swaps status in one transaction: a reader sees the old model or
-- the new one, never both or neither.
CREATE FUNCTION activate_model(model bigint) RETURNS void
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
COMMENT ON FUNCTION activate_model(bigint) IS 'make a model the active one for its purpose (atomically retires the previous)';

CREATE FUNCTION rollback_model(purpose text DEFAULT 'recommendation') RETURNS bigint
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
COMMENT ON FUNCTION rollback_model(text) IS 'reactivate the most recently active retired model of a purpose';
REVOKE ALL ON FUNCTION activate_model(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollback_model(text) FROM PUBLIC;

-- The model card: generated from training metadata, never written by hand.
CREATE FUNCTION model_card(model bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object(
		'model_id', m.model_id,
		'algorithm', m.algorithm,
		'status', m.status,
		'purpose', jsonb_build_object('name', m.purpose, 'description', p.description),
		'trained_at', m.created_at,
		'trained_by', m.trained_by,
		'signal_categories', coalesce((
			SELECT jsonb_agg(jsonb_build_object('category', c.name, 'tier', c.tier,
			                                    'justification', c.justification,
			                                    'retention', c.retention) ORDER BY c.name)
			  FROM @extschema@.signal_categories c
			 WHERE c.name IN (SELECT jsonb_array_elements_text(m.data -> 'categories_used'))), '[]'),
		'categories_skipped', coalesce(m.data -> 'categories_skipped', '[]'),
		'data', m.data - 'categories_used' - 'categories_skipped',
		'hyperparameters', m.params,
		'metrics', m.metrics,
		'privacy', coalesce(m.privacy, jsonb_build_object('differential_privacy', false)),
		'intended_use', 'Ranking catalogue items by predicted preference for subjects who consented to the purpose "'
		                || m.purpose || '".',
		'not_intended_for', jsonb_build_array(
			'pricing or any decision about what a person pays (personalized pricing is refused)',
			'inferring demographic or other sensitive attributes of a person',
			'decisions with legal or similarly significant effects on a person'),
		'limitations', jsonb_build_array(
			'Learns only from subjects and categories with consent at training time; subjects who withdraw are removed at the next version, and get no personalized output at once.',
			'Implicit feedback: interactions show exposure as much as preference, so popular items are over-represented.',
			'Cold start: subjects or items without history fall back to popularity.',
			'Metrics are measured on a random per-subject hold-out of the same period, not on future behaviour.'),
		'warnings', to_jsonb(m.warnings))
	  FROM @extschema@.models m JOIN @extschema@.purposes p ON p.name = m.purpose
	 WHERE m.model_id = model
$$;
COMMENT ON FUNCTION model_card(bigint) IS 'the model card of a model version, as jsonb';

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
