-- Model cards frozen at training time (issue 11): training records the
-- purpose's description and each used category's tier, justification and
-- retention (with its rows and subjects) in models.data, and the card reads
-- them from there.  The definition is that of sql/install/090_models.sql.

-- The model card: generated from training metadata, never written by hand.
-- What it says of the purpose and the categories is what the registry said
-- as training began (models.data), so editing the registry later changes
-- no card; a model without such a record (made by hand, or trained before
-- 0.3.0 and not frozen by the update) shows the registry as it is now, and
-- says so.  The erasure section is the model's state, not its history: how
-- many subjects it was trained with were erased since, and when the retrain
-- job will replace it.
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
		'privacy', coalesce(m.privacy, jsonb_build_object('differential_privacy', false)),
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

-- Models trained before this version recorded nothing of the registry:
-- their cards are frozen now, with the registry as it is at the update,
-- and say so.
UPDATE models m
   SET data = m.data || jsonb_build_object(
	       'purpose_description', (SELECT p.description FROM purposes p WHERE p.name = m.purpose),
	       'categories', coalesce((
	           SELECT jsonb_agg(jsonb_build_object('category', c.name, 'tier', c.tier,
	                                               'justification', c.justification,
	                                               'retention', c.retention::text,
	                                               'rows', NULL, 'subjects', NULL) ORDER BY c.name)
	             FROM signal_categories c
	            WHERE c.name IN (SELECT jsonb_array_elements_text(m.data -> 'categories_used'))), '[]'),
	       'registry_recorded', 'at the update to 0.3.0: trained before cards recorded it; rows and subjects per category unknown')
 WHERE m.status <> 'training' AND NOT m.data ? 'categories';
