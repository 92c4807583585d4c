-- train() takes dp_epsilon and dp_delta (a new signature: dropped and
-- created again); model_card() merges the privacy figures of a model with
-- the default (differential_privacy false) instead of replacing it.
-- Roles an administrator allowed to call train() keep that right.
SELECT pg_catalog.set_config('pz_upgrade.train_grantees',
       coalesce(string_agg(a.grantee::regrole::text, ','), ''), true)
  FROM pg_proc f, aclexplode(f.proacl) a
 WHERE f.oid = 'train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb)'::regprocedure
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> f.proowner;
DROP FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb);
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
	'train a model (als, itemknn, rp3beta, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one; with dp_epsilon, with differential privacy, paid from the purpose''s privacy budget';
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) FROM PUBLIC;

DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT g AS grantee FROM unnest(string_to_array(current_setting('pz_upgrade.train_grantees'), ',')) g LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) TO %s', r.grantee);
	END LOOP;
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
