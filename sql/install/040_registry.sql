-- The vocabulary: signal categories, purposes, and which roles may act under
-- which purpose.  Rows marked builtin come from this script; they are
-- dumped like the others, so that what an administrator changed in them
-- survives a restore (merge_restored_builtin() below).

-- Registry tables change only through the extension's functions (SECURITY
-- DEFINER, owned by the installing superuser) or by their owner: row-level
-- security is forced and no policy allows writes, so neither table grants
-- nor pg_write_all_data (which does not bypass row-level security) can.
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

-- A restore runs CREATE EXTENSION, which writes the built-in rows as this
-- version ships them, and then loads the dumped rows, built-in ones
-- included.  A restored built-in row updates the installed one instead of
-- colliding with it, in the columns an administrator may tune (the
-- trigger's arguments after the key column): a weight, a retention or a
-- narrower tier cap set before the dump is set again.  A built-in row this
-- version does not have is inserted as it was.
CREATE FUNCTION merge_restored_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key text := TG_ARGV[0];
	merged bigint;
BEGIN
	IF NOT NEW.builtin THEN
		RETURN NEW;
	END IF;
	EXECUTE format('UPDATE %s t SET %s WHERE t.%I = ($1).%I AND t.builtin', TG_RELID::regclass,
	               (SELECT string_agg(format('%I = ($1).%I', c, c), ', ') FROM unnest(TG_ARGV[1:]) c),
	               key, key)
	USING NEW;
	GET DIAGNOSTICS merged = ROW_COUNT;
	RETURN CASE WHEN merged = 0 THEN NEW END;
END $$;
REVOKE ALL ON FUNCTION merge_restored_builtin() FROM PUBLIC;
COMMENT ON FUNCTION merge_restored_builtin() IS 'trigger: a restored built-in row updates the one CREATE EXTENSION wrote (in the columns named by the trigger''s arguments) instead of colliding with it';

CREATE TABLE signal_categories (
	name          text PRIMARY KEY
	              CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	tier          smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
	justification text CHECK (justification IS NULL OR btrim(justification) <> ''),
	retention     interval CHECK (retention IS NULL OR retention > interval '0'),
	builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE signal_categories IS 'kinds of personal signal; tier 1 functional, 2 personalization, 3 enhanced (per-category grant); a category without justification is never used for training';
COMMENT ON COLUMN signal_categories.name IS 'lower-case name, as consents and interactions.category spell it';
COMMENT ON COLUMN signal_categories.tier IS '1 functional, 2 personalization, 3 enhanced: the lowest consent tier that allows the category (tier 3 also needs an explicit grant)';
COMMENT ON COLUMN signal_categories.justification IS 'why the category is needed, shown on model cards; NULL: never used for training';
COMMENT ON COLUMN signal_categories.retention IS 'how long interactions of the category are kept (the retention job deletes older ones); NULL: no limit';
COMMENT ON COLUMN signal_categories.builtin IS 'installed by the extension; a restore keeps what was changed in its tier, justification and retention';

INSERT INTO signal_categories (name, tier, justification, retention, builtin) VALUES
	('session', 1, 'Signals of the current visit, needed to deliver the service (cart, recently viewed this session).', '1 day', true),
	('browsing_history', 2, 'Items viewed across visits, used to recommend related items.', '180 days', true),
	('purchase_history', 2, 'Items bought, used to recommend complements and avoid repeats.', '2 years', true),
	('preferences', 2, 'Preferences the person stated (favourite categories, sizes).', '2 years', true),
	('location', 3, 'Approximate location, used for local availability when granted.', '30 days', true),
	('demographic', 3, 'Age band or similar, only when the person grants it.', '1 year', true),
	('third_party', 3, 'Data from partners, only when the person grants it.', '90 days', true);

CREATE FUNCTION check_category_limit() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (SELECT count(*) FROM @extschema@.signal_categories) > 64 THEN
		RAISE EXCEPTION 'at most 64 signal categories can be registered'
			USING ERRCODE = 'program_limit_exceeded';
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION check_category_limit() FROM PUBLIC;
COMMENT ON FUNCTION check_category_limit() IS 'trigger: at most 64 signal categories (the consent check keeps one bit per category)';
CREATE TRIGGER category_limit AFTER INSERT ON signal_categories
	FOR EACH STATEMENT EXECUTE FUNCTION check_category_limit();

CREATE TABLE purposes (
	name                  text PRIMARY KEY
	                      CHECK (name ~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' AND length(name) <= 64),
	description           text NOT NULL,
	max_tier              consent_tier NOT NULL,
	personal_data_allowed boolean NOT NULL,
	builtin               boolean NOT NULL DEFAULT false,
	decides_terms         boolean NOT NULL DEFAULT false,
	inherits              boolean NOT NULL DEFAULT false,
	-- Deciding what a person pays, or on what terms, never uses personal data
	-- (personalized pricing is refused), whatever the purpose is called ...
	CONSTRAINT terms_never_personal CHECK (NOT (decides_terms AND personal_data_allowed)),
	-- ... and a name that says it sets prices or terms must declare it.
	CONSTRAINT price_names_decide_terms
		CHECK (decides_terms OR name !~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)'),
	CONSTRAINT top_level_inherits_nothing CHECK (NOT inherits OR name ~ '\.')
);
COMMENT ON TABLE purposes IS 'why personal data may be read; dotted names form a hierarchy in which a sub-purpose is never wider than its parent, and is covered by its parent''s grants and consents only when it inherits';
COMMENT ON COLUMN purposes.name IS 'dotted lower-case name; "marketing.email" is a sub-purpose of "marketing"';
COMMENT ON COLUMN purposes.description IS 'what the purpose is for, in words a person understands';
COMMENT ON COLUMN purposes.max_tier IS 'highest consent tier whose categories the purpose may read (the lowest along its ancestors applies)';
COMMENT ON COLUMN purposes.personal_data_allowed IS 'false: reading personal data under the purpose is an error (so is reading under a sub-purpose)';
COMMENT ON COLUMN purposes.builtin IS 'installed by the extension; a restore keeps what was changed in its description, tier cap and personal-data use';
COMMENT ON COLUMN purposes.decides_terms IS 'the purpose decides prices or terms offered to a person; such a purpose, and every sub-purpose of it, never reads personal data';
COMMENT ON COLUMN purposes.inherits IS 'a sub-purpose covered by its parent''s purpose grants, consents and active model; false: it needs its own';

INSERT INTO purposes (name, description, max_tier, personal_data_allowed, builtin, decides_terms) VALUES
	('service', 'Delivering the service the person asked for (session signals only).', 'functional', true, true, false),
	('recommendation', 'Recommending items to the person.', 'enhanced', true, true, false),
	('analytics', 'Aggregate analysis of how the service is used.', 'personalization', true, true, false),
	('marketing', 'Marketing messages to the person.', 'enhanced', true, true, false),
	('pricing', 'Setting prices. Personal data is never used: personalized pricing is refused.', 'none', false, true, true);

-- The purposes whose grants and consents cover a purpose: itself, then each
-- ancestor as long as the purpose below it inherits.  Most specific first.
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
COMMENT ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) IS
	'register a purpose; say whether it decides prices or terms (then it never reads personal data) and, for a sub-purpose, whether it inherits its parent''s grants and consents';

CREATE TABLE purpose_grants (
	role       regrole NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name) ON DELETE CASCADE,
	granted_by name NOT NULL DEFAULT current_user,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (role, purpose)
);
COMMENT ON TABLE purpose_grants IS 'roles allowed to declare a purpose (and the sub-purposes that inherit from it)';
COMMENT ON COLUMN purpose_grants.role IS 'the grantee; its members with INHERIT hold the purpose too';
COMMENT ON COLUMN purpose_grants.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_grants.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_grants.granted_at IS 'when';

-- The role on whose behalf a change is made: SET ROLE counts, and so does
-- the caller of a SECURITY DEFINER function.
CREATE FUNCTION acting_role() RETURNS name LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN current_setting('role') = 'none' THEN session_user
	            ELSE current_setting('role')::name END
$$;
COMMENT ON FUNCTION acting_role() IS 'the role a session acts as (SET ROLE counts), also inside SECURITY DEFINER functions';

-- Holding a purpose is what makes a role a reader of personal data, so it
-- also gives SELECT on personalize.interactions (which PUBLIC does not have).
CREATE FUNCTION grant_purpose(role regrole, purpose text) RETURNS void
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
COMMENT ON FUNCTION grant_purpose(regrole, text) IS 'allow a role (and its members) to declare a purpose; gives it SELECT on personalize.interactions';

CREATE FUNCTION revoke_purpose(role regrole, purpose text) RETURNS void
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
COMMENT ON FUNCTION revoke_purpose(regrole, text) IS 'withdraw a purpose grant (and SELECT on personalize.interactions with the role''s last one); takes effect at the role''s next statement';

CREATE FUNCTION declare_purpose(purpose text) RETURNS text LANGUAGE sql
AS $$ SELECT pg_catalog.set_config('personalize.purpose', purpose, false) $$;
COMMENT ON FUNCTION declare_purpose(text) IS 'function form of SET personalize.purpose (same checks)';
CREATE FUNCTION current_purpose() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT nullif(pg_catalog.current_setting('personalize.purpose', true), '') $$;
COMMENT ON FUNCTION current_purpose() IS 'the purpose this session declared, or NULL';

REVOKE ALL ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_purpose(regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_purpose(regrole, text) FROM PUBLIC;
GRANT SELECT ON signal_categories, purposes TO PUBLIC;
SELECT seal_registry_table('signal_categories', true);
SELECT seal_registry_table('purposes', true);
SELECT seal_registry_table('purpose_grants', false);

CREATE TRIGGER merge_restored BEFORE INSERT ON signal_categories
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('name', 'tier', 'justification', 'retention');
CREATE TRIGGER merge_restored BEFORE INSERT ON purposes
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('name', 'description', 'max_tier', 'personal_data_allowed');
SELECT pg_catalog.pg_extension_config_dump('signal_categories', '');
SELECT pg_catalog.pg_extension_config_dump('purposes', '');
-- Grants to roles dropped since are not dumped: their OIDs could name
-- another role where the dump is restored.
SELECT pg_catalog.pg_extension_config_dump('purpose_grants',
	'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = role)');
