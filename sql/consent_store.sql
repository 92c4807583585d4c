-- consent_store: row_visible() reads consents from a store shared by all
-- sessions of the database (personalize.consent_store() lists it).  A
-- transaction sees its own consent changes before it commits, loses those
-- of a subtransaction rolled back, cannot be prepared once it changed
-- consents; direct writes (DELETE, UPDATE of the key, TRUNCATE, a replica
-- session) reach the next statement; sparse and dense ids, ids outside the
-- room a store was built with, and more distinct consents than its compact
-- layout holds all give the answers plain SQL gives.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_pz_st_app;
INSERT INTO items (item_id) VALUES (701);
SELECT create_purpose('regress_store', 'store test, dense ids', 'enhanced', decides_terms => false);
SELECT create_purpose('regress_sparse', 'store test, sparse ids', 'enhanced', decides_terms => false);
SELECT create_purpose('regress_many', 'store test, many consents', 'personalization', decides_terms => false);
SELECT create_purpose('regress_store.home', 'inherits regress_store', 'enhanced', inherit => true);
SELECT grant_purpose('regress_pz_st_app', p)
  FROM unnest(ARRAY['regress_store', 'regress_sparse', 'regress_many']) p;

-- What a role under a purpose should see, by plain SQL: a consent for the
-- purpose itself, the category's tier within the purpose's cap, and the
-- consent allowing the category.
CREATE FUNCTION pg_temp.want(p text) RETURNS TABLE (subject_id bigint, category text)
LANGUAGE sql AS $$
	SELECT i.subject_id, i.category
	  FROM personalize.interactions i
	  JOIN personalize.signal_categories sc ON sc.name = i.category
	  JOIN personalize.consents c ON c.subject_id = i.subject_id AND c.purpose = p
	  JOIN personalize.purposes pp ON pp.name = p
	 WHERE i.item_id = 701
	   AND sc.tier <= array_position(enum_range(NULL::personalize.consent_tier), pp.max_tier) - 1
	   AND personalize.consent_allows_tier(c.consent, sc.name, sc.tier)
$$;
CREATE TABLE regress_pz_st_want (subject_id bigint, category text);
GRANT SELECT ON regress_pz_st_want TO regress_pz_st_app;
-- rows the app sees under p, and how many of them plain SQL does not
-- expect plus how many it expects that the app does not see
CREATE FUNCTION pg_temp.mismatches(p text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	seen bigint;
BEGIN
	DELETE FROM regress_pz_st_want;
	INSERT INTO regress_pz_st_want SELECT * FROM pg_temp.want(p);
	PERFORM set_config('role', 'regress_pz_st_app', true);
	PERFORM set_config('personalize.purpose', p, true);
	SELECT count(*) INTO n
	  FROM (SELECT subject_id, category FROM personalize.interactions WHERE item_id = 701) v
	  FULL JOIN regress_pz_st_want w USING (subject_id, category)
	 WHERE v.subject_id IS NULL OR w.subject_id IS NULL;
	SELECT count(*) INTO seen FROM personalize.interactions WHERE item_id = 701;
	PERFORM set_config('personalize.purpose', '', true);
	PERFORM set_config('role', 'none', true);
	RETURN format('%s rows, %s mismatches', seen, n);
END $$;
CREATE FUNCTION pg_temp.store_state() RETURNS text LANGUAGE sql AS $$
	SELECT state FROM personalize.consent_store() WHERE database = current_database()
$$;

-- dense subjects 5001..5100: a session and a browsing_history row each
SELECT count(*) FROM (SELECT track(s, 701, c) FROM generate_series(5001, 5100) s,
	unnest(ARRAY['session', 'browsing_history']) c) t;
SELECT track(5150, 701, 'session');
SELECT count(*) FROM (SELECT set_consent(s, 'regress_store', 'personalization')
	FROM generate_series(5001, 5100) s) t;
SET ROLE regress_pz_st_app;
SET personalize.purpose = 'regress_store';
SELECT count(*) FROM interactions WHERE item_id = 701;
RESET ROLE;
SELECT pg_temp.store_state();

CREATE FUNCTION pg_temp.applied() RETURNS bigint LANGUAGE sql AS $$
	SELECT changes_applied FROM personalize.consent_store() WHERE database = current_database()
$$;
CREATE TEMP TABLE mark AS SELECT pg_temp.applied() AS n;

-- 1. the transaction's own changes, before it commits
BEGIN;
SELECT withdraw_consent(5001, 'regress_store');
SET LOCAL ROLE regress_pz_st_app;
SELECT count(*) FROM interactions WHERE subject_id = 5001;   -- withdrawn: 0
RESET ROLE;
SAVEPOINT a;
SELECT set_consent(5001, 'regress_store', 'functional');
SELECT set_consent(5002, 'regress_store', 'none');
SET LOCAL ROLE regress_pz_st_app;
SELECT subject_id, count(*) FROM interactions WHERE subject_id IN (5001, 5002) GROUP BY 1 ORDER BY 1;
RESET ROLE;
ROLLBACK TO SAVEPOINT a;                                      -- 5001 withdrawn again, 5002 back
SET LOCAL ROLE regress_pz_st_app;
SELECT subject_id, count(*) FROM interactions WHERE subject_id IN (5001, 5002) GROUP BY 1 ORDER BY 1;
RESET ROLE;
SAVEPOINT b;
SELECT set_consent(5003, 'regress_store', 'functional');
RELEASE SAVEPOINT b;                                          -- kept
SET LOCAL ROLE regress_pz_st_app;
SELECT subject_id, count(*) FROM interactions WHERE subject_id IN (5001, 5002, 5003) GROUP BY 1 ORDER BY 1;
RESET ROLE;
COMMIT;
-- committed: applied to the store (two keys changed), seen by the next statement
SELECT pg_temp.applied() - n AS applied FROM mark;
SET ROLE regress_pz_st_app;
SELECT subject_id, count(*) FROM interactions WHERE subject_id IN (5001, 5002, 5003) GROUP BY 1 ORDER BY 1;
RESET ROLE;
SELECT pg_temp.store_state();
-- a transaction that rolls back leaves nothing behind
BEGIN;
SELECT withdraw_consent(5010, 'regress_store');
ROLLBACK;
SET ROLE regress_pz_st_app;
SELECT count(*) FROM interactions WHERE subject_id = 5010;
RESET ROLE;

-- 2. PREPARE TRANSACTION is refused after a consent change
BEGIN;
SELECT set_consent(5004, 'regress_store', 'functional');
PREPARE TRANSACTION 'regress_pz_st';
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_pz_st_app;
SELECT count(*) FROM interactions WHERE subject_id = 5004;    -- rolled back: 2
RESET ROLE;

-- 3. direct writes by the table owner: DELETE, UPDATE of the key and of the consent
DELETE FROM consents WHERE subject_id = 5005 AND purpose = 'regress_store';
UPDATE consents SET subject_id = 5150 WHERE subject_id = 5006 AND purpose = 'regress_store';
UPDATE consents SET consent = 'functional' WHERE subject_id = 5007 AND purpose = 'regress_store';
SET ROLE regress_pz_st_app;
SELECT subject_id, count(*) FROM interactions WHERE subject_id IN (5005, 5006, 5007, 5008, 5150) GROUP BY 1 ORDER BY 1;
RESET ROLE;
UPDATE consents SET subject_id = 5006 WHERE subject_id = 5150 AND purpose = 'regress_store';
SELECT pg_temp.mismatches('regress_store');

-- 4. a session with session_replication_role = replica (as the logical
-- replication apply worker would) reaches the store too
UPDATE mark SET n = pg_temp.applied();
SET session_replication_role = replica;
UPDATE consents SET consent = 'none' WHERE subject_id = 5008 AND purpose = 'regress_store';
RESET session_replication_role;
SELECT pg_temp.applied() - n AS applied FROM mark;
SET ROLE regress_pz_st_app;
SELECT count(*) FROM interactions WHERE subject_id = 5008;    -- 0
RESET ROLE;
SELECT pg_temp.store_state();

-- 5. a subject beyond the room the dense map was built with: the store goes
-- stale at commit and the next reader rebuilds it; one within the room is
-- applied in place
SELECT count(*) FROM (SELECT track(s, 701, 'session') FROM unnest(ARRAY[5500, 900000]) s) t;
SELECT set_consent(5500, 'regress_store', 'functional');
SELECT pg_temp.store_state();
SELECT set_consent(900000, 'regress_store', 'functional');
SELECT pg_temp.store_state();
SELECT pg_temp.mismatches('regress_store');
SELECT pg_temp.store_state();

-- 6. sparse ids, the bigint limits among them (a hashed map); then more of
-- them than the map was built for
SELECT count(*) FROM (SELECT track(s, 701, c)
	FROM (SELECT g::bigint * 1000000007 AS s FROM generate_series(-40, 40) g
	      UNION ALL VALUES (-9223372036854775808), (9223372036854775807)) ids,
	     unnest(ARRAY['session', 'location']) c) t;
SELECT count(*) FROM (SELECT set_consent(g::bigint * 1000000007, 'regress_sparse',
	CASE WHEN g % 3 = 0 THEN 'functional' ELSE 'enhanced' END::consent_tier,
	CASE WHEN g % 2 = 0 THEN '{location}' ELSE '{}' END::text[])
	FROM generate_series(-40, 40) g WHERE g % 5 <> 0) t;
SELECT set_consent(-9223372036854775808, 'regress_sparse', 'functional');
SELECT pg_temp.mismatches('regress_sparse');
SELECT count(*) FROM (SELECT set_consent(s, 'regress_sparse', 'enhanced', '{location}')
	FROM generate_series(7000000000001, 7000000002000) s) t;
SELECT pg_temp.store_state();
SELECT set_consent(9223372036854775807, 'regress_sparse', 'enhanced', '{location}');
SELECT withdraw_consent(-40::bigint * 1000000007, 'regress_sparse');
SELECT pg_temp.mismatches('regress_sparse');

-- 7. more distinct consents than a compact store holds (256): nine tier 2
-- categories, subject 6000 + s grants those whose bit is set in s
INSERT INTO signal_categories (name, tier, justification)
	SELECT 'regress_st_c' || i, 2, 'test' FROM generate_series(0, 8) i;
SELECT count(*) FROM (SELECT track(6000 + s, 701, 'regress_st_c' || i)
	FROM generate_series(0, 399) s, generate_series(0, 8) i) t;
SELECT count(*) FROM (
	SELECT set_consent(6000 + s, 'regress_many', 'functional',
		ARRAY(SELECT 'regress_st_c' || i FROM generate_series(0, 8) i WHERE s & (1 << i) <> 0))
	  FROM generate_series(0, 399) s) t;
SELECT pg_temp.mismatches('regress_many');
SELECT classes > 400 AS wide FROM consent_store() WHERE database = current_database();

-- a build that reads more consents than one fetch (20,000), of several
-- kinds: every subject's answer for every category against the tier rules
SELECT create_purpose('regress_bulk', 'store test, a big build', 'enhanced', decides_terms => false);
INSERT INTO consents (subject_id, purpose, consent, updated_at)
	SELECT s, 'regress_bulk', (ARRAY['functional', 'none', 'personalization', 'personalization+location',
	       'personalization-purchase_history', 'enhanced+location-session'])[1 + s % 6]::consent, now()
	  FROM generate_series(1, 45000) s;
SET personalize.purpose = 'regress_bulk';
SELECT count(*) AS answers,
       count(*) FILTER (WHERE row_visible(c.subject_id, sc.name)
                        IS DISTINCT FROM consent_allows_tier(c.consent, sc.name, sc.tier)) AS mismatches
  FROM consents c CROSS JOIN signal_categories sc
 WHERE c.purpose = 'regress_bulk' AND sc.name IN ('session', 'browsing_history', 'purchase_history', 'location');
RESET personalize.purpose;

-- 8. TRUNCATE: seen at once by the transaction itself, rolled back ...
CREATE TEMP TABLE saved AS SELECT * FROM consents;
BEGIN;
TRUNCATE consents;
SET LOCAL ROLE regress_pz_st_app;
SET LOCAL personalize.purpose = 'regress_store';
SELECT count(*) FROM interactions WHERE item_id = 701;
ROLLBACK;
SELECT pg_temp.mismatches('regress_store');
-- ... and committed: the store is rebuilt from the empty table
TRUNCATE consents;
SELECT pg_temp.store_state();
SET ROLE regress_pz_st_app;
SET personalize.purpose = 'regress_store';
SELECT count(*) FROM interactions WHERE item_id = 701;
RESET ROLE;
SELECT pg_temp.store_state();
INSERT INTO consents SELECT * FROM saved;
SELECT pg_temp.mismatches('regress_store'), pg_temp.mismatches('regress_sparse'),
       pg_temp.mismatches('regress_many');

-- 9. a sub-purpose that inherits reads its parent's consents (and is
-- covered by its grant); its own consent, more specific, decides where
-- there is one
SELECT set_consent(5020, 'regress_store.home', 'none');
SELECT set_consent(5021, 'regress_store.home', 'functional');
SET ROLE regress_pz_st_app;
SET personalize.purpose = 'regress_store.home';
SELECT subject_id, count(*) FROM interactions WHERE subject_id BETWEEN 5019 AND 5022 GROUP BY 1 ORDER BY 1;
RESET ROLE;
-- three levels that inherit, and a sub-purpose that does not: it needs a
-- grant and consents of its own
SELECT create_purpose('regress_store.home.kids', 'inherits two levels', 'enhanced', inherit => true);
SELECT create_purpose('regress_store.own', 'does not inherit', 'enhanced', inherit => false);
SELECT set_consent(5022, 'regress_store.home.kids', 'none');
SELECT set_consent(5019, 'regress_store.own', 'functional');
SET ROLE regress_pz_st_app;
SET personalize.purpose = 'regress_store.home.kids';
SELECT subject_id, count(*) FROM interactions WHERE subject_id BETWEEN 5019 AND 5022 GROUP BY 1 ORDER BY 1;
SET personalize.purpose = 'regress_store.own';
RESET ROLE;
SELECT grant_purpose('regress_pz_st_app', 'regress_store.own');
SET ROLE regress_pz_st_app;
SET personalize.purpose = 'regress_store.own';
SELECT subject_id, count(*) FROM interactions WHERE subject_id BETWEEN 5019 AND 5022 GROUP BY 1 ORDER BY 1;
SET personalize.purpose = 'regress_store';
RESET ROLE;

-- 10. the trigger feeds the store from personalize.consents only (by OID,
-- not name), and only as an AFTER trigger
CREATE SCHEMA regress_pz_st_evil;
CREATE TABLE regress_pz_st_evil.consents (subject_id bigint, purpose text, consent consent);
CREATE TRIGGER feed AFTER INSERT ON regress_pz_st_evil.consents
	FOR EACH ROW EXECUTE FUNCTION personalize.consents_changed();
INSERT INTO regress_pz_st_evil.consents VALUES (5009, 'regress_store', 'none');
\echo :LAST_ERROR_SQLSTATE
CREATE TRIGGER regress_before BEFORE INSERT ON consents
	FOR EACH ROW EXECUTE FUNCTION personalize.consents_changed();
SELECT set_consent(5009, 'regress_store', 'none');
DROP TRIGGER regress_before ON consents;
SELECT consents_changed();
SET ROLE regress_pz_st_app;
SELECT count(*) FROM interactions WHERE subject_id = 5009;    -- untouched: 2
RESET ROLE;

-- 11. consent_store(): one row per database, for DBAs only
SELECT a.name, format_type(a.type, NULL) AS type
  FROM pg_proc p, unnest(p.proargnames, p.proallargtypes) WITH ORDINALITY AS a(name, type, n)
 WHERE p.oid = 'consent_store'::regproc ORDER BY a.n;
SELECT database = current_database() AS here, state, stale, purposes >= 4 AS purposes,
       consents > 2000 AS consents, bytes > 0 AS bytes, built_at <= now() AS built,
       build_ms >= 0 AS timed, builds >= 3 AS rebuilt, changes_applied > 0 AS applied, detail
  FROM consent_store() WHERE database = current_database();
SET ROLE regress_pz_st_app;
SELECT count(*) FROM consent_store();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;

-- clean up
DROP SCHEMA regress_pz_st_evil CASCADE;
DROP TABLE regress_pz_st_want;
DELETE FROM interactions WHERE item_id = 701;
DELETE FROM consents WHERE purpose LIKE 'regress_%';
DELETE FROM signal_categories WHERE name LIKE 'regress_st_c%';
DELETE FROM items WHERE item_id = 701;
SELECT revoke_purpose('regress_pz_st_app', p)
  FROM unnest(ARRAY['regress_store', 'regress_sparse', 'regress_many', 'regress_store.own']) p;
-- (the purposes stay: the append-only ledger refers to them)
DROP OWNED BY regress_pz_st_app;
DROP ROLE regress_pz_st_app;
