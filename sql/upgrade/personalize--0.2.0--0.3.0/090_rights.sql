-- Data subject rights: what is held about a person (export_subject()),
-- forgetting them (erase_subject()), starting their personalization afresh
-- (reset_subject()), opting out of one category (opt_out()), and retention
-- that holds (purge_expired(); the policy hides expired rows already).
--
-- A subject erased leaves no raw id behind: the erasure log and the consent
-- ledger keep a keyed hash of it (HMAC-SHA256 under a key only the
-- extension's owner can read), so that proof of consent survives and a
-- request can be matched to a person who names themselves again, while
-- nobody without the key can tell whose entry it is, not even by hashing
-- every possible id.

-- ---- the keyed hash ---------------------------------------------------------

CREATE FUNCTION hmac_sha256(data bytea, key bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pz_hmac_sha256' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION hmac_sha256(bytea, bytea) FROM PUBLIC;
COMMENT ON FUNCTION hmac_sha256(bytea, bytea) IS 'HMAC-SHA256 of data under key (at least 16 bytes)';

-- One row: 32 bytes from the server's strong random source (three
-- gen_random_uuid(), 366 random bits, hashed), made at install.  Dumped, so
-- that a restored database still recognizes its erased subjects; a
-- restored key replaces the one CREATE EXTENSION made.
CREATE TABLE erasure_key (
	singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	key        bytea NOT NULL CHECK (length(key) >= 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE erasure_key IS 'the secret key of the keyed hash that stands for erased subjects; readable by the extension''s owner only';
COMMENT ON COLUMN erasure_key.singleton IS 'always true: there is one key';
COMMENT ON COLUMN erasure_key.key IS 'the key (32 random bytes)';
COMMENT ON COLUMN erasure_key.created_at IS 'when it was made';
SELECT seal_registry_table('erasure_key', false);
REVOKE ALL ON erasure_key FROM PUBLIC;

CREATE FUNCTION erasure_key_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.erasure_key;
	RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION erasure_key_restored() FROM PUBLIC;
COMMENT ON FUNCTION erasure_key_restored() IS 'trigger: a restored key replaces the one CREATE EXTENSION made';
CREATE TRIGGER merge_restored BEFORE INSERT ON erasure_key
	FOR EACH ROW EXECUTE FUNCTION erasure_key_restored();
INSERT INTO erasure_key (key)
SELECT sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
SELECT pg_catalog.pg_extension_config_dump('erasure_key', '');

CREATE FUNCTION subject_key(subject bigint) RETURNS bytea
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT @extschema@.hmac_sha256(int8send(subject), (SELECT k.key FROM @extschema@.erasure_key k))
$$;
REVOKE ALL ON FUNCTION subject_key(bigint) FROM PUBLIC;
COMMENT ON FUNCTION subject_key(bigint) IS 'the keyed hash that stands for a subject in the erasure log and, once erased, in the consent ledger (owner only: it reads the key)';

-- Free text a caller wrote (a consent's source, a notice version) may quote
-- the subject's id; erasure replaces each occurrence as a whole number.
CREATE FUNCTION redact_subject(t text, subject bigint) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT regexp_replace(t, '(?<![0-9])' || subject::text || '(?![0-9])', '[erased]', 'g')
$$;
REVOKE ALL ON FUNCTION redact_subject(text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION redact_subject(text, bigint) IS 'the text with every whole-number occurrence of the subject id replaced by [erased]';

-- ---- what is recorded -----------------------------------------------------------

CREATE TABLE rights_requests (
	request_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('export', 'erasure', 'reset')),
	subject_key  bytea NOT NULL,
	requested_by name NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	rows         jsonb NOT NULL DEFAULT '{}',
	models       bigint[] NOT NULL DEFAULT '{}'
);
CREATE INDEX ON rights_requests (subject_key);
COMMENT ON TABLE rights_requests IS 'every export, erasure and reset: whose (a keyed hash, never the id), when, by whom, how many rows (owner only; auditors read rights_log and erasure_log)';
COMMENT ON COLUMN rights_requests.request_id IS 'order of the requests';
COMMENT ON COLUMN rights_requests.kind IS 'export, erasure or reset';
COMMENT ON COLUMN rights_requests.subject_key IS 'personalize.subject_key() of the subject';
COMMENT ON COLUMN rights_requests.requested_by IS 'the role that called the function (SET ROLE counts)';
COMMENT ON COLUMN rights_requests.requested_at IS 'when';
COMMENT ON COLUMN rights_requests.rows IS 'rows per table: exported, deleted, pseudonymized (the ledger) or kept (tables protected with erasable => false)';
COMMENT ON COLUMN rights_requests.models IS 'erasure: the model versions trained while the subject had consented to their purpose';
SELECT seal_registry_table('rights_requests', false);
SELECT pg_catalog.pg_extension_config_dump('rights_requests', '');
SELECT pg_catalog.pg_extension_config_dump('rights_requests_request_id_seq', '');

-- Which model versions were trained with a subject erased since.  Models
-- keep no per-subject data (factors are item-side; subject factors are
-- folded in at request time), but their item-side parameters learned from
-- the subject: the active one is retrained at once by the retrain job, the
-- others lose their parameters.
CREATE TABLE model_erasures (
	model_id   bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	request_id bigint NOT NULL REFERENCES rights_requests ON DELETE CASCADE,
	marked_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (model_id, request_id)
);
COMMENT ON TABLE model_erasures IS 'model versions trained with a subject erased since (which subject, only the erasure log''s keyed hash could say)';
COMMENT ON COLUMN model_erasures.model_id IS 'the model version';
COMMENT ON COLUMN model_erasures.request_id IS 'the erasure (rights_requests)';
COMMENT ON COLUMN model_erasures.marked_at IS 'when it was marked';
GRANT SELECT ON model_erasures TO PUBLIC;
SELECT seal_registry_table('model_erasures', true);
SELECT pg_catalog.pg_extension_config_dump('model_erasures', '');

CREATE TABLE retention_purges (
	purge_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	purged_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
	purged_by    name NOT NULL,
	table_name   text NOT NULL,
	category     text,
	retention    interval,
	cutoff       timestamptz NOT NULL,
	rows_deleted bigint NOT NULL
);
COMMENT ON TABLE retention_purges IS 'rows deleted for being older than their retention: when, by whom, from which table and category, up to which time (auditors read retention_log)';
COMMENT ON COLUMN retention_purges.purge_id IS 'order of the purges';
COMMENT ON COLUMN retention_purges.purged_at IS 'when';
COMMENT ON COLUMN retention_purges.purged_by IS 'the role that purged (a job''s runner: its owner)';
COMMENT ON COLUMN retention_purges.table_name IS 'the table purged (as named then)';
COMMENT ON COLUMN retention_purges.category IS 'the signal category of the rows (NULL for impressions and feedback, which the retention job keeps for its own intervals)';
COMMENT ON COLUMN retention_purges.retention IS 'the retention applied';
COMMENT ON COLUMN retention_purges.cutoff IS 'rows older than this were deleted';
COMMENT ON COLUMN retention_purges.rows_deleted IS 'how many';
SELECT seal_registry_table('retention_purges', false);
SELECT pg_catalog.pg_extension_config_dump('retention_purges', '');
SELECT pg_catalog.pg_extension_config_dump('retention_purges_purge_id_seq', '');

-- ---- helpers ----------------------------------------------------------------------

-- The oldest time still visible in each category with a retention, for the
-- current statement: what row_visible(subject, category, at) hides, in SQL.
-- A retention of 4000 years or more keeps everything (as in the C code).
CREATE FUNCTION retention_cutoffs() RETURNS TABLE (category text, retention interval, cutoff timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT c.name, c.retention, statement_timestamp() - c.retention
	  FROM @extschema@.signal_categories c
	 WHERE c.retention IS NOT NULL AND extract(epoch FROM c.retention) < 4000 * 365.25 * 86400
$$;
REVOKE ALL ON FUNCTION retention_cutoffs() FROM PUBLIC;
COMMENT ON FUNCTION retention_cutoffs() IS 'per category with a retention: the oldest time visible to the current statement (statement start minus retention)';

-- Every table of the extension keyed by subject (a subject_id column):
-- erasure and export cover tables added later without being told.
CREATE FUNCTION subject_tables() RETURNS SETOF regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT c.oid::regclass
	  FROM pg_depend d
	  JOIN pg_class c ON c.oid = d.objid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'subject_id' AND NOT a.attisdropped
	 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'personalize')
	   AND c.relkind IN ('r', 'p')
	   AND a.atttypid IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype)
	 ORDER BY c.relname
$$;
REVOKE ALL ON FUNCTION subject_tables() FROM PUBLIC;
COMMENT ON FUNCTION subject_tables() IS 'the extension''s tables with a subject_id column';

-- The model versions that may have learned from a subject: those trained
-- after the subject consented (tier above none) to their purpose or a
-- purpose it inherits from.  A superset of the exact answer, which no
-- model keeps (that would be per-subject data at rest): a consenting
-- subject without rows, or with rows in no category the model used, is
-- counted too.
CREATE FUNCTION models_trained_with(subject bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT m.model_id FROM @extschema@.models m
	 WHERE m.status <> 'training'
	   AND (EXISTS (SELECT 1 FROM @extschema@.consent_ledger l
	                 WHERE l.subject_id = models_trained_with.subject AND l.action = 'set'
	                   AND @extschema@.tier(l.consent) <> 'none'
	                   AND l.purpose = ANY (@extschema@.purpose_chain(m.purpose))
	                   AND l.recorded_at <= m.created_at + coalesce(m.training_ms, 0) * interval '1 millisecond')
	        OR EXISTS (SELECT 1 FROM @extschema@.consents c
	                    WHERE c.subject_id = models_trained_with.subject
	                      AND @extschema@.tier(c.consent) <> 'none'
	                      AND c.purpose = ANY (@extschema@.purpose_chain(m.purpose))
	                      AND c.updated_at <= m.created_at + coalesce(m.training_ms, 0) * interval '1 millisecond'))
	 ORDER BY m.model_id
$$;
REVOKE ALL ON FUNCTION models_trained_with(bigint) FROM PUBLIC;
COMMENT ON FUNCTION models_trained_with(bigint) IS 'model versions trained while the subject had consented to their purpose (a superset of those that read their rows)';

-- The erasure section of a model card.
CREATE FUNCTION model_erasure_state(model bigint) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH m AS (SELECT * FROM @extschema@.models WHERE model_id = model),
	e AS (SELECT count(*) AS n, min(marked_at) AS first_at FROM @extschema@.model_erasures WHERE model_id = model),
	j AS (SELECT j.job_name, j.schedule, j.next_run FROM @extschema@.jobs j, m
	       WHERE j.kind = 'retrain' AND j.enabled AND coalesce(j.params ->> 'purpose', 'recommendation') = m.purpose
	       ORDER BY j.schedule, j.job_name LIMIT 1)
	SELECT jsonb_build_object(
		'erased_subjects_since_training', e.n,
		'first_erasure_at', e.first_at,
		'state', CASE
			WHEN e.n = 0 THEN 'no subject it may have learned from has been erased'
			WHEN m.status = 'active' AND j.job_name IS NOT NULL
				THEN 'serving until the retrain job replaces it, due ' || to_char(j.next_run AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
			WHEN m.status = 'active'
				THEN 'serving: no enabled retrain job covers its purpose; train a new version'
			ELSE 'parameters removed: it can no longer be activated' END,
		'retrain_job', j.job_name,
		'retrain_every', j.schedule,
		'retrain_bound', CASE WHEN j.job_name IS NOT NULL THEN
			'an erasure makes the retrain job due at once; the model is replaced by its next run, at the latest one schedule later (while a scheduler or run_jobs() runs jobs)'
			ELSE 'no enabled retrain job covers the purpose: a model trained with an erased subject serves until a new version is trained' END)
	  FROM m CROSS JOIN e LEFT JOIN j ON true
$$;
COMMENT ON FUNCTION model_erasure_state(bigint) IS 'the erasure section of a model card: how many subjects it may have learned from were erased since, and when it is replaced';

-- A model trained with an erased subject keeps its parameters only while
-- it serves: once replaced they go, so that no rollback brings it back.
CREATE FUNCTION forget_erased_model() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.model_erasures e WHERE e.model_id = NEW.model_id) THEN
		PERFORM @extschema@.remove_model_parameters(ARRAY[NEW.model_id]);
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION forget_erased_model() FROM PUBLIC;
COMMENT ON FUNCTION forget_erased_model() IS 'trigger on models: a model trained with an erased subject loses its parameters when it stops being active';
CREATE TRIGGER forget_erased AFTER UPDATE OF status ON models
	FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status <> 'active')
	EXECUTE FUNCTION forget_erased_model();
ALTER TABLE models ENABLE ALWAYS TRIGGER forget_erased;

CREATE FUNCTION remove_model_parameters(models bigint[]) RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	removed bigint[];
BEGIN
	removed := ARRAY(
		SELECT m.model_id FROM @extschema@.models m
		 WHERE m.model_id = ANY (models) AND m.status <> 'active'
		   AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
		        OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
		        OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
		 ORDER BY m.model_id);
	DELETE FROM @extschema@.model_item_factors WHERE model_id = ANY (removed);
	DELETE FROM @extschema@.model_neighbors WHERE model_id = ANY (removed);
	DELETE FROM @extschema@.model_popularity WHERE model_id = ANY (removed);
	UPDATE @extschema@.models
	   SET status = CASE WHEN status = 'candidate' THEN 'retired' ELSE status END,
	       status_reason = concat_ws('; ', status_reason, 'parameters removed: trained with a subject erased since')
	 WHERE model_id = ANY (removed);
	RETURN removed;
END $$;
REVOKE ALL ON FUNCTION remove_model_parameters(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION remove_model_parameters(bigint[]) IS 'delete the stored parameters of the given models that are not active (they can no longer be activated)';

-- The one line per version gains how many subjects it may have learned
-- from were erased since.
CREATE OR REPLACE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'k')::integer AS k,
       round((m.metrics ->> 'ndcg_at_k')::numeric, 4) AS ndcg_at_k,
       round((m.metrics ->> 'recall_at_k')::numeric, 4) AS recall_at_k,
       round((m.metrics ->> 'coverage')::numeric, 4) AS coverage,
       round((m.metrics ->> 'gini')::numeric, 4) AS gini,
       cardinality(m.warnings) AS warnings,
       m.status_reason,
       (SELECT count(*) FROM @extschema@.model_erasures e WHERE e.model_id = m.model_id) AS erased_since_training
  FROM @extschema@.models m;
COMMENT ON COLUMN model_cards.erased_since_training IS 'subjects it may have learned from who were erased since (a model with any is replaced by the retrain job)';

-- ---- erasure ------------------------------------------------------------------------

-- Protected application tables (the roots; partitions go with them), those
-- that others reference last, so that foreign keys between them do not
-- stop a deletion.
CREATE FUNCTION erasure_order() RETURNS SETOF regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	remaining regclass[] := ARRAY(SELECT p.relid FROM @extschema@.protected_tables p
	                               WHERE NOT p.builtin AND p.inherited_from IS NULL ORDER BY p.relid::text);
	batch regclass[];
BEGIN
	WHILE cardinality(remaining) > 0 LOOP
		batch := ARRAY(SELECT r FROM unnest(remaining) r
		                WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c
		                                   WHERE c.contype = 'f' AND c.confrelid = r
		                                     AND c.conrelid <> r AND c.conrelid = ANY (remaining)));
		IF cardinality(batch) = 0 THEN
			batch := remaining;		-- a cycle: the constraints' own actions decide
		END IF;
		RETURN QUERY SELECT b FROM unnest(batch) b;
		remaining := ARRAY(SELECT r FROM unnest(remaining) r WHERE r <> ALL (batch));
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION erasure_order() FROM PUBLIC;
COMMENT ON FUNCTION erasure_order() IS 'protected application tables, referencing tables before the tables they reference';

-- Statistics are a copy of some values of a table: the most common ones and
-- histogram bounds, per column, in pg_statistic (and extended statistics).
-- A table whose statistics name the erased id is analyzed again, in the
-- erasing transaction, whose deletions ANALYZE does not sample; statistics
-- that still name it (a table left empty keeps its old ones) are deleted.
CREATE FUNCTION refresh_statistics_naming(tables regclass[], subject bigint) RETURNS regclass[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pattern text := '(^|[^0-9])' || subject::text || '([^0-9]|$)';
	named regclass[];
	tbl regclass;
BEGIN
	named := ARRAY(
		SELECT DISTINCT r FROM (
			SELECT s.starelid::regclass AS r FROM pg_statistic s
			 WHERE s.starelid IN (SELECT t FROM unnest(tables) t
			                      UNION SELECT @extschema@.descendants(t) FROM unnest(tables) t)
			   AND concat_ws(' ', s.stavalues1::text, s.stavalues2::text, s.stavalues3::text,
			                 s.stavalues4::text, s.stavalues5::text) ~ pattern
			UNION ALL
			SELECT e.stxrelid::regclass FROM pg_statistic_ext e JOIN pg_statistic_ext_data d ON d.stxoid = e.oid
			 WHERE e.stxrelid IN (SELECT t FROM unnest(tables) t
			                      UNION SELECT @extschema@.descendants(t) FROM unnest(tables) t)
			   AND d.stxdmcv::text ~ pattern) x
		ORDER BY 1);
	FOREACH tbl IN ARRAY named LOOP
		EXECUTE format('ANALYZE %s', tbl);
	END LOOP;
	-- ANALYZE leaves the statistics of a table it finds empty as they were:
	-- those go (the next ANALYZE makes new ones)
	DELETE FROM pg_statistic s
	 WHERE s.starelid = ANY (named)
	   AND concat_ws(' ', s.stavalues1::text, s.stavalues2::text, s.stavalues3::text,
	                 s.stavalues4::text, s.stavalues5::text) ~ pattern;
	DELETE FROM pg_statistic_ext_data d
	 WHERE d.stxoid IN (SELECT e.oid FROM pg_statistic_ext e WHERE e.stxrelid = ANY (named))
	   AND d.stxdmcv::text ~ pattern;
	RETURN named;
END $$;
REVOKE ALL ON FUNCTION refresh_statistics_naming(regclass[], bigint) FROM PUBLIC;
COMMENT ON FUNCTION refresh_statistics_naming(regclass[], bigint) IS 'analyze again those of the tables (and their partitions) whose planner statistics hold the subject id';

-- In one transaction: the subject's rows go from every subject-keyed table
-- of the extension and every protected application table not protected
-- with erasable => false; their consent ledger entries keep what was
-- consented, when and how, under the keyed hash instead of the id; model
-- versions that may have learned from them are marked, the active one is
-- retrained by the retrain job at its next run (made due now), the others
-- lose their parameters.  An unknown subject is erased all the same (zero
-- rows): the log shows the request was honoured.
CREATE FUNCTION erase_subject(subject bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key bytea;
	deleted jsonb := '{}';
	kept jsonb := '{}';
	pseudonymized bigint;
	marked bigint[];
	removed bigint[];
	request bigint;
	tbl regclass;
	p @extschema@.protected_tables;
	n bigint;
	touched regclass[] := '{}';
	analyzed regclass[];
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	key := @extschema@.subject_key(subject);
	IF key IS NULL THEN
		RAISE EXCEPTION 'the erasure key is missing'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'personalize.erasure_key must hold one row; restore it from a dump of this database.';
	END IF;
	-- Training under way commits first and is marked below; training that
	-- starts now waits, and does not see the subject.  Erasures queue.
	LOCK TABLE @extschema@.models IN SHARE ROW EXCLUSIVE MODE;
	marked := ARRAY(SELECT @extschema@.models_trained_with(subject));

	FOR tbl IN SELECT t FROM @extschema@.subject_tables() t
	            WHERE t <> '@extschema@.consent_ledger'::regclass LOOP
		EXECUTE format('DELETE FROM %s WHERE subject_id = $1', tbl) USING subject;
		GET DIAGNOSTICS n = ROW_COUNT;
		deleted := deleted || jsonb_build_object(tbl::text, n);
		touched := touched || tbl;
	END LOOP;
	touched := touched || '@extschema@.consent_ledger'::regclass;
	UPDATE @extschema@.consent_ledger l
	   SET subject_id = NULL, subject_key = key,
	       source = @extschema@.redact_subject(l.source, subject),
	       notice_version = @extschema@.redact_subject(l.notice_version, subject)
	 WHERE l.subject_id = subject;
	GET DIAGNOSTICS pseudonymized = ROW_COUNT;

	FOR tbl IN SELECT t FROM @extschema@.erasure_order() t LOOP
		SELECT * INTO p FROM @extschema@.protected_tables t WHERE t.relid = tbl;
		IF p.erasable THEN
			EXECUTE format('DELETE FROM %s WHERE %I = $1', tbl, p.subject_column) USING subject;
			GET DIAGNOSTICS n = ROW_COUNT;
			deleted := deleted || jsonb_build_object(tbl::text, n);
			touched := touched || tbl;
		ELSE
			EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1', tbl, p.subject_column) INTO n USING subject;
			kept := kept || jsonb_build_object(tbl::text, n);
		END IF;
	END LOOP;

	analyzed := @extschema@.refresh_statistics_naming(touched, subject);
	INSERT INTO @extschema@.rights_requests (kind, subject_key, requested_by, rows, models)
	VALUES ('erasure', key, @extschema@.acting_role(),
	        jsonb_build_object('deleted', deleted, 'kept', kept, 'ledger_entries_pseudonymized', pseudonymized,
	                           'statistics_refreshed', to_jsonb(analyzed::text[])),
	        marked)
	RETURNING request_id INTO request;
	INSERT INTO @extschema@.model_erasures (model_id, request_id)
	SELECT m, request FROM unnest(marked) m;
	removed := @extschema@.remove_model_parameters(marked);
	-- a retrain job that is running now is left alone: it is past its check
	WITH due AS (
		SELECT j.job_name FROM @extschema@.jobs j
		 WHERE j.kind = 'retrain' AND j.enabled
		   AND coalesce(j.params ->> 'purpose', 'recommendation') IN
		       (SELECT m.purpose FROM @extschema@.models m WHERE m.model_id = ANY (marked) AND m.status = 'active')
		   FOR UPDATE SKIP LOCKED)
	UPDATE @extschema@.jobs j SET next_run = least(j.next_run, now())
	  FROM due WHERE j.job_name = due.job_name;
	RETURN jsonb_build_object(
		'erasure', request,
		'deleted', deleted,
		'kept', kept,
		'ledger_entries_pseudonymized', pseudonymized,
		'statistics_refreshed', to_jsonb(analyzed::text[]),
		'models_marked', to_jsonb(marked),
		'model_parameters_removed', to_jsonb(removed),
		'retrain_due', to_jsonb(ARRAY(SELECT j.job_name FROM @extschema@.jobs j
		                               WHERE j.kind = 'retrain' AND j.enabled
		                                 AND coalesce(j.params ->> 'purpose', 'recommendation') IN
		                                     (SELECT m.purpose FROM @extschema@.models m
		                                       WHERE m.model_id = ANY (marked) AND m.status = 'active')
		                               ORDER BY 1)));
END $$;
REVOKE ALL ON FUNCTION erase_subject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION erase_subject(bigint) IS
	'forget a subject in one transaction: their rows in the extension and in erasable protected tables, the raw id in the consent ledger (a keyed hash stays), and the models that may have learned from them (retrained or stripped); logged without the id';

-- ---- reset ---------------------------------------------------------------------------

-- "Reset my recommendations": history, impressions and feedback go, the
-- consents stay.  Application tables are the application's records, not
-- personalization history, and are left as they are.
CREATE FUNCTION reset_subject(subject bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	deleted jsonb := '{}';
	tbl regclass;
	n bigint;
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH tbl IN ARRAY ARRAY['@extschema@.interactions', '@extschema@.impressions', '@extschema@.feedback']::regclass[] LOOP
		EXECUTE format('DELETE FROM %s WHERE subject_id = $1', tbl) USING subject;
		GET DIAGNOSTICS n = ROW_COUNT;
		deleted := deleted || jsonb_build_object(tbl::text, n);
	END LOOP;
	INSERT INTO @extschema@.rights_requests (kind, subject_key, requested_by, rows)
	VALUES ('reset', @extschema@.subject_key(subject), @extschema@.acting_role(), jsonb_build_object('deleted', deleted));
	RETURN jsonb_build_object('deleted', deleted);
END $$;
REVOKE ALL ON FUNCTION reset_subject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION reset_subject(bigint) IS
	'start a subject''s personalization afresh: delete their interactions, impressions and feedback, keep their consents';

-- ---- per-category opt-out --------------------------------------------------------------

-- Deny one category in the subject's consent for one purpose, or for every
-- purpose they consented to; recorded in the ledger like any change.
CREATE FUNCTION opt_out(subject bigint, category text, purpose text DEFAULT NULL,
                        source text DEFAULT 'opt_out')
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
	changed integer := 0;
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF category IS NULL THEN
		RAISE EXCEPTION 'signal category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY[category]);
	IF purpose IS NOT NULL THEN
		PERFORM @extschema@.check_purpose_exists(purpose);
	END IF;
	FOR c IN SELECT s.purpose, s.consent FROM @extschema@.consents s
	          WHERE s.subject_id = opt_out.subject AND (opt_out.purpose IS NULL OR s.purpose = opt_out.purpose)
	            AND @extschema@.tier(s.consent) <> 'none'
	            AND NOT (opt_out.category = ANY (@extschema@.denied(s.consent)))
	          ORDER BY s.purpose LOOP
		PERFORM @extschema@.record_consent(subject, c.purpose, 'set',
		                                   @extschema@.consent_revoke(c.consent, category), source, NULL);
		changed := changed + 1;
	END LOOP;
	RETURN changed;
END $$;
REVOKE ALL ON FUNCTION opt_out(bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION opt_out(bigint, text, text, text) IS
	'deny a signal category in a subject''s consent for a purpose (NULL: every purpose they consented to), through the ledger; returns how many consents changed';

-- ---- export ------------------------------------------------------------------------------

-- Everything held about a subject, as a person can read it (jsonb_pretty()).
-- Rows past their category's retention are not shown (no purpose sees them;
-- purge_expired() deletes them).  The export itself is logged (a keyed hash).
-- It is assembled as json text and made jsonb once: jsonb nested in jsonb
-- would be taken apart and rebuilt, a cost that doubles with a million rows.
CREATE FUNCTION export_subject(subject bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	app json[] := '{}';
	other json[] := '{}';
	counts jsonb := '{}';
	part json;
	n bigint;
	p record;
	tbl regclass;
	category_expr text;
	fresh_expr text;
	held jsonb;				-- rows per category, all tables
	by_category jsonb;
	result jsonb;
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT coalesce(jsonb_object_agg(c.category, c.n), '{}') INTO held
	  FROM (SELECT i.category, count(*) AS n
	          FROM @extschema@.interactions i LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = i.category
	         WHERE i.subject_id = subject AND (x.cutoff IS NULL OR i.occurred_at >= x.cutoff)
	         GROUP BY 1) c;
	counts := jsonb_build_object('@extschema@.interactions',
	                             (SELECT coalesce(sum(v::bigint), 0) FROM jsonb_each_text(held) e(k, v)));

	-- protected application tables, as their rows are
	FOR p IN SELECT t.relid, t.subject_column, t.category_column, t.category_constant, t.time_column, t.erasable
	           FROM @extschema@.protected_tables t
	          WHERE NOT t.builtin AND t.inherited_from IS NULL ORDER BY t.relid::text LOOP
		category_expr := CASE WHEN p.category_column IS NOT NULL THEN format('r.%I::text', p.category_column)
		                      ELSE quote_literal(p.category_constant) END;
		fresh_expr := CASE WHEN p.time_column IS NULL THEN 'true'
		                   ELSE format('(x.cutoff IS NULL OR r.%1$I IS NULL OR r.%1$I::timestamptz >= x.cutoff)',
		                               p.time_column) END;
		EXECUTE format('SELECT json_agg(to_json(r) ORDER BY to_json(r)::text), count(*)'
		               '  FROM %1$s r LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = %2$s'
		               ' WHERE r.%3$I = $1 AND %4$s',
		               p.relid, category_expr, p.subject_column, fresh_expr)
		   INTO part, n USING subject;
		counts := counts || jsonb_build_object(p.relid::text, n);
		CONTINUE WHEN n = 0;
		app := app || json_build_object(
			'table', p.relid::text,
			'signal_category', coalesce(p.category_constant, 'the value of its column ' || p.category_column),
			'erased_on_request', p.erasable,
			'rows', part);
		-- rows per category, added to those of the tables before
		EXECUTE format('SELECT coalesce(jsonb_object_agg(k, v), ''{}'') FROM (SELECT %1$s AS k, count(*) AS v'
		               '  FROM %2$s r LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = %1$s'
		               ' WHERE r.%3$I = $1 AND %4$s GROUP BY 1) s',
		               category_expr, p.relid, p.subject_column, fresh_expr)
		   INTO by_category USING subject;
		held := held || coalesce((
			SELECT jsonb_object_agg(e.k, coalesce((held ->> e.k)::bigint, 0) + e.v::bigint)
			  FROM jsonb_each_text(by_category) AS e(k, v)), '{}');
	END LOOP;

	-- subject-keyed tables of the extension this function does not know by name
	FOR tbl IN SELECT t FROM @extschema@.subject_tables() t
	            WHERE t NOT IN ('@extschema@.consent_ledger'::regclass, '@extschema@.consents'::regclass,
	                            '@extschema@.interactions'::regclass, '@extschema@.impressions'::regclass,
	                            '@extschema@.feedback'::regclass) LOOP
		EXECUTE format('SELECT json_agg((to_jsonb(r) - ''subject_id'')::json ORDER BY to_jsonb(r)::text), count(*)'
		               '  FROM %s r WHERE r.subject_id = $1', tbl)
		   INTO part, n USING subject;
		IF n > 0 THEN
			other := other || json_build_object('table', tbl::text, 'rows', part);
		END IF;
		counts := counts || jsonb_build_object(tbl::text, n);
	END LOOP;

	SELECT json_build_object(
		'subject', subject,
		'exported_at', statement_timestamp(),
		'format', 'personalize subject export 1: every section lists what is held now; rows past their retention are not shown (they are deleted by the next purge)',
		'consents', coalesce((
			SELECT json_agg(json_build_object(
				'purpose', c.purpose, 'purpose_description', pu.description,
				'consent', c.consent::text, 'tier', @extschema@.tier(c.consent),
				'granted', @extschema@.granted(c.consent),
				'denied', @extschema@.denied(c.consent),
				'since', c.updated_at) ORDER BY c.purpose)
			  FROM @extschema@.consents c JOIN @extschema@.purposes pu ON pu.name = c.purpose
			 WHERE c.subject_id = subject), '[]'),
		'consent_history', coalesce((
			SELECT json_agg(json_build_object(
				'entry', l.entry_id, 'purpose', l.purpose, 'action', l.action, 'consent', l.consent::text,
				'source', l.source, 'notice_version', l.notice_version,
				'recorded_by', l.recorded_by, 'recorded_at', l.recorded_at) ORDER BY l.entry_id)
			  FROM @extschema@.consent_ledger l WHERE l.subject_id = subject), '[]'),
		-- the long lists are sorted in a subquery (narrow rows, the index's
		-- order) and aggregated in that order, not sorted as json inside
		-- the aggregate
		'interactions', coalesce((
			SELECT json_agg(json_build_object(
				'interaction', i.interaction_id, 'item_id', i.item_id, 'category', i.category,
				'kind', i.kind, 'weight', i.weight, 'occurred_at', i.occurred_at))
			  FROM (SELECT i.* FROM @extschema@.interactions i
			          LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = i.category
			         WHERE i.subject_id = subject AND (x.cutoff IS NULL OR i.occurred_at >= x.cutoff)
			         ORDER BY i.occurred_at, i.interaction_id) i), '[]'),
		'impressions', coalesce((
			SELECT json_agg(json_build_object(
				'shown_at', m.shown_at, 'purpose', m.purpose, 'model_id', m.model_id, 'item_id', m.item_id,
				'rank', m.rank, 'score', m.score, 'explored', m.explored, 'sponsored', m.sponsored))
			  FROM (SELECT * FROM @extschema@.impressions m WHERE m.subject_id = subject
			         ORDER BY m.shown_at, m.impression_id) m), '[]'),
		'feedback', coalesce((
			SELECT json_agg(json_build_object(
				'recorded_at', f.recorded_at, 'purpose', f.purpose, 'item_id', f.item_id,
				'kind', f.kind, 'reward', f.reward))
			  FROM (SELECT * FROM @extschema@.feedback f WHERE f.subject_id = subject
			         ORDER BY f.recorded_at, f.feedback_id) f), '[]'),
		'bandit_effects', json_build_object(
			'explanation', 'Each feedback added its reward to the item''s exploration counters under the purpose; '
			               'the counters are per item and shared by everyone, and hold nothing that names you.',
			'items', coalesce((
				SELECT json_agg(json_build_object('purpose', f.purpose, 'item_id', f.item_id,
				                                  'feedback', f.n, 'rewards', f.rewards) ORDER BY f.purpose, f.item_id)
				  FROM (SELECT f.purpose, f.item_id, count(*) AS n, sum(f.reward) AS rewards
				          FROM @extschema@.feedback f WHERE f.subject_id = subject GROUP BY 1, 2) f), '[]')),
		'application_data', array_to_json(app),
		'other_records', array_to_json(other),
		'signal_categories', coalesce((
			SELECT json_agg(json_build_object(
				'category', sc.name, 'tier', sc.tier, 'justification', sc.justification,
				'retention', sc.retention::text, 'rows', h.n,
				'read_under_your_consent_for', coalesce((
					SELECT json_agg(json_build_object('purpose', c.purpose, 'description', pu.description) ORDER BY c.purpose)
					  FROM @extschema@.consents c JOIN @extschema@.purposes pu ON pu.name = c.purpose
					 WHERE c.subject_id = subject AND pu.personal_data_allowed
					   AND sc.tier <= array_position(enum_range(NULL::@extschema@.consent_tier), pu.max_tier) - 1
					   AND @extschema@.consent_allows_tier(c.consent, sc.name, sc.tier)), '[]'),
				'used_for_training', sc.justification IS NOT NULL) ORDER BY sc.name)
			  FROM @extschema@.signal_categories sc
			  JOIN jsonb_each(held) AS h(category, n) ON h.category = sc.name), '[]'),
		'models', coalesce((
			SELECT json_agg(json_build_object(
				'model_id', m.model_id, 'algorithm', m.algorithm, 'purpose', m.purpose, 'status', m.status,
				'trained_at', m.created_at) ORDER BY m.model_id)
			  FROM @extschema@.models m WHERE m.model_id IN (SELECT @extschema@.models_trained_with(subject))), '[]'),
		'models_explanation', 'Model versions trained while you had consented to their purpose: they may have learned from your interactions. '
		                      'They keep no data about you (your preferences are computed from your history at each request); '
		                      'after an erasure they are retrained or their parameters removed.',
		'previous_requests', coalesce((
			SELECT json_agg(json_build_object('kind', r.kind, 'at', r.requested_at) ORDER BY r.request_id)
			  FROM @extschema@.rights_requests r WHERE r.subject_key = @extschema@.subject_key(subject)), '[]'))::jsonb
	  INTO result;

	counts := counts || jsonb_build_object(
		'@extschema@.consents', (SELECT count(*) FROM @extschema@.consents c WHERE c.subject_id = subject),
		'@extschema@.consent_ledger', (SELECT count(*) FROM @extschema@.consent_ledger l WHERE l.subject_id = subject),
		'@extschema@.impressions', (SELECT count(*) FROM @extschema@.impressions m WHERE m.subject_id = subject),
		'@extschema@.feedback', (SELECT count(*) FROM @extschema@.feedback f WHERE f.subject_id = subject));
	INSERT INTO @extschema@.rights_requests (kind, subject_key, requested_by, rows)
	VALUES ('export', @extschema@.subject_key(subject), @extschema@.acting_role(), jsonb_build_object('exported', counts));
	RETURN result;
END $$;
REVOKE ALL ON FUNCTION export_subject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION export_subject(bigint) IS
	'everything held about a subject as jsonb: consents and their history, interactions, impressions, feedback and its bandit effects, rows of protected application tables, the signal categories involved with their purposes and justifications, the models that may have learned from them';

-- ---- retention ------------------------------------------------------------------------------

-- Delete the rows older than their category's retention from interactions
-- and from protected tables with a time column (the policies hid them
-- already), and log how many went per table and category.
CREATE FUNCTION purge_expired() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p record;
	r record;
	counts jsonb;
	per_table jsonb;
	result jsonb := '{}';
	category_expr text;
BEGIN
	FOR p IN SELECT t.relid, t.category_column, t.category_constant, t.time_column
	           FROM @extschema@.protected_tables t
	          WHERE t.time_column IS NOT NULL AND t.inherited_from IS NULL
	          ORDER BY t.builtin DESC, t.relid::text LOOP
		category_expr := CASE WHEN p.category_column IS NOT NULL THEN format('t.%I::text', p.category_column)
		                      ELSE quote_literal(p.category_constant) END;
		per_table := '{}';
		-- counted and deleted in one statement (one snapshot): RETURNING every
		-- deleted row would cost as much again as the deletion.  Run whole,
		-- not as a cursor (a FOR over the query), whose plan would be made
		-- for the first rows.
		EXECUTE format(
			'WITH x AS (SELECT * FROM @extschema@.retention_cutoffs()),'
			' counted AS (SELECT x.category, x.retention, x.cutoff, count(*) AS n'
			'               FROM %1$s t JOIN x ON x.category = %2$s WHERE t.%3$I::timestamptz < x.cutoff'
			'              GROUP BY 1, 2, 3),'
			' d AS (DELETE FROM %1$s t USING x WHERE x.category = %2$s AND t.%3$I::timestamptz < x.cutoff)'
			' SELECT coalesce(jsonb_agg(to_jsonb(counted) ORDER BY category), ''[]'') FROM counted',
			p.relid, category_expr, p.time_column)
		   INTO counts;
		FOR r IN SELECT * FROM jsonb_to_recordset(counts) AS c(category text, retention interval, cutoff timestamptz, n bigint)
		LOOP
			per_table := per_table || jsonb_build_object(r.category, r.n);
			INSERT INTO @extschema@.retention_purges (purged_by, table_name, category, retention, cutoff, rows_deleted)
			VALUES (@extschema@.acting_role(), p.relid::text, r.category, r.retention, r.cutoff, r.n);
		END LOOP;
		result := result || jsonb_build_object(p.relid::text, per_table);
	END LOOP;
	RETURN result;
END $$;
REVOKE ALL ON FUNCTION purge_expired() FROM PUBLIC;
COMMENT ON FUNCTION purge_expired() IS
	'delete rows older than their category''s retention from interactions and protected tables with a time column; returns and logs (retention_purges) the counts per table and category';
