-- The vocabulary: signal categories, purposes, and which roles may act under
-- which purpose.  Rows marked builtin come from this script and are not
-- dumped; everything an administrator adds is.

CREATE TABLE signal_categories (
	name          text PRIMARY KEY
	              CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	tier          smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
	justification text CHECK (justification IS NULL OR btrim(justification) <> ''),
	retention     interval CHECK (retention IS NULL OR retention > interval '0'),
	builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE signal_categories IS 'kinds of personal signal; tier 1 functional, 2 personalization, 3 enhanced (per-category grant); a category without justification is never used for training';

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
CREATE TRIGGER category_limit AFTER INSERT ON signal_categories
	FOR EACH STATEMENT EXECUTE FUNCTION check_category_limit();

CREATE TABLE purposes (
	name                  text PRIMARY KEY
	                      CHECK (name ~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' AND length(name) <= 64),
	description           text NOT NULL,
	max_tier              consent_tier NOT NULL,
	personal_data_allowed boolean NOT NULL,
	builtin               boolean NOT NULL DEFAULT false,
	CONSTRAINT pricing_never_personal
		CHECK (NOT personal_data_allowed OR (name <> 'pricing' AND name NOT LIKE 'pricing.%'))
);
COMMENT ON TABLE purposes IS 'why personal data may be read; dotted names form a hierarchy (marketing covers marketing.email)';

INSERT INTO purposes (name, description, max_tier, personal_data_allowed, builtin) VALUES
	('service', 'Delivering the service the person asked for (session signals only).', 'functional', true, true),
	('recommendation', 'Recommending items to the person.', 'enhanced', true, true),
	('analytics', 'Aggregate analysis of how the service is used.', 'personalization', true, true),
	('marketing', 'Marketing messages to the person.', 'enhanced', true, true),
	('pricing', 'Setting prices. Personal data is never used: personalized pricing is refused.', 'none', false, true);

CREATE FUNCTION create_purpose(name text, description text, max_tier consent_tier,
                               personal_data_allowed boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	parent text := substring(name FROM '^(.*)\.[^.]+$');
BEGIN
	IF parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = parent) THEN
		RAISE EXCEPTION 'parent purpose "%" of "%" does not exist', parent, name
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Create the parent purpose first.';
	END IF;
	IF personal_data_allowed AND (name = 'pricing' OR name LIKE 'pricing.%') THEN
		RAISE EXCEPTION 'purpose "%" may not use personal data: personalized pricing is refused', name
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF parent IS NOT NULL AND EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = parent
	                                   AND (p.max_tier < create_purpose.max_tier
	                                        OR (NOT p.personal_data_allowed AND create_purpose.personal_data_allowed))) THEN
		RAISE EXCEPTION 'purpose "%" cannot allow more than its parent "%"', name, parent
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'A sub-purpose may narrow its parent''s tier cap and personal-data use, never widen them.';
	END IF;
	INSERT INTO @extschema@.purposes VALUES (name, description, max_tier, personal_data_allowed, false);
END $$;
COMMENT ON FUNCTION create_purpose(text, text, consent_tier, boolean) IS 'register a purpose (a sub-purpose needs its parent)';

CREATE TABLE purpose_grants (
	role       regrole NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name) ON DELETE CASCADE,
	granted_by name NOT NULL DEFAULT current_user,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (role, purpose)
);
COMMENT ON TABLE purpose_grants IS 'roles allowed to declare a purpose (and its sub-purposes)';

CREATE FUNCTION grant_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = purpose) THEN
		RAISE EXCEPTION 'unknown purpose "%"', purpose
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Known purposes are listed in personalize.purposes.';
	END IF;
	INSERT INTO @extschema@.purpose_grants (role, purpose) VALUES (role, purpose)
	ON CONFLICT DO NOTHING;
END $$;
COMMENT ON FUNCTION grant_purpose(regrole, text) IS 'allow a role (and its members) to declare a purpose';

CREATE FUNCTION revoke_purpose(role regrole, purpose text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	DELETE FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose
$$;
COMMENT ON FUNCTION revoke_purpose(regrole, text) IS 'withdraw a purpose grant; takes effect at the role''s next statement';

CREATE FUNCTION declare_purpose(purpose text) RETURNS text LANGUAGE sql
AS $$ SELECT pg_catalog.set_config('personalize.purpose', purpose, false) $$;
COMMENT ON FUNCTION declare_purpose(text) IS 'function form of SET personalize.purpose (same checks)';
CREATE FUNCTION current_purpose() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT nullif(pg_catalog.current_setting('personalize.purpose', true), '') $$;
COMMENT ON FUNCTION current_purpose() IS 'the purpose this session declared, or NULL';

REVOKE ALL ON FUNCTION create_purpose(text, text, consent_tier, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_purpose(regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_purpose(regrole, text) FROM PUBLIC;
GRANT SELECT ON signal_categories, purposes TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('signal_categories', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('purposes', 'WHERE NOT builtin');
-- Grants to roles dropped since are not dumped: their OIDs could name
-- another role where the dump is restored.
SELECT pg_catalog.pg_extension_config_dump('purpose_grants',
	'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = role)');
