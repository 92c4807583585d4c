-- rights: retention that holds on every path, export, erasure (and what it
-- leaves), reset, per-category opt-out, model cards frozen at training,
-- the auditor's views.  test/t/011_rights.pl scans a whole database for an
-- erased id with data spread over many tables; this file checks each
-- guarantee on its own.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_rights_app;          -- holds purpose regress_rights
CREATE ROLE regress_rights_dpo;          -- may run the rights functions
CREATE ROLE regress_rights_auditor;      -- the audit views only
SELECT create_purpose('regress_rights', 'Rights tests', 'enhanced', decides_terms => false);
SELECT grant_purpose('regress_rights_app', 'regress_rights');
GRANT EXECUTE ON FUNCTION export_subject(bigint), erase_subject(bigint), reset_subject(bigint),
                          opt_out(bigint, text, text, text), purge_expired() TO regress_rights_dpo;
GRANT USAGE ON SCHEMA personalize TO regress_rights_dpo;
-- a category of this test's own: a retention of one hour
INSERT INTO signal_categories (name, tier, justification, retention)
VALUES ('regress_clicks', 2, 'Clicks within the hour, used to recommend what goes with them.', '1 hour');

-- items 7701..7712; subjects 7700101..7700120 view items in pairs, so that
-- an item-kNN model learns neighbours
INSERT INTO items (item_id, category, attributes)
SELECT i, 'rt', jsonb_build_object('name', 'Item ' || (i - 7700)) FROM generate_series(7701, 7712) i;
SELECT count(*) FROM (SELECT set_consent(s, 'regress_rights', 'personalization') FROM generate_series(7700101, 7700120) s) c;
INSERT INTO interactions (subject_id, item_id, category, kind)
SELECT s, i, 'browsing_history', 'view'
  FROM generate_series(7700101, 7700120) s, generate_series(7701, 7712) i
 WHERE (i - 7701) / 2 = (s - 7700101) % 6 OR i = 7701 + (s % 3);

-- ---- 1. retention holds at every moment ------------------------------------------

-- subject 7700201: a click one second past the hour, one within it
SELECT set_consent(7700201, 'regress_rights', 'personalization');
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at) VALUES
	(7700201, 7701, 'regress_clicks', 'click', now() - interval '1 hour 1 second'),
	(7700201, 7702, 'regress_clicks', 'click', now() - interval '59 minutes');
SET ROLE regress_rights_app;
SET personalize.purpose = 'regress_rights';
SELECT item_id FROM interactions WHERE subject_id = 7700201 ORDER BY item_id;
RESET ROLE;
-- a longer retention shows the older row from the next statement on, a shorter hides both
UPDATE signal_categories SET retention = '2 hours' WHERE name = 'regress_clicks';
SET ROLE regress_rights_app;
SELECT item_id FROM interactions WHERE subject_id = 7700201 ORDER BY item_id;
RESET ROLE;
UPDATE signal_categories SET retention = '1 minute' WHERE name = 'regress_clicks';
SET ROLE regress_rights_app;
SELECT count(*) AS visible FROM interactions WHERE subject_id = 7700201;
RESET ROLE;
UPDATE signal_categories SET retention = '1 hour' WHERE name = 'regress_clicks';
-- a superuser's explicit check says the same (training and serving ask it so)
SELECT item_id, row_visible(subject_id, category, occurred_at) AS visible, row_visible(subject_id, category) AS consent_only
  FROM interactions WHERE subject_id = 7700201 ORDER BY item_id;
-- a NULL time has no age; a NULL subject or category is never visible
SELECT row_visible(7700201, 'regress_clicks', NULL) AS null_time,
       row_visible(NULL, 'regress_clicks', now()) AS null_subject,
       row_visible(7700201, NULL, now()) AS null_category;
RESET personalize.purpose;
-- the click within the hour stays so for the rest of this test
UPDATE interactions SET occurred_at = now() - interval '10 minutes' WHERE subject_id = 7700201 AND item_id = 7702;

-- serving: the expired click is neither history nor a reason.  An item-kNN
-- model of the purpose; subject 7700202 viewed item 7705 now and item 7701
-- three years ago (session: one day's retention).
SELECT train('itemknn', purpose => 'regress_rights', neighbors => 5, seed => 1) AS knn \gset
SELECT status FROM models WHERE model_id = :knn;
SELECT set_consent(7700202, 'regress_rights', 'personalization');
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at) VALUES
	(7700202, 7705, 'browsing_history', 'view', now()),
	(7700202, 7701, 'session', 'view', now() - interval '3 years');
SET personalize.log_impressions = off;
SET ROLE regress_rights_app;
SELECT DISTINCT history_item, name FROM explain(7700202, 7706, 'regress_rights') ORDER BY 1;
SELECT count(*) FILTER (WHERE reason LIKE '%Item 1%') AS reasons_naming_the_expired_item,
       count(*) FILTER (WHERE item_id = 7701) AS expired_item_recommended_as_unseen
  FROM recommend(7700202, k => 11, purpose => 'regress_rights', exploration => 0);
RESET ROLE;
-- without the retention the old view is history again (and the item seen)
UPDATE signal_categories SET retention = NULL WHERE name = 'session';
SET ROLE regress_rights_app;
SELECT DISTINCT history_item, name FROM explain(7700202, 7706, 'regress_rights') ORDER BY 1;
RESET ROLE;
UPDATE signal_categories SET retention = '1 day' WHERE name = 'session';

-- training reads no expired row: subject 7700203's only rows are expired
SELECT set_consent(7700203, 'regress_rights', 'personalization');
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at)
SELECT 7700203, i, 'session', 'view', now() - interval '2 days' FROM generate_series(7701, 7712) i;
SELECT train('popularity', purpose => 'regress_rights', seed => 1, activate => 'never') AS pop \gset
SELECT (data ->> 'subjects_included')::int AS included, (data ->> 'rows_used')::int AS rows_used,
       data -> 'categories_used' AS used
  FROM models WHERE model_id = :pop;

-- a protected application table with a time column: the same rule
CREATE SCHEMA regress_rights_shop;
CREATE TABLE regress_rights_shop.orders (
	order_id   int PRIMARY KEY,
	customer   bigint NOT NULL,
	item       bigint,
	placed_at  timestamptz NOT NULL,
	details    jsonb
);
CREATE TABLE regress_rights_shop.invoices (
	invoice_id int PRIMARY KEY,
	customer   bigint NOT NULL,
	amount     numeric
);
CREATE TABLE regress_rights_shop.notes (customer bigint, written date, body text);
INSERT INTO regress_rights_shop.orders VALUES
	(1, 7700201, 7703, now() - interval '1 day', '{"gift": false}'),
	(2, 7700201, 7704, now() - interval '3 years', '{"gift": true}'),
	(3, 7700101, 7705, now(), NULL);
INSERT INTO regress_rights_shop.invoices VALUES (1, 7700201, 10.5), (2, 7700101, 3);
GRANT USAGE ON SCHEMA regress_rights_shop TO regress_rights_app;
GRANT SELECT ON regress_rights_shop.orders, regress_rights_shop.invoices TO regress_rights_app;
SELECT protect('regress_rights_shop.orders', 'customer', 'purchase_history', time_column => 'placed_at');
SELECT protect('regress_rights_shop.invoices', 'customer', 'purchase_history', erasable => false);
SELECT table_name, time_column, erasable FROM protection_status
 WHERE table_name::text LIKE 'regress_rights_shop.%' ORDER BY 1;
SET ROLE regress_rights_app;
SET personalize.purpose = 'regress_rights';
SELECT order_id FROM regress_rights_shop.orders ORDER BY 1;    -- 2 is three years old
RESET ROLE;
RESET personalize.purpose;
-- time columns must be times (a date will do); the column must exist
SELECT protect('regress_rights_shop.notes', 'customer', 'preferences', time_column => 'body');
SELECT protect('regress_rights_shop.notes', 'customer', 'preferences', time_column => 'nosuch');
SELECT protect('regress_rights_shop.notes', 'customer', 'preferences', erasable => NULL);
SELECT protect('regress_rights_shop.notes', 'customer', 'preferences', time_column => 'written');
SELECT unprotect('regress_rights_shop.notes');

-- the purge deletes what the policies hid, and logs it
SET personalize.purpose = 'regress_rights';
SELECT count(*) AS expired_before FROM interactions
 WHERE subject_id BETWEEN 7700201 AND 7700203 AND NOT row_visible(subject_id, category, occurred_at)
   AND row_visible(subject_id, category);
RESET personalize.purpose;
SELECT purged -> 'personalize.interactions' ->> 'regress_clicks' AS clicks,
       (purged -> 'personalize.interactions' ->> 'session')::int >= 13 AS session_rows,
       purged -> 'regress_rights_shop.orders' AS orders
  FROM purge_expired() purged;
SELECT item_id FROM interactions WHERE subject_id = 7700201 ORDER BY item_id;
SELECT order_id FROM regress_rights_shop.orders ORDER BY 1;
SELECT table_name, category, retention, rows_deleted, purged_by = current_user AS by_me
  FROM retention_log WHERE table_name LIKE 'regress_rights_shop.%' OR category = 'regress_clicks' ORDER BY purge_id;
SELECT purge_expired() -> 'regress_rights_shop.orders' AS nothing_left;

-- ---- 2. model cards are frozen at training ----------------------------------------

SELECT train('als', purpose => 'regress_rights', factors => 3, iterations => 2, regularization => 0.123456789,
             alpha => 3.3, seed => 7, activate => 'never') AS als \gset
SELECT params FROM models WHERE model_id = :als;
SELECT jsonb_pretty(model_card(:als) -> 'signal_categories') AS categories;
SELECT model_card(:als) -> 'categories_without_rows' ?& ARRAY['purchase_history', 'session', 'location'] AS without_rows,
       NOT model_card(:als) -> 'categories_without_rows' ?| ARRAY['browsing_history', 'regress_clicks'] AS used_not_listed,
       model_card(:als) ->> 'registry_recorded' AS recorded,
       model_card(:als) -> 'purpose' ->> 'description' AS purpose;
SELECT model_card(:als) AS card_before \gset
UPDATE signal_categories SET justification = 'Edited later.', retention = '7 days' WHERE name = 'browsing_history';
UPDATE purposes SET description = 'Edited later.' WHERE name = 'regress_rights';
SELECT model_card(:als) = :'card_before'::jsonb AS card_unchanged;
UPDATE signal_categories SET justification = 'Items viewed across visits, used to recommend related items.',
       retention = '180 days' WHERE name = 'browsing_history';
-- a model written by hand records nothing, and its card says so
INSERT INTO models (algorithm, purpose, status, trained_by) VALUES ('popularity', 'regress_rights', 'candidate', 'regress')
RETURNING model_id AS by_hand \gset
SELECT model_card(:by_hand) ->> 'registry_recorded' AS recorded;
DELETE FROM models WHERE model_id = :by_hand;

-- ---- 3. per-category opt-out ----------------------------------------------------------

-- subject 7700204 viewed items 7701..7703 (browsing) and bought 7704: a
-- popularity model leaves them out as seen; opting out of browsing_history
-- takes the views out of the history, so they can be recommended again
SELECT activate_model(:pop);
SELECT set_consent(7700204, 'regress_rights', 'personalization');
INSERT INTO interactions (subject_id, item_id, category, kind) VALUES
	(7700204, 7701, 'browsing_history', 'view'), (7700204, 7702, 'browsing_history', 'view'),
	(7700204, 7703, 'browsing_history', 'view'), (7700204, 7704, 'purchase_history', 'purchase');
SET ROLE regress_rights_app;
SELECT array_agg(item_id ORDER BY item_id) AS recommended_of_7701_7704
  FROM (SELECT item_id FROM recommend(7700204, k => 12, purpose => 'regress_rights', exploration => 0)) r
 WHERE item_id BETWEEN 7701 AND 7704;
RESET ROLE;
SET ROLE regress_rights_dpo;
SELECT opt_out(7700204, 'browsing_history');
SELECT opt_out(7700204, 'browsing_history');               -- nothing left to change
SELECT opt_out(7700204, 'nosuch');
SELECT opt_out(NULL, 'browsing_history');
RESET ROLE;
SELECT consent_of(7700204, 'regress_rights')::text AS consent;
SELECT action, consent::text, source FROM consent_history WHERE subject_id = 7700204 ORDER BY entry_id;
SET ROLE regress_rights_app;
SELECT array_agg(item_id ORDER BY item_id) AS recommended_of_7701_7704
  FROM (SELECT item_id FROM recommend(7700204, k => 12, purpose => 'regress_rights', exploration => 0)) r
 WHERE item_id BETWEEN 7701 AND 7704;
RESET ROLE;

-- ---- 4. reset keeps the consent ----------------------------------------------------------

SET personalize.log_impressions = on;
SET ROLE regress_rights_app;
SELECT count(*) > 0 AS shown FROM recommend(7700204, k => 3, purpose => 'regress_rights', exploration => 0);
SELECT feedback(7700204, 7705, purpose => 'regress_rights');
RESET ROLE;
SET ROLE regress_rights_dpo;
SELECT reset_subject(7700204);
RESET ROLE;
SELECT (SELECT count(*) FROM interactions WHERE subject_id = 7700204) AS interactions,
       (SELECT count(*) FROM impressions WHERE subject_id = 7700204) AS impressions,
       (SELECT count(*) FROM feedback WHERE subject_id = 7700204) AS feedback,
       consent_of(7700204, 'regress_rights')::text AS consent_kept;

-- ---- 5. export --------------------------------------------------------------------------------

SET ROLE regress_rights_dpo;
SELECT export_subject(7700201) AS export \gset
RESET ROLE;
SELECT jsonb_object_keys(:'export'::jsonb) AS section ORDER BY 1;
SELECT :'export'::jsonb -> 'subject' AS subject,
       jsonb_array_length(:'export'::jsonb -> 'consents') AS consents,
       jsonb_array_length(:'export'::jsonb -> 'consent_history') AS ledger_entries,
       jsonb_path_query_array(:'export'::jsonb, '$.interactions[*].item_id') AS interactions;
-- the protected tables, as rows; the order three years old is gone (purged), the invoice kept by law is there
SELECT a ->> 'table' AS table_name, a ->> 'signal_category' AS category, a -> 'erased_on_request' AS erased_on_request,
       (SELECT jsonb_agg(r - 'placed_at') FROM jsonb_array_elements(a -> 'rows') r) AS rows
  FROM jsonb_array_elements(:'export'::jsonb -> 'application_data') a ORDER BY 1;
SELECT c ->> 'category' AS category, c -> 'rows' AS rows, c -> 'read_under_your_consent_for' -> 0 ->> 'purpose' AS purpose,
       c ->> 'justification' IS NOT NULL AS justified
  FROM jsonb_array_elements(:'export'::jsonb -> 'signal_categories') c ORDER BY 1;
SELECT count(*) > 0 AS lists_models FROM jsonb_array_elements(:'export'::jsonb -> 'models');
-- an expired row is not exported: 7700202's three-year-old view
SET ROLE regress_rights_dpo;
SELECT jsonb_path_query_array(export_subject(7700202), '$.interactions[*].item_id') AS exported_items;
RESET ROLE;
SELECT kind, requested_by FROM rights_log WHERE kind = 'export' ORDER BY request_id;

-- ---- 6. erasure ----------------------------------------------------------------------------------

-- subject 7700201 everywhere: consents, ledger (with the id quoted in free
-- text), interactions, impressions, feedback, both application tables
SELECT set_consent(7700201, 'regress_rights', 'enhanced', "grant" => '{location}',
                   source => 'support ticket #7700201', notice_version => 'v3 (7700201)') IS NOT NULL AS recorded;
INSERT INTO interactions (subject_id, item_id, category, kind) VALUES (7700201, 7706, 'location', 'view');
SET ROLE regress_rights_app;
SELECT count(*) AS shown FROM recommend(7700201, k => 2, purpose => 'regress_rights', exploration => 0);
SELECT feedback(7700201, 7706, purpose => 'regress_rights');
RESET ROLE;
SELECT activate_model(:knn);
SELECT array_agg(model_id ORDER BY model_id) = ARRAY[:knn, :pop, :als]::bigint[] AS trained_with_7700201
  FROM models_trained_with(7700201) model_id WHERE model_id IN (:knn, :pop, :als);
SELECT alter_job('retrain', enabled => false);
SELECT schedule_job('rt_retrain', 'retrain', '1 day', '{"purpose": "regress_rights"}', first_run => now() + interval '1 day');

SET ROLE regress_rights_dpo;
SELECT erase_subject(7700201) AS erasure \gset
RESET ROLE;
SELECT :'erasure'::jsonb -> 'deleted' AS deleted, :'erasure'::jsonb -> 'kept' AS kept,
       :'erasure'::jsonb -> 'ledger_entries_pseudonymized' AS pseudonymized,
       :'erasure'::jsonb -> 'retrain_due' AS retrain_due;
SELECT (:'erasure'::jsonb -> 'models_marked') @> to_jsonb(ARRAY[:knn, :pop, :als]) AS marked,
       (:'erasure'::jsonb -> 'model_parameters_removed') @> to_jsonb(ARRAY[:pop, :als]) AS stripped,
       NOT (:'erasure'::jsonb -> 'model_parameters_removed') @> to_jsonb(:knn) AS active_keeps_serving;
-- nothing holds the id but the invoices kept by law (erasable => false):
-- every column of every table of the database, as text (jsonb included),
-- digit runs compared whole
CREATE FUNCTION pg_temp.occurrences(needle text) RETURNS TABLE (tbl text, col text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT a.attrelid::regclass AS rel, a.attname
	           FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
	          WHERE r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
	            AND r.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
	            AND r.relnamespace::regnamespace::text NOT LIKE 'pg_toast%' LOOP
		tbl := c.rel::text;
		col := c.attname;
		EXECUTE format('SELECT count(*) FROM ONLY %s t WHERE t.%I::text ~ $1', c.rel, c.attname)
		   INTO n USING '(^|[^0-9])' || needle || '([^0-9]|$)';
		IF n > 0 THEN
			RETURN NEXT;
		END IF;
	END LOOP;
END $$;
SELECT * FROM pg_temp.occurrences('7700201');
SELECT * FROM pg_temp.occurrences('7700101') ORDER BY 1, 2;    -- a subject not erased is found
-- the ledger keeps what was consented, under the keyed hash
SELECT purpose, action, consent::text, source, notice_version, subject_key = subject_key(7700201) AS keyed
  FROM consent_ledger WHERE subject_id IS NULL ORDER BY entry_id;
-- the log holds the keyed hash, never the id
SELECT erased_by, deleted, kept, ledger_entries_pseudonymized,
       subject_key = encode(subject_key(7700201), 'hex') AS keyed,
       models_still_serving = ARRAY[:knn]::bigint[] AS still_serving
  FROM erasure_log;
-- the models: the active one serves until the retrain job replaces it; the others lost their parameters
SELECT model_id = :knn AS is_knn, status, status_reason LIKE '%parameters removed: trained with a subject erased since' AS stripped
  FROM models WHERE model_id IN (:knn, :pop, :als) ORDER BY model_id;
SELECT model_card(:knn) -> 'erasure' ->> 'erased_subjects_since_training' AS erased,
       model_card(:knn) -> 'erasure' ->> 'state' LIKE 'serving until the retrain job replaces it%' AS state,
       model_card(:knn) -> 'erasure' ->> 'retrain_job' AS job;
SELECT next_run <= now() AS retrain_due_now FROM jobs WHERE job_name = 'rt_retrain';
SELECT set_config('regress.pop', :'pop', false) IS NOT NULL AS noted;
DO $$
BEGIN
	PERFORM personalize.activate_model(current_setting('regress.pop')::bigint);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE WARNING 'a stripped model cannot be activated (%)', SQLSTATE;
END $$;
SELECT rollback_model('regress_rights');
SELECT status, result ->> 'reason' AS reason, result ->> 'status' AS new_status FROM run_job('rt_retrain');
SELECT model_id = :knn AS is_knn, status, status_reason LIKE '%parameters removed: trained with a subject erased since' AS stripped,
       (SELECT count(*) FROM model_item_factors f WHERE f.model_id = m.model_id)
       + (SELECT count(*) FROM model_neighbors f WHERE f.model_id = m.model_id)
       + (SELECT count(*) FROM model_popularity f WHERE f.model_id = m.model_id) AS parameters
  FROM models m WHERE model_id = :knn;
SELECT model_card(model_id) -> 'erasure' ->> 'erased_subjects_since_training' AS new_model_erased
  FROM models WHERE purpose = 'regress_rights' AND status = 'active';
SELECT erase_subject(7700201) -> 'deleted' -> 'personalize.interactions' AS again;
-- an unknown subject: recorded, not an error
SELECT erase_subject(7799999) -> 'deleted' -> 'personalize.consents' AS unknown;
SELECT count(*) AS erasures, count(DISTINCT subject_key) AS subjects FROM erasure_log;
SELECT erase_subject(NULL);

-- the ledger's one exception is exact: any other change is refused, a
-- wrong key too, and the raw id cannot come back
UPDATE consent_ledger SET subject_key = '\x00'::bytea, subject_id = NULL WHERE subject_id = 7700101;
UPDATE consent_ledger SET subject_key = subject_key(7700101), subject_id = NULL, source = 'changed' WHERE subject_id = 7700101;
UPDATE consent_ledger SET subject_id = 7700201, subject_key = NULL WHERE subject_key = subject_key(7700201);
DELETE FROM consent_ledger WHERE subject_key IS NOT NULL;

-- ---- 7. who may do what --------------------------------------------------------------------------

SET ROLE regress_rights_app;
SELECT erase_subject(7700102);
SELECT export_subject(7700102);
SELECT reset_subject(7700102);
SELECT purge_expired();
SELECT subject_key(7700102);
SELECT * FROM erasure_key;
SELECT * FROM rights_requests;
SELECT * FROM erasure_log;
RESET ROLE;
SELECT grant_audit('regress_rights_auditor');
SET ROLE regress_rights_auditor;
SELECT category, tier, rows > 0 AS has_rows, subjects > 0 AS has_subjects, used_for_training,
       'regress_rights' = ANY (purposes) AS readable_for_purpose
  FROM data_inventory WHERE category IN ('browsing_history', 'regress_clicks', 'purchase_history', 'third_party') ORDER BY 1;
SELECT stored_in @> '{regress_rights_shop.invoices,regress_rights_shop.orders}' AS stored_in
  FROM data_inventory WHERE category = 'purchase_history';
SELECT count(*) > 0 AS erasures FROM erasure_log;
SELECT count(*) > 0 AS purges FROM retention_log;
SELECT count(*) > 0 AS requests FROM rights_log;
SELECT count(*) >= 0 AS coverage FROM consent_coverage;
SELECT count(*) >= 0 AS cards FROM model_cards;
SELECT count(*) >= 0 AS access FROM purpose_access;
SELECT count(*) >= 0 AS protection FROM protection_status;
SELECT count(*) FROM interactions;
SELECT count(*) FROM consents;
SELECT count(*) FROM consent_ledger;
SELECT count(*) FROM consent_history;
SELECT count(*) FROM impressions;
SELECT count(*) FROM feedback;
SELECT count(*) FROM rights_requests;
SELECT count(*) FROM retention_purges;
SELECT count(*) FROM regress_rights_shop.orders;
SELECT export_subject(7700102);
SELECT count(*) > 0 AS counts FROM data_inventory_counts();
SET personalize.purpose = 'regress_rights';
RESET personalize.purpose;
RESET ROLE;
SELECT revoke_audit('regress_rights_auditor');
SET ROLE regress_rights_auditor;
SELECT count(*) FROM data_inventory;
RESET ROLE;
-- expired rows are counted, not shown
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at)
VALUES (7700102, 7701, 'regress_clicks', 'click', now() - interval '2 hours');
SELECT rows, expired_rows FROM data_inventory WHERE category = 'regress_clicks';
SELECT grant_audit(NULL);

-- ---- clean up --------------------------------------------------------------------------------------
SELECT unschedule_job('rt_retrain');
SELECT alter_job('retrain', enabled => true);
SELECT unprotect(t) FROM unnest(ARRAY['regress_rights_shop.orders', 'regress_rights_shop.invoices']::regclass[]) t;
DROP SCHEMA regress_rights_shop CASCADE;
RESET regress.pop;
DELETE FROM models WHERE purpose = 'regress_rights';
DELETE FROM interactions WHERE subject_id BETWEEN 7700000 AND 7799999;
DELETE FROM impressions WHERE purpose = 'regress_rights';
DELETE FROM feedback WHERE purpose = 'regress_rights';
DELETE FROM consents WHERE purpose = 'regress_rights';
DELETE FROM items WHERE item_id BETWEEN 7701 AND 7712;
DELETE FROM signal_categories WHERE name = 'regress_clicks';
SELECT revoke_purpose('regress_rights_app', 'regress_rights');
DROP OWNED BY regress_rights_app, regress_rights_dpo, regress_rights_auditor;
DROP ROLE regress_rights_app, regress_rights_dpo, regress_rights_auditor;
