-- consent_attacks: trying to read personal rows without the right purpose
-- grant, or to learn something about rows that are not visible.  One role per
-- scenario; counts worked out by hand.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_pz_atk_app;          -- granted recommendation and service
CREATE ROLE regress_pz_atk_nogrant;      -- granted nothing
CREATE ROLE regress_pz_atk_reader NOLOGIN;            -- granted recommendation
CREATE ROLE regress_pz_atk_member IN ROLE regress_pz_atk_reader;
CREATE ROLE regress_pz_atk_noinh NOINHERIT IN ROLE regress_pz_atk_reader;
CREATE ROLE regress_pz_atk_member2 IN ROLE regress_pz_atk_reader;
CREATE ROLE regress_pz_atk_member3 IN ROLE regress_pz_atk_reader;
SELECT grant_purpose('regress_pz_atk_app', 'recommendation');
SELECT grant_purpose('regress_pz_atk_app', 'service');
SELECT grant_purpose('regress_pz_atk_reader', 'recommendation');
GRANT INSERT (subject_id, item_id, category, kind, weight, occurred_at) ON interactions TO regress_pz_atk_app;
CREATE SCHEMA regress_pz_atk;
GRANT USAGE, CREATE ON SCHEMA regress_pz_atk TO PUBLIC;

-- subjects 201..204, one interaction per built-in category (7 each, 28 rows)
--   201 recommendation personalization   -> 4
--   202 recommendation enhanced+location -> 5
--   203 no consent at all                -> 0 (7 hidden rows)
--   204 recommendation functional        -> 1; service functional -> 1
-- under recommendation 10 visible, 18 hidden; under service 1 visible
INSERT INTO items (item_id) VALUES (201);
SELECT count(*) FROM (
	SELECT track(s, 201, c.name) FROM generate_series(201, 204) s, signal_categories c
	 WHERE c.builtin ORDER BY s, c.name) t;
SELECT set_consent(201, 'recommendation', 'personalization');
SELECT set_consent(202, 'recommendation', 'enhanced', '{location}');
SELECT set_consent(204, 'recommendation', 'functional');
SELECT set_consent(204, 'service', 'functional');

-- 1. a role without the grant can neither declare nor read
SET ROLE regress_pz_atk_nogrant;
SET personalize.purpose = 'recommendation';
\echo :LAST_ERROR_SQLSTATE
SELECT declare_purpose('recommendation');
SELECT count(*) FROM interactions;                -- no purpose: 0
SELECT row_visible(201, 'session');               -- no purpose: false
-- nor a SET at role level, nor a function SET clause run on its behalf
ALTER ROLE regress_pz_atk_nogrant SET personalize.purpose = 'recommendation';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
CREATE FUNCTION regress_pz_atk.count_with_set() RETURNS bigint LANGUAGE sql
	SET personalize.purpose = 'recommendation' AS 'SELECT count(*) FROM personalize.interactions';
SET ROLE regress_pz_atk_nogrant;
SELECT regress_pz_atk.count_with_set();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- bad purpose names and unknown purposes
SET ROLE regress_pz_atk_app;
SET personalize.purpose = 'nonexistent';
\echo :LAST_ERROR_SQLSTATE
SELECT declare_purpose('nonexistent');
SET personalize.purpose = 'Recommendation';
\echo :LAST_ERROR_SQLSTATE
SET personalize.purpose = 'recommendation.';
SET personalize.purpose = 'a..b';
SET personalize.purpose = '9lives';
SET personalize.purpose = 'recommendation; RESET ROLE';
SELECT current_purpose();                         -- still none

-- 2. SET ROLE after declaring: the grant is checked for the reading role
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions;                -- 10
RESET ROLE;
SET ROLE regress_pz_atk_nogrant;
SELECT current_purpose();
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
SELECT row_visible(201, 'session');
RESET ROLE;
RESET personalize.purpose;

-- 3. role inheritance: a member of a granted role (INHERIT) may declare it;
-- a NOINHERIT member only after SET ROLE to the granted role
SET ROLE regress_pz_atk_member;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions;                -- 10
RESET ROLE;
RESET personalize.purpose;
SET ROLE regress_pz_atk_noinh;
SET personalize.purpose = 'recommendation';
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_pz_atk_reader;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions;                -- 10
RESET ROLE;
SET ROLE regress_pz_atk_noinh;
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;

-- 4. membership taken away: the next read must be refused.  (The role was
-- checked before, so this catches a grant check cached across statements.)
SET ROLE regress_pz_atk_member2;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions;                -- 10
RESET ROLE;
REVOKE regress_pz_atk_reader FROM regress_pz_atk_member2;
SET ROLE regress_pz_atk_member2;
SELECT count(*) FROM interactions;                -- refused: no longer a member
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;
-- and the same when the member stops inheriting
SET ROLE regress_pz_atk_member3;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions;                -- 10
RESET ROLE;
ALTER ROLE regress_pz_atk_member3 NOINHERIT;
SET ROLE regress_pz_atk_member3;
SELECT count(*) FROM interactions;                -- refused: no longer inherits
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;

-- 5. SECURITY DEFINER functions run with their owner's grants
SET ROLE regress_pz_atk_reader;
CREATE FUNCTION regress_pz_atk.reader_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET personalize.purpose = 'recommendation' AS 'SELECT count(*) FROM personalize.interactions';
-- a careless helper that leaves the purpose set for the caller's session
CREATE FUNCTION regress_pz_atk.reader_declare(p text) RETURNS text LANGUAGE sql SECURITY DEFINER
	AS 'SELECT pg_catalog.set_config(''personalize.purpose'', p, false)';
RESET ROLE;
SET ROLE regress_pz_atk_nogrant;
-- the owner (granted) vouches: 10, by design
SELECT regress_pz_atk.reader_count();
SELECT current_purpose();                         -- the SET clause did not leak
-- an owner without the grant cannot even attach the purpose
CREATE FUNCTION regress_pz_atk.nogrant_set() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET personalize.purpose = 'recommendation' AS 'SELECT count(*) FROM personalize.interactions';
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION regress_pz_atk.nogrant_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	AS 'SELECT count(*) FROM personalize.interactions';
CREATE FUNCTION regress_pz_atk.invoker_count() RETURNS bigint LANGUAGE sql
	AS 'SELECT count(*) FROM personalize.interactions';
-- the purpose leaks into this session through the careless helper ...
SELECT regress_pz_atk.reader_declare('recommendation');
SELECT current_purpose();
-- ... but reading under it is still refused for this role
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pz_atk.invoker_count();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;
-- a granted caller of a definer without the grant: refused inside
SET ROLE regress_pz_atk_app;
SET personalize.purpose = 'recommendation';
SELECT regress_pz_atk.nogrant_count();
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pz_atk.invoker_count();            -- runs as the caller: 10
SELECT regress_pz_atk.reader_count();             -- 10
SELECT count(*) FROM interactions;                -- 10, nothing cached wrongly
RESET ROLE;
RESET personalize.purpose;

-- 6. a malicious search_path: shadowing functions, operators and tables in a
-- schema searched before pg_catalog change nothing
CREATE SCHEMA regress_pz_evil AUTHORIZATION regress_pz_atk_app;
SET ROLE regress_pz_atk_app;
CREATE FUNCTION regress_pz_evil.row_visible(bigint, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.consent_allows_tier(personalize.consent, text, integer) RETURNS boolean
	LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.starts_with(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.pg_has_role(oid, regrole, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.pg_has_role(name, text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.superuser_arg(oid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_pz_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_pz_evil.texteq);
CREATE FUNCTION regress_pz_evil.int8eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_pz_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_pz_evil.int8eq);
CREATE FUNCTION regress_pz_evil.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS 'SELECT $2';
CREATE TABLE regress_pz_evil.purposes (name text, description text, max_tier text, personal_data_allowed boolean);
INSERT INTO regress_pz_evil.purposes VALUES ('recommendation', '', 'enhanced', true),
	('analytics', '', 'enhanced', true), ('pricing', '', 'enhanced', true);
CREATE TABLE regress_pz_evil.purpose_grants (role regrole, purpose text);
INSERT INTO regress_pz_evil.purpose_grants VALUES ('regress_pz_atk_app', 'analytics'),
	('regress_pz_atk_app', 'pricing');
CREATE TABLE regress_pz_evil.consents (subject_id bigint, purpose text, consent personalize.consent);
INSERT INTO regress_pz_evil.consents VALUES (203, 'recommendation', 'enhanced+location+demographic+third_party');
CREATE TABLE regress_pz_evil.signal_categories (name text, tier smallint);
INSERT INTO regress_pz_evil.signal_categories VALUES ('location', 1), ('demographic', 1), ('third_party', 1);
CREATE TEMP TABLE purpose_grants (role regrole, purpose text);
INSERT INTO pg_temp.purpose_grants VALUES ('regress_pz_atk_app', 'analytics');
SET search_path = regress_pz_evil, pg_catalog, personalize, pg_temp;
SELECT 'a' = 'b' AS shadow_active;                -- the shadow operator is in force here
SET personalize.purpose = 'analytics';
\echo :LAST_ERROR_SQLSTATE
SET personalize.purpose = 'pricing';
\echo :LAST_ERROR_SQLSTATE
SELECT declare_purpose('analytics');
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM personalize.interactions;    -- 10
SELECT subject_id, count(*) FROM personalize.interactions GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM personalize.interactions WHERE subject_id = 203;
SELECT personalize.row_visible(203, 'session'), personalize.row_visible(202, 'location');
RESET ROLE;
SET search_path = public, personalize;
RESET personalize.purpose;
DROP TABLE pg_temp.purpose_grants;

-- 7. COPY out as the application role: only visible rows
SET ROLE regress_pz_atk_app;
SET personalize.purpose = 'recommendation';
COPY (SELECT subject_id, category FROM personalize.interactions ORDER BY 1, 2) TO STDOUT;
-- under service only 204's session row is visible
SET personalize.purpose = 'service';
COPY personalize.interactions (subject_id, category, kind) TO STDOUT;
RESET personalize.purpose;
COPY personalize.interactions (subject_id, category) TO STDOUT;
-- and COPY FROM is refused under row-level security
\copy personalize.interactions (subject_id, item_id, category) FROM '/dev/null'
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- 8. views over interactions
SET ROLE regress_pz_atk_app;
CREATE VIEW regress_pz_atk.v_app AS SELECT subject_id, category FROM personalize.interactions;
CREATE VIEW regress_pz_atk.v_app_invoker WITH (security_invoker) AS
	SELECT subject_id, category FROM personalize.interactions;
GRANT SELECT ON regress_pz_atk.v_app, regress_pz_atk.v_app_invoker TO regress_pz_atk_nogrant;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM regress_pz_atk.v_app;        -- 10
SELECT count(*) FROM regress_pz_atk.v_app_invoker; -- 10
RESET ROLE;
SET ROLE regress_pz_atk_nogrant;
CREATE VIEW regress_pz_atk.v_nogrant AS SELECT subject_id, category FROM personalize.interactions;
GRANT SELECT ON regress_pz_atk.v_nogrant TO regress_pz_atk_app;
-- the app's view read by a role without the grant: no purpose, no rows ...
RESET personalize.purpose;
SELECT count(*) FROM regress_pz_atk.v_app;
SELECT count(*) FROM regress_pz_atk.v_app_invoker;
-- ... and with the purpose leaked into the session, refused
SELECT regress_pz_atk.reader_declare('recommendation');
SELECT count(*) FROM regress_pz_atk.v_app;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM regress_pz_atk.v_app_invoker;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM regress_pz_atk.v_nogrant;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET personalize.purpose;
-- a view owned by a role without the grant, read by the granted role
SET ROLE regress_pz_atk_app;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM regress_pz_atk.v_nogrant;    -- 10
RESET ROLE;
RESET personalize.purpose;

-- 9. a non-leakproof function in WHERE sees only visible rows, and errors it
-- would raise on hidden rows never happen
SET ROLE regress_pz_atk_app;
CREATE FUNCTION regress_pz_atk.peek(i personalize.interactions) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'peek: subject % category %', i.subject_id, i.category;
	RETURN true;
END $$;
SET client_min_messages = notice;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions i WHERE regress_pz_atk.peek(i) AND i.subject_id = 203;   -- no NOTICE
SELECT count(*) FROM interactions i WHERE i.subject_id = 204 AND regress_pz_atk.peek(i);   -- one NOTICE
SELECT count(*) FROM interactions i WHERE regress_pz_atk.peek(i) AND i.category = 'location'; -- 202 only
SELECT count(*) FROM interactions i WHERE regress_pz_atk.peek(i) AND i.category = 'demographic'; -- none
SET client_min_messages = warning;
SELECT count(*) FROM interactions WHERE 1 / (subject_id - 203) IS NOT NULL;             -- 10, no error
SELECT count(*) FROM interactions WHERE (CASE WHEN subject_id = 203 THEN 1 / (subject_id - 203) ELSE 1 END) = 1;

-- 10. EXPLAIN ANALYZE would count hidden rows ("Rows Removed by Filter": 18
-- in the table, 7 for subject 203, who never consented): refused for roles
-- the policy applies to.  consent_side_channels tries the other ways.
SET enable_indexscan = off;
SET enable_bitmapscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT subject_id FROM interactions;
RESET enable_indexscan;
SET enable_seqscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT subject_id FROM interactions WHERE subject_id = 203;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- 11. probing ids through the primary key: the column is not insertable
INSERT INTO interactions (interaction_id, subject_id, item_id, category)
	OVERRIDING SYSTEM VALUE VALUES (1, 201, 201, 'session');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO interactions (interaction_id, subject_id, item_id, category) VALUES (1, 201, 201, 'session');
\echo :LAST_ERROR_SQLSTATE
-- nor may the app update or delete anything
UPDATE interactions SET weight = 2 WHERE subject_id = 203;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM interactions WHERE subject_id = 203;
\echo :LAST_ERROR_SQLSTATE
-- turning row security off is refused rather than silently bypassing it
SET row_security = off;
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
RESET row_security;
-- the application's own insert is allowed, and readable if consented
SELECT track(201, 201, 'session', 'click');
SELECT count(*) FROM interactions WHERE subject_id = 201;   -- 5
SELECT track(203, 201, 'session', 'click');
SELECT count(*) FROM interactions WHERE subject_id = 203;   -- 0

-- 12. parallel query gives the same answers and the same refusal
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT count(*) FROM interactions;                -- 11
SELECT subject_id, count(*) FROM interactions GROUP BY 1 ORDER BY 1;
RESET ROLE;
SET ROLE regress_pz_atk_nogrant;
SELECT count(*) FROM interactions;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET personalize.purpose;

-- 13. a refusal must not depend on which rows match, or it is an oracle:
-- here an index scan only reaches the rows of the subject asked about, so
-- "refused" vs "0" would tell whether subject 203 has interactions, and
-- when.  Under pricing (never personal data) and for a role reading under a
-- purpose it does not hold, every one of these must be refused.
CREATE ROLE regress_pz_atk_pricing;
SELECT grant_purpose('regress_pz_atk_pricing', 'pricing');
SET ROLE regress_pz_atk_pricing;
SET personalize.purpose = 'pricing';
SET enable_seqscan = off;
SELECT count(*) FROM interactions WHERE subject_id = 203;                    -- has rows
SELECT count(*) FROM interactions WHERE subject_id = 999999203;              -- has none
SELECT count(*) FROM interactions WHERE subject_id = 203 AND occurred_at > now() + interval '1 day';
RESET ROLE;
SET ROLE regress_pz_atk_app;
SET personalize.purpose = 'recommendation';
RESET ROLE;
SET ROLE regress_pz_atk_nogrant;
SELECT count(*) FROM interactions WHERE subject_id = 203;                    -- has rows
SELECT count(*) FROM interactions WHERE subject_id = 999999203;              -- has none
RESET ROLE;
RESET enable_seqscan;
RESET personalize.purpose;
SELECT revoke_purpose('regress_pz_atk_pricing', 'pricing');
DROP ROLE regress_pz_atk_pricing;

-- clean up
DROP SCHEMA regress_pz_atk, regress_pz_evil CASCADE;
SELECT revoke_purpose('regress_pz_atk_app', 'recommendation');
SELECT revoke_purpose('regress_pz_atk_app', 'service');
SELECT revoke_purpose('regress_pz_atk_reader', 'recommendation');
SELECT count(*) FROM personalize.purpose_grants g WHERE g.role::text LIKE 'regress_pz_atk%';
DELETE FROM interactions WHERE subject_id BETWEEN 201 AND 204;
DELETE FROM consents WHERE subject_id BETWEEN 201 AND 204;
DELETE FROM items WHERE item_id = 201;
DROP OWNED BY regress_pz_atk_app, regress_pz_atk_nogrant, regress_pz_atk_reader;
DROP ROLE regress_pz_atk_app, regress_pz_atk_nogrant, regress_pz_atk_member, regress_pz_atk_noinh,
	regress_pz_atk_member2, regress_pz_atk_member3, regress_pz_atk_reader;
