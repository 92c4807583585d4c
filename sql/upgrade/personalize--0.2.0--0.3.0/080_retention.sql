-- Retention that holds at every moment (issue 11): the interactions policy
-- passes each row's time to row_visible(), which hides rows older than
-- their category's retention; protect() takes an optional time column (the
-- same for application tables) and an erasable flag (whether
-- erase_subject() deletes a table's rows).  The definitions are those of
-- sql/install/070_policies.sql and 080_audit.sql.

-- With the row's time: also false once the row is older than its category's
-- retention (the cutoff, statement start minus retention, is computed once
-- per statement; a NULL time never expires).  Not STRICT, for that NULL.
CREATE FUNCTION row_visible(subject bigint, category text, at timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_at_sql' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text, timestamptz) IS
	'row_visible(subject, category), and the row''s time is within the category''s retention (a NULL time never expires)';

ALTER POLICY personalize_consent ON interactions
	USING (@extschema@.row_visible(subject_id, category, occurred_at));

ALTER TABLE protected_tables
	ADD COLUMN time_column name,
	ADD COLUMN erasable boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN protected_tables.time_column IS 'its column holding when each row was recorded: rows older than their category''s retention are hidden and purged (NULL: rows never expire)';
COMMENT ON COLUMN protected_tables.erasable IS 'erase_subject() deletes the subject''s rows (false: kept, e.g. under a legal obligation, and reported)';
UPDATE protected_tables SET time_column = 'occurred_at' WHERE relid = 'interactions'::regclass AND builtin;

-- protect() and protect_one() gain arguments: the old signatures go.
DROP FUNCTION protect(regclass, name, text);
DROP FUNCTION protect_one(regclass, name, text, regclass);

CREATE FUNCTION protect_one(tbl regclass, subject name, category text, parent regclass,
                            time_column name, erasable boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subject_type regtype := @extschema@.column_type(tbl, subject);
	category_type regtype := @extschema@.column_type(tbl, category::name);
	time_type regtype := @extschema@.column_type(tbl, time_column);
	kind "char" := (SELECT relkind FROM pg_class WHERE oid = tbl);
	category_expr text;
	visible_expr text;
	had_rls boolean;
	had_force boolean;
BEGIN
	-- Listed before its policies exist: the ALTER TABLE below fires the event
	-- trigger that protects new descendants, which must find it done.
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RETURN;
	END IF;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table: only tables can be protected', tbl
			USING ERRCODE = 'wrong_object_type',
			      DETAIL = CASE WHEN parent IS NOT NULL THEN format('It is a partition or child of %s.', parent) END,
			      HINT = 'Row-level security cannot filter foreign tables, views or materialized views.';
	END IF;
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
	visible_expr := format('@extschema@.row_visible(%I::bigint, %s)', subject, category_expr);
	IF time_column IS NOT NULL THEN
		IF time_type IS NULL THEN
			RAISE EXCEPTION 'table % has no column "%"', tbl, time_column
				USING ERRCODE = 'undefined_column', HINT = 'time_column => names the column holding when each row was recorded.';
		END IF;
		IF time_type NOT IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype, 'date'::regtype) THEN
			RAISE EXCEPTION 'time column "%" of % must be a timestamp or a date, not %', time_column, tbl, time_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		visible_expr := format('@extschema@.row_visible(%I::bigint, %s, %I::timestamptz)', subject, category_expr, time_column);
	END IF;

	SELECT relrowsecurity, relforcerowsecurity INTO had_rls, had_force FROM pg_class WHERE oid = tbl;
	INSERT INTO @extschema@.protected_tables
		(relid, subject_column, category_column, category_constant, enabled_rls, forced_rls, builtin,
		 protected_by, inherited_from, time_column, erasable)
	VALUES (tbl, subject,
	        CASE WHEN category_type IS NOT NULL THEN category END,
	        CASE WHEN category_type IS NULL THEN category END,
	        NOT had_rls, had_force, false, @extschema@.acting_role(), parent, time_column,
	        coalesce(erasable, true));
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	-- Restrictive, so any policy the application already has cannot widen it.
	EXECUTE format('CREATE POLICY personalize_consent ON %s AS RESTRICTIVE FOR ALL '
	               'USING (%s) '
	               'WITH CHECK (@extschema@.row_writable(%L::regclass, %I::bigint, %s))',
	               tbl, visible_expr, tbl::oid::text, subject, category_expr);
	IF NOT had_rls THEN
		EXECUTE format('CREATE POLICY personalize_base ON %s FOR ALL USING (@extschema@.protection_base()) '
		               'WITH CHECK (@extschema@.protection_base())', tbl);
	END IF;
END $$;
REVOKE ALL ON FUNCTION protect_one(regclass, name, text, regclass, name, boolean) FROM PUBLIC;
COMMENT ON FUNCTION protect_one(regclass, name, text, regclass, name, boolean) IS 'protect() for one table (no checks of ownership or ancestry)';

CREATE OR REPLACE FUNCTION protect_descendants() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT d.child, p.relid AS root, p.subject_column, coalesce(p.category_column::text, p.category_constant) AS category,
		       p.time_column, p.erasable
		  FROM @extschema@.protected_tables p
		  CROSS JOIN LATERAL @extschema@.descendants(p.relid) AS d(child)
		 WHERE p.inherited_from IS NULL
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables q WHERE q.relid = d.child)
		 ORDER BY d.child::oid
	LOOP
		PERFORM @extschema@.protect_one(r.child, r.subject_column, r.category, r.root, r.time_column, r.erasable);
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION protect_descendants() FROM PUBLIC;
COMMENT ON FUNCTION protect_descendants() IS 'protect the partitions and inheritance children of protected tables that are not yet';

-- protect(table, subject => column, category => column or category name
--         [, time_column => column] [, erasable => false]):
-- the table and all its partitions or inheritance children, now and later.
-- With a time column, rows older than their category's retention are
-- hidden from every purpose and deleted by purge_expired(); erasable =>
-- false keeps the subject's rows through erase_subject() (which reports
-- them), for records the law requires to be kept.
CREATE FUNCTION protect(tbl regclass, subject name, category text, time_column name DEFAULT NULL,
                        erasable boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unprotected_parent regclass;
	channel text;
BEGIN
	IF tbl IS NULL OR subject IS NULL OR category IS NULL THEN
		RAISE EXCEPTION 'table, subject and category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF erasable IS NULL THEN
		RAISE EXCEPTION 'erasable must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_has_role(@extschema@.acting_role(), (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'only the owner of % may protect it', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RAISE EXCEPTION 'table % is already protected', tbl
			USING ERRCODE = 'duplicate_object', HINT = 'Call personalize.unprotect() first to change how.';
	END IF;
	-- reading through an unprotected parent would return this table's rows unfiltered
	SELECT i.inhparent::regclass INTO unprotected_parent FROM pg_inherits i WHERE i.inhrelid = tbl LIMIT 1;
	IF unprotected_parent IS NOT NULL THEN
		RAISE EXCEPTION 'table % is a partition or child of %, which is not protected', tbl, unprotected_parent
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Protect the parent instead: its partitions and children are protected with it.';
	END IF;
	PERFORM @extschema@.protect_one(tbl, subject, category, NULL, time_column, erasable);
	PERFORM @extschema@.protect_descendants();
	FOREACH channel IN ARRAY @extschema@.open_channels(tbl) LOOP
		RAISE WARNING 'personal data of % can still be probed through %', tbl, channel
			USING HINT = 'See the "open_channels" column of personalize.protection_status.';
	END LOOP;
END $$;
COMMENT ON FUNCTION protect(regclass, name, text, name, boolean) IS
	'filter an application table, its partitions and children by consent: subject => its subject column, category => a text column or a category name, time_column => when rows were recorded (retention applies), erasable => whether erase_subject() deletes its rows';
REVOKE ALL ON FUNCTION protect(regclass, name, text, name, boolean) FROM PUBLIC;

CREATE OR REPLACE VIEW protection_status AS
SELECT t.relid AS table_name, t.subject_column, coalesce(t.category_column::text, quote_literal(t.category_constant)) AS category,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = t.relid AND pol.polname = 'personalize_consent') AS policy_present,
       t.inherited_from,
       ARRAY(SELECT d FROM @extschema@.descendants(t.relid) d
              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = d)
              ORDER BY d::text) AS unprotected_descendants,
       @extschema@.open_channels(t.relid) AS open_channels,
       t.protected_by, t.protected_at, t.time_column, t.erasable
  FROM @extschema@.protected_tables t JOIN pg_class c ON c.oid = t.relid;
COMMENT ON COLUMN protection_status.time_column IS 'its column holding when each row was recorded (retention applies), or NULL';
COMMENT ON COLUMN protection_status.erasable IS 'erase_subject() deletes the subject''s rows from it';
