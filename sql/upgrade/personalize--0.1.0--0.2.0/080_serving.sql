-- Serving: trigger functions PUBLIC cannot attach; row triggers for the
-- logical replication apply worker; feedback follows the purpose rules.
REVOKE ALL ON FUNCTION serving_changed() FROM PUBLIC;
COMMENT ON FUNCTION serving_changed() IS 'trigger on items and models: recommend() rebuilds its snapshot after the change commits';
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON items
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON models
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
ALTER TABLE items ENABLE REPLICA TRIGGER serving_changed_apply;
ALTER TABLE models ENABLE REPLICA TRIGGER serving_changed_apply;

CREATE OR REPLACE FUNCTION feedback(subject bigint, item bigint, reward real DEFAULT 1,
                         purpose text DEFAULT 'recommendation', kind text DEFAULT 'click')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	consented boolean;
BEGIN
	IF subject IS NULL OR item IS NULL OR purpose IS NULL THEN
		RAISE EXCEPTION 'subject, item and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF reward IS NULL OR NOT (reward >= 0 AND reward <= 1) THEN
		RAISE EXCEPTION 'reward must be between 0 and 1, not %', coalesce(reward::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Record a click or a conversion as 1, a partial outcome as a fraction.';
	END IF;
	IF kind IS NULL OR kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid feedback kind "%"', kind USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'record feedback');
	IF NOT (SELECT bool_and(p.personal_data_allowed AND NOT p.decides_terms) FROM @extschema@.purposes p
	         WHERE p.name = feedback.purpose OR starts_with(feedback.purpose, p.name || '.')) THEN
		RAISE EXCEPTION 'purpose "%" may not use personal data', purpose
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Feedback is personal data; personalized pricing is refused.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.items i WHERE i.item_id = item) THEN
		RAISE EXCEPTION 'item % is not in the catalogue', item USING ERRCODE = 'undefined_object';
	END IF;
	SELECT @extschema@.tier(c.consent) >= 'functional' INTO consented
	  FROM @extschema@.consents c
	 WHERE c.subject_id = subject AND c.purpose = ANY (@extschema@.purpose_chain(feedback.purpose))
	 ORDER BY length(c.purpose) DESC LIMIT 1;
	INSERT INTO @extschema@.feedback (subject_id, purpose, item_id, kind, reward)
	VALUES (CASE WHEN consented THEN subject END, purpose, item, kind, reward);
	PERFORM @extschema@.bandit_reward(purpose, item, reward);
END $$;

