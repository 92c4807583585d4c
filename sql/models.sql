-- Models: training on consented data only, evaluation, registry, cards,
-- activation and rollback, fold-in.  Metric values depend on floating-point
-- summation order, so only their ranges and relations are shown.
SET search_path = public, personalize;
SET client_min_messages = warning;

-- 24 items in 3 categories; subject s interacts with items of category s % 3
INSERT INTO items (item_id, category) SELECT i, 'cat' || (i % 3) FROM generate_series(1, 24) i;
SELECT count(*) FROM (SELECT set_consent(s, 'recommendation', 'personalization')
                        FROM generate_series(1, 27) s) t;
SELECT withdraw_consent(27, 'recommendation');                      -- withdrawn
SELECT set_consent(28, 'recommendation', 'personalization', deny => '{browsing_history}'); -- denies all it has
-- 29 and 30 never consented
INSERT INTO interactions (subject_id, item_id, category, kind)
SELECT s, i, 'browsing_history', CASE WHEN (s + i) % 5 = 0 THEN 'purchase' ELSE 'view' END
  FROM generate_series(1, 30) s, generate_series(1, 24) i
 WHERE i % 3 = s % 3 AND (s * 7 + i) % 4 <> 0;
-- rows of subjects 1..26, computed independently of the extension
SELECT count(*) AS consented_rows FROM interactions WHERE subject_id <= 26;

-- popularity: the first model becomes active
SELECT train('popularity', seed => 1) AS pop \gset
SELECT status, algorithm, data->>'subjects_included' AS included,
       data->'subjects_left_out' AS left_out, data->>'rows_used' AS rows_used,
       data->'categories_used' AS categories
  FROM models WHERE model_id = :pop;
SELECT (metrics->>'ndcg_at_k')::float8 BETWEEN 0 AND 1 AS ndcg_in_range,
       (metrics->>'gini')::float8 BETWEEN 0 AND 1 AS gini_in_range,
       (metrics->>'coverage')::float8 > 0 AS some_coverage,
       (metrics->>'subjects_evaluated')::int AS evaluated
  FROM models WHERE model_id = :pop;
SELECT count(*) AS popularity_rows FROM model_popularity WHERE model_id = :pop;

-- ALS, not activated: a candidate until activated
SELECT train('als', factors => 8, iterations => 10, seed => 1, activate => 'never') AS als \gset
SELECT status, params->>'factors' AS factors FROM models WHERE model_id = :als;
SELECT count(*) AS item_factor_rows, min(dims(factors)) AS dims FROM model_item_factors WHERE model_id = :als;
-- the planted structure is learnable: ALS beats popularity on held-out NDCG
SELECT (a.metrics->>'ndcg_at_k')::float8 > (p.metrics->>'ndcg_at_k')::float8 AS als_beats_popularity
  FROM models a, models p WHERE a.model_id = :als AND p.model_id = :pop;

SELECT activate_model(:als);
SELECT model_id = :als AS is_als, status FROM models WHERE status = 'active';
SELECT status, status_reason FROM models WHERE model_id = :pop;
SELECT rollback_model('recommendation') = :pop AS rolled_back_to_popularity;
SELECT model_id = :pop AS is_pop FROM models WHERE status = 'active';
SELECT activate_model(:als);

-- item-kNN
SELECT train('itemknn', neighbors => 5, seed => 1, activate => 'never') AS knn \gset
SELECT status, count(n.*) > 0 AS has_neighbors, bool_and(n.score > 0) AS positive
  FROM models m LEFT JOIN model_neighbors n USING (model_id) WHERE m.model_id = :knn GROUP BY 1;
-- neighbours stay within the planted category
SELECT bool_and(a.category = b.category) AS same_category
  FROM model_neighbors n JOIN items a ON a.item_id = n.item_id JOIN items b ON b.item_id = n.neighbor_id
 WHERE n.model_id = :knn;

-- the model card
SELECT jsonb_object_keys(model_card(:als)) AS card_key ORDER BY 1;
SELECT model_card(:als)->'signal_categories'->0->>'category' AS category,
       model_card(:als)->'signal_categories'->0->>'justification' IS NOT NULL AS justified,
       model_card(:als)->'not_intended_for'->>0 AS not_for;
SELECT count(*) AS cards FROM model_cards;

-- fold-in: factors from the history visible now
SELECT dims(subject_factors(:als, 1)) AS dims_subject_1;
SELECT subject_factors(:als, 27) IS NULL AS withdrawn_gets_none,
       subject_factors(:als, 28) IS NULL AS denied_gets_none,
       subject_factors(:als, 29) IS NULL AS unconsented_gets_none;
SELECT withdraw_consent(1, 'recommendation');
SELECT subject_factors(:als, 1) IS NULL AS withdrawn_now_gets_none;
-- a new subject since training is folded in from its history
SELECT set_consent(31, 'recommendation', 'personalization');
INSERT INTO interactions (subject_id, item_id, category) VALUES (31, 3, 'browsing_history'), (31, 6, 'browsing_history');
SELECT (SELECT item_id FROM model_item_factors f WHERE f.model_id = :als
         ORDER BY f.factors <#> subject_factors(:als, 31), item_id LIMIT 1) % 3 AS best_category_of_new_subject;

-- RP3beta: item-to-item random walk with a popularity penalty, stored and
-- served as neighbours like item-kNN
SELECT train('rp3beta', neighbors => 5, seed => 1, activate => 'never', params => '{"beta": 0.3}') AS rp3 \gset
SELECT status, params->>'alpha' AS alpha, params->>'beta' AS beta, params->>'weighting' AS weighting,
       count(n.*) > 0 AS has_neighbors, bool_and(n.score > 0) AS positive
  FROM models m LEFT JOIN model_neighbors n USING (model_id) WHERE m.model_id = :rp3 GROUP BY 1, 2, 3, 4;
SELECT bool_and(a.category = b.category) AS same_category
  FROM model_neighbors n JOIN items a ON a.item_id = n.item_id JOIN items b ON b.item_id = n.neighbor_id
 WHERE n.model_id = :rp3;
SELECT (a.metrics->>'ndcg_at_k')::float8 > (p.metrics->>'ndcg_at_k')::float8 AS rp3beta_beats_popularity
  FROM models a, models p WHERE a.model_id = :rp3 AND p.model_id = :pop;

-- weighting: every algorithm records it; ALS folds histories in with it, so
-- recommend() scores are the item factors . subject_factors() of the subject
SELECT train('als', factors => 4, iterations => 5, seed => 1, weighting => 'binary', activate => 'never') AS als_binary \gset
SELECT params->>'weighting' AS weighting FROM models WHERE model_id = :als_binary;
SELECT params->>'weighting' AS default_weighting, params->>'factors' AS default_factors,
       params->>'alpha' AS default_alpha FROM models WHERE model_id = :als;
-- log_idf, ALS's default: fold-in multiplies ln(1 + value) by the item's
-- stored idf over its mean, here recomputed from the rows the model used
WITH x AS (SELECT DISTINCT subject_id, item_id FROM interactions WHERE subject_id <= 26),
     df AS (SELECT it.item_id, count(x.subject_id) AS df FROM items it LEFT JOIN x USING (item_id) GROUP BY 1),
     idf AS (SELECT item_id, df, greatest(ln(26) - ln(1 + df), 1e-6) AS idf FROM df)
SELECT max(abs(f.idf - i.idf * (SELECT sum(df) FROM idf) / (SELECT sum(df * idf) FROM idf))) < 1e-5 AS stored_idf_is_the_formula,
       count(*) AS items
  FROM model_item_factors f JOIN idf i USING (item_id) WHERE f.model_id = :als;
SELECT count(idf) AS idf_stored_for_log FROM model_item_factors WHERE model_id = :als_binary;
SELECT params->>'weighting' AS itemknn_default FROM models WHERE model_id = :knn;
SELECT train('itemknn', neighbors => 5, weighting => 'cosine', seed => 1, activate => 'never') AS knn_cos \gset
SELECT params->>'weighting' AS cosine_is_none FROM models WHERE model_id = :knn_cos;
SELECT activate_model(:als);
SELECT bool_and(abs(r.score - (f.factors <#> subject_factors(:als, 2)) * -1) < 1e-4) AS scores_match_fold_in
  FROM recommend(2, k => 5, exploration => 0) r JOIN model_item_factors f ON f.model_id = :als AND f.item_id = r.item_id;
SELECT abs(sum(e.contribution) - r.score) < 1e-4 AS explained_adds_up
  FROM (SELECT item_id, score FROM recommend(2, k => 1, exploration => 0)) r, explain(2, r.item_id) e GROUP BY r.score;
-- the fold-in ridge is regularization x n^reg_exponent for n history items
-- (0.5.0; a model stored without reg_exponent keeps one flat ridge): two
-- hand-written 2-factor models, checked against the 2 x 2 solution here
INSERT INTO models (algorithm, purpose, status, params, trained_by)
VALUES ('als', 'recommendation', 'candidate',
        '{"factors": 2, "regularization": 3, "reg_exponent": 0.5, "alpha": 1, "weighting": "binary"}', 'regress'),
       ('als', 'recommendation', 'candidate',
        '{"factors": 2, "regularization": 3, "alpha": 1, "weighting": "binary"}', 'regress');
SELECT max(model_id) - 1 AS scaled, max(model_id) AS flat FROM models \gset
INSERT INTO model_item_factors (model_id, item_id, factors)
SELECT m, item_id, ARRAY[(item_id % 3) * 0.5, 0.25 + (item_id % 2) * 0.25]::real[]::embedding
  FROM items, (VALUES (:scaled), (:flat)) v(m);
WITH y AS (SELECT item_id, (factors::float8[])[1] AS y1, (factors::float8[])[2] AS y2
             FROM model_item_factors WHERE model_id = :scaled),
     h AS (SELECT DISTINCT item_id FROM interactions WHERE subject_id = 2),
     s AS (SELECT sum(y1 * y1) + sum(y1 * y1) FILTER (WHERE h.item_id IS NOT NULL) AS a,
                  sum(y1 * y2) + sum(y1 * y2) FILTER (WHERE h.item_id IS NOT NULL) AS b,
                  sum(y2 * y2) + sum(y2 * y2) FILTER (WHERE h.item_id IS NOT NULL) AS d,
                  2 * sum(y1) FILTER (WHERE h.item_id IS NOT NULL) AS r1,
                  2 * sum(y2) FILTER (WHERE h.item_id IS NOT NULL) AS r2,
                  count(h.item_id) AS n
             FROM y LEFT JOIN h USING (item_id)),
     x AS (SELECT m, ridge,
                  ((d + ridge) * r1 - b * r2) / ((a + ridge) * (d + ridge) - b * b) AS x1,
                  ((a + ridge) * r2 - b * r1) / ((a + ridge) * (d + ridge) - b * b) AS x2
             FROM s, LATERAL (VALUES (:scaled, 3 * sqrt(n)), (:flat, 3.0)) v(m, ridge))
SELECT m = :scaled AS scaled, n AS history_items,
       abs(x1 - (subject_factors(m, 2)::float8[])[1]) < 1e-5
       AND abs(x2 - (subject_factors(m, 2)::float8[])[2]) < 1e-5 AS fold_in_matches
  FROM x, s ORDER BY 1 DESC;
-- RP3beta serves: model reasons, and explain() gives the neighbour scores
SELECT activate_model(:rp3);
SELECT count(*) FILTER (WHERE reason LIKE 'Because %') > 0 AS model_reasons FROM recommend(31, k => 3, exploration => 0);
SELECT abs(sum(e.contribution) - r.score) < 1e-5 AS explained_adds_up
  FROM (SELECT item_id, score FROM recommend(31, k => 1, exploration => 0)) r, explain(31, r.item_id) e GROUP BY r.score;
SELECT activate_model(:als);

-- the card says how its numbers were computed; tuning is recorded in it
SELECT metrics ? 'protocol' AS has_protocol, (metrics->>'ndcg_at_k_stderr')::float8 >= 0 AS has_stderr
  FROM models WHERE model_id = :als;
SELECT train('rp3beta', tune => true, seed => 1, activate => 'never') AS rp3_tuned \gset
SELECT (metrics->'tuning'->>'points')::int > 1 AS searched,
       metrics->'tuning'->'picked'->>'weighting' = params->>'weighting' AS picked_is_stored,
       (metrics->'tuning'->'picked'->>'beta')::float8 = (params->>'beta')::float8 AS same_beta,
       jsonb_array_length(metrics->'tuning'->'tried') = (metrics->'tuning'->>'points')::int AS every_fit_listed,
       array_to_string(warnings, ' ') LIKE '%tuned over%' AS warned
  FROM models WHERE model_id = :rp3_tuned;

-- the next version contains nothing of the withdrawn subject
SELECT train('popularity', seed => 1, activate => 'never') AS pop2 \gset
SELECT (data->>'subjects_included')::int AS included_after_withdrawal,
       data->'subjects_left_out'->>'withdrawn' AS withdrawn_rounded_down
  FROM models WHERE model_id = :pop2;

-- a category without justification is not used, and the model says so
UPDATE signal_categories SET justification = NULL WHERE name = 'preferences';
INSERT INTO interactions (subject_id, item_id, category) VALUES (2, 1, 'preferences');
SELECT train('popularity', seed => 1, activate => 'never') AS pop3 \gset
SELECT data->'categories_skipped' AS skipped, warnings FROM models WHERE model_id = :pop3;
UPDATE signal_categories SET justification = 'Stated preferences.' WHERE name = 'preferences';

-- pruning keeps the parameters of the newest versions only
SELECT count(*) FROM (SELECT train('popularity', seed => 1, activate => 'never', params => '{"keep_models": 2}')
                        FROM generate_series(1, 3)) t;
SELECT count(*) FILTER (WHERE status_reason = 'parameters pruned (keep_models)') > 0 AS some_pruned,
       (SELECT count(DISTINCT model_id) FROM model_popularity) <= 3 AS few_with_parameters
  FROM models;

-- errors
\set VERBOSITY terse
SELECT train('svd');
SELECT train('als', factors => 0);
SELECT train('als', holdout => 1.5);
SELECT train('als', regularization => 0);
SELECT train('als', params => '{"reg_exponent": 3}');
SELECT train('itemknn', weighting => 'tfidf');
SELECT train('als', weighting => 'bm25');
SELECT train('popularity', weighting => 'bm25');
SELECT train('popularity', weighting => 'log_idf');
SELECT train('rp3beta', params => '{"beta": 3}');
SELECT train('rp3beta', alpha => 0);
SELECT train('popularity', purpose => 'nope');
SELECT train('popularity', purpose => 'pricing');
SELECT train('popularity', activate => 'sometimes');
SELECT activate_model(999999);
SELECT subject_factors(:pop, 2);
CREATE ROLE regress_pz_trainer;
SET ROLE regress_pz_trainer;
SELECT train('popularity');
RESET ROLE;
SELECT grant_purpose('regress_pz_trainer', 'recommendation');
GRANT EXECUTE ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) TO regress_pz_trainer;
SET ROLE regress_pz_trainer;
SELECT train('popularity', activate => 'never') AS by_role \gset
RESET ROLE;
SELECT trained_by FROM models WHERE model_id = :by_role;
\set VERBOSITY default
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) FROM regress_pz_trainer;
SELECT revoke_purpose('regress_pz_trainer', 'recommendation');
DROP ROLE regress_pz_trainer;
