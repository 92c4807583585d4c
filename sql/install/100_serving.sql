-- Serving: recommend(), explain(), and what they leave behind (impressions,
-- feedback).  The active model and the catalogue are read into a snapshot
-- shared between sessions; committed changes to items or models replace it.

CREATE FUNCTION serving_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_serving_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION serving_changed() FROM PUBLIC;
COMMENT ON FUNCTION serving_changed() IS 'trigger on items and models: recommend() rebuilds its snapshot after the change commits';
-- Statement triggers fire in every session (a sponsored flag must reach
-- recommend() even under session_replication_role = replica); row triggers,
-- in replica sessions only, cover the logical replication apply worker,
-- which fires no statement triggers.
CREATE TRIGGER serving_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON items
	FOR EACH STATEMENT EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
	FOR EACH STATEMENT EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON items
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON models
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
ALTER TABLE items ENABLE ALWAYS TRIGGER serving_changed;
ALTER TABLE models ENABLE ALWAYS TRIGGER serving_changed;
ALTER TABLE items ENABLE REPLICA TRIGGER serving_changed_apply;
ALTER TABLE models ENABLE REPLICA TRIGGER serving_changed_apply;

-- Personal data (who was shown what): readable by the extension's owner
-- only, written by recommend() and feedback().
CREATE TABLE impressions (
	impression_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	shown_at      timestamptz NOT NULL DEFAULT now(),
	subject_id    bigint,
	purpose       text NOT NULL,
	model_id      bigint NOT NULL,
	item_id       bigint NOT NULL,
	rank          integer NOT NULL,
	score         real,
	explored      boolean NOT NULL,
	sponsored     boolean NOT NULL
);
CREATE INDEX ON impressions (subject_id, shown_at);
COMMENT ON TABLE impressions IS 'what recommend() showed: model version, rank, explored and sponsored flags (subject_id NULL without a consent for the purpose)';
COMMENT ON COLUMN impressions.impression_id IS 'order of recording';
COMMENT ON COLUMN impressions.shown_at IS 'when recommend() returned it';
COMMENT ON COLUMN impressions.subject_id IS 'to whom (NULL when the subject has no consent for the purpose)';
COMMENT ON COLUMN impressions.purpose IS 'the purpose recommend() was called under';
COMMENT ON COLUMN impressions.model_id IS 'the model version that ranked it';
COMMENT ON COLUMN impressions.item_id IS 'the item shown';
COMMENT ON COLUMN impressions.rank IS 'its position in the list, from 1';
COMMENT ON COLUMN impressions.score IS 'its score';
COMMENT ON COLUMN impressions.explored IS 'shown to explore, not for its score';
COMMENT ON COLUMN impressions.sponsored IS 'a sponsored item (disclosed in the reason)';

CREATE TABLE feedback (
	feedback_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	subject_id  bigint,
	purpose     text NOT NULL,
	item_id     bigint NOT NULL,
	kind        text NOT NULL,
	reward      real NOT NULL CHECK (reward >= 0 AND reward <= 1)
);
CREATE INDEX ON feedback (subject_id, recorded_at);
COMMENT ON TABLE feedback IS 'clicks and conversions on what was shown; rewards feed the exploration posteriors';
COMMENT ON COLUMN feedback.feedback_id IS 'order of recording';
COMMENT ON COLUMN feedback.recorded_at IS 'when feedback() recorded it';
COMMENT ON COLUMN feedback.subject_id IS 'who (NULL without a consent of tier functional or above for the purpose)';
COMMENT ON COLUMN feedback.purpose IS 'the purpose the item was recommended under';
COMMENT ON COLUMN feedback.item_id IS 'the item';
COMMENT ON COLUMN feedback.kind IS 'click, conversion... as the caller said';
COMMENT ON COLUMN feedback.reward IS 'the outcome, from 0 to 1';

ALTER TABLE impressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE impressions FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('impressions', '');
SELECT pg_catalog.pg_extension_config_dump('feedback', '');
SELECT pg_catalog.pg_extension_config_dump('impressions_impression_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feedback_feedback_id_seq', '');

CREATE FUNCTION recommend(subject bigint, k integer DEFAULT 10,
                          purpose text DEFAULT 'recommendation', category text DEFAULT NULL,
                          exclude bigint[] DEFAULT '{}', diversity real DEFAULT 0,
                          exploration real DEFAULT NULL, exclude_seen boolean DEFAULT true,
                          sponsored_share real DEFAULT NULL, seed bigint DEFAULT NULL)
RETURNS TABLE (item_id bigint, score real, rank integer, reason text,
               explored boolean, sponsored boolean)
	AS 'MODULE_PATHNAME', 'pz_recommend' LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION recommend(bigint, integer, text, text, bigint[], real, real, boolean, real, bigint) IS
	'top-k items for a subject from the active model of the purpose, with a reason per row, diversity, exploration and sponsored disclosure';

CREATE FUNCTION explain(subject bigint, item bigint, purpose text DEFAULT 'recommendation')
RETURNS TABLE (source text, history_item bigint, name text, kind text,
               contribution real, share real)
	AS 'MODULE_PATHNAME', 'pz_explain' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION explain(bigint, bigint, text) IS
	'what a recommendation score is made of: each history item''s contribution (ALS, item-kNN), or popularity';

CREATE FUNCTION bandit_reward(purpose text, item bigint, reward real) RETURNS void
	AS 'MODULE_PATHNAME', 'pz_bandit_reward' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION bandit_reward(text, bigint, real) FROM PUBLIC;
COMMENT ON FUNCTION bandit_reward(text, bigint, real) IS 'feedback() helper: add a reward to the item''s exploration counter in the shared snapshot of the purpose (or its nearest served ancestor)';


CREATE FUNCTION feedback(subject bigint, item bigint, reward real DEFAULT 1,
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
COMMENT ON FUNCTION feedback(bigint, bigint, real, text, text) IS
	'record a click or conversion (reward in [0, 1]) on a recommended item; it updates the exploration posteriors at once';

CREATE FUNCTION bandit_arms(purpose text DEFAULT 'recommendation')
RETURNS TABLE (item_id bigint, shown bigint, rewards real, posterior_mean real)
	AS 'MODULE_PATHNAME', 'pz_bandit_arms' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bandit_arms(text) IS
	'exploration posteriors of the items shown or rewarded under a purpose: Beta(1 + rewards, 1 + shown - rewards)';

CREATE FUNCTION serving_snapshots()
RETURNS TABLE (purpose text, model_id bigint, catalogue_version bigint, items integer, bytes bigint)
	AS 'MODULE_PATHNAME', 'pz_serving_snapshots' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION serving_snapshots() IS
	'model snapshots this database shares in memory between sessions (one per purpose being served)';
