-- recommend(), explain(), feedback(): ranking, exclusions, reasons, sponsored
-- disclosure and cap, diversity, exploration, consent, impressions, errors.
-- The model is written by hand (2 factors, exact values) so that scores
-- and their order do not depend on training or on the CPU's SIMD level.
DROP EXTENSION personalize CASCADE;
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SET client_min_messages = warning;

-- A sensitive item category that is also a signal category, so a subject can opt out of it.
INSERT INTO signal_categories (name, tier, justification)
VALUES ('health', 2, 'Health products viewed, used to recommend related products.');

INSERT INTO items (item_id, category, sponsored, attributes) VALUES
	(1, 'books', false, '{"name": "Book A"}'), (2, 'books', false, '{"name": "Book B"}'),
	(3, 'books', false, '{"name": "Book C"}'), (4, 'books', false, '{"name": "Book D"}'),
	(5, 'music', false, '{"name": "Album A"}'), (6, 'music', false, '{"name": "Album B"}'),
	(7, 'music', false, '{"title": "Album C"}'), (8, 'games', false, '{"name": "Game A"}'),
	(9, 'games', true, '{"name": "Game B"}'), (10, 'health', false, '{"name": "Vitamins"}'),
	(11, 'books', true, '{"name": "Book E"}');
-- the long tail exploration draws from (no factors, never popular)
INSERT INTO items (item_id, category) SELECT i, 'misc' FROM generate_series(100, 1099) i;

INSERT INTO models (algorithm, purpose, status, params, trained_by)
VALUES ('als', 'recommendation', 'candidate', '{"factors": 2, "regularization": 0.1, "alpha": 1}', 'regress')
RETURNING model_id AS als \gset
INSERT INTO model_item_factors (model_id, item_id, factors)
SELECT :als, i, f::embedding FROM (VALUES
	(1, '[1,0]'), (2, '[1,0.125]'), (3, '[0.875,0]'), (4, '[0.75,0]'), (5, '[0,1]'), (6, '[0.125,0.875]'),
	(7, '[0,0.75]'), (8, '[0.5,0.5]'), (9, '[0.375,0.375]'), (10, '[0.625,0]'), (11, '[0.8125,0]')) v(i, f);
INSERT INTO model_popularity (model_id, item_id, category, score)
SELECT :als, i, c, s FROM (VALUES (5, 'music', 100), (6, 'music', 90), (7, 'music', 80), (1, 'books', 70),
	(2, 'books', 60), (8, 'games', 50), (3, 'books', 40), (10, 'health', 35), (4, 'books', 30),
	(9, 'games', 20), (11, 'books', 10)) v(i, c, s);
SELECT activate_model(:als);

SELECT count(*) FROM (VALUES
	(set_consent(1, 'recommendation', 'personalization')),
	(set_consent(2, 'recommendation', 'personalization', deny => '{health}')),
	(set_consent(4, 'recommendation', 'functional')),
	(set_consent(5, 'recommendation', 'personalization'))) v;
INSERT INTO interactions (subject_id, item_id, category, kind) VALUES
	(1, 1, 'browsing_history', 'view'), (1, 2, 'purchase_history', 'purchase'),
	(2, 1, 'browsing_history', 'view'), (3, 1, 'browsing_history', 'view'),
	(4, 1, 'browsing_history', 'view'), (5, 5, 'browsing_history', 'view');

SET personalize.log_impressions = off;

-- ALS by inner product over the whole catalogue; seen items (1, 2) are left
-- out; at k = 5 the default cap (20%) allows one sponsored item, disclosed.
SELECT item_id, round(score::numeric, 3) AS score, rank, reason, explored, sponsored
  FROM recommend(1, k => 5, exploration => 0);
-- seen items can be asked for; exclude drops any item
SELECT array_agg(item_id ORDER BY rank) FROM recommend(1, k => 5, exploration => 0, exclude_seen => false);
SELECT array_agg(item_id ORDER BY rank) FROM recommend(1, k => 5, exploration => 0, exclude => '{3, 11, 424242}');
-- a category filter; a category no item has is an error (a misspelling, not an empty list)
SELECT item_id, reason FROM recommend(1, k => 3, category => 'music', exploration => 0);
SELECT count(*) FROM recommend(1, category => 'no such category', exploration => 0);

-- the sponsored cap: none, or up to all
SELECT count(*) FILTER (WHERE sponsored) FROM recommend(1, k => 5, exploration => 0, sponsored_share => 0);
SELECT item_id, reason FROM recommend(1, k => 8, exploration => 0, sponsored_share => 1) WHERE sponsored;
-- every sponsored row says so, whatever produced it
SELECT bool_and(reason LIKE 'Sponsored: %') AS disclosed, count(*) > 0 AS some
  FROM generate_series(1, 200) g, recommend(3, k => 10, exploration => 0.5, sponsored_share => 1, seed => g)
 WHERE sponsored;

-- diversity: pure relevance lists books; MMR brings in other categories
SELECT string_agg(i.category, ',' ORDER BY r.rank) FROM recommend(1, k => 4, exploration => 0) r JOIN items i USING (item_id);
SELECT string_agg(i.category, ',' ORDER BY r.rank) FROM recommend(1, k => 4, exploration => 0, diversity => 0.7) r JOIN items i USING (item_id);
SET personalize.diversity_by = category;
SELECT string_agg(i.category, ',' ORDER BY r.rank) FROM recommend(1, k => 4, exploration => 0, diversity => 0.7) r JOIN items i USING (item_id);
RESET personalize.diversity_by;

-- a denied category is never recommended, personalized or not
SELECT count(*) AS health_items FROM recommend(2, k => 50, exploration => 0) WHERE item_id = 10;
SELECT count(*) AS health_items FROM recommend(2, k => 50, exploration => 0, exclude_seen => false) WHERE item_id = 10;
SELECT count(*) AS health_items_for_others FROM recommend(1, k => 50, exploration => 0) WHERE item_id = 10;

-- no consent (3) or only functional (4): popularity, nothing of their history used
SELECT item_id, score, reason FROM recommend(3, k => 3, exploration => 0);
SELECT item_id, score, reason FROM recommend(4, k => 3, exploration => 0);
-- ... and item 1, which 3 and 4 viewed, is not excluded as "seen": their history was not read
SELECT count(*) FROM recommend(4, k => 11, exploration => 0) WHERE item_id = 1;

-- a history longer than personalize.history_limit: scoring and fold-in use
-- the most recent items (ties: the heavier first, then the smaller id), but
-- nothing the subject has seen comes back, whatever the history's length
SELECT set_consent(6, 'recommendation', 'personalization') IS NOT NULL AS consented;
INSERT INTO interactions (subject_id, item_id, category, kind, weight, occurred_at) VALUES
	(6, 1, 'browsing_history', 'view', 1, date_trunc('day', now()) - interval '10 days'), (6, 3, 'browsing_history', 'view', 1, date_trunc('day', now()) - interval '9 days'),
	(6, 5, 'browsing_history', 'view', 1, date_trunc('day', now()) - interval '8 days'), (6, 6, 'browsing_history', 'view', 2, date_trunc('day', now()) - interval '8 days'),
	(6, 7, 'browsing_history', 'view', 2, date_trunc('day', now()) - interval '8 days');
SET personalize.history_limit = 2;
SELECT count(*) AS seen_recommended FROM recommend(6, k => 20, exploration => 0) WHERE item_id IN (1, 3, 5, 6, 7);
-- fold-in and explanations use items 6 and 7: newest, and heavier than 5
SELECT array_agg(history_item ORDER BY history_item) AS folded_in FROM explain(6, 2);
SELECT array_agg(item_id ORDER BY rank) FROM recommend(6, k => 6, exploration => 0);
RESET personalize.history_limit;
SELECT array_agg(history_item ORDER BY history_item) AS folded_in FROM explain(6, 2);
-- 600 distinct items, over the default limit of 500: none is recommended back
SELECT set_consent(7, 'recommendation', 'personalization') IS NOT NULL AS consented;
INSERT INTO interactions (subject_id, item_id, category, occurred_at)
SELECT 7, i, 'browsing_history', date_trunc('day', now()) - interval '10 days' + i * interval '1 minute' FROM generate_series(100, 699) i;
SELECT count(*) AS listed, count(*) FILTER (WHERE item_id BETWEEN 100 AND 699) AS seen_recommended
  FROM recommend(7, k => 1000, exploration => 0);
SELECT count(*) AS seen_recommended FROM recommend(7, k => 1000, exploration => 0, diversity => 0.5)
 WHERE item_id BETWEEN 100 AND 699;

-- ... but only what the purpose may see is read: a row in a category the
-- subject denied is neither used nor excluded (item 2 stays recommendable)
SELECT set_consent(8, 'recommendation', 'personalization', deny => '{purchase_history}') IS NOT NULL AS consented;
INSERT INTO interactions (subject_id, item_id, category, occurred_at) VALUES
	(8, 1, 'browsing_history', date_trunc('day', now()) - interval '10 days'), (8, 3, 'browsing_history', date_trunc('day', now()) - interval '9 days');
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at) VALUES
	(8, 2, 'purchase_history', 'purchase', date_trunc('day', now()) - interval '8 days');
SET personalize.history_limit = 1;
SELECT array_agg(item_id ORDER BY item_id) FILTER (WHERE item_id IN (1, 2, 3)) AS listed_of_1_2_3
  FROM recommend(8, k => 20, exploration => 0);
RESET personalize.history_limit;

-- withdrawal: the next call is not personalized
SELECT array_agg(reason ORDER BY rank) FROM recommend(5, k => 2, exploration => 0);
SELECT withdraw_consent(5, 'recommendation') IS NOT NULL;
SELECT array_agg(reason ORDER BY rank) FROM recommend(5, k => 2, exploration => 0);

-- explain(): the history's contributions add up to the score
SELECT source, history_item, name, kind, round(contribution::numeric, 3) AS contribution
  FROM explain(1, 3);
SELECT abs(sum(e.contribution) - r.score) < 1e-4 AS adds_up
  FROM explain(1, 3) e, (SELECT score FROM recommend(1, k => 1, exploration => 0)) r GROUP BY r.score;
SELECT * FROM explain(3, 5);

-- exploration, seeded: established subjects (epsilon-greedy) explore about
-- 5% of slots by default; new subjects (Thompson sampling) at most their budget
SET personalize.new_subject_interactions = 2;
SELECT count(*) AS slots, avg(explored::int) BETWEEN 0.04 AND 0.06 AS about_five_percent
  FROM generate_series(1, 2000) g, recommend(1, k => 5, seed => g);
SELECT bool_and(reason = 'Something new for you') AS explained FROM generate_series(1, 300) g, recommend(1, k => 5, seed => g) WHERE explored;
SELECT avg(explored::int) BETWEEN 0.15 AND 0.2 AS thompson_within_budget
  FROM generate_series(1, 1000) g, recommend(3, k => 10, seed => g);
-- same seed, same list
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM recommend(1, k => 5, exploration => 0.5, seed => 7)) =
       (SELECT array_agg(item_id ORDER BY rank) FROM recommend(1, k => 5, exploration => 0.5, seed => 7)) AS reproducible;
RESET personalize.new_subject_interactions;

-- a catalogue change reaches the next call: item 4 becomes sponsored
UPDATE items SET sponsored = true WHERE item_id = 4;
SELECT item_id, sponsored, reason FROM recommend(1, k => 10, exploration => 0, sponsored_share => 1) WHERE item_id = 4;
UPDATE items SET sponsored = false WHERE item_id = 4;

-- impressions: logged with the model version, rank and flags; the subject
-- only with a consent for the purpose; nothing in a read-only transaction
SET personalize.log_impressions = on;
SELECT count(*) FROM recommend(1, k => 3, exploration => 0);
SELECT count(*) FROM recommend(3, k => 2, exploration => 0);
SELECT subject_id, model_id = :als AS active_model, item_id, rank, explored, sponsored
  FROM impressions ORDER BY impression_id;
BEGIN READ ONLY;
SELECT count(*) FROM recommend(1, k => 3, exploration => 0);
COMMIT;
SELECT count(*) AS logged FROM impressions;

-- feedback: recorded, and the posterior moves at once
SELECT feedback(1, 3);
SELECT feedback(3, 5, reward => 0.5, kind => 'purchase');
SELECT subject_id, item_id, kind, reward FROM feedback ORDER BY feedback_id;
SELECT item_id, shown > 0 AS shown, rewards, posterior_mean > 0 AS posterior FROM bandit_arms() WHERE item_id IN (3, 5) ORDER BY item_id;

-- errors
\set VERBOSITY terse
SELECT * FROM recommend(1, k => 0);
SELECT * FROM recommend(1, k => 1001);
SELECT * FROM recommend(NULL);
SELECT * FROM recommend(1, diversity => 1.5);
SELECT * FROM recommend(1, exploration => -0.1);
SELECT * FROM recommend(1, sponsored_share => 'NaN');
SELECT * FROM recommend(1, exclude => '{{1,2},{3,4}}');
SELECT * FROM recommend(1, purpose => 'pricing');
SELECT * FROM recommend(1, purpose => 'no_such_purpose');
SELECT * FROM recommend(1, purpose => 'Bad Name!');
SELECT * FROM recommend(1, purpose => 'marketing');
SELECT * FROM explain(1, 424242);
SELECT feedback(1, 3, reward => 2);
SELECT feedback(1, 3, reward => 'NaN');
SELECT feedback(1, 424242);
SELECT feedback(1, 3, purpose => 'pricing');
SELECT bandit_reward('recommendation', 3, -1);

-- roles: only a role holding the purpose may ask, SET ROLE counts, and the
-- logs stay unreadable to it
CREATE ROLE regress_pz_app;
CREATE ROLE regress_pz_stranger;
SELECT grant_purpose('regress_pz_app', 'recommendation');
-- a view and a COPY run recommend() as the caller too; a SECURITY DEFINER
-- wrapper is the definer's deliberate delegation, checked against the definer
CREATE VIEW regress_pz_recs AS SELECT * FROM recommend(1, k => 2, exploration => 0);
GRANT SELECT ON regress_pz_recs TO regress_pz_stranger;
CREATE FUNCTION regress_pz_recs_of(s bigint) RETURNS SETOF bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog AS $$ SELECT item_id FROM personalize.recommend(s, k => 2, exploration => 0) $$;
ALTER FUNCTION regress_pz_recs_of(bigint) OWNER TO regress_pz_stranger;
SET ROLE regress_pz_stranger;
SELECT * FROM recommend(1);
SELECT * FROM explain(1, 3);
SELECT feedback(1, 3);
SELECT * FROM regress_pz_recs;
COPY (SELECT * FROM recommend(1)) TO STDOUT;
SELECT regress_pz_recs_of(1);
RESET ROLE;
SELECT regress_pz_recs_of(1);
ALTER FUNCTION regress_pz_recs_of(bigint) OWNER TO regress_pz_app;
SELECT array_agg(x) FROM regress_pz_recs_of(1) x;
DROP FUNCTION regress_pz_recs_of(bigint);
DROP VIEW regress_pz_recs;
CREATE SCHEMA regress_pz_evil AUTHORIZATION regress_pz_app;
SET ROLE regress_pz_app;
SELECT array_agg(item_id ORDER BY rank) FROM recommend(1, k => 5, exploration => 0);
SELECT count(*) FROM impressions;
SELECT count(*) FROM feedback;
SELECT bandit_reward('recommendation', 3, 1);
-- functions of its own on the search path change nothing: subject 3 stays unconsented
CREATE FUNCTION regress_pz_evil.row_visible(bigint, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_pz_evil.starts_with(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET search_path = regress_pz_evil, personalize, public;
SELECT array_agg(reason ORDER BY rank) FROM recommend(3, k => 2, exploration => 0);
-- nor does a prepared statement or a cursor see more
PREPARE rec(bigint) AS SELECT item_id, reason FROM recommend($1, k => 2, exploration => 0);
EXECUTE rec(3);
BEGIN;
DECLARE c CURSOR FOR SELECT item_id, reason FROM recommend(1, k => 2, exploration => 0);
FETCH 1 FROM c;
FETCH 1 FROM c;
COMMIT;
RESET ROLE;
SET search_path = public, personalize;
DEALLOCATE rec;
DROP SCHEMA regress_pz_evil CASCADE;
\set VERBOSITY default
SELECT revoke_purpose('regress_pz_app', 'recommendation');
DROP ROLE regress_pz_app;
DROP ROLE regress_pz_stranger;

-- a new active model (popularity only) takes over at the next call
SELECT train('popularity', seed => 1) IS NOT NULL AS trained;
SELECT activate_model(model_id) FROM models WHERE algorithm = 'popularity';
SELECT DISTINCT split_part(reason, ' ', 1) AS kind_of_reason FROM recommend(1, k => 5, exploration => 0);
SELECT rollback_model() = :als AS rolled_back;
SELECT DISTINCT split_part(reason, ' ', 1) AS kind_of_reason FROM recommend(1, k => 3, exploration => 0);
-- one snapshot serves the purpose, shared by every session
SELECT purpose, model_id = :als AS als, items, bytes > 0 AS has_bytes FROM serving_snapshots();
