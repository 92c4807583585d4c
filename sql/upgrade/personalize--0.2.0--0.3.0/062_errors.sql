-- One error, one SQLSTATE (see the table in the README): the functions of
-- 0.2.0 whose errors 0.3.0 changes, as sql/install/ defines them.
--   unknown purpose, signal category, model, item: 42704 (was 22023 for
--     purposes and categories in SQL, 42704 in C); NULL: 22004;
--     a malformed purpose name or kind: 42602;
--   make_consent() and the consent + and - operators refuse unregistered
--     categories (so they read the registry: STABLE);
--   model_card() of a model that does not exist is an error (was NULL);
--   train() refuses a half_life <= 0; consent_of(), revoke_purpose() and
--     rollback_model() refuse an unknown purpose; create_purpose() says
--     what is wrong with a name instead of failing a CHECK constraint.

CREATE OR REPLACE FUNCTION consent_make(text, text[], text[]) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION make_consent(tier consent_tier, "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}')
	RETURNS consent LANGUAGE sql STABLE PARALLEL SAFE
	AS $$ SELECT @extschema@.consent_make(tier::text, coalesce("grant", '{}'), coalesce(deny, '{}')) $$;

CREATE OR REPLACE FUNCTION consent_grant(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION consent_revoke(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION create_purpose(name text, description text, max_tier consent_tier,
                               personal_data_allowed boolean DEFAULT NULL,
                               decides_terms boolean DEFAULT NULL, inherit boolean DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	parent @extschema@.purposes;
	parent_name text := substring(name FROM '^(.*)\.[^.]+$');
	personal boolean;
	terms boolean := decides_terms;
BEGIN
	IF name IS NULL OR description IS NULL OR max_tier IS NULL THEN
		RAISE EXCEPTION 'name, description and max_tier must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' OR length(name) > 64 THEN
		RAISE EXCEPTION 'invalid purpose name "%"', name
			USING ERRCODE = 'invalid_name',
			      HINT = 'Purposes are dotted lower-case names such as "recommendation" or "marketing.email".';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = create_purpose.name) THEN
		RAISE EXCEPTION 'purpose "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
	IF parent_name IS NOT NULL THEN
		SELECT * INTO parent FROM @extschema@.purposes p WHERE p.name = parent_name;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'parent purpose "%" of "%" does not exist', parent_name, name
				USING ERRCODE = 'undefined_object', HINT = 'Create the parent purpose first.';
		END IF;
		IF inherit IS NULL THEN
			RAISE EXCEPTION 'say whether sub-purpose "%" inherits the grants and consents of "%"', name, parent_name
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'inherit => true: roles granted the parent may act under it and consents to the parent cover it; inherit => false: it needs grants and consents of its own.';
		END IF;
		-- a sub-purpose of a purpose that decides prices or terms does too
		terms := coalesce(terms, parent.decides_terms);
		IF parent.decides_terms AND NOT terms THEN
			RAISE EXCEPTION 'purpose "%" decides prices or terms, and so does its sub-purpose "%"', parent_name, name
				USING ERRCODE = 'insufficient_privilege', HINT = 'Create it with decides_terms => true.';
		END IF;
	ELSIF inherit THEN
		RAISE EXCEPTION 'purpose "%" has no parent to inherit from', name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF terms IS NULL AND personal_data_allowed IS DISTINCT FROM false THEN
		RAISE EXCEPTION 'say whether purpose "%" decides prices or terms', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'decides_terms => true for a purpose that sets what a person pays or on what terms (it never reads personal data: personalized pricing is refused); decides_terms => false otherwise.';
	END IF;
	terms := coalesce(terms, false);
	IF terms AND personal_data_allowed THEN
		RAISE EXCEPTION 'purpose "%" decides prices or terms, so it may not use personal data: personalized pricing is refused', name
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT terms AND name ~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)' THEN
		RAISE EXCEPTION 'purpose name "%" says it sets prices or terms, so it must be created with decides_terms => true (and never reads personal data)', name
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'Personalized pricing is refused. If the purpose does not decide prices or terms, name it for what it does.';
	END IF;
	personal := coalesce(personal_data_allowed, NOT terms);
	IF parent_name IS NOT NULL AND (parent.max_tier < max_tier OR (NOT parent.personal_data_allowed AND personal)) THEN
		RAISE EXCEPTION 'purpose "%" cannot allow more than its parent "%"', name, parent_name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'A sub-purpose may narrow its parent''s tier cap and personal-data use, never widen them.';
	END IF;
	INSERT INTO @extschema@.purposes (name, description, max_tier, personal_data_allowed, builtin, decides_terms, inherits)
	VALUES (name, description, max_tier, personal, false, terms, coalesce(inherit, false));
END $$;

CREATE OR REPLACE FUNCTION revoke_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	DELETE FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role) THEN
		EXECUTE format('REVOKE SELECT ON @extschema@.interactions FROM %s', role);
	END IF;
END $$;

CREATE OR REPLACE FUNCTION check_categories(names text[]) RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unknown text;
BEGIN
	IF array_position(names, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'signal category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT n INTO unknown FROM unnest(names) n
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.signal_categories c WHERE c.name = n)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'signal category "%" does not exist', unknown
			USING ERRCODE = 'undefined_object',
			      HINT = 'Known categories are listed in personalize.signal_categories.';
	END IF;
END $$;

CREATE OR REPLACE FUNCTION check_purpose_exists(purpose text) RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF purpose IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF purpose !~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' OR length(purpose) > 64 THEN
		RAISE EXCEPTION 'invalid purpose name "%"', purpose
			USING ERRCODE = 'invalid_name',
			      HINT = 'Purposes are dotted lower-case names such as "recommendation" or "marketing.email".';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = purpose) THEN
		RAISE EXCEPTION 'purpose "%" does not exist', purpose
			USING ERRCODE = 'undefined_object',
			      HINT = 'Known purposes are listed in personalize.purposes; personalize.create_purpose() adds one.';
	END IF;
END $$;

CREATE OR REPLACE FUNCTION consent_of(subject bigint, purpose text) RETURNS consent
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	RETURN (SELECT c.consent FROM @extschema@.consents c
	         WHERE c.subject_id = consent_of.subject AND c.purpose = consent_of.purpose);
END $$;

CREATE OR REPLACE FUNCTION track(subject bigint, item bigint, category text, kind text DEFAULT 'view',
                      weight real DEFAULT 1, occurred_at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF subject IS NULL OR item IS NULL THEN
		RAISE EXCEPTION 'subject and item must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY[category]);
	IF kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid interaction kind "%"', kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
	INSERT INTO @extschema@.interactions (subject_id, item_id, category, kind, weight, occurred_at)
	VALUES (subject, item, category, coalesce(kind, 'view'), coalesce(weight, 1), coalesce(occurred_at, now()));
END $$;

CREATE OR REPLACE FUNCTION track_many(subjects bigint[], items bigint[], categories text[],
                           kinds text[] DEFAULT NULL, weights real[] DEFAULT NULL,
                           occurred_at timestamptz[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := coalesce(cardinality(subjects), 0);
	inserted bigint;
	bad_kind text;
BEGIN
	IF coalesce(cardinality(items), 0) <> n OR coalesce(cardinality(categories), 0) <> n
	   OR (kinds IS NOT NULL AND cardinality(kinds) <> n)
	   OR (weights IS NOT NULL AND cardinality(weights) <> n)
	   OR (occurred_at IS NOT NULL AND cardinality(occurred_at) <> n) THEN
		RAISE EXCEPTION 'track_many() needs arrays of equal length'
			USING ERRCODE = 'array_subscript_error';
	END IF;
	IF array_position(subjects, NULL) IS NOT NULL OR array_position(items, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'subject and item must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY(SELECT DISTINCT c FROM unnest(categories) c));
	SELECT k INTO bad_kind FROM unnest(kinds) k WHERE k !~ '^[a-z][a-z0-9_]{0,30}$' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'invalid interaction kind "%"', bad_kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
	INSERT INTO @extschema@.interactions (subject_id, item_id, category, kind, weight, occurred_at)
	SELECT s, i, c, coalesce(k, 'view'), coalesce(w, 1), coalesce(t, now())
	  FROM unnest(subjects, items, categories,
	              coalesce(kinds, array_fill(NULL::text, ARRAY[n])),
	              coalesce(weights, array_fill(NULL::real, ARRAY[n])),
	              coalesce(occurred_at, array_fill(NULL::timestamptz, ARRAY[n]))) AS u(s, i, c, k, w, t);
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END $$;

CREATE OR REPLACE FUNCTION train(algorithm text, purpose text DEFAULT 'recommendation',
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
	IF half_life <= interval '0' THEN
		RAISE EXCEPTION 'half_life must be positive, not %', half_life
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example: half_life => ''30 days''.';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'train models');
	RETURN @extschema@.train_model(algorithm, purpose, p, @extschema@.acting_role());
END $$;

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
	PERFORM @extschema@.check_purpose_exists(purpose);
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

CREATE OR REPLACE FUNCTION model_card(model bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	card jsonb;
BEGIN
	IF model IS NULL THEN
		RAISE EXCEPTION 'model must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
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
	  INTO card
	  FROM @extschema@.models m JOIN @extschema@.purposes p ON p.name = m.purpose
	 WHERE m.model_id = model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist', model
			USING ERRCODE = 'undefined_object', HINT = 'Models are listed in personalize.models.';
	END IF;
	RETURN card;
END $$;

CREATE OR REPLACE FUNCTION feedback(subject bigint, item bigint, reward real DEFAULT 1,
                         purpose text DEFAULT 'recommendation', kind text DEFAULT 'click')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	consented boolean;
BEGIN
	IF subject IS NULL OR item IS NULL OR purpose IS NULL THEN
		RAISE EXCEPTION 'subject, item and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF reward IS NULL THEN
		RAISE EXCEPTION 'reward must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT (reward >= 0 AND reward <= 1) THEN
		RAISE EXCEPTION 'reward must be between 0 and 1, not %', reward
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Record a click or a conversion as 1, a partial outcome as a fraction.';
	END IF;
	IF kind IS NULL THEN
		RAISE EXCEPTION 'kind must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid feedback kind "%"', kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'record feedback');
	IF NOT (SELECT bool_and(p.personal_data_allowed AND NOT p.decides_terms) FROM @extschema@.purposes p
	         WHERE p.name = feedback.purpose OR starts_with(feedback.purpose, p.name || '.')) THEN
		RAISE EXCEPTION 'purpose "%" may not use personal data', purpose
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Feedback is personal data; personalized pricing is refused.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.items i WHERE i.item_id = item) THEN
		RAISE EXCEPTION 'item % is not in the catalogue', item
			USING ERRCODE = 'undefined_object', HINT = 'Items are listed in personalize.items.';
	END IF;
	SELECT @extschema@.tier(c.consent) >= 'functional' INTO consented
	  FROM @extschema@.consents c
	 WHERE c.subject_id = subject AND c.purpose = ANY (@extschema@.purpose_chain(feedback.purpose))
	 ORDER BY length(c.purpose) DESC LIMIT 1;
	INSERT INTO @extschema@.feedback (subject_id, purpose, item_id, kind, reward)
	VALUES (CASE WHEN consented THEN subject END, purpose, item, kind, reward);
	PERFORM @extschema@.bandit_reward(purpose, item, reward);
END $$;
