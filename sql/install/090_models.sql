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
COMMENT ON COLUMN interaction_kinds.kind IS 'the kind, as interactions.kind spells it';
COMMENT ON COLUMN interaction_kinds.weight IS 'training weight (a kind not listed weighs 1)';
COMMENT ON COLUMN interaction_kinds.builtin IS 'installed by the extension; a restore keeps a changed weight';
INSERT INTO interaction_kinds VALUES
	('view', 1, true), ('click', 1, true), ('wishlist', 2, true),
	('cart', 3, true), ('purchase', 5, true), ('rating', 1, true);
GRANT SELECT ON interaction_kinds TO PUBLIC;

CREATE TABLE models (
	model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	algorithm       text NOT NULL CHECK (algorithm IN ('als', 'ease', 'itemknn', 'popularity', 'rp3beta')),
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
COMMENT ON COLUMN models.model_id IS 'the version number, in order of training';
COMMENT ON COLUMN models.algorithm IS 'als, ease, itemknn, rp3beta or popularity';
COMMENT ON COLUMN models.purpose IS 'the purpose it was trained under and serves';
COMMENT ON COLUMN models.status IS 'training, candidate, active (at most one per purpose), rejected or retired';
COMMENT ON COLUMN models.params IS 'the parameters used, defaults included (what train() was asked for while training)';
COMMENT ON COLUMN models.data IS 'data snapshot: rows, subjects and items used, time range, categories used and skipped, subjects left out';
COMMENT ON COLUMN models.metrics IS 'held-out metrics at k: precision, recall, NDCG, MAP, coverage, Gini of exposure';
COMMENT ON COLUMN models.privacy IS 'privacy figures, when the training method has any';
COMMENT ON COLUMN models.warnings IS 'what the model card warns about (unjustified categories skipped, unknown kinds...)';
COMMENT ON COLUMN models.trained_by IS 'the role that trained it (a job''s owner for a retrained model)';
COMMENT ON COLUMN models.created_at IS 'when training started';
COMMENT ON COLUMN models.training_ms IS 'how long training took';
COMMENT ON COLUMN models.activated_at IS 'when it last became active';
COMMENT ON COLUMN models.retired_at IS 'when another model replaced it';
COMMENT ON COLUMN models.status_reason IS 'why it has its status (rejected against the active model, replaced by model n, parameters pruned)';
GRANT SELECT ON models TO PUBLIC;

CREATE TABLE model_item_factors (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	factors  embedding NOT NULL,
	idf      real,
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
COMMENT ON TABLE model_item_factors IS 'item factors of ALS models (no subject factors are stored: they are folded in at request time)';
COMMENT ON COLUMN model_item_factors.model_id IS 'the model';
COMMENT ON COLUMN model_item_factors.item_id IS 'the item';
COMMENT ON COLUMN model_item_factors.factors IS 'the item''s latent factors';
COMMENT ON COLUMN model_item_factors.idf IS 'weighting log_idf: the factor fold-in multiplies the item''s ln(1 + value) by (its idf over the mean); NULL for the other weightings';
COMMENT ON TABLE model_neighbors IS 'the neighbours of each item in item-kNN, RP3beta and EASE models';
COMMENT ON COLUMN model_neighbors.model_id IS 'the model';
COMMENT ON COLUMN model_neighbors.item_id IS 'the item';
COMMENT ON COLUMN model_neighbors.neighbor_id IS 'a similar item';
COMMENT ON COLUMN model_neighbors.score IS 'what the item adds to the neighbour''s score: a similarity (item-kNN), a walk probability (RP3beta) or a weight, possibly negative (EASE)';
COMMENT ON TABLE model_popularity IS 'item scores of popularity models (also the fallback of the others for subjects without history)';
COMMENT ON COLUMN model_popularity.model_id IS 'the model';
COMMENT ON COLUMN model_popularity.item_id IS 'the item';
COMMENT ON COLUMN model_popularity.category IS 'the item''s catalogue category when trained';
COMMENT ON COLUMN model_popularity.score IS 'summed interaction weights (time-decayed by half_life in popularity models)';
GRANT SELECT ON model_item_factors, model_neighbors, model_popularity TO PUBLIC;
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['interaction_kinds', 'models', 'model_item_factors', 'model_neighbors', 'model_popularity']::regclass[]) t;

CREATE TRIGGER merge_restored BEFORE INSERT ON interaction_kinds
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('kind', 'weight');
SELECT pg_catalog.pg_extension_config_dump('interaction_kinds', '');
SELECT pg_catalog.pg_extension_config_dump('models', '');
SELECT pg_catalog.pg_extension_config_dump('models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('model_item_factors', '');
SELECT pg_catalog.pg_extension_config_dump('model_neighbors', '');
SELECT pg_catalog.pg_extension_config_dump('model_popularity', '');

CREATE FUNCTION train_model(algorithm text, purpose text, params jsonb, trained_by name)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'pz_train_model' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION train_model(text, text, jsonb, name) FROM PUBLIC;
COMMENT ON FUNCTION train_model(text, text, jsonb, name) IS 'train(), retrain jobs: fit, evaluate, store and gate a model from parameters in jsonb, on behalf of a role (no purpose check)';

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
COMMENT ON FUNCTION require_purpose(text, text) IS 'an error unless the acting role (SET ROLE counts) may act under the purpose; the action names what was refused';

CREATE FUNCTION train(algorithm text, purpose text DEFAULT 'recommendation',
                      factors integer DEFAULT NULL, iterations integer DEFAULT NULL,
                      regularization real DEFAULT NULL, alpha real DEFAULT NULL,
                      neighbors integer DEFAULT NULL, weighting text DEFAULT NULL,
                      half_life interval DEFAULT NULL, tune boolean DEFAULT false,
                      holdout real DEFAULT NULL, k integer DEFAULT NULL,
                      seed bigint DEFAULT NULL, activate text DEFAULT 'auto',
                      params jsonb DEFAULT '{}',
                      dp_epsilon float8 DEFAULT NULL, dp_delta float8 DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p jsonb := coalesce(params, '{}') || jsonb_strip_nulls(jsonb_build_object(
		'factors', factors, 'iterations', iterations, 'regularization', regularization,
		'alpha', alpha, 'neighbors', neighbors, 'weighting', weighting,
		'half_life_days', extract(epoch FROM half_life) / 86400, 'tune', tune,
		'holdout', holdout, 'k', k, 'seed', seed, 'activate', activate,
		'dp_epsilon', dp_epsilon, 'dp_delta', dp_delta));
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
COMMENT ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) IS
	'train a model (als, ease, itemknn, rp3beta, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one; with dp_epsilon, with differential privacy, paid from the purpose''s privacy budget';
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) FROM PUBLIC;

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

CREATE FUNCTION rollback_model(purpose text DEFAULT 'recommendation') RETURNS bigint
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
COMMENT ON FUNCTION rollback_model(text) IS 'reactivate the most recently active retired model of a purpose';
REVOKE ALL ON FUNCTION activate_model(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollback_model(text) FROM PUBLIC;

-- The model card: generated from training metadata, never written by hand.
-- What it says of the purpose and the categories is what the registry said
-- as training began (models.data), so editing the registry later changes
-- no card; a model without such a record (made by hand, or trained before
-- 0.3.0 and not frozen by the update) shows the registry as it is now, and
-- says so.  The erasure section is the model's state, not its history: how
-- many subjects it was trained with were erased since, and when the retrain
-- job will replace it.
CREATE FUNCTION model_card(model bigint) RETURNS jsonb
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
		'purpose', jsonb_build_object('name', m.purpose,
		                              'description', coalesce(m.data ->> 'purpose_description', p.description)),
		'trained_at', m.created_at,
		'trained_by', m.trained_by,
		'signal_categories', coalesce(m.data -> 'categories', (
			SELECT jsonb_agg(jsonb_build_object('category', c.name, 'tier', c.tier,
			                                    'justification', c.justification,
			                                    'retention', c.retention::text) ORDER BY c.name)
			  FROM @extschema@.signal_categories c
			 WHERE c.name IN (SELECT jsonb_array_elements_text(m.data -> 'categories_used'))), '[]'),
		'registry_recorded', coalesce(m.data ->> 'registry_recorded',
		                              CASE WHEN m.data ? 'categories' THEN 'at training'
		                                   ELSE 'not recorded: purpose and categories as the registry says now' END),
		'categories_without_rows', coalesce(m.data -> 'categories_without_rows', '[]'),
		'categories_skipped', coalesce(m.data -> 'categories_skipped', '[]'),
		'data', m.data - 'categories_used' - 'categories_skipped' - 'categories' - 'categories_without_rows'
		               - 'purpose_description' - 'registry' - 'registry_recorded',
		'hyperparameters', m.params,
		'metrics', m.metrics,
		'privacy', jsonb_build_object('differential_privacy', false) || coalesce(m.privacy, '{}'),
		'erasure', @extschema@.model_erasure_state(m.model_id),
		'intended_use', 'Ranking catalogue items by predicted preference for subjects who consented to the purpose "'
		                || m.purpose || '".',
		'not_intended_for', jsonb_build_array(
			'pricing or any decision about what a person pays (personalized pricing is refused)',
			'inferring demographic or other sensitive attributes of a person',
			'decisions with legal or similarly significant effects on a person'),
		'limitations', jsonb_build_array(
			'Learns only from subjects and categories with consent at training time; subjects who withdraw are removed at the next version, and get no personalized output at once.',
			'Erased subjects get no personalized output at once; the retrain job replaces a model trained with them (see "erasure"), and older versions trained with them lose their parameters.',
			'Rows past their category''s retention are not read; what the model learned from rows that expired since training stays until the next version.',
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
COMMENT ON FUNCTION model_card(bigint) IS 'the model card of a model version, as jsonb (jsonb_pretty() prints it readably)';

-- One line per version, narrow enough for a terminal; the card itself is
-- on demand: SELECT jsonb_pretty(personalize.model_card(model_id)).
CREATE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'k')::integer AS k,
       round((m.metrics ->> 'ndcg_at_k')::numeric, 4) AS ndcg_at_k,
       round((m.metrics ->> 'recall_at_k')::numeric, 4) AS recall_at_k,
       round((m.metrics ->> 'coverage')::numeric, 4) AS coverage,
       round((m.metrics ->> 'gini')::numeric, 4) AS gini,
       cardinality(m.warnings) AS warnings,
       m.status_reason
  FROM @extschema@.models m;
COMMENT ON VIEW model_cards IS 'one line per model version: status, data and held-out metrics; the full card is personalize.model_card(model_id)';
COMMENT ON COLUMN model_cards.model_id IS 'the version';
COMMENT ON COLUMN model_cards.algorithm IS 'als, ease, itemknn, rp3beta or popularity';
COMMENT ON COLUMN model_cards.purpose IS 'the purpose it serves';
COMMENT ON COLUMN model_cards.status IS 'training, candidate, active, rejected or retired';
COMMENT ON COLUMN model_cards.created_at IS 'when training started';
COMMENT ON COLUMN model_cards.subjects_included IS 'subjects whose interactions it was trained on';
COMMENT ON COLUMN model_cards.subjects_left_out IS 'subjects left out for lack of consent (rounded down to a multiple of 10)';
COMMENT ON COLUMN model_cards.k IS 'the cutoff of the held-out metrics';
COMMENT ON COLUMN model_cards.ndcg_at_k IS 'held-out NDCG@k (activation compares it)';
COMMENT ON COLUMN model_cards.recall_at_k IS 'held-out recall@k';
COMMENT ON COLUMN model_cards.coverage IS 'share of the catalogue that appears in the held-out subjects'' top k';
COMMENT ON COLUMN model_cards.gini IS 'Gini coefficient of how often each catalogue item appears in those top-k lists (0: evenly)';
COMMENT ON COLUMN model_cards.warnings IS 'how many warnings the card carries (model_card(model_id) -> ''warnings'')';
COMMENT ON COLUMN model_cards.status_reason IS 'why it has its status';
