-- consent_rls: which rows of personalize.interactions a role sees under each
-- purpose.  Every count below was worked out by hand from the tier rules
-- (see the comments), not copied from the system.
SET search_path = public, personalize;
SET client_min_messages = warning;

CREATE ROLE regress_pz_rls_app;
CREATE ROLE regress_pz_rls_pricing;
CREATE ROLE regress_pz_rls_child;
SELECT grant_purpose('regress_pz_rls_app', p)
  FROM unnest(ARRAY['recommendation', 'service', 'analytics', 'marketing']) p;
SELECT grant_purpose('regress_pz_rls_pricing', 'pricing');

-- subjects 101..108, one interaction in each of the 7 built-in categories:
-- session (tier 1); browsing_history, purchase_history, preferences (tier 2);
-- location, demographic, third_party (tier 3)
INSERT INTO items (item_id) VALUES (101);
SELECT count(*) FROM (
	SELECT track(s, 101, c.name) FROM generate_series(101, 108) s, signal_categories c
	 WHERE c.builtin ORDER BY s, c.name) t;

-- recommendation (max_tier enhanced):
--   101 personalization                     -> 4 (session + three tier 2)
--   102 enhanced+location                   -> 5 (4 + location)
--   103 personalization-purchase_history    -> 3
--   104 functional                          -> 1 (session)
--   105 (no consent)                        -> 0
--   106 enhanced (tier 3 needs a grant)     -> 4
--   107 enhanced, location granted+denied   -> 4 (deny wins)
--   108 personalization, then withdrawn     -> 0          total 21
SELECT set_consent(101, 'recommendation', 'personalization');
SELECT set_consent(102, 'recommendation', 'enhanced', '{location}');
SELECT set_consent(103, 'recommendation', 'personalization', deny => '{purchase_history}');
SELECT set_consent(104, 'recommendation', 'functional');
SELECT set_consent(106, 'recommendation', 'enhanced');
SELECT set_consent(107, 'recommendation', 'enhanced', '{location}', '{location}');
SELECT set_consent(108, 'recommendation', 'personalization');
SELECT withdraw_consent(108, 'recommendation');
-- service (max_tier functional: only session can ever be visible):
--   101 enhanced+location -> 1, 102 functional -> 1,
--   103 personalization-session -> 0, 104 none -> 0          total 2
SELECT set_consent(101, 'service', 'enhanced', '{location}');
SELECT set_consent(102, 'service', 'functional');
SELECT set_consent(103, 'service', 'personalization', deny => '{session}');
SELECT set_consent(104, 'service', 'none', '{session}');
-- analytics (max_tier personalization: tier 3 never visible):
--   101 enhanced+location+demographic -> 4 (grants capped)
--   102 personalization-preferences   -> 3
--   106 functional+purchase_history   -> 2 (session + the granted tier 2)
--                                                           total 9
SELECT set_consent(101, 'analytics', 'enhanced', '{location,demographic}');
SELECT set_consent(102, 'analytics', 'personalization', deny => '{preferences}');
SELECT set_consent(106, 'analytics', 'functional', '{purchase_history}');

-- consent_of sees the current state, NULL for never recorded
SELECT s, consent_of(s, 'recommendation') FROM generate_series(101, 108) s ORDER BY s;

SET ROLE regress_pz_rls_app;

-- no purpose declared: nothing, and no error
SELECT current_purpose();
SELECT count(*) FROM interactions;
SET personalize.purpose = '';
SELECT count(*) FROM interactions;

SET personalize.purpose = 'recommendation';
SELECT current_purpose();
SELECT count(*) FROM interactions;
SELECT subject_id, string_agg(category, ',' ORDER BY category) AS visible
  FROM interactions GROUP BY subject_id ORDER BY subject_id;
-- tier 3 only with an explicit grant: only subject 102's location
SELECT subject_id, category FROM interactions i JOIN signal_categories c ON c.name = i.category
 WHERE c.tier = 3 ORDER BY 1, 2;

SELECT declare_purpose('service');
SELECT count(*) FROM interactions;
SELECT subject_id, category FROM interactions ORDER BY 1, 2;

SET personalize.purpose = 'analytics';
SELECT count(*) FROM interactions;
SELECT subject_id, string_agg(category, ',' ORDER BY category) AS visible
  FROM interactions GROUP BY subject_id ORDER BY subject_id;

-- a withdrawal takes effect at the next statement (102 had 5 rows)
SET personalize.purpose = 'recommendation';
SELECT count(*) FROM interactions;
RESET ROLE;
SELECT withdraw_consent(102, 'recommendation');
SET ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;
SELECT count(*) FROM interactions WHERE subject_id = 102;
RESET ROLE;
SELECT set_consent(102, 'recommendation', 'enhanced', '{location}');
SET ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;

-- a change rolled back leaves nothing behind in the cache
RESET ROLE;
BEGIN;
SELECT withdraw_consent(101, 'recommendation');
SET LOCAL ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;       -- 21 - 4
ROLLBACK;
SET ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;       -- 21 again
RESET ROLE;
BEGIN;
SAVEPOINT s1;
SELECT set_consent(105, 'recommendation', 'personalization');
SET LOCAL ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;       -- 21 + 4
ROLLBACK TO SAVEPOINT s1;
SET LOCAL ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;       -- 21
COMMIT;

-- prepared statements read the purpose and consents when executed
SET ROLE regress_pz_rls_app;
PREPARE cnt AS SELECT count(*) FROM interactions;
PREPARE cats(bigint) AS SELECT string_agg(category, ',' ORDER BY category) FROM interactions WHERE subject_id = $1;
EXECUTE cnt;                             -- recommendation: 21
EXECUTE cats(102);
SET personalize.purpose = 'analytics';
EXECUTE cnt;                             -- 9
EXECUTE cats(102);                       -- personalization-preferences
SET personalize.purpose = 'service';
EXECUTE cnt;                             -- 2
SET plan_cache_mode = force_generic_plan;
SET personalize.purpose = 'recommendation';
EXECUTE cnt;
EXECUTE cats(102);
RESET ROLE;
SELECT withdraw_consent(102, 'recommendation');
SET ROLE regress_pz_rls_app;
EXECUTE cnt;                             -- 16
EXECUTE cats(102);                       -- NULL
RESET personalize.purpose;
EXECUTE cnt;                             -- no purpose: 0
RESET plan_cache_mode;
DEALLOCATE cnt;
DEALLOCATE cats;
RESET ROLE;
SELECT set_consent(102, 'recommendation', 'enhanced', '{location}');

-- a cursor opened before a withdrawal in the same transaction: rows of the
-- withdrawn subject are not fetched afterwards (the plan streams rows, so
-- each is checked when fetched)
SET ROLE regress_pz_rls_app;
SET personalize.purpose = 'recommendation';
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT subject_id, category FROM interactions ORDER BY interaction_id;
BEGIN;
DECLARE c CURSOR FOR SELECT subject_id, category FROM interactions ORDER BY interaction_id;
FETCH 2 FROM c;                          -- 101's first two
RESET ROLE;
SELECT withdraw_consent(102, 'recommendation');
SELECT withdraw_consent(103, 'recommendation');
SET LOCAL ROLE regress_pz_rls_app;
FETCH ALL FROM c;                        -- 101's other two, then 104, 106, 107
COMMIT;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_sort;
RESET ROLE;
SELECT set_consent(102, 'recommendation', 'enhanced', '{location}');
SELECT set_consent(103, 'recommendation', 'personalization', deny => '{purchase_history}');

-- a category registered later is picked up at the next statement: tier 2,
-- so visible to 101 and 103 (personalization, not denied), not to 104
SET ROLE regress_pz_rls_app;
SELECT count(*) FROM interactions;       -- 21
RESET ROLE;
INSERT INTO signal_categories (name, tier, justification) VALUES ('regress_rls_t2', 2, 'test');
SELECT track(s, 101, 'regress_rls_t2') FROM (VALUES (101), (103), (104), (105)) v(s);
SET ROLE regress_pz_rls_app;
SELECT subject_id FROM interactions WHERE category = 'regress_rls_t2' ORDER BY 1;
-- and raising it to tier 3 hides it again (nobody granted it)
RESET ROLE;
UPDATE signal_categories SET tier = 3 WHERE name = 'regress_rls_t2';
SET ROLE regress_pz_rls_app;
SELECT subject_id FROM interactions WHERE category = 'regress_rls_t2' ORDER BY 1;
RESET ROLE;
DELETE FROM interactions WHERE category = 'regress_rls_t2';
DELETE FROM signal_categories WHERE name = 'regress_rls_t2';

-- purposes that may not use personal data: reading is an error
SET ROLE regress_pz_rls_pricing;
SET personalize.purpose = 'pricing';
SELECT count(*) FROM interactions;
SELECT count(*) FROM interactions WHERE subject_id = 105;
RESET ROLE;
SELECT create_purpose('pricing.regress_rls', 'Sub-purpose of pricing', 'none', false, inherit => true);
-- a sub-purpose can narrow its parent, never widen it
SELECT create_purpose('pricing.regress_rls3', 'Sub-purpose of pricing', 'enhanced', false, inherit => true);
SET ROLE regress_pz_rls_pricing;
SET personalize.purpose = 'pricing.regress_rls';
SELECT count(*) FROM interactions;
RESET ROLE;
\set VERBOSITY terse
-- and pricing can never be made personal
SELECT create_purpose('pricing.regress_rls2', 'x', 'enhanced', true, inherit => true);
\echo :LAST_ERROR_SQLSTATE
UPDATE purposes SET personal_data_allowed = true WHERE name = 'pricing';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO purposes VALUES ('pricing.regress_rls3', 'x', 'enhanced', true);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- parent and child purposes: the most specific consent on the chain decides,
-- and the child's own max_tier (personalization) caps it.
--   101 marketing personalization, child functional   -> parent 4, child 1
--   102 marketing enhanced+location, no child consent  -> parent 5, child 4
--   103 child personalization only                     -> parent 0, child 4
--   104 marketing personalization, child withdrawn     -> parent 4, child 0
--                                                 totals parent 13, child 9
SELECT create_purpose('marketing.regress_rls', 'Child of marketing', 'personalization', inherit => true);
SELECT create_purpose('marketing_regress_rls', 'Not a child of marketing', 'enhanced', decides_terms => false);
SELECT set_consent(101, 'marketing', 'personalization');
SELECT set_consent(101, 'marketing.regress_rls', 'functional');
SELECT set_consent(102, 'marketing', 'enhanced', '{location}');
SELECT set_consent(103, 'marketing.regress_rls', 'personalization');
SELECT set_consent(104, 'marketing', 'personalization');
SELECT withdraw_consent(104, 'marketing.regress_rls');
SELECT grant_purpose('regress_pz_rls_child', 'marketing.regress_rls');

SET ROLE regress_pz_rls_app;
SET personalize.purpose = 'marketing';
SELECT subject_id, count(*) FROM interactions GROUP BY 1 ORDER BY 1;
-- a grant of marketing covers marketing.regress_rls
SET personalize.purpose = 'marketing.regress_rls';
SELECT subject_id, count(*) FROM interactions GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM interactions;
\set VERBOSITY terse
-- but not marketing_regress_rls
SET personalize.purpose = 'marketing_regress_rls';
\echo :LAST_ERROR_SQLSTATE
SELECT current_purpose();
RESET ROLE;
-- a grant of the child does not cover the parent
SET ROLE regress_pz_rls_child;
SET personalize.purpose = 'marketing';
\echo :LAST_ERROR_SQLSTATE
SET personalize.purpose = 'marketing.regress_rls';
SELECT count(*) FROM interactions;
\set VERBOSITY default
RESET ROLE;

-- revoking a purpose: the next read is refused
SELECT revoke_purpose('regress_pz_rls_child', 'marketing.regress_rls');
SET ROLE regress_pz_rls_child;
SELECT current_purpose();
SELECT count(*) FROM interactions;
RESET ROLE;
RESET personalize.purpose;

-- the DBA's view of it (ledger rows of these subjects only)
SELECT subject_id, purpose, action, consent, tier, recorded_by
  FROM consent_history WHERE subject_id IN (102, 108) ORDER BY entry_id;
SELECT purpose, tier, category, subjects_allowed, subjects_with_consent
  FROM consent_coverage WHERE purpose IN ('service', 'marketing.regress_rls') AND subjects_allowed > 0
 ORDER BY 1, 2, 3;

-- clean up: roles are cluster-wide; ledger rows stay (append-only), so the
-- purposes they name stay too
SELECT revoke_purpose('regress_pz_rls_app', p)
  FROM unnest(ARRAY['recommendation', 'service', 'analytics', 'marketing']) p;
SELECT revoke_purpose('regress_pz_rls_pricing', 'pricing');
SELECT count(*) FROM purpose_grants g WHERE g.role::text LIKE 'regress_pz_rls%';
DROP ROLE regress_pz_rls_app, regress_pz_rls_pricing, regress_pz_rls_child;
DELETE FROM interactions WHERE subject_id BETWEEN 101 AND 108;
DELETE FROM consents WHERE subject_id BETWEEN 101 AND 108;
DELETE FROM items WHERE item_id = 101;
DELETE FROM purposes WHERE name IN ('pricing.regress_rls', 'marketing_regress_rls');
