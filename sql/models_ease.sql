-- EASE: the closed form checked against the Gram matrix computed here in
-- SQL, the item bound, serving and explanations with negative weights,
-- tuning, and refusals.  Weights are floats: relations and tolerances only.
DROP EXTENSION personalize CASCADE;
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SET client_min_messages = warning;
-- 150 x 150 weights from 120 subjects memorise them (the membership check
-- below says so); serving is what is tested here, not the gate
SET personalize.mia_max_auc = 1;

-- 150 items (more than one panel of the blocked factorisation, and not a
-- multiple of any block), 120 consenting subjects, about a quarter of the
-- pairs, and a planted taste: subject s prefers items of category s % 3.
INSERT INTO items (item_id, category) SELECT i, 'cat' || (i % 3) FROM generate_series(1, 150) i;
SELECT count(*) FROM (SELECT set_consent(s, 'recommendation', 'personalization')
                        FROM generate_series(1, 120) s) t;
INSERT INTO interactions (subject_id, item_id, category)
SELECT s, i, 'browsing_history'
  FROM generate_series(1, 120) s, generate_series(1, 150) i
 WHERE abs(hashint4(s * 1000 + i)) % 100 < CASE WHEN i % 3 = s % 3 THEN 45 ELSE 8 END;

-- every weight kept (neighbors >= items - 1), so the closed form can be checked
SELECT train('ease', neighbors => 200, weighting => 'binary', seed => 1, activate => 'never') AS ease \gset
SELECT status, algorithm, params->>'regularization' AS regularization, params->>'max_items' AS max_items,
       params->>'neighbors' AS neighbors, params->>'weighting' AS weighting,
       array_to_string(warnings, ' ') LIKE 'EASE modelled 150 of 150 items (max_items 3000), regularization 4 x the mean diagonal = %' AS reports_lambda
  FROM models WHERE model_id = :ease;
SELECT count(*) FILTER (WHERE score < 0) > 0 AS some_negative, count(*) FILTER (WHERE score > 0) > 0 AS some_positive,
       bool_and(item_id <> neighbor_id) AS no_self_weight
  FROM model_neighbors WHERE model_id = :ease;

-- (G + lambda I) B = G off the diagonal, with G = X^T X of the binary
-- matrix and lambda = 4 x mean(diag G): B = I - P diagMat(1 / diag P) with
-- P = (G + lambda I)^-1 implies it, and nothing else satisfies it.
CREATE TEMP TABLE x AS SELECT DISTINCT subject_id, item_id FROM interactions;
CREATE TEMP TABLE g AS
SELECT a.item_id AS i, b.item_id AS j, count(*)::float8 AS v
  FROM x a JOIN x b USING (subject_id) GROUP BY 1, 2;
SELECT 4 * avg(v) AS lambda FROM g WHERE i = j \gset
CREATE TEMP TABLE b AS SELECT item_id AS i, neighbor_id AS j, score::float8 AS v FROM model_neighbors WHERE model_id = :ease;
WITH gb AS (
  SELECT g.i, b.j, sum((g.v + CASE WHEN g.i = g.j THEN :lambda ELSE 0 END) * b.v) AS v
    FROM g JOIN b ON b.i = g.j GROUP BY g.i, b.j)
SELECT max(abs(coalesce(gb.v, 0) - coalesce(g.v, 0))) < 1e-3 * (SELECT max(v) FROM g) AS closed_form_holds,
       count(*) AS pairs_checked
  FROM (SELECT a.item_id AS i, c.item_id AS j FROM items a, items c WHERE a.item_id <> c.item_id) p
  LEFT JOIN gb USING (i, j) LEFT JOIN g USING (i, j);

-- the planted taste is learnt: the strongest weights stay in a category,
-- and the held-out ranking beats popularity's
SELECT train('popularity', seed => 1, activate => 'never') AS pop \gset
SELECT avg((a.category = c.category)::int) > 0.9 AS strongest_within_category
  FROM (SELECT item_id, neighbor_id, row_number() OVER (PARTITION BY item_id ORDER BY score DESC) AS r
          FROM model_neighbors WHERE model_id = :ease) n
  JOIN items a ON a.item_id = n.item_id JOIN items c ON c.item_id = n.neighbor_id
 WHERE n.r <= 5;
SELECT (e.metrics->>'ndcg_at_k')::float8 > (p.metrics->>'ndcg_at_k')::float8 AS ease_beats_popularity
  FROM models e, models p WHERE e.model_id = :ease AND p.model_id = :pop;
SELECT (privacy->'membership_inference'->>'auc')::float8 > 0.9 AS memorises_its_subjects
  FROM models WHERE model_id = :ease;

-- max_items: the items with the most subjects (ties to the smaller id) get
-- weights, the others none, on either side
SELECT train('ease', neighbors => 10, seed => 1, activate => 'never', params => '{"max_items": 40}') AS small \gset
WITH followed AS (
  SELECT item_id FROM x GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT 40),
     weighted AS (
  SELECT item_id FROM model_neighbors WHERE model_id = :small
  UNION SELECT neighbor_id FROM model_neighbors WHERE model_id = :small)
SELECT (SELECT count(*) FROM weighted) AS items_with_weights,
       NOT EXISTS (SELECT FROM weighted EXCEPT SELECT FROM followed) AS only_the_most_followed,
       (SELECT max(c) FROM (SELECT count(*) AS c FROM model_neighbors WHERE model_id = :small GROUP BY item_id) t) AS most_kept
  FROM (SELECT) one;
SELECT params->>'max_items' AS max_items, params->>'weighting' AS default_weighting FROM models WHERE model_id = :small;

-- serving: a recommendation's score is the sum of its weights from the
-- visible history, negative ones included, and explain() adds up to it
SELECT activate_model(:ease);
SELECT count(*) = 5 AS five, bool_and(reason LIKE 'Because %') AS model_reasons
  FROM recommend(7, k => 5, exploration => 0, diversity => 0);
SELECT bool_and(abs(r.score - s.v) < 1e-4 * greatest(1, abs(s.v))) AS scores_are_summed_weights
  FROM recommend(7, k => 5, exploration => 0, diversity => 0) r
  JOIN LATERAL (SELECT sum(n.score) AS v FROM model_neighbors n
                 WHERE n.model_id = :ease AND n.neighbor_id = r.item_id
                   AND n.item_id IN (SELECT item_id FROM interactions WHERE subject_id = 7)) s ON true;
SELECT abs(sum(e.contribution) - r.score) < 1e-4 AS explained_adds_up,
       count(*) FILTER (WHERE e.contribution < 0) > 0 AS some_history_counts_against
  FROM (SELECT item_id, score FROM recommend(7, k => 1, exploration => 0, diversity => 0)) r,
       explain(7, r.item_id) e GROUP BY r.score;
-- nothing seen comes back
SELECT count(*) AS seen_recommended
  FROM recommend(7, k => 20, exploration => 0) r JOIN interactions i ON i.subject_id = 7 AND i.item_id = r.item_id;

-- tuning searches the regularization and records the search
SELECT train('ease', tune => true, seed => 1, activate => 'never') AS tuned \gset
SELECT (metrics->'tuning'->>'points')::int >= 3 AS searched,
       (metrics->'tuning'->'picked'->>'regularization')::float8 = (params->>'regularization')::float8 AS picked_is_stored,
       metrics->'tuning'->'picked'->>'weighting' = params->>'weighting' AS same_weighting,
       jsonb_array_length(metrics->'tuning'->'tried') = (metrics->'tuning'->>'points')::int AS every_fit_listed
  FROM models WHERE model_id = :tuned;

-- refusals, one SQLSTATE each
\set VERBOSITY terse
SELECT train('ease', regularization => 0);
SELECT train('ease', regularization => 2000);
SELECT train('ease', params => '{"max_items": 0}');
SELECT train('ease', params => '{"max_items": 20001}');
SELECT train('ease', neighbors => 0);
SELECT train('ease', dp_epsilon => 1);
SELECT train('ease', weighting => 'tfidf');
\set VERBOSITY default
