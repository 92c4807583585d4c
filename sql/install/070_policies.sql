-- Row-level security: personal rows are visible only under a declared purpose
-- granted to the reading role, and only when the row's subject consented to
-- that purpose (or a parent purpose) for the row's signal category.

CREATE FUNCTION row_visible(subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text) IS
	'true when the declared purpose is granted to the current role and the subject''s consent allows the category';

CREATE FUNCTION invalidate_visibility() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_invalidate_visibility' LANGUAGE C;
CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON consents
	FOR EACH STATEMENT EXECUTE FUNCTION invalidate_visibility();
CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON purposes
	FOR EACH STATEMENT EXECUTE FUNCTION invalidate_visibility();
CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON purpose_grants
	FOR EACH STATEMENT EXECUTE FUNCTION invalidate_visibility();
CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signal_categories
	FOR EACH STATEMENT EXECUTE FUNCTION invalidate_visibility();

CREATE TABLE protected_tables (
	relid             regclass PRIMARY KEY,
	subject_column    name NOT NULL,
	category_column   name,
	category_constant text REFERENCES signal_categories (name),
	enabled_rls       boolean NOT NULL,
	forced_rls        boolean NOT NULL DEFAULT false,
	builtin           boolean NOT NULL DEFAULT false,
	protected_by      name NOT NULL DEFAULT current_user,
	protected_at      timestamptz NOT NULL DEFAULT now(),
	CHECK ((category_column IS NULL) <> (category_constant IS NULL))
);
COMMENT ON TABLE protected_tables IS 'tables whose rows are filtered by consent (rights requests erase from these too)';
GRANT SELECT ON protected_tables TO PUBLIC;

CREATE FUNCTION column_type(tbl regclass, col name) RETURNS regtype LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT atttypid::regtype FROM pg_attribute
	 WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped
$$;

-- protect(table, subject => column, category => column or category name)
CREATE FUNCTION protect(tbl regclass, subject name, category text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subject_type regtype := @extschema@.column_type(tbl, subject);
	category_type regtype := @extschema@.column_type(tbl, category::name);
	category_expr text;
	had_rls boolean;
	had_force boolean;
BEGIN
	IF subject_type IS NULL THEN
		RAISE EXCEPTION 'table % has no column "%"', tbl, subject
			USING ERRCODE = 'undefined_column', HINT = 'subject => names the column holding the subject id.';
	END IF;
	IF subject_type NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
		RAISE EXCEPTION 'subject column "%" of % must be an integer type, not %', subject, tbl, subject_type
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF category_type IS NOT NULL THEN
		IF category_type NOT IN ('text'::regtype, 'character varying'::regtype) THEN
			RAISE EXCEPTION 'category column "%" of % must be text, not %', category, tbl, category_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		category_expr := format('%I::text', category);
	ELSE
		PERFORM @extschema@.check_categories(ARRAY[category]);
		category_expr := quote_literal(category) || '::text';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RAISE EXCEPTION 'table % is already protected', tbl
			USING ERRCODE = 'duplicate_object', HINT = 'Call personalize.unprotect() first to change how.';
	END IF;

	SELECT relrowsecurity, relforcerowsecurity INTO had_rls, had_force FROM pg_class WHERE oid = tbl;
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	-- Restrictive, so any policy the application already has cannot widen it.
	EXECUTE format('CREATE POLICY personalize_consent ON %s AS RESTRICTIVE FOR ALL '
	               'USING (@extschema@.row_visible(%I::bigint, %s)) WITH CHECK (true)',
	               tbl, subject, category_expr);
	IF NOT had_rls THEN
		EXECUTE format('CREATE POLICY personalize_base ON %s FOR ALL USING (true) WITH CHECK (true)', tbl);
	END IF;
	INSERT INTO @extschema@.protected_tables
		(relid, subject_column, category_column, category_constant, enabled_rls, forced_rls, builtin)
	VALUES (tbl, subject,
	        CASE WHEN category_type IS NOT NULL THEN category END,
	        CASE WHEN category_type IS NULL THEN category END,
	        NOT had_rls, had_force,
	        tbl = '@extschema@.interactions'::regclass);
END $$;
COMMENT ON FUNCTION protect(regclass, name, text) IS
	'filter an application table by consent: subject => its subject column, category => a text column or a category name';

CREATE FUNCTION unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p @extschema@.protected_tables;
BEGIN
	SELECT * INTO p FROM @extschema@.protected_tables t WHERE t.relid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = 'undefined_object';
	END IF;
	IF p.builtin THEN
		RAISE EXCEPTION 'table % belongs to personalize and stays protected', tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	EXECUTE format('DROP POLICY personalize_consent ON %s', tbl);
	IF p.enabled_rls THEN
		EXECUTE format('DROP POLICY IF EXISTS personalize_base ON %s', tbl);
		EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', tbl);
	END IF;
	IF NOT p.forced_rls THEN
		EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', tbl);
	END IF;
	DELETE FROM @extschema@.protected_tables t WHERE t.relid = tbl;
END $$;
COMMENT ON FUNCTION unprotect(regclass) IS 'remove the consent filter protect() added';

-- The extension's own behavioural data: readable only through the policy;
-- nobody but a BYPASSRLS role updates or deletes (no such policy exists).
ALTER TABLE interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE interactions FORCE ROW LEVEL SECURITY;
CREATE POLICY personalize_consent ON interactions FOR SELECT
	USING (@extschema@.row_visible(subject_id, category));
CREATE POLICY personalize_insert ON interactions FOR INSERT WITH CHECK (true);
INSERT INTO protected_tables (relid, subject_column, category_column, enabled_rls, forced_rls, builtin)
VALUES ('interactions', 'subject_id', 'category', false, false, true);

CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON protected_tables
	FOR EACH STATEMENT EXECUTE FUNCTION invalidate_visibility();

SELECT pg_catalog.pg_extension_config_dump('protected_tables', 'WHERE NOT builtin');
