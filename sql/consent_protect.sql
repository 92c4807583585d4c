-- consent_protect: protect() and unprotect() on application tables.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_pz_prot_app;        -- granted recommendation
CREATE ROLE regress_pz_prot_owner;      -- owns two of the application tables, no grant
SELECT grant_purpose('regress_pz_prot_app', 'recommendation');
CREATE SCHEMA regress_pz_prot;
GRANT USAGE ON SCHEMA regress_pz_prot TO PUBLIC;

-- consents for recommendation:
--   301 personalization                    -> session and tier 2 allowed
--   302 enhanced+location-purchase_history -> session, browsing_history, preferences, location
--   303 nothing recorded                   -> nothing
SELECT set_consent(301, 'recommendation', 'personalization');
SELECT set_consent(302, 'recommendation', 'enhanced', '{location}', '{purchase_history}');

-- orders: one category for every row (a constant)
-- visible: 301's two orders only (302 denied purchase_history, 303 never
-- consented, a NULL customer is nobody)
CREATE TABLE regress_pz_prot.orders (order_id int PRIMARY KEY, customer_id bigint, amount numeric);
INSERT INTO regress_pz_prot.orders VALUES (1, 301, 10), (2, 301, 20), (3, 302, 30), (4, 302, 40), (5, 303, 50), (6, NULL, 60);
GRANT SELECT, INSERT, UPDATE, DELETE ON regress_pz_prot.orders TO regress_pz_prot_app;
SELECT protect('regress_pz_prot.orders', 'customer_id', 'purchase_history');

-- events: the category is a column; owned by a non-superuser role
-- visible: 301 session (location not granted, unknown and NULL categories
-- never), 302 location and session (purchase_history denied), 303 nothing
CREATE TABLE regress_pz_prot.events (event_id int PRIMARY KEY, user_id int, event_category text);
INSERT INTO regress_pz_prot.events VALUES
	(1, 301, 'session'), (2, 301, 'location'), (3, 301, 'no_such_category'), (4, 301, NULL),
	(5, 302, 'location'), (6, 302, 'purchase_history'), (7, 302, 'session'), (8, 303, 'session');
ALTER TABLE regress_pz_prot.events OWNER TO regress_pz_prot_owner;
GRANT SELECT ON regress_pz_prot.events TO regress_pz_prot_app;
SELECT protect('regress_pz_prot.events', 'user_id', 'event_category');

-- notes: the application already has row-level security (enabled, not
-- forced) and a permissive policy; protect() must not widen it.
-- app policy note_id <= 2; consent for preferences (tier 2): 301 and 302 yes,
-- 303 no.  Visible: (301,1), (301,2), (302,1)
CREATE TABLE regress_pz_prot.notes (subject bigint, note_id int, body text);
INSERT INTO regress_pz_prot.notes VALUES (301, 1, 'a'), (301, 2, 'b'), (301, 3, 'c'), (302, 1, 'd'), (303, 1, 'e');
ALTER TABLE regress_pz_prot.notes OWNER TO regress_pz_prot_owner;
ALTER TABLE regress_pz_prot.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_notes ON regress_pz_prot.notes USING (note_id <= 2);
GRANT SELECT ON regress_pz_prot.notes TO regress_pz_prot_app;
-- the owner is not subject to its table's policies before protect()
SET ROLE regress_pz_prot_owner;
SELECT count(*) FROM regress_pz_prot.notes;       -- 5
RESET ROLE;
SELECT protect('regress_pz_prot.notes', 'subject', 'preferences');

-- odd identifiers are quoted, not interpreted
CREATE TABLE regress_pz_prot."odd "" name; DROP TABLE x" ("sub ject" bigint, "cat;egory" text);
INSERT INTO regress_pz_prot."odd "" name; DROP TABLE x" VALUES (301, 'session'), (303, 'session'), (302, 'purchase_history');
GRANT SELECT ON regress_pz_prot."odd "" name; DROP TABLE x" TO regress_pz_prot_app;
SELECT protect('regress_pz_prot."odd "" name; DROP TABLE x"', 'sub ject', 'cat;egory');

SELECT table_name, subject_column, category, rls_enabled, rls_forced, policy_present
  FROM protection_status WHERE table_name::text LIKE 'regress_pz_prot.%' ORDER BY table_name::text COLLATE "C";
SELECT polrelid::regclass, polname, polpermissive, polcmd
  FROM pg_policy WHERE polrelid::regclass::text LIKE 'regress_pz_prot.%' ORDER BY polrelid::regclass::text COLLATE "C", polname;

SET ROLE regress_pz_prot_app;
-- without a purpose nothing is visible
SELECT (SELECT count(*) FROM regress_pz_prot.orders) AS orders,
       (SELECT count(*) FROM regress_pz_prot.events) AS events,
       (SELECT count(*) FROM regress_pz_prot.notes) AS notes;
SET personalize.purpose = 'recommendation';
SELECT order_id, customer_id FROM regress_pz_prot.orders ORDER BY 1;
SELECT event_id, user_id, event_category FROM regress_pz_prot.events ORDER BY 1;
SELECT subject, note_id FROM regress_pz_prot.notes ORDER BY 1, 2;
SELECT "sub ject", "cat;egory" FROM regress_pz_prot."odd "" name; DROP TABLE x" ORDER BY 1;
-- updating and deleting reach visible rows only
UPDATE regress_pz_prot.orders SET amount = 0;
DELETE FROM regress_pz_prot.orders WHERE customer_id IN (302, 303);
-- inserting stays allowed, even for a subject without consent
INSERT INTO regress_pz_prot.orders VALUES (7, 303, 70);
-- but reading it back through RETURNING is not
INSERT INTO regress_pz_prot.orders VALUES (8, 303, 80) RETURNING *;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT order_id, customer_id, amount FROM regress_pz_prot.orders ORDER BY 1;

-- the owner of a protected table is filtered too (FORCE), with or without a grant
RESET personalize.purpose;
SET ROLE regress_pz_prot_owner;
SELECT count(*) FROM regress_pz_prot.events;      -- no purpose: 0
SET personalize.purpose = 'recommendation';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_pz_prot_app;
SET personalize.purpose = 'recommendation';
RESET ROLE;
SET ROLE regress_pz_prot_owner;
SELECT count(*) FROM regress_pz_prot.events;      -- purpose declared by the app: refused
\echo :LAST_ERROR_SQLSTATE
-- an owner can still lift FORCE on its own table (that is PostgreSQL);
-- protection_status shows it
RESET personalize.purpose;
ALTER TABLE regress_pz_prot.events NO FORCE ROW LEVEL SECURITY;
SELECT count(*) FROM regress_pz_prot.events;      -- 8
RESET ROLE;
SELECT table_name, rls_enabled, rls_forced, policy_present FROM protection_status
 WHERE table_name = 'regress_pz_prot.events'::regclass;
ALTER TABLE regress_pz_prot.events FORCE ROW LEVEL SECURITY;

-- bad calls
SELECT protect('regress_pz_prot.no_such_table', 'x', 'session');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE regress_pz_prot.t (id int, s text, n int, c text);
SELECT protect('regress_pz_prot.t', 'nope', 'session');
\echo :LAST_ERROR_SQLSTATE
SELECT protect('regress_pz_prot.t', 's', 'session');
\echo :LAST_ERROR_SQLSTATE
SELECT protect('regress_pz_prot.t', 'id', 'n');
\echo :LAST_ERROR_SQLSTATE
SELECT protect('regress_pz_prot.t', 'id', 'no_such_category');
\echo :LAST_ERROR_SQLSTATE
SELECT protect('regress_pz_prot.t', 'id', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT protect('regress_pz_prot.orders', 'customer_id', 'session');
\echo :LAST_ERROR_SQLSTATE
SELECT protect('personalize.interactions', 'subject_id', 'category');
\echo :LAST_ERROR_SQLSTATE
SELECT unprotect('regress_pz_prot.t');
\echo :LAST_ERROR_SQLSTATE
SELECT unprotect('personalize.interactions');
\echo :LAST_ERROR_SQLSTATE
-- a failed protect() leaves the table as it was
SELECT c.relrowsecurity, c.relforcerowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
  FROM pg_class c WHERE c.oid = 'regress_pz_prot.t'::regclass;
-- a non-superuser table owner cannot protect (nor unprotect) on its own
ALTER TABLE regress_pz_prot.t OWNER TO regress_pz_prot_owner;
SET ROLE regress_pz_prot_owner;
SELECT protect('regress_pz_prot.t', 'id', 'session');
\echo :LAST_ERROR_SQLSTATE
SELECT unprotect('regress_pz_prot.events');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT c.relrowsecurity, c.relforcerowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
  FROM pg_class c WHERE c.oid = 'regress_pz_prot.t'::regclass;
-- nor can the application role touch the registry of protected tables
SET ROLE regress_pz_prot_app;
DELETE FROM protected_tables;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- unprotect() puts each table back the way it was
SET ROLE regress_pz_prot_app;
SET personalize.purpose = 'recommendation';
RESET ROLE;
SELECT unprotect('regress_pz_prot.orders');
SELECT unprotect('regress_pz_prot.notes');
SELECT c.oid::regclass, c.relrowsecurity, c.relforcerowsecurity,
       array(SELECT polname FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY 1) AS policies
  FROM pg_class c WHERE c.oid IN ('regress_pz_prot.orders'::regclass, 'regress_pz_prot.notes'::regclass)
 ORDER BY c.oid::regclass::text COLLATE "C";
SET ROLE regress_pz_prot_app;
SELECT count(*) FROM regress_pz_prot.orders;      -- all 7 (6 + the one the app inserted)
SELECT subject, note_id FROM regress_pz_prot.notes ORDER BY 1, 2;   -- the app's own policy only: note_id <= 2
RESET ROLE;
SET ROLE regress_pz_prot_owner;
SELECT count(*) FROM regress_pz_prot.notes;       -- 5 again, as before protect()
RESET ROLE;
SELECT relid FROM protected_tables WHERE relid::text LIKE 'regress_pz_prot.%' ORDER BY relid::text COLLATE "C";

-- clean up
RESET personalize.purpose;
SELECT unprotect('regress_pz_prot.events');
SELECT unprotect('regress_pz_prot."odd "" name; DROP TABLE x"');
DROP SCHEMA regress_pz_prot CASCADE;
SELECT revoke_purpose('regress_pz_prot_app', 'recommendation');
DELETE FROM consents WHERE subject_id BETWEEN 301 AND 303;
DROP OWNED BY regress_pz_prot_app, regress_pz_prot_owner;
DROP ROLE regress_pz_prot_app, regress_pz_prot_owner;
