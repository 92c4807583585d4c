-- Row-level security: personal rows are visible only under a declared purpose
-- granted to the reading role, and only when the row's subject consented to
-- that purpose (or a parent purpose) for the row's signal category.

CREATE FUNCTION row_visible(subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text) IS
	'true when the declared purpose is granted to the current role and the subject''s consent allows the category';

-- With the row's time: also false once the row is older than its category's
-- retention (the cutoff, statement start minus retention, is computed once
-- per statement; a NULL time never expires).  Not STRICT, for that NULL.
CREATE FUNCTION row_visible(subject bigint, category text, at timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_at_sql' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text, timestamptz) IS
	'row_visible(subject, category), and the row''s time is within the category''s retention (a NULL time never expires)';

-- Statement triggers (fired in every session, also with
-- session_replication_role = replica, and for TRUNCATE) plus row triggers
-- enabled for replica sessions only: the logical replication apply worker
-- fires row triggers, never statement ones.  Either way, a change to the
-- registry reaches every session's next statement.
CREATE FUNCTION invalidate_visibility() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_invalidate_visibility' LANGUAGE C;
REVOKE ALL ON FUNCTION invalidate_visibility() FROM PUBLIC;
COMMENT ON FUNCTION invalidate_visibility() IS 'trigger on the registry tables: every session drops its cached consent decisions at commit';

CREATE FUNCTION watch_registry_table(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
	               'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.invalidate_visibility()', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER invalidate_visibility', tbl);
	EXECUTE format('CREATE TRIGGER invalidate_visibility_apply BEFORE INSERT OR UPDATE OR DELETE ON %s '
	               'FOR EACH ROW EXECUTE FUNCTION @extschema@.invalidate_visibility()', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER invalidate_visibility_apply', tbl);
END $$;
REVOKE ALL ON FUNCTION watch_registry_table(regclass) FROM PUBLIC;
COMMENT ON FUNCTION watch_registry_table(regclass) IS 'install-time helper: the invalidation triggers of a registry table';
SELECT watch_registry_table(t) FROM unnest(ARRAY['purposes', 'purpose_grants', 'signal_categories']::regclass[]) t;

-- personalize.consents feeds the shared consent store (src/consent/consent_store.c):
-- the row trigger records every change, shows it to the transaction's own
-- later statements and applies it to the store when the transaction
-- commits; the statement trigger has the store rebuilt after a TRUNCATE.
-- AFTER, so that what is recorded is what was written.  Both are enabled
-- ALWAYS, so that sessions with session_replication_role = replica and the
-- logical replication apply worker (which fires row triggers only) cannot
-- change consents without the store learning it.  The trigger function
-- refuses any other table.
CREATE FUNCTION consents_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_consents_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION consents_changed() FROM PUBLIC;
COMMENT ON FUNCTION consents_changed() IS 'trigger on personalize.consents: keeps the shared consent store current (at commit) and shows a transaction its own changes';
CREATE TRIGGER consents_changed AFTER INSERT OR UPDATE OR DELETE ON consents
	FOR EACH ROW EXECUTE FUNCTION consents_changed();
CREATE TRIGGER consents_truncated AFTER TRUNCATE ON consents
	FOR EACH STATEMENT EXECUTE FUNCTION consents_changed();
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_changed;
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_truncated;

CREATE FUNCTION consent_store(OUT database name, OUT state text, OUT stale boolean,
                              OUT purposes integer, OUT consents bigint, OUT classes integer,
                              OUT bytes bigint, OUT built_at timestamptz, OUT build_ms double precision,
                              OUT builds bigint, OUT changes_applied bigint, OUT detail text)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pz_consent_store_sql' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION consent_store() FROM PUBLIC;
COMMENT ON FUNCTION consent_store() IS
	'the consent stores in shared memory, one per database: state (ready, stale, building, unusable, empty), purposes, consents held, distinct consents, bytes, when built and how long it took, builds, committed changes applied';

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
	inherited_from    regclass,
	CHECK ((category_column IS NULL) <> (category_constant IS NULL)),
	time_column       name,
	erasable          boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE protected_tables IS 'tables whose rows are filtered by consent, partitions and inheritance children included (rights requests erase from these too)';
COMMENT ON COLUMN protected_tables.relid IS 'the protected table';
COMMENT ON COLUMN protected_tables.subject_column IS 'its column holding the subject id';
COMMENT ON COLUMN protected_tables.category_column IS 'its text column naming each row''s signal category (or NULL)';
COMMENT ON COLUMN protected_tables.category_constant IS 'the signal category of every row (or NULL)';
COMMENT ON COLUMN protected_tables.enabled_rls IS 'protect() enabled row-level security (unprotect() disables it again)';
COMMENT ON COLUMN protected_tables.forced_rls IS 'row-level security was already forced before protect()';
COMMENT ON COLUMN protected_tables.builtin IS 'a table of the extension itself';
COMMENT ON COLUMN protected_tables.protected_by IS 'the role that called protect()';
COMMENT ON COLUMN protected_tables.protected_at IS 'when';
COMMENT ON COLUMN protected_tables.inherited_from IS 'the protected ancestor this partition or inheritance child was protected through (NULL: protected itself)';
COMMENT ON COLUMN protected_tables.time_column IS 'its column holding when each row was recorded: rows older than their category''s retention are hidden and purged (NULL: rows never expire)';
COMMENT ON COLUMN protected_tables.erasable IS 'erase_subject() deletes the subject''s rows (false: kept, e.g. under a legal obligation, and reported)';
GRANT SELECT ON protected_tables TO PUBLIC;
SELECT seal_registry_table('protected_tables', true);
SELECT watch_registry_table('protected_tables');

CREATE FUNCTION column_type(tbl regclass, col name) RETURNS regtype LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT atttypid::regtype FROM pg_attribute
	 WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped
$$;
COMMENT ON FUNCTION column_type(regclass, name) IS 'the type of a column, NULL if the table has none of that name';

-- Writes into a table with unique keys must stay on rows the writer can see:
-- otherwise a key conflict would answer whether a hidden row exists.
CREATE FUNCTION row_writable(tbl regclass, subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_writable' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION row_writable(regclass, bigint, text) IS
	'write check of protected tables: row_visible(subject, category) when a unique or exclusion constraint could involve the subject (a conflict would reveal a hidden row), else true';

-- Descendants (partitions, inheritance children) of a table, at any depth.
CREATE FUNCTION descendants(tbl regclass) RETURNS SETOF regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE d (relid) AS (
		SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl
		UNION
		SELECT i.inhrelid FROM d JOIN pg_inherits i ON i.inhparent = d.relid)
	SELECT relid::regclass FROM d
$$;
COMMENT ON FUNCTION descendants(regclass) IS 'the partitions and inheritance children of a table, at any depth';

-- What key and foreign-key checks can still tell about hidden rows of a
-- protected table: PostgreSQL checks them against every row.  A unique key
-- over the subject (and the category column, if the category is one) is
-- closed by row_writable(); an identity key says nothing about anyone.
CREATE FUNCTION open_channels(tbl regclass) RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	WITH p AS (
		SELECT t.relid, t.subject_column, t.category_column,
		       (SELECT attnum FROM pg_attribute WHERE attrelid = t.relid AND attname = t.subject_column) AS subj,
		       (SELECT attnum FROM pg_attribute WHERE attrelid = t.relid AND attname = t.category_column) AS cat
		  FROM @extschema@.protected_tables t WHERE t.relid = tbl
	)
	SELECT coalesce(array_agg(channel ORDER BY channel), '{}') FROM (
		SELECT format('%s %s: %s', CASE WHEN i.indisexclusion THEN 'exclusion constraint' ELSE 'unique key' END,
		              ic.relname,
		              CASE WHEN i.indisexclusion THEN 'a conflicting write tells that a hidden row exists'
		                   WHEN i.indexprs IS NOT NULL THEN 'an expression key: a conflicting write tells that a hidden row exists'
		                   WHEN NOT p.subj = ANY (i.indkey::int2[]) THEN format('does not include the subject column %I: a conflicting write tells that a hidden row exists', p.subject_column)
		                   ELSE format('does not include the category column %I: a conflicting write tells that a hidden row of another category exists', p.category_column) END) AS channel
		  FROM p JOIN pg_index i ON i.indrelid = p.relid AND (i.indisunique OR i.indisexclusion)
		  JOIN pg_class ic ON ic.oid = i.indexrelid
		 WHERE (i.indisexclusion OR i.indexprs IS NOT NULL OR NOT p.subj = ANY (i.indkey::int2[])
		        OR (p.cat IS NOT NULL AND NOT p.cat = ANY (i.indkey::int2[])))
		   -- a key that is one identity column GENERATED ALWAYS names no one
		   AND NOT (i.indnatts = 1 AND i.indexprs IS NULL AND EXISTS (
		            SELECT 1 FROM pg_attribute a WHERE a.attrelid = p.relid AND a.attnum = i.indkey[0] AND a.attidentity = 'a'))
		UNION ALL
		SELECT format('foreign key %s of %s references it: inserting into %s tells whether a key exists among hidden rows',
		              c.conname, c.conrelid::regclass, c.conrelid::regclass)
		  FROM p JOIN pg_constraint c ON c.confrelid = p.relid AND c.contype = 'f'
		UNION ALL
		SELECT format('role %s may create foreign keys to it (REFERENCES privilege): such a key tells whether a key exists among hidden rows',
		              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
		  FROM p JOIN pg_class c ON c.oid = p.relid, aclexplode(c.relacl) a
		 WHERE a.privilege_type = 'REFERENCES' AND a.grantee <> c.relowner
		UNION ALL
		SELECT format('extended statistics %s: planner estimates count hidden rows', s.stxname)
		  FROM p JOIN pg_statistic_ext s ON s.stxrelid = p.relid
	) c
$$;
COMMENT ON FUNCTION open_channels(regclass) IS
	'what unique keys, foreign keys, REFERENCES grants and extended statistics of a protected table can still tell about its hidden rows';

-- The permissive base policy protect() adds to a table without policies
-- depends on the extension through this function: DROP EXTENSION ... CASCADE
-- then drops it with the consent policy, and the table, whose row-level
-- security stays forced, is left closed rather than open.
CREATE FUNCTION protection_base() RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT true';
COMMENT ON FUNCTION protection_base() IS
	'the qual of the personalize_base policy (true): it ties the policy to the extension, so dropping the extension leaves protected tables closed';

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

-- Partitions and children created or attached later are protected like
-- their ancestor, as part of the command that creates or attaches them.
CREATE FUNCTION protect_descendants() RETURNS void
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

CREATE FUNCTION protect_new_descendants() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.protect_descendants();
END $$;
REVOKE ALL ON FUNCTION protect_new_descendants() FROM PUBLIC;
COMMENT ON FUNCTION protect_new_descendants() IS 'event trigger: protect partitions and inheritance children of protected tables as they are created or attached';
CREATE EVENT TRIGGER personalize_protect_descendants ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE FOREIGN TABLE')
	EXECUTE FUNCTION protect_new_descendants();
ALTER EVENT TRIGGER personalize_protect_descendants ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER personalize_protect_descendants IS 'a partition or inheritance child of a protected table is protected in the command that creates or attaches it';

CREATE FUNCTION forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.protected_tables p
	 WHERE p.relid::oid IN (SELECT o.objid FROM pg_event_trigger_dropped_objects() o
	                         WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0);
END $$;
REVOKE ALL ON FUNCTION forget_dropped_tables() FROM PUBLIC;
COMMENT ON FUNCTION forget_dropped_tables() IS 'event trigger: a dropped table is no longer listed as protected';
CREATE EVENT TRIGGER personalize_forget_dropped ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION forget_dropped_tables();
ALTER EVENT TRIGGER personalize_forget_dropped ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER personalize_forget_dropped IS 'a dropped table leaves personalize.protected_tables (so its OID cannot name another table later)';

CREATE FUNCTION unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
	IF NOT pg_has_role(@extschema@.acting_role(), (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'only the owner of % may unprotect it', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF p.inherited_from IS NOT NULL AND EXISTS (SELECT 1 FROM @extschema@.descendants(p.inherited_from) d WHERE d = tbl) THEN
		RAISE EXCEPTION 'table % is protected as a partition or child of %', tbl, p.inherited_from
			USING ERRCODE = 'wrong_object_type', HINT = 'Unprotect the parent; its partitions and children go with it.';
	END IF;
	FOR p IN SELECT * FROM @extschema@.protected_tables t WHERE t.relid = tbl OR t.inherited_from = tbl LOOP
		EXECUTE format('DROP POLICY IF EXISTS personalize_consent ON %s', p.relid);
		IF p.enabled_rls THEN
			EXECUTE format('DROP POLICY IF EXISTS personalize_base ON %s', p.relid);
			EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', p.relid);
		END IF;
		IF NOT p.forced_rls THEN
			EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', p.relid);
		END IF;
		DELETE FROM @extschema@.protected_tables t WHERE t.relid = p.relid;
	END LOOP;
END $$;
COMMENT ON FUNCTION unprotect(regclass) IS 'remove the consent filter protect() added, from the table and the partitions and children protected with it';
REVOKE ALL ON FUNCTION protect(regclass, name, text, name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION unprotect(regclass) FROM PUBLIC;

-- The extension's own behavioural data: readable only through the policy,
-- and only by roles holding a purpose (grant_purpose() gives them SELECT);
-- nobody but a BYPASSRLS role updates or deletes (no such policy exists).
ALTER TABLE interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE interactions FORCE ROW LEVEL SECURITY;
CREATE POLICY personalize_consent ON interactions FOR SELECT
	USING (@extschema@.row_visible(subject_id, category, occurred_at));
CREATE POLICY personalize_insert ON interactions FOR INSERT WITH CHECK (true);
INSERT INTO protected_tables (relid, subject_column, category_column, enabled_rls, forced_rls, builtin, time_column)
VALUES ('interactions', 'subject_id', 'category', false, false, true, 'occurred_at');

SELECT pg_catalog.pg_extension_config_dump('protected_tables', 'WHERE NOT builtin');
