-- consent_side_channels: learning about rows the consent policy hides
-- without reading them.  Each section tries one class of side channel
-- several ways, as roles with and without purposes; every attempt must
-- learn nothing or end in a clear error.  Multi-session channels (other
-- sessions' caches, replication, locks) are in test/t/007_side_channels.pl.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_pz_sc_app;           -- granted recommendation
CREATE ROLE regress_pz_sc_none;          -- granted nothing
CREATE ROLE regress_pz_sc_readall IN ROLE pg_read_all_data;
CREATE ROLE regress_pz_sc_writeall IN ROLE pg_write_all_data;
CREATE ROLE regress_pz_sc_bypass BYPASSRLS;
-- a purpose of this test's own, so rows other tests leave behind stay out of its counts
SELECT create_purpose('regress_sc', 'Side-channel tests', 'enhanced', decides_terms => false);
SELECT grant_purpose('regress_pz_sc_app', 'regress_sc');
SELECT grant_purpose('regress_pz_sc_bypass', 'regress_sc');
CREATE SCHEMA regress_pz_sc;
GRANT USAGE, CREATE ON SCHEMA regress_pz_sc TO PUBLIC;

-- The rows below are dated March 2024, past browsing_history's retention
-- (180 days), which the policy applies: lifted for this test.
UPDATE signal_categories SET retention = NULL WHERE name = 'browsing_history';
-- subjects 8801 (consented), 8802 (never consented, the victim), items 8801..8810;
-- each subject viewed items 8801..8805 (browsing_history)
INSERT INTO items (item_id) SELECT i FROM generate_series(8801, 8810) i;
SELECT count(*) FROM (SELECT track(s, i, 'browsing_history', occurred_at => '2024-03-01'::timestamptz + (i - 8800) * interval '1 day')
                        FROM generate_series(8801, 8802) s, generate_series(8801, 8805) i ORDER BY s, i) t;
SELECT set_consent(8801, 'regress_sc', 'personalization');
ANALYZE interactions;

-- A query that an index narrows to one (subject, item) pair: hidden (8802,
-- 8803) exists, (8802, 8809) does not.
CREATE FUNCTION regress_pz_sc.probe(subject bigint, item bigint) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM personalize.interactions i WHERE i.subject_id = subject AND i.item_id = item
$$;

-- The rows the planner expects a query to return.
CREATE FUNCTION regress_pz_sc.estimate(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
	RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;

-- 1. Instrumented execution: refused for every role the policy applies to,
-- whatever the options, the path or the table.
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SET enable_seqscan = off;
EXPLAIN (ANALYZE) SELECT * FROM interactions WHERE subject_id = 8802 AND item_id = 8803;
\echo :LAST_ERROR_SQLSTATE
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM interactions WHERE subject_id = 8802;
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT 1 FROM interactions WHERE subject_id = 8802 AND occurred_at > '2024-03-03';
EXPLAIN (ANALYZE) WITH h AS (SELECT item_id FROM interactions WHERE subject_id = 8802) SELECT count(*) FROM h;
EXPLAIN (ANALYZE) SELECT count(*) FROM items i WHERE EXISTS (SELECT 1 FROM interactions x WHERE x.item_id = i.item_id AND x.subject_id = 8802);
PREPARE regress_pz_sc_q(bigint) AS SELECT count(*) FROM interactions WHERE subject_id = $1;
EXPLAIN (ANALYZE) EXECUTE regress_pz_sc_q(8802);
DEALLOCATE regress_pz_sc_q;
-- through SQL run by a function, and through views
DO $$ DECLARE r record; BEGIN
	FOR r IN EXECUTE 'EXPLAIN (ANALYZE) SELECT * FROM personalize.interactions WHERE subject_id = 8802' LOOP
		RAISE WARNING '%', r;
	END LOOP;
END $$;
CREATE VIEW regress_pz_sc.v AS SELECT subject_id, item_id FROM personalize.interactions;
CREATE VIEW regress_pz_sc.v_invoker WITH (security_invoker) AS SELECT subject_id, item_id FROM personalize.interactions;
EXPLAIN (ANALYZE) SELECT * FROM regress_pz_sc.v WHERE subject_id = 8802;
EXPLAIN (ANALYZE) SELECT * FROM regress_pz_sc.v_invoker WHERE subject_id = 8802;
-- plain EXPLAIN stays allowed
SELECT regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE subject_id = 8802 AND item_id = 8803') > 0 AS explained;
-- and so does instrumenting a query that reads no protected table
CREATE TEMP TABLE regress_pz_sc_plain AS SELECT 1 AS x;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM regress_pz_sc_plain;
RESET ROLE;
RESET personalize.purpose;
-- a role holding no purpose may not even try
SET ROLE regress_pz_sc_none;
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
EXPLAIN (ANALYZE) SELECT * FROM interactions WHERE subject_id = 8802;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- pg_read_all_data has SELECT on everything but does not bypass the policy
SET ROLE regress_pz_sc_readall;
SELECT count(*) FROM interactions;                 -- no purpose: nothing
EXPLAIN (ANALYZE) SELECT * FROM interactions WHERE subject_id = 8802;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- roles the policy does not apply to may instrument (the row the top plan
-- node returned: the hidden one)
CREATE FUNCTION regress_pz_sc.actual_rows(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ' || q INTO plan;
	RETURN (plan -> 0 -> 'Plan' ->> 'Actual Rows')::float8;
END $$;
SET ROLE regress_pz_sc_bypass;
SELECT regress_pz_sc.actual_rows('SELECT * FROM personalize.interactions WHERE subject_id = 8802 AND item_id = 8803');
RESET ROLE;
-- auto_explain with log_analyze instruments every query: refused as well
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT count(*) FROM interactions WHERE subject_id = 8802 AND item_id = 8803;
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pz_sc.probe(8802, 8803);
RESET ROLE;
RESET personalize.purpose;
SET auto_explain.log_analyze = off;
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT count(*) FROM interactions WHERE subject_id = 8801;     -- 5: plain logging is fine
RESET ROLE;
RESET personalize.purpose;
RESET auto_explain.log_min_duration;
RESET enable_seqscan;

-- 2. Planner estimates: column statistics count hidden rows, so roles the
-- policy applies to plan without them.  A subject with five rows and one
-- with none get the same estimate; a superuser's estimates use them.
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE subject_id = 8802')
     = regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE subject_id = 9999802') AS same_estimate,
       regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE occurred_at < ''2024-03-03''')
     = regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE occurred_at < ''2000-01-01''') AS same_range_estimate;
RESET ROLE;
RESET personalize.purpose;
SELECT regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE subject_id = 8802')
     = regress_pz_sc.estimate('SELECT * FROM personalize.interactions WHERE subject_id = 9999802') AS superuser_same_estimate;
-- pg_stats shows nothing of the table to such roles either (PostgreSQL's own rule)
SET ROLE regress_pz_sc_app;
SELECT count(*) FROM pg_stats WHERE schemaname = 'personalize' AND tablename = 'interactions';
RESET ROLE;

-- 3. Statistics counters: a probe leaves no trace in pg_stat_*, neither
-- within the transaction nor once flushed, while a superuser's scan counts.
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE counters AS
SELECT 0 AS n, t.seq_tup_read, t.idx_tup_fetch, t.idx_scan, s.heap_blks_hit + s.heap_blks_read AS heap_blks,
       (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid) AS idx_tup_read
  FROM pg_stat_user_tables t JOIN pg_statio_user_tables s USING (relid)
 WHERE t.relid = 'personalize.interactions'::regclass;
CREATE FUNCTION pg_temp.record_counters(n int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO counters
	SELECT n, t.seq_tup_read, t.idx_tup_fetch, t.idx_scan, s.heap_blks_hit + s.heap_blks_read,
	       (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid)
	  FROM pg_stat_user_tables t JOIN pg_statio_user_tables s USING (relid)
	 WHERE t.relid = 'personalize.interactions'::regclass
$$;
-- with every function call counted, row_visible() would count the rows it hid
SET track_functions = 'all';
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SET enable_seqscan = off;
BEGIN;
SELECT pg_stat_get_xact_tuples_fetched('personalize.interactions'::regclass) AS before;
SELECT regress_pz_sc.probe(8802, 8803) AS hidden_pair, regress_pz_sc.probe(8802, 8809) AS absent_pair;
SELECT count(*) FROM interactions WHERE subject_id = 8802 AND item_id = 8803;
SELECT pg_stat_get_xact_tuples_fetched('personalize.interactions'::regclass) AS after_probes,
       pg_stat_get_xact_tuples_returned('personalize.interactions'::regclass) AS returned,
       pg_stat_get_xact_numscans('personalize.interactions'::regclass) AS scans;
-- within the probing statement itself
SELECT (SELECT count(*) FROM interactions WHERE subject_id = 8802 AND item_id = 8804) AS hidden,
       pg_stat_get_xact_tuples_fetched('personalize.interactions'::regclass) AS fetched_meanwhile;
SELECT coalesce(pg_stat_get_xact_function_calls('personalize.row_visible(bigint, text)'::regprocedure), 0) AS row_visible_calls;
COMMIT;
SET enable_seqscan = on;
SELECT count(*) FROM interactions;                 -- a full scan: 5 rows of 8801
RESET enable_seqscan;
RESET ROLE;
RESET personalize.purpose;
RESET track_functions;
SELECT pg_stat_force_next_flush();
SELECT pg_temp.record_counters(1);
SELECT pg_stat_force_next_flush();
-- a superuser's scans are counted as usual
SET enable_seqscan = off;
SELECT count(*) FROM interactions WHERE subject_id = 8802;
RESET enable_seqscan;
SELECT count(*) FROM interactions WHERE subject_id IN (8801, 8802);
SELECT pg_stat_force_next_flush();
SELECT pg_temp.record_counters(2);
SELECT a.seq_tup_read - b.seq_tup_read AS app_seq_tup_read, a.idx_tup_fetch - b.idx_tup_fetch AS app_idx_tup_fetch,
       a.idx_scan - b.idx_scan AS app_idx_scan, a.heap_blks - b.heap_blks AS app_heap_blks,
       a.idx_tup_read - b.idx_tup_read AS app_idx_tup_read,
       c.idx_tup_fetch - a.idx_tup_fetch AS superuser_idx_tup_fetch, c.seq_tup_read > a.seq_tup_read AS superuser_seq_counted
  FROM counters b, counters a, counters c WHERE b.n = 0 AND a.n = 1 AND c.n = 2;

-- Parallel workers count in their own processes, and report when they
-- exit: the app's parallel scans must not show up either.  Poll (bounded)
-- until a superuser's parallel scan that follows them has been reported.
CREATE FUNCTION pg_temp.seq_tup_read() RETURNS bigint LANGUAGE sql AS $$
	SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'personalize.interactions'::regclass
$$;
SELECT count(*) AS table_rows FROM interactions \gset
SELECT pg_stat_force_next_flush();
SELECT pg_temp.seq_tup_read() AS base \gset
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT count(*) FROM interactions;
SELECT count(*) FROM interactions WHERE subject_id = 8802;
RESET ROLE;
RESET personalize.purpose;
SELECT count(*) FROM interactions WHERE subject_id IN (8801, 8802);   -- a scan of the table, counted
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT pg_stat_force_next_flush();
SELECT set_config('regress_pz_sc.until', (:base + :table_rows)::text, false) IS NOT NULL AS polling;
DO $$
BEGIN
	-- poll: at most 10 s for the workers' reports to arrive
	FOR i IN 1 .. 200 LOOP
		PERFORM pg_stat_force_next_flush();
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN pg_temp.seq_tup_read() >= current_setting('regress_pz_sc.until')::bigint;
		PERFORM pg_sleep(0.05);  -- poll
	END LOOP;
END $$;
-- three sequential scans ran; one, the superuser's, is counted
SELECT (pg_temp.seq_tup_read() - :base) / :table_rows AS scans_counted;

-- 4. Partitions and inheritance children of a protected table are
-- protected with it, including those created or attached later.
CREATE TABLE regress_pz_sc.events (user_id bigint NOT NULL, day date NOT NULL, what text)
	PARTITION BY RANGE (day);
CREATE TABLE regress_pz_sc.events_2024 PARTITION OF regress_pz_sc.events
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (what);
CREATE TABLE regress_pz_sc.events_2024_view PARTITION OF regress_pz_sc.events_2024 FOR VALUES IN ('view');
CREATE TABLE regress_pz_sc.events_2024_other PARTITION OF regress_pz_sc.events_2024 DEFAULT;
INSERT INTO regress_pz_sc.events VALUES (8801, '2024-05-01', 'view'), (8802, '2024-05-01', 'view'), (8802, '2024-06-01', 'buy');
GRANT SELECT, INSERT ON regress_pz_sc.events, regress_pz_sc.events_2024, regress_pz_sc.events_2024_view,
	regress_pz_sc.events_2024_other TO regress_pz_sc_app;
-- a partition cannot be protected on its own: reading the parent would bypass it
SELECT protect('regress_pz_sc.events_2024_view', 'user_id', 'browsing_history');
\echo :LAST_ERROR_SQLSTATE
SELECT protect('regress_pz_sc.events', 'user_id', 'browsing_history');
-- partitions created and attached later
CREATE TABLE regress_pz_sc.events_2025 PARTITION OF regress_pz_sc.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE regress_pz_sc.events_2023 (user_id bigint NOT NULL, day date NOT NULL, what text);
INSERT INTO regress_pz_sc.events_2023 VALUES (8802, '2023-02-01', 'view');
ALTER TABLE regress_pz_sc.events ATTACH PARTITION regress_pz_sc.events_2023 FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
INSERT INTO regress_pz_sc.events VALUES (8802, '2025-02-01', 'view');
GRANT SELECT ON regress_pz_sc.events_2025, regress_pz_sc.events_2023 TO regress_pz_sc_app;
SELECT table_name, inherited_from, rls_enabled, rls_forced, policy_present, unprotected_descendants
  FROM protection_status WHERE table_name::text LIKE 'regress_pz_sc.events%' ORDER BY table_name::text COLLATE "C";
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT 'events' AS t, count(*) FROM regress_pz_sc.events
UNION ALL SELECT 'only events', count(*) FROM ONLY regress_pz_sc.events
UNION ALL SELECT 'events_2024', count(*) FROM regress_pz_sc.events_2024
UNION ALL SELECT 'events_2024_view', count(*) FROM regress_pz_sc.events_2024_view
UNION ALL SELECT 'events_2024_other', count(*) FROM regress_pz_sc.events_2024_other
UNION ALL SELECT 'events_2025', count(*) FROM regress_pz_sc.events_2025
UNION ALL SELECT 'events_2023', count(*) FROM regress_pz_sc.events_2023;
SELECT count(*) FROM regress_pz_sc.events_2024_view WHERE user_id = 8802;    -- 0
EXPLAIN (ANALYZE) SELECT * FROM regress_pz_sc.events_2023;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;
-- a detached partition stays protected
ALTER TABLE regress_pz_sc.events DETACH PARTITION regress_pz_sc.events_2023;
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT count(*) FROM regress_pz_sc.events_2023;
RESET ROLE;
RESET personalize.purpose;
-- a partition protected through its parent is unprotected with it
SELECT unprotect('regress_pz_sc.events_2024');
\echo :LAST_ERROR_SQLSTATE
-- a foreign table cannot be protected, so it cannot become a partition
CREATE FOREIGN DATA WRAPPER regress_pz_sc_fdw;
CREATE SERVER regress_pz_sc_srv FOREIGN DATA WRAPPER regress_pz_sc_fdw;
CREATE FOREIGN TABLE regress_pz_sc.events_2026 PARTITION OF regress_pz_sc.events
	FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') SERVER regress_pz_sc_srv;
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('regress_pz_sc.events_2026') AS not_created;
-- inheritance: children now and later
CREATE TABLE regress_pz_sc.notes (subject bigint, body text);
CREATE TABLE regress_pz_sc.notes_old () INHERITS (regress_pz_sc.notes);
INSERT INTO regress_pz_sc.notes_old VALUES (8802, 'old');
SELECT protect('regress_pz_sc.notes', 'subject', 'preferences');
CREATE TABLE regress_pz_sc.notes_new (extra int) INHERITS (regress_pz_sc.notes);
CREATE TABLE regress_pz_sc.notes_adopted (subject bigint, body text);
INSERT INTO regress_pz_sc.notes_new VALUES (8802, 'new', 1), (8801, 'mine', 2);
INSERT INTO regress_pz_sc.notes_adopted VALUES (8802, 'adopted');
ALTER TABLE regress_pz_sc.notes_adopted INHERIT regress_pz_sc.notes;
GRANT SELECT ON regress_pz_sc.notes, regress_pz_sc.notes_old, regress_pz_sc.notes_new, regress_pz_sc.notes_adopted TO regress_pz_sc_app;
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
SELECT 'notes' AS t, count(*) FROM regress_pz_sc.notes
UNION ALL SELECT 'notes_old', count(*) FROM regress_pz_sc.notes_old
UNION ALL SELECT 'notes_new', count(*) FROM regress_pz_sc.notes_new
UNION ALL SELECT 'notes_adopted', count(*) FROM regress_pz_sc.notes_adopted;
RESET ROLE;
RESET personalize.purpose;
SELECT unprotect('regress_pz_sc.notes');
SELECT count(*) AS still_listed FROM protected_tables WHERE relid::text LIKE 'regress_pz_sc.notes%';
-- dropping a protected table forgets it
DROP TABLE regress_pz_sc.events_2023;
SELECT count(*) AS listed FROM protected_tables WHERE relid::text LIKE 'regress_pz_sc.events%';

-- 5. Unique keys and foreign keys.  A unique key over the subject: writes
-- must stay on rows the writer can see, so probing a hidden subject's key
-- is refused the same way whether the row exists or not.
CREATE TABLE regress_pz_sc.likes (customer_id bigint, product_id bigint, UNIQUE (customer_id, product_id));
INSERT INTO regress_pz_sc.likes VALUES (8801, 1), (8802, 1);
GRANT SELECT, INSERT, UPDATE ON regress_pz_sc.likes TO regress_pz_sc_app;
SELECT protect('regress_pz_sc.likes', 'customer_id', 'preferences');
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
INSERT INTO regress_pz_sc.likes VALUES (8802, 1) ON CONFLICT DO NOTHING;       -- exists, hidden
\echo :LAST_ERROR_SQLSTATE
INSERT INTO regress_pz_sc.likes VALUES (8802, 2) ON CONFLICT DO NOTHING;       -- does not exist
\echo :LAST_ERROR_SQLSTATE
INSERT INTO regress_pz_sc.likes VALUES (8802, 1);
INSERT INTO regress_pz_sc.likes VALUES (8802, 2);
INSERT INTO regress_pz_sc.likes VALUES (8802, 1) ON CONFLICT (customer_id, product_id) DO UPDATE SET product_id = 3;
INSERT INTO regress_pz_sc.likes VALUES (8802, 2) ON CONFLICT (customer_id, product_id) DO UPDATE SET product_id = 3;
-- nor can a visible row be moved onto the hidden subject
UPDATE regress_pz_sc.likes SET customer_id = 8802 WHERE customer_id = 8801;
-- a visible subject's keys work as usual
INSERT INTO regress_pz_sc.likes VALUES (8801, 1) ON CONFLICT DO NOTHING;
INSERT INTO regress_pz_sc.likes VALUES (8801, 2) ON CONFLICT DO NOTHING;
SELECT * FROM regress_pz_sc.likes ORDER BY 1, 2;
RESET ROLE;
RESET personalize.purpose;
-- keys that do not involve the subject cannot be closed this way: protect()
-- says so, naming them, and protection_status keeps listing them
CREATE TABLE regress_pz_sc.orders (order_no int PRIMARY KEY, customer_id bigint, category text,
	UNIQUE (customer_id, order_no));
CREATE TABLE regress_pz_sc.logins (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint);
GRANT INSERT (user_id) ON regress_pz_sc.logins TO regress_pz_sc_app;
SET client_min_messages = warning;
SELECT protect('regress_pz_sc.orders', 'customer_id', 'category');
SELECT protect('regress_pz_sc.logins', 'user_id', 'session');
CREATE TABLE regress_pz_sc.order_lines (order_no int REFERENCES regress_pz_sc.orders, line int);
GRANT REFERENCES ON regress_pz_sc.orders TO regress_pz_sc_app;
CREATE STATISTICS regress_pz_sc_st ON customer_id, category FROM regress_pz_sc.orders;
SELECT table_name, open_channels FROM protection_status
 WHERE table_name::text IN ('regress_pz_sc.likes', 'regress_pz_sc.orders', 'regress_pz_sc.logins')
 ORDER BY table_name::text COLLATE "C";
-- inserting a row for a subject without consent stays allowed where no key involves the subject
INSERT INTO regress_pz_sc.orders VALUES (1, 8802, 'purchase_history');
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc';
INSERT INTO regress_pz_sc.logins (user_id) VALUES (8802);
RESET ROLE;
RESET personalize.purpose;
-- the extension's own table: its only key is an identity no application
-- role may set
SELECT open_channels('personalize.interactions');

-- 6. The registry can be changed only by its owner and the extension's
-- functions: pg_write_all_data does not help, nor do table privileges.
SET ROLE regress_pz_sc_writeall;
INSERT INTO purpose_grants (role, purpose) VALUES ('regress_pz_sc_none', 'recommendation');
\echo :LAST_ERROR_SQLSTATE
UPDATE signal_categories SET tier = 1 WHERE name = 'location';
DELETE FROM purposes WHERE name = 'pricing';
UPDATE purposes SET personal_data_allowed = true, decides_terms = false WHERE name = 'pricing';
INSERT INTO purposes (name, description, max_tier, personal_data_allowed) VALUES ('regress_pz_sc_p', 'x', 'enhanced', true);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO protected_tables (relid, subject_column, category_constant, enabled_rls) VALUES ('regress_pz_sc.likes', 'x', 'session', false);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM protected_tables;
UPDATE interaction_kinds SET weight = 100;
UPDATE models SET status = 'active';
INSERT INTO consents VALUES (8802, 'recommendation', 'enhanced', now());
\echo :LAST_ERROR_SQLSTATE
UPDATE consents SET consent = 'enhanced';
DELETE FROM consent_ledger;
UPDATE interactions SET weight = 0;
RESET ROLE;
SELECT (SELECT tier FROM signal_categories WHERE name = 'location') AS location_tier,
       (SELECT personal_data_allowed FROM purposes WHERE name = 'pricing') AS pricing_personal,
       (SELECT count(*) FROM purpose_grants WHERE role = 'regress_pz_sc_none'::regrole) AS none_grants,
       (SELECT count(*) FROM protected_tables WHERE relid::text LIKE 'regress_pz_sc.%') AS protected;
-- and pg_read_all_data reads nothing personal
SET ROLE regress_pz_sc_readall;
SELECT (SELECT count(*) FROM consents) AS consents, (SELECT count(*) FROM consent_ledger) AS ledger,
       (SELECT count(*) FROM impressions) AS impressions, (SELECT count(*) FROM feedback) AS feedback,
       (SELECT count(*) FROM purpose_grants) AS grants;
RESET ROLE;

-- 7. Functions PUBLIC may run cannot be turned on the extension: its trigger
-- functions refuse other tables, and PUBLIC may not attach them at all.
SET ROLE regress_pz_sc_none;
CREATE TEMP TABLE items (item_id bigint);
CREATE TRIGGER t AFTER INSERT ON pg_temp.items FOR EACH STATEMENT EXECUTE FUNCTION personalize.serving_changed();
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER t AFTER INSERT ON pg_temp.items FOR EACH STATEMENT EXECUTE FUNCTION personalize.invalidate_visibility();
\echo :LAST_ERROR_SQLSTATE
DROP TABLE pg_temp.items;
RESET ROLE;
CREATE TABLE regress_pz_sc.items (item_id bigint);
CREATE TRIGGER t AFTER INSERT ON regress_pz_sc.items FOR EACH STATEMENT EXECUTE FUNCTION personalize.serving_changed();
CREATE TRIGGER u AFTER INSERT ON regress_pz_sc.items FOR EACH STATEMENT EXECUTE FUNCTION personalize.invalidate_visibility();
INSERT INTO regress_pz_sc.items VALUES (1);
DROP TRIGGER t ON regress_pz_sc.items;
INSERT INTO regress_pz_sc.items VALUES (1);
-- what PUBLIC may run, for review whenever it changes
SELECT p.oid::regprocedure AS public_function
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize')
   AND has_function_privilege('public', p.oid, 'EXECUTE')
   AND p.prorettype NOT IN ('personalize.embedding'::regtype, 'personalize.embedding8'::regtype)
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[]) t
                    WHERE t IN ('personalize.embedding'::regtype, 'personalize.embedding8'::regtype))
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- 8. Model cards say only what the rows visible under the purpose say.  A
-- never-consented subject's rows, far in the past and the future, change
-- neither the time range, nor the published popularity scores.
SELECT train('popularity', purpose => 'regress_sc', seed => 1, activate => 'never') AS m1 \gset
SELECT count(*) FROM (SELECT track(8802, 8806, 'browsing_history', occurred_at => t)
                        FROM unnest(ARRAY['1999-01-01', '2031-01-01']::timestamptz[]) t) x;
-- twelve withdrawals and one functional-only consent: left out, in tens
SELECT count(*) FROM (SELECT set_consent(s, 'regress_sc', 'personalization') FROM generate_series(9900, 9911) s) x;
SELECT count(*) FROM (SELECT withdraw_consent(s, 'regress_sc') FROM generate_series(9900, 9911) s) x;
SELECT set_consent(9912, 'regress_sc', 'functional');
SELECT train('popularity', purpose => 'regress_sc', seed => 1, activate => 'never') AS m2 \gset
SELECT model_id = :m2 AS second, data->'time_range' AS time_range, data ? 'rows_in_table' AS counts_all_rows,
       data->'subjects_left_out' AS left_out, data->>'rows_used' AS rows_used
  FROM models WHERE model_id IN (:m1, :m2) ORDER BY model_id;
SELECT count(*) AS scores_changed
  FROM model_popularity a JOIN model_popularity b USING (item_id)
 WHERE a.model_id = :m1 AND b.model_id = :m2 AND a.score <> b.score;
SELECT model_card(:m2)->'data' ? 'time_range' AS card_has_range;

-- 9. Deciding prices or terms is a property, not a name.
SELECT create_purpose('dynamic_pricing', 'Dynamic prices', 'enhanced');
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('dynamic_pricing', 'Dynamic prices', 'enhanced', decides_terms => false);
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('recommendation.pricing', 'Prices from recommendations', 'enhanced', decides_terms => false, inherit => true);
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('yield_management', 'Seat prices', 'enhanced', decides_terms => true, personal_data_allowed => true);
\echo :LAST_ERROR_SQLSTATE
-- a purpose whose name says nothing can still decide terms, and then reads nothing personal
SELECT create_purpose('yield_management', 'Seat prices', 'enhanced', decides_terms => true);
SELECT create_purpose('yield_management.vip', 'VIP seat prices', 'enhanced', inherit => true);
SELECT create_purpose('yield_management.loyal', 'Loyal customers', 'enhanced', decides_terms => false, inherit => false);
\echo :LAST_ERROR_SQLSTATE
SELECT name, max_tier, personal_data_allowed, decides_terms, inherits FROM purposes
 WHERE name LIKE 'yield_management%' ORDER BY name;
SELECT grant_purpose('regress_pz_sc_app', 'yield_management');
SELECT set_consent(8801, 'yield_management', 'enhanced');
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'yield_management';
SELECT count(*) FROM interactions WHERE subject_id = 8801;
\echo :LAST_ERROR_SQLSTATE
SET personalize.purpose = 'yield_management.vip';
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM recommend(8801, purpose => 'yield_management.vip');
\echo :LAST_ERROR_SQLSTATE
SELECT feedback(8801, 8801, purpose => 'yield_management');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;
-- even a superuser's direct edit cannot make it personal
UPDATE purposes SET personal_data_allowed = true WHERE name = 'yield_management';
\echo :LAST_ERROR_SQLSTATE
SELECT revoke_purpose('regress_pz_sc_app', 'yield_management');

-- 10. Sub-purposes inherit grants and consents only when created to.
SELECT create_purpose('regress_sc.email', 'By e-mail', 'personalization', inherit => true);
SELECT create_purpose('regress_sc.partner', 'Shown by a partner', 'personalization', inherit => false);
SELECT purpose_chain('regress_sc.email') AS email_chain, purpose_chain('regress_sc.partner') AS partner_chain,
       purpose_chain('no_such_purpose') AS unknown_chain;
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc.email';
SELECT count(*) FROM interactions;                 -- 8801's 5 rows: grant and consent inherited
SET personalize.purpose = 'regress_sc.partner';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;
SELECT grant_purpose('regress_pz_sc_app', 'regress_sc.partner');
SET ROLE regress_pz_sc_app;
SET personalize.purpose = 'regress_sc.partner';
SELECT count(*) FROM interactions;                 -- 0: nobody consented to it
RESET ROLE;
SELECT set_consent(8801, 'regress_sc.partner', 'personalization');
SET ROLE regress_pz_sc_app;
SELECT count(*) FROM interactions;                 -- 5
RESET ROLE;
RESET personalize.purpose;

-- clean up
SELECT unprotect(t) FROM unnest(ARRAY['regress_pz_sc.events', 'regress_pz_sc.likes', 'regress_pz_sc.orders',
	'regress_pz_sc.logins']::regclass[]) t;
DROP SCHEMA regress_pz_sc CASCADE;
DROP SERVER regress_pz_sc_srv;
DROP FOREIGN DATA WRAPPER regress_pz_sc_fdw;
SELECT revoke_purpose(r, p) FROM purpose_grants g, LATERAL (SELECT g.role AS r, g.purpose AS p) x
 WHERE g.role::text LIKE 'regress_pz_sc%';
DELETE FROM models WHERE model_id IN (:m1, :m2);
DELETE FROM interactions WHERE subject_id IN (8801, 8802);
DELETE FROM consents WHERE subject_id IN (8801, 8802) OR subject_id BETWEEN 9900 AND 9912;
-- purposes named in the append-only ledger stay
DELETE FROM purposes WHERE name = 'regress_sc.email';
DELETE FROM items WHERE item_id BETWEEN 8801 AND 8810;
UPDATE signal_categories SET retention = '180 days' WHERE name = 'browsing_history';
DROP OWNED BY regress_pz_sc_app, regress_pz_sc_none, regress_pz_sc_readall, regress_pz_sc_writeall, regress_pz_sc_bypass;
DROP ROLE regress_pz_sc_app, regress_pz_sc_none, regress_pz_sc_readall, regress_pz_sc_writeall, regress_pz_sc_bypass;
