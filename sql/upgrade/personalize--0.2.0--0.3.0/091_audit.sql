-- The auditor's views: what is collected, why, for how long, who may read
-- it under which purpose, what was erased and purged, which model learned
-- from what.  None of them shows a personal row or a subject id; they read
-- the sealed tables as their owner.  grant_audit(role) gives a role these
-- views and nothing else (it cannot read interactions, consents, the
-- ledger, impressions or feedback, nor call the rights functions).

-- Rows held per signal category, over interactions and every protected
-- application table: how many, of how many subjects, the oldest, and how
-- many are past retention (hidden already, deleted by the next purge).
CREATE FUNCTION data_inventory_counts()
RETURNS TABLE (category text, stored_in text[], rows bigint, subjects bigint,
               oldest_row timestamptz, expired_rows bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	held text;
BEGIN
	SELECT string_agg(format('SELECT %L::text AS tbl, %s AS category, t.%I::bigint AS subject, %s AS at FROM %s t',
	                         p.relid::text,
	                         CASE WHEN p.category_column IS NOT NULL THEN format('t.%I::text', p.category_column)
	                              ELSE quote_literal(p.category_constant) END,
	                         p.subject_column,
	                         CASE WHEN p.time_column IS NOT NULL THEN format('t.%I::timestamptz', p.time_column)
	                              ELSE 'NULL::timestamptz' END,
	                         p.relid),
	                  ' UNION ALL ' ORDER BY p.relid::text)
	  INTO held
	  FROM @extschema@.protected_tables p WHERE p.inherited_from IS NULL;
	RETURN QUERY EXECUTE format(
		'WITH held AS (%s)'
		' SELECT h.category, array_agg(DISTINCT h.tbl ORDER BY h.tbl), count(*), count(DISTINCT h.subject),'
		'        min(h.at), count(*) FILTER (WHERE h.at < x.cutoff)'
		'   FROM held h LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = h.category'
		'  GROUP BY h.category', held);
END $$;
REVOKE ALL ON FUNCTION data_inventory_counts() FROM PUBLIC;
COMMENT ON FUNCTION data_inventory_counts() IS 'data_inventory''s counts: rows, subjects, oldest row and rows past retention per category, over interactions and the protected tables';

CREATE VIEW data_inventory AS
SELECT c.name AS category, c.tier, c.justification, c.retention,
       c.justification IS NOT NULL AS used_for_training,
       coalesce(h.stored_in, '{}') AS stored_in,
       coalesce(h.rows, 0) AS rows,
       coalesce(h.subjects, 0) AS subjects,
       h.oldest_row,
       coalesce(h.expired_rows, 0) AS expired_rows,
       ARRAY(SELECT p.name FROM @extschema@.purposes p
              WHERE p.personal_data_allowed
                AND c.tier <= array_position(enum_range(NULL::@extschema@.consent_tier), p.max_tier) - 1
              ORDER BY p.name) AS purposes,
       ARRAY(SELECT m.model_id FROM @extschema@.models m
              WHERE m.data -> 'categories_used' ? c.name
                AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
                     OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
                     OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
              ORDER BY m.model_id) AS models
  FROM @extschema@.signal_categories c
  LEFT JOIN @extschema@.data_inventory_counts() h ON h.category = c.name;
COMMENT ON VIEW data_inventory IS 'every signal category: tier, justification, retention, where its rows are, how many of how many subjects, the oldest, how many are past retention, which purposes may read it and which stored models learned from it';
COMMENT ON COLUMN data_inventory.category IS 'the signal category';
COMMENT ON COLUMN data_inventory.tier IS '1 functional, 2 personalization, 3 enhanced';
COMMENT ON COLUMN data_inventory.justification IS 'why it is collected (NULL: never used for training)';
COMMENT ON COLUMN data_inventory.retention IS 'how long its rows are kept (NULL: no limit)';
COMMENT ON COLUMN data_inventory.used_for_training IS 'it has a justification, so training may use it';
COMMENT ON COLUMN data_inventory.stored_in IS 'the tables holding rows of it (interactions and protected tables)';
COMMENT ON COLUMN data_inventory.rows IS 'rows held, past retention included';
COMMENT ON COLUMN data_inventory.subjects IS 'distinct subjects with rows';
COMMENT ON COLUMN data_inventory.oldest_row IS 'the time of the oldest row (tables with a time column)';
COMMENT ON COLUMN data_inventory.expired_rows IS 'rows past retention: no purpose sees them, the next purge deletes them';
COMMENT ON COLUMN data_inventory.purposes IS 'purposes whose tier cap admits the category (a subject''s consent must allow it too)';
COMMENT ON COLUMN data_inventory.models IS 'model versions with stored parameters that were trained on rows of it';

CREATE VIEW rights_log AS
SELECT r.request_id, r.kind, r.requested_at, r.requested_by, encode(r.subject_key, 'hex') AS subject_key, r.rows
  FROM @extschema@.rights_requests r;
COMMENT ON VIEW rights_log IS 'every export, erasure and reset: when, by whom, a keyed hash of the subject (never the id), rows per table';
COMMENT ON COLUMN rights_log.request_id IS 'order of the requests';
COMMENT ON COLUMN rights_log.kind IS 'export, erasure or reset';
COMMENT ON COLUMN rights_log.requested_at IS 'when';
COMMENT ON COLUMN rights_log.requested_by IS 'the role that called the function';
COMMENT ON COLUMN rights_log.subject_key IS 'HMAC-SHA256 of the subject id under the erasure key, in hex: the same subject has the same key, no one without the key can tell whose';
COMMENT ON COLUMN rights_log.rows IS 'rows exported, deleted, kept or pseudonymized, per table';

CREATE VIEW erasure_log AS
SELECT r.request_id AS erasure_id, r.requested_at AS erased_at, r.requested_by AS erased_by,
       encode(r.subject_key, 'hex') AS subject_key,
       r.rows -> 'deleted' AS deleted, r.rows -> 'kept' AS kept,
       (r.rows ->> 'ledger_entries_pseudonymized')::bigint AS ledger_entries_pseudonymized,
       r.models AS models_marked,
       ARRAY(SELECT m.model_id FROM @extschema@.models m
              WHERE m.model_id = ANY (r.models) AND m.status = 'active' ORDER BY m.model_id) AS models_still_serving
  FROM @extschema@.rights_requests r
 WHERE r.kind = 'erasure';
COMMENT ON VIEW erasure_log IS 'every erasure: when, by whom, a keyed hash of the subject, rows deleted and kept per table, ledger entries pseudonymized, models marked and which of them still serve (until the retrain job replaces them)';
COMMENT ON COLUMN erasure_log.erasure_id IS 'the request''s number';
COMMENT ON COLUMN erasure_log.erased_at IS 'when';
COMMENT ON COLUMN erasure_log.erased_by IS 'the role that called erase_subject()';
COMMENT ON COLUMN erasure_log.subject_key IS 'HMAC-SHA256 of the subject id under the erasure key, in hex';
COMMENT ON COLUMN erasure_log.deleted IS 'rows deleted, per table';
COMMENT ON COLUMN erasure_log.kept IS 'rows kept in tables protected with erasable => false, per table';
COMMENT ON COLUMN erasure_log.ledger_entries_pseudonymized IS 'consent ledger entries whose subject id was replaced by the keyed hash';
COMMENT ON COLUMN erasure_log.models_marked IS 'model versions that may have learned from the subject';
COMMENT ON COLUMN erasure_log.models_still_serving IS 'of those, the ones still active (the retrain job replaces them at its next run)';

CREATE VIEW retention_log AS
SELECT p.purge_id, p.purged_at, p.purged_by, p.table_name, p.category, p.retention, p.cutoff, p.rows_deleted
  FROM @extschema@.retention_purges p;
COMMENT ON VIEW retention_log IS 'rows deleted for being past their retention: when, by whom, which table and category, the cutoff, how many';
COMMENT ON COLUMN retention_log.purge_id IS 'order of the purges';
COMMENT ON COLUMN retention_log.purged_at IS 'when';
COMMENT ON COLUMN retention_log.purged_by IS 'the role that purged (purge_expired() or the retention job)';
COMMENT ON COLUMN retention_log.table_name IS 'the table';
COMMENT ON COLUMN retention_log.category IS 'the signal category (NULL for impressions and feedback)';
COMMENT ON COLUMN retention_log.retention IS 'the retention applied';
COMMENT ON COLUMN retention_log.cutoff IS 'rows older than this were deleted';
COMMENT ON COLUMN retention_log.rows_deleted IS 'how many';

REVOKE ALL ON data_inventory, rights_log, erasure_log, retention_log FROM PUBLIC;

-- The views an auditor reads; the role gets nothing else.
CREATE FUNCTION audit_views() RETURNS regclass[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT ARRAY['@extschema@.data_inventory', '@extschema@.purpose_access', '@extschema@.erasure_log',
	             '@extschema@.rights_log', '@extschema@.retention_log', '@extschema@.consent_coverage',
	             '@extschema@.model_cards', '@extschema@.protection_status']::regclass[]
$$;
REVOKE ALL ON FUNCTION audit_views() FROM PUBLIC;
COMMENT ON FUNCTION audit_views() IS 'the views grant_audit() gives';

CREATE FUNCTION grant_audit(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v regclass;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %s', role);
	FOREACH v IN ARRAY @extschema@.audit_views() LOOP
		EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
	END LOOP;
	EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.data_inventory_counts() TO %s', role);
END $$;
REVOKE ALL ON FUNCTION grant_audit(regrole) FROM PUBLIC;
COMMENT ON FUNCTION grant_audit(regrole) IS
	'let a role read the audit views (data_inventory, purpose_access, erasure_log, rights_log, retention_log, consent_coverage, model_cards, protection_status) and nothing personal';

CREATE FUNCTION revoke_audit(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v regclass;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH v IN ARRAY @extschema@.audit_views() LOOP
		EXECUTE format('REVOKE SELECT ON %s FROM %s', v, role);
	END LOOP;
	EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.data_inventory_counts() FROM %s', role);
END $$;
REVOKE ALL ON FUNCTION revoke_audit(regrole) FROM PUBLIC;
COMMENT ON FUNCTION revoke_audit(regrole) IS 'take back what grant_audit() gave (USAGE on the schema stays: other grants may need it)';
