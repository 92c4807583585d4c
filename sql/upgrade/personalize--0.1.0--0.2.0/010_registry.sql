-- Registry: purposes that decide prices or terms, explicit inheritance of
-- grants and consents by sub-purposes, and registry tables that only their
-- owner and the extension's functions can change.

CREATE FUNCTION seal_registry_table(tbl regclass, readable boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	IF readable THEN
		EXECUTE format('CREATE POLICY readable ON %s FOR SELECT USING (true)', tbl);
	END IF;
END $$;
REVOKE ALL ON FUNCTION seal_registry_table(regclass, boolean) FROM PUBLIC;
COMMENT ON FUNCTION seal_registry_table(regclass, boolean) IS 'install-time helper: only the owner and the extension''s functions write a registry table';

REVOKE ALL ON FUNCTION check_category_limit() FROM PUBLIC;
COMMENT ON FUNCTION check_category_limit() IS 'trigger: at most 64 signal categories (the consent check keeps one bit per category)';

ALTER TABLE purposes ADD COLUMN decides_terms boolean NOT NULL DEFAULT false;
ALTER TABLE purposes ADD COLUMN inherits boolean NOT NULL DEFAULT false;
ALTER TABLE purposes DROP CONSTRAINT pricing_never_personal;
-- 0.1.0 sub-purposes always inherited their parent's grants and consents:
-- they keep doing so.  What decides prices or terms is now a property:
-- pricing and everything below it, and any purpose whose name says it sets
-- prices or terms.  Such a purpose never reads personal data, whatever it
-- was registered with (personalized pricing is refused).
UPDATE purposes SET inherits = true WHERE name ~ '\.';
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT p.name FROM @extschema@.purposes p
		 WHERE p.personal_data_allowed
		   AND p.name ~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)'
		 ORDER BY p.name
	LOOP
		RAISE WARNING 'purpose "%" decides prices or terms: it never reads personal data from now on', r.name;
	END LOOP;
	UPDATE @extschema@.purposes p SET decides_terms = true, personal_data_allowed = false
	 WHERE p.name = 'pricing' OR p.name LIKE 'pricing.%'
	    OR p.name ~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)';
END $$;
ALTER TABLE purposes ADD CONSTRAINT terms_never_personal CHECK (NOT (decides_terms AND personal_data_allowed));
ALTER TABLE purposes ADD CONSTRAINT price_names_decide_terms
	CHECK (decides_terms OR name !~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)');
ALTER TABLE purposes ADD CONSTRAINT top_level_inherits_nothing CHECK (NOT inherits OR name ~ '\.');
COMMENT ON TABLE purposes IS 'why personal data may be read; dotted names form a hierarchy in which a sub-purpose is never wider than its parent, and is covered by its parent''s grants and consents only when it inherits';
COMMENT ON COLUMN purposes.name IS 'dotted lower-case name; "marketing.email" is a sub-purpose of "marketing"';
COMMENT ON COLUMN purposes.description IS 'what the purpose is for, in words a person understands';
COMMENT ON COLUMN purposes.max_tier IS 'highest consent tier whose categories the purpose may read (the lowest along its ancestors applies)';
COMMENT ON COLUMN purposes.personal_data_allowed IS 'false: reading personal data under the purpose is an error (so is reading under a sub-purpose)';
COMMENT ON COLUMN purposes.builtin IS 'installed by the extension (not dumped)';
COMMENT ON COLUMN purposes.decides_terms IS 'the purpose decides prices or terms offered to a person; such a purpose, and every sub-purpose of it, never reads personal data';
COMMENT ON COLUMN purposes.inherits IS 'a sub-purpose covered by its parent''s purpose grants, consents and active model; false: it needs its own';

DROP FUNCTION create_purpose(text, text, consent_tier, boolean);
CREATE FUNCTION purpose_chain(purpose text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE chain (name, inherits, depth) AS (
		SELECT p.name, p.inherits, 1 FROM @extschema@.purposes p WHERE p.name = purpose_chain.purpose
		UNION ALL
		SELECT p.name, p.inherits, c.depth + 1
		  FROM chain c JOIN @extschema@.purposes p ON p.name = substring(c.name FROM '^(.*)\.[^.]+$')
		 WHERE c.inherits)
	SELECT coalesce(array_agg(name ORDER BY depth), '{}') FROM chain
$$;

COMMENT ON FUNCTION purpose_chain(text) IS 'the purpose and the ancestors it inherits grants and consents from, most specific first (empty for an unknown purpose)';

CREATE FUNCTION create_purpose(name text, description text, max_tier consent_tier,
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
	IF parent_name IS NOT NULL THEN
		SELECT * INTO parent FROM @extschema@.purposes p WHERE p.name = parent_name;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'parent purpose "%" of "%" does not exist', parent_name, name
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Create the parent purpose first.';
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

COMMENT ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) IS
	'register a purpose; say whether it decides prices or terms (then it never reads personal data) and, for a sub-purpose, whether it inherits its parent''s grants and consents';
REVOKE ALL ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) FROM PUBLIC;

COMMENT ON TABLE purpose_grants IS 'roles allowed to declare a purpose (and the sub-purposes that inherit from it)';
COMMENT ON COLUMN purpose_grants.role IS 'the grantee; its members with INHERIT hold the purpose too';
COMMENT ON COLUMN purpose_grants.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_grants.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_grants.granted_at IS 'when';
COMMENT ON FUNCTION acting_role() IS 'the role a session acts as (SET ROLE counts), also inside SECURITY DEFINER functions';

CREATE OR REPLACE FUNCTION grant_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	INSERT INTO @extschema@.purpose_grants (role, purpose, granted_by)
	VALUES (role, purpose, @extschema@.acting_role())
	ON CONFLICT DO NOTHING;
	EXECUTE format('GRANT SELECT ON @extschema@.interactions TO %s', role);
END $$;

CREATE OR REPLACE FUNCTION revoke_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role) THEN
		EXECUTE format('REVOKE SELECT ON @extschema@.interactions FROM %s', role);
	END IF;
END $$;

COMMENT ON FUNCTION grant_purpose(regrole, text) IS 'allow a role (and its members) to declare a purpose; gives it SELECT on personalize.interactions';
COMMENT ON FUNCTION revoke_purpose(regrole, text) IS 'withdraw a purpose grant (and SELECT on personalize.interactions with the role''s last one); takes effect at the role''s next statement';

SELECT seal_registry_table('signal_categories', true);
SELECT seal_registry_table('purposes', true);
SELECT seal_registry_table('purpose_grants', false);
