-- Erasure and proof of consent (issue 11): erase_subject() replaces an
-- erased subject's id in the consent ledger by a keyed hash, the one change
-- the append-only trigger lets through.  The definitions are those of
-- sql/install/050_ledger.sql and 080_audit.sql.

ALTER TABLE consent_ledger
	ALTER COLUMN subject_id DROP NOT NULL,
	ADD COLUMN subject_key bytea,
	ADD CONSTRAINT subject_id_or_key CHECK ((subject_id IS NULL) <> (subject_key IS NULL));
COMMENT ON COLUMN consent_ledger.subject_id IS 'the person the consent is about (NULL once erased: see subject_key)';
COMMENT ON COLUMN consent_ledger.subject_key IS 'after erase_subject(): the keyed hash of the subject id (personalize.subject_key()), kept as proof of consent; NULL before';

-- Append-only, with one exception: erase_subject() replaces an erased
-- subject's id by its keyed hash, and the id wherever the free-text fields
-- quote it by "[erased]".  An update doing exactly that, and nothing else,
-- passes; anything else is refused, whoever tries.
CREATE OR REPLACE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.subject_id IS NOT NULL AND NEW.subject_id IS NULL
	   AND NEW.subject_key = @extschema@.subject_key(OLD.subject_id)
	   AND (NEW.entry_id, NEW.purpose, NEW.action, NEW.consent::text, NEW.recorded_by, NEW.recorded_at)
	       IS NOT DISTINCT FROM (OLD.entry_id, OLD.purpose, OLD.action, OLD.consent::text, OLD.recorded_by, OLD.recorded_at)
	   AND NEW.source IS NOT DISTINCT FROM @extschema@.redact_subject(OLD.source, OLD.subject_id)
	   AND NEW.notice_version IS NOT DISTINCT FROM @extschema@.redact_subject(OLD.notice_version, OLD.subject_id) THEN
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'the consent ledger is append-only'
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'Record a change with personalize.set_consent() or personalize.withdraw_consent().';
END $$;
REVOKE ALL ON FUNCTION refuse_ledger_change() FROM PUBLIC;
COMMENT ON FUNCTION refuse_ledger_change() IS 'trigger: the consent ledger is append-only, except for the pseudonymization erase_subject() does';

CREATE OR REPLACE VIEW consent_history AS
SELECT entry_id, subject_id, purpose, action, consent, @extschema@.tier(consent) AS tier,
       source, notice_version, recorded_by, recorded_at, subject_key
  FROM @extschema@.consent_ledger;
COMMENT ON COLUMN consent_history.subject_key IS 'the keyed hash that replaced the subject id at erasure (NULL before)';
