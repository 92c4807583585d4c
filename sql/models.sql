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
SELECT train('itemknn', weighting => 'tfidf');
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
GRANT EXECUTE ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) TO regress_pz_trainer;
SET ROLE regress_pz_trainer;
SELECT train('popularity', activate => 'never') AS by_role \gset
RESET ROLE;
SELECT trained_by FROM models WHERE model_id = :by_role;
\set VERBOSITY default
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb) FROM regress_pz_trainer;
SELECT revoke_purpose('regress_pz_trainer', 'recommendation');
DROP ROLE regress_pz_trainer;
