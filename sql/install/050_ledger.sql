-- The consent ledger (append-only) and the current consent of each subject
-- for each purpose.  Neither is readable by application roles: they go
-- through set_consent(), withdraw_consent() and consent_of().

CREATE TABLE consent_ledger (
	entry_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject_id     bigint,
	purpose        text NOT NULL REFERENCES purposes (name),
	action         text NOT NULL CHECK (action IN ('set', 'withdraw')),
	consent        consent NOT NULL,
	source         text,
	notice_version text,
	recorded_by    name NOT NULL,
	recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
	subject_key    bytea,
	-- erase_subject() replaces the id by its keyed hash, nothing else
	CONSTRAINT subject_id_or_key CHECK ((subject_id IS NULL) <> (subject_key IS NULL))
);
CREATE INDEX ON consent_ledger (subject_id, recorded_at);
COMMENT ON TABLE consent_ledger IS 'every consent change, append-only: who, what, when, from where, under which notice';
COMMENT ON COLUMN consent_ledger.entry_id IS 'order of recording';
COMMENT ON COLUMN consent_ledger.subject_id IS 'the person the consent is about (NULL once erased: see subject_key)';
COMMENT ON COLUMN consent_ledger.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_ledger.action IS 'set (set_consent()) or withdraw (withdraw_consent())';
COMMENT ON COLUMN consent_ledger.consent IS 'the consent recorded (none for a withdrawal)';
COMMENT ON COLUMN consent_ledger.source IS 'where the person gave it (banner, settings page, support...), as the caller said';
COMMENT ON COLUMN consent_ledger.notice_version IS 'the version of the notice the person was shown';
COMMENT ON COLUMN consent_ledger.recorded_by IS 'the role that recorded it (SET ROLE counts)';
COMMENT ON COLUMN consent_ledger.recorded_at IS 'when it was recorded (clock time, so entries of one transaction are ordered)';
COMMENT ON COLUMN consent_ledger.subject_key IS 'after erase_subject(): the keyed hash of the subject id (personalize.subject_key()), kept as proof of consent; NULL before';

CREATE TABLE consents (
	subject_id bigint NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name),
	consent    consent NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (subject_id, purpose)
);
CREATE INDEX ON consents (purpose);
COMMENT ON TABLE consents IS 'current consent per subject and purpose (the latest ledger entry)';
COMMENT ON COLUMN consents.subject_id IS 'the person';
COMMENT ON COLUMN consents.purpose IS 'the purpose';
COMMENT ON COLUMN consents.consent IS 'the consent in force';
COMMENT ON COLUMN consents.updated_at IS 'when it was last recorded';

-- Append-only, with one exception: erase_subject() replaces an erased
-- subject's id by its keyed hash, and the id wherever the free-text fields
-- quote it by "[erased]".  An update doing exactly that, and nothing else,
-- passes; anything else is refused, whoever tries.
CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql
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
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON consent_ledger
	FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON consent_ledger
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
-- also under session_replication_role = replica
ALTER TABLE consent_ledger ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE consent_ledger ENABLE ALWAYS TRIGGER append_only_truncate;

-- One wording and SQLSTATE for each error about names, wherever a name is
-- taken (the C code says the same, src/consent/purpose.h): NULL is 22004,
-- a malformed purpose name 42602, a name nobody registered 42704.
CREATE FUNCTION check_categories(names text[]) RETURNS void LANGUAGE plpgsql STABLE
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
COMMENT ON FUNCTION check_categories(text[]) IS 'an error unless every name is a registered signal category';

CREATE FUNCTION check_purpose_exists(purpose text) RETURNS void LANGUAGE plpgsql STABLE
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
COMMENT ON FUNCTION check_purpose_exists(text) IS 'an error unless the purpose is registered (NULL and malformed names have errors of their own)';

CREATE FUNCTION record_consent(subject bigint, purpose text, action text, c consent,
                               source text, notice_version text)
RETURNS consent LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	PERFORM @extschema@.check_categories(@extschema@.granted(c) || @extschema@.denied(c));
	INSERT INTO @extschema@.consent_ledger
		(subject_id, purpose, action, consent, source, notice_version, recorded_by)
	VALUES (subject, purpose, action, c, source, notice_version, @extschema@.acting_role());
	INSERT INTO @extschema@.consents AS cur (subject_id, purpose, consent, updated_at)
	VALUES (subject, purpose, c, clock_timestamp())
	ON CONFLICT ON CONSTRAINT consents_pkey
	DO UPDATE SET consent = excluded.consent, updated_at = excluded.updated_at;
	RETURN c;
END $$;
REVOKE ALL ON FUNCTION record_consent(bigint, text, text, consent, text, text) FROM PUBLIC;
COMMENT ON FUNCTION record_consent(bigint, text, text, consent, text, text) IS 'set_consent() and withdraw_consent(): append to the ledger and replace the current consent, after checking the purpose and categories';

CREATE FUNCTION refuse_null_tier() RETURNS consent LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'consent tier must not be null'
		USING ERRCODE = 'null_value_not_allowed',
		      HINT = 'Use ''none'' to record that nothing is allowed, or personalize.withdraw_consent().';
END $$;

REVOKE ALL ON FUNCTION refuse_null_tier() FROM PUBLIC;
COMMENT ON FUNCTION refuse_null_tier() IS 'set_consent() helper: a NULL tier is an error';

CREATE FUNCTION set_consent(subject bigint, purpose text, tier consent_tier,
                            "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}',
                            source text DEFAULT NULL, notice_version text DEFAULT NULL)
RETURNS consent LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tier IS NULL
	            THEN @extschema@.refuse_null_tier()
	            ELSE @extschema@.record_consent(subject, purpose, 'set',
	                     @extschema@.make_consent(tier, "grant", deny), source, notice_version) END
$$;
COMMENT ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text) IS
	'record a subject''s consent for a purpose (replaces the previous one); effective from the next statement';

CREATE FUNCTION withdraw_consent(subject bigint, purpose text, source text DEFAULT NULL,
                                 notice_version text DEFAULT NULL)
RETURNS consent LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	child text;
BEGIN
	-- a withdrawal of "marketing" also withdraws "marketing.email" and below
	FOR child IN
		SELECT c.purpose FROM @extschema@.consents c
		 WHERE c.subject_id = withdraw_consent.subject
		   AND starts_with(c.purpose, withdraw_consent.purpose || '.')
		   AND @extschema@.tier(c.consent) <> 'none'
		 ORDER BY c.purpose
	LOOP
		PERFORM @extschema@.record_consent(subject, child, 'withdraw', 'none'::@extschema@.consent,
		                                   source, notice_version);
	END LOOP;
	RETURN @extschema@.record_consent(subject, purpose, 'withdraw', 'none'::@extschema@.consent,
	                                  source, notice_version);
END $$;
COMMENT ON FUNCTION withdraw_consent(bigint, text, text, text) IS
	'withdraw a subject''s consent for a purpose: nothing of theirs is visible under it from the next statement';

CREATE FUNCTION consent_of(subject bigint, purpose text) RETURNS consent
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	RETURN (SELECT c.consent FROM @extschema@.consents c
	         WHERE c.subject_id = consent_of.subject AND c.purpose = consent_of.purpose);
END $$;
COMMENT ON FUNCTION consent_of(bigint, text) IS 'a subject''s current consent for a purpose (NULL when none was ever recorded; the purpose must exist)';

REVOKE ALL ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION withdraw_consent(bigint, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION consent_of(bigint, text) FROM PUBLIC;

-- Subject-keyed: row-level security forced, and no policy, so only the
-- functions above (owned by the installing superuser) read or write them.
ALTER TABLE consent_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_ledger FORCE ROW LEVEL SECURITY;
ALTER TABLE consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE consents FORCE ROW LEVEL SECURITY;

SELECT pg_catalog.pg_extension_config_dump('consent_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('consents', '');
-- and where the ledger's numbering is, or a restored database would hand
-- out entry ids that exist already
SELECT pg_catalog.pg_extension_config_dump('consent_ledger_entry_id_seq', '');
