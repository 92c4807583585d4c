-- consent_ledger: the ledger is append-only, the consent tables and DBA views
-- are closed to application roles, and bad input is refused with a clear
-- SQLSTATE.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_pz_led_app;          -- granted recommendation, nothing else
CREATE ROLE regress_pz_led_recorder;     -- may record consent (EXECUTE granted)
CREATE ROLE regress_pz_led_clerk IN ROLE regress_pz_led_recorder;
SELECT grant_purpose('regress_pz_led_app', 'recommendation');
GRANT EXECUTE ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text),
	withdraw_consent(bigint, text, text, text) TO regress_pz_led_recorder;

SELECT set_consent(401, 'recommendation', 'personalization', source => 'regress', notice_version => 'v1');

-- 1. the application role reads none of it and changes none of it
SET ROLE regress_pz_led_app;
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM consents;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM consent_ledger;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM consent_coverage;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM consent_history;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM purpose_access;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM protection_status;
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, 'recommendation', 'enhanced', '{location}');
\echo :LAST_ERROR_SQLSTATE
SELECT withdraw_consent(401, 'recommendation');
\echo :LAST_ERROR_SQLSTATE
SELECT consent_of(401, 'recommendation');
\echo :LAST_ERROR_SQLSTATE
SELECT record_consent(401, 'recommendation', 'set', 'enhanced+location', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT grant_purpose('regress_pz_led_app', 'analytics');
\echo :LAST_ERROR_SQLSTATE
SELECT revoke_purpose('regress_pz_led_app', 'recommendation');
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('recommendation.regress_led', 'x', 'enhanced');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO purpose_grants (role, purpose) VALUES ('regress_pz_led_app', 'analytics');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO consents VALUES (402, 'recommendation', 'enhanced', now());
\echo :LAST_ERROR_SQLSTATE
INSERT INTO consent_ledger (subject_id, purpose, action, consent, recorded_by)
	VALUES (402, 'recommendation', 'set', 'enhanced', 'someone');
\echo :LAST_ERROR_SQLSTATE
UPDATE purposes SET max_tier = 'enhanced' WHERE name = 'analytics';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO signal_categories (name, tier) VALUES ('regress_led', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM track(402, 1, 'session');
\echo :LAST_ERROR_SQLSTATE
-- what it may read: the vocabulary
SELECT name, max_tier, personal_data_allowed FROM purposes WHERE builtin ORDER BY name;
SELECT name, tier FROM signal_categories WHERE builtin ORDER BY tier, name;
RESET ROLE;
RESET personalize.purpose;

-- 2. a role granted EXECUTE records consent; the ledger names the acting
-- role, including one taken with SET ROLE
SET ROLE regress_pz_led_recorder;
SELECT set_consent(402, 'recommendation', 'enhanced', "grant" => '{location}', source => 'app');
SET ROLE regress_pz_led_clerk;
SELECT set_consent(403, 'analytics', 'functional', source => 'clerk');
SELECT withdraw_consent(402, 'recommendation', source => 'app');
-- still no reading
SELECT count(*) FROM consents;
\echo :LAST_ERROR_SQLSTATE
SELECT consent_of(402, 'recommendation');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT subject_id, purpose, action, consent, source, notice_version, recorded_by
  FROM consent_ledger WHERE subject_id BETWEEN 401 AND 409 ORDER BY entry_id;
SELECT subject_id, purpose, consent FROM consents WHERE subject_id BETWEEN 401 AND 409 ORDER BY 1, 2;

-- 3. append-only, for superusers too
UPDATE consent_ledger SET source = 'forged' WHERE subject_id = 402;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM consent_ledger WHERE subject_id = 402;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE consent_ledger;
\echo :LAST_ERROR_SQLSTATE
WITH d AS (DELETE FROM consent_ledger WHERE subject_id = 402 RETURNING 1) SELECT count(*) FROM d;
\echo :LAST_ERROR_SQLSTATE
-- also in replica mode, where ordinary triggers do not fire (logical
-- replication apply, or a superuser's SET): the refusal must still hold
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM consent_ledger WHERE subject_id = 402;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE consent_ledger SET source = 'forged' WHERE subject_id = 402;
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
TRUNCATE consent_ledger;
ROLLBACK;
SELECT count(*) FROM consent_ledger WHERE subject_id BETWEEN 401 AND 409;
SELECT count(*) FROM consent_ledger WHERE source = 'forged';

-- 4. bad input: SQLSTATE and message; nothing is recorded
SELECT set_consent(401, 'recommendation', 'enhanced', '{no_such_category}');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, 'recommendation', 'enhanced', '{}', '{no_such_category}');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, 'recommendation', 'enhanced', '{Location}');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, 'recommendation', 'enhanced', '{NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, 'no_such_purpose', 'enhanced');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, NULL, 'enhanced');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(NULL, 'recommendation', 'enhanced');
\echo :LAST_ERROR_SQLSTATE
SELECT set_consent(401, 'recommendation', 'everything');
\echo :LAST_ERROR_SQLSTATE
SELECT withdraw_consent(401, 'no_such_purpose');
\echo :LAST_ERROR_SQLSTATE
SELECT withdraw_consent(NULL, 'recommendation');
\echo :LAST_ERROR_SQLSTATE
SELECT grant_purpose('regress_pz_led_app', 'no_such_purpose');
\echo :LAST_ERROR_SQLSTATE
SELECT grant_purpose('regress_pz_led_no_such_role', 'recommendation');
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('no_such_parent.child', 'x', 'enhanced', inherit => true);
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('Bad Name', 'x', 'enhanced');
\echo :LAST_ERROR_SQLSTATE
SELECT create_purpose('recommendation', 'again', 'enhanced', decides_terms => false);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO items (item_id) VALUES (401);
SELECT track(401, 401, 'no_such_category');
\echo :LAST_ERROR_SQLSTATE
SELECT track(NULL, 401, 'session');
\echo :LAST_ERROR_SQLSTATE
SELECT track(401, 999999401, 'session');
\echo :LAST_ERROR_SQLSTATE
SELECT track(401, 401, 'session', 'Bad Kind');
\echo :LAST_ERROR_SQLSTATE
SELECT track(401, 401, 'session', 'view', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT track(401, 401, 'session', 'view', 'NaN');
\echo :LAST_ERROR_SQLSTATE
-- a NULL tier is refused (record "none" or withdraw instead)
SELECT set_consent(404, 'recommendation', NULL);
SELECT count(*) FROM consent_ledger WHERE subject_id BETWEEN 401 AND 409;
-- COPY into interactions as a superuser with an unknown category loads nothing
COPY interactions (subject_id, item_id, category) FROM STDIN;
401	401	session
401	401	no_such_category
\.
SELECT count(*) FROM interactions WHERE subject_id BETWEEN 401 AND 409;
-- the category registry has its own rules
INSERT INTO signal_categories (name, tier) VALUES ('Bad', 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO signal_categories (name, tier) VALUES ('regress_led', 4);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO signal_categories (name, tier, justification) VALUES ('regress_led', 1, '  ');
\echo :LAST_ERROR_SQLSTATE
-- at most 64 categories (7 built in)
INSERT INTO signal_categories (name, tier) SELECT 'regress_led_' || i, 2 FROM generate_series(1, 57) i;
SELECT count(*) FROM signal_categories;
INSERT INTO signal_categories (name, tier) VALUES ('regress_led_65', 2);
\echo :LAST_ERROR_SQLSTATE
-- with 64 registered every bit of the per-subject mask is used: subject 405
-- has a row in each of the 57 added categories and in third_party; the
-- consent grants the 57 but denies regress_led_1, and third_party (tier 3)
-- is not granted: 56 rows visible
INSERT INTO interactions (subject_id, item_id, category)
	SELECT 405, 401, name FROM signal_categories WHERE name LIKE 'regress_led_%' OR name = 'third_party';
SELECT tier(set_consent(405, 'recommendation', 'functional',
	(SELECT array_agg(name) FROM signal_categories WHERE name LIKE 'regress_led_%'), '{regress_led_1}'));
SET ROLE regress_pz_led_app;
SET personalize.purpose = 'recommendation';
SELECT count(*), count(*) FILTER (WHERE category IN ('regress_led_1', 'third_party')) AS wrong
  FROM interactions WHERE subject_id = 405;
RESET ROLE;
RESET personalize.purpose;
DELETE FROM interactions WHERE subject_id = 405;
DELETE FROM signal_categories WHERE name LIKE 'regress_led_%';

-- clean up (the ledger keeps its rows)
SELECT revoke_purpose('regress_pz_led_app', 'recommendation');
DELETE FROM consents WHERE subject_id BETWEEN 401 AND 409;
DELETE FROM items WHERE item_id = 401;
DROP OWNED BY regress_pz_led_app, regress_pz_led_recorder, regress_pz_led_clerk;
DROP ROLE regress_pz_led_app, regress_pz_led_clerk, regress_pz_led_recorder;
