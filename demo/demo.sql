-- The personalize demo: a generated shop catalogue, and what the database
-- can do with it.  Run by `make demo` on a throwaway cluster.
--
-- Conventions: a refusal the demo provokes on purpose is caught by refused()
-- below and printed as "refused, as it should be: <message>", so no raw ERROR
-- line appears (one would mean something went wrong); each figure comes with
-- a line saying how to read it.
\pset footer off
\set QUIET on
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SELECT setseed(0.42) \gset

-- Runs a statement that must be refused, as the current role; says so either way.
CREATE FUNCTION pg_temp.refused(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN '   NOT REFUSED (a bug in the demo or in personalize): ' || stmt;
EXCEPTION WHEN OTHERS THEN
	RETURN '   refused, as it should be: ' || SQLERRM;
END $$;
-- psql: show a refusal as one line
\set show '\\g (format=unaligned tuples_only=on)'

\echo
\echo 'personalize is a PostgreSQL extension for personalization (recommendations) from the behavioural'
\echo 'data of your users, inside the database you already run, the database itself enforcing what each'
\echo 'user consented to and why the data is read.'
\echo
\echo 'This demo, on a generated shop of 20,000 items, shows:'
\echo '   1-5   embedding types: similarity search, distances, centroids, int8 quantization'
\echo '   6     consent: what an application role may read, purpose by purpose, and what is refused'
\echo '   7     models trained in the database on consented data only, with a model card'
\echo '   8     recommend(): a reason per row, explain() adding up to the score, diversity, exploration'
\echo '   9     background jobs, and drift: is each feed narrowing? (Gini per day, alerts, a chart)'
\echo '   10    rights: export everything held about a shopper, then erase them'
\echo '   11    privacy: the membership-inference attack on every model; differentially private training'
\echo '         paid from a privacy budget'
\echo '   12    bad input refused'
\echo 'It takes a few seconds.'

\echo
\echo '== 1. A catalogue of 20,000 items in 8 categories, each with a 64-dimensional embedding'
\echo '   (items of a category cluster around a shared direction, as content embeddings do)'
CREATE TABLE categories AS
SELECT c AS category_id,
       (ARRAY['running shoes','tents','coffee','novels','headphones','yoga mats','board games','cookware'])[c] AS name,
       array_agg(random() * 2 - 1 ORDER BY d)::real[] AS centre
  FROM generate_series(1, 8) c, generate_series(1, 64) d
 GROUP BY c;

CREATE TABLE items (
    item_id   int PRIMARY KEY,
    name      text NOT NULL,
    category  text NOT NULL,
    embedding embedding(64) NOT NULL,
    embedding_q embedding8(64)
);
INSERT INTO items (item_id, name, category, embedding)
SELECT i, initcap(c.name) || ' #' || i, c.name,
       (SELECT array_agg(c.centre[d] + (random() - 0.5) * 1.6 ORDER BY d) FROM generate_series(1, 64) d)::real[]
  FROM generate_series(1, 20000) i
  JOIN categories c ON c.category_id = 1 + i % 8;
UPDATE items SET embedding_q = embedding;
ANALYZE items;

SELECT category, count(*) AS items, round(avg(norm(embedding))::numeric, 2) AS avg_norm
  FROM items GROUP BY category ORDER BY category;

\echo
SELECT item_id AS probe, name AS probe_name FROM items WHERE category = 'coffee' ORDER BY item_id LIMIT 1 \gset
\echo '== 2. Nearest items to' :'probe_name' 'by cosine distance (<=>): an exact scan of the whole catalogue'
\timing on
SELECT i.item_id, i.name, round((i.embedding <=> q.embedding)::numeric, 4) AS cosine_distance
  FROM items i, (SELECT embedding FROM items WHERE item_id = :probe) q
 WHERE i.item_id <> :probe
 ORDER BY i.embedding <=> q.embedding
 LIMIT 5;
\timing off

\echo
\echo '== 3. The other distances: L2 (<->), negative inner product (<#>), L1 (<+>)'
SELECT '[1,2,3]'::embedding <-> '[4,5,6]' AS l2,
       '[1,2,3]'::embedding <#> '[4,5,6]' AS neg_inner_product,
       '[1,2,3]'::embedding <=> '[4,5,6]' AS cosine,
       '[1,2,3]'::embedding <+> '[4,5,6]' AS l1;

\echo
\echo '== 4. Category centroids with avg(embedding), and how tight each category is'
SELECT category, round(avg(embedding <-> centroid)::numeric, 3) AS mean_distance_to_centroid
  FROM items JOIN (SELECT category, avg(embedding) AS centroid FROM items GROUP BY category) c USING (category)
 GROUP BY category ORDER BY category;

\echo
\echo '== 5. embedding8: the same catalogue quantized to int8, about 4x smaller'
SELECT pg_size_pretty(sum(pg_column_size(embedding))) AS float4_embeddings,
       pg_size_pretty(sum(pg_column_size(embedding_q))) AS int8_embeddings,
       round(max(quantization_error(embedding_q))::numeric, 4) AS worst_element_error
  FROM items;
\echo '   Same query on embedding8: the neighbours agree'
\timing on
SELECT i.item_id, i.name, round((i.embedding_q <=> q.embedding_q)::numeric, 4) AS cosine_distance
  FROM items i, (SELECT embedding_q FROM items WHERE item_id = :probe) q
 WHERE i.item_id <> :probe
 ORDER BY i.embedding_q <=> q.embedding_q
 LIMIT 5;
\timing off

\echo
\echo '== 6. Consent: three shoppers, one application role, and the database enforcing what each agreed to'
-- Catalogue rows go into personalize.items too (the catalogue is not personal data).
INSERT INTO personalize.items (item_id, category, embedding, attributes)
SELECT item_id, category, embedding, jsonb_build_object('name', name) FROM items;
SELECT set_consent(1, 'recommendation', 'personalization', source => 'signup form', notice_version => 'v3') \gset
SELECT set_consent(2, 'recommendation', 'personalization', '{location}', '{purchase_history}', 'settings page', 'v3') \gset
SELECT set_consent(3, 'recommendation', 'functional', source => 'cookie banner', notice_version => 'v3') \gset
SELECT count(*) AS signals_tracked FROM (
  SELECT track(s, (s * 37 + k) % 20000 + 1, c, 'view')
    FROM generate_series(1, 3) s, generate_series(1, 4) k,
         unnest(ARRAY['session', 'browsing_history', 'purchase_history', 'location']) c) t;
SELECT subject_id AS shopper, consent, tier(consent) FROM personalize.consents ORDER BY 1;

CREATE ROLE shop_app;
SELECT grant_purpose('shop_app', 'recommendation') \gset
SET ROLE shop_app;
\echo '   shop_app before declaring a purpose sees no personal rows:'
SELECT count(*) AS visible_rows FROM personalize.interactions;
SET personalize.purpose = 'recommendation';
\echo '   ... and under purpose "recommendation", what each consent allows (tier 3 "location" only where granted, "purchase_history" hidden where denied):'
SELECT subject_id AS shopper, string_agg(DISTINCT category, ', ' ORDER BY category) AS visible_categories, count(*) AS rows
  FROM personalize.interactions GROUP BY 1 ORDER BY 1;
RESET ROLE;
\echo '   Shopper 1 withdraws consent; the very next statement no longer sees them:'
SELECT withdraw_consent(1, 'recommendation', 'privacy centre') \gset
SET ROLE shop_app;
SELECT subject_id AS shopper, count(*) AS rows FROM personalize.interactions GROUP BY 1 ORDER BY 1;
\echo '   Declaring a purpose the role was not granted, or reading for pricing, is refused:'
SELECT pg_temp.refused($$SET personalize.purpose = 'marketing'$$) :show
RESET ROLE;
SELECT grant_purpose('shop_app', 'pricing') \gset
SET ROLE shop_app;
SET personalize.purpose = 'pricing';
SELECT pg_temp.refused($$SELECT count(*) FROM personalize.interactions$$) :show
\echo '   ... and so is pricing under another name (deciding prices is a property), and counting hidden rows with EXPLAIN ANALYZE:'
RESET ROLE;
SELECT create_purpose('yield_management', 'Seat prices per visitor', 'enhanced', decides_terms => true) \gset
SELECT grant_purpose('shop_app', 'yield_management') \gset
SET ROLE shop_app;
SET personalize.purpose = 'yield_management';
SELECT pg_temp.refused($$SELECT count(*) FROM personalize.interactions$$) :show
SET personalize.purpose = 'recommendation';
SELECT pg_temp.refused($$EXPLAIN (ANALYZE) SELECT * FROM personalize.interactions WHERE subject_id = 1$$) :show
RESET ROLE;
\echo '   The append-only ledger, as the DBA sees it:'
SELECT subject_id AS shopper, action, consent, source, notice_version, recorded_by
  FROM consent_history ORDER BY entry_id;

\echo
\echo '== 7. Models trained in the database, on consented data only, each with a model card'
-- 400 more shoppers: each likes one category and, within it, one of two styles
SELECT count(*) AS more_shoppers FROM (
  SELECT set_consent(s, 'recommendation', 'personalization') FROM generate_series(100, 499) s) t;
SELECT withdraw_consent(499, 'recommendation') \gset
INSERT INTO personalize.interactions (subject_id, item_id, category, kind)
SELECT s, item_id, 'browsing_history', CASE WHEN random() < 0.1 THEN 'purchase' ELSE 'view' END
  FROM generate_series(100, 499) s,
       LATERAL (SELECT item_id FROM items
                 WHERE category = (SELECT name FROM categories WHERE category_id = 1 + s % 8)
                   AND item_id <= 1600 AND (item_id / 8) % 2 = (s / 8) % 2
                 ORDER BY random() * item_id LIMIT 25) i;
\timing on
SELECT train('popularity') AS popularity_model \gset
SELECT train('als', factors => 16, iterations => 10) AS als_model \gset
\timing off
SELECT model_id, algorithm, status, subjects_included, subjects_left_out,
       round(ndcg_at_k::numeric, 3) AS ndcg_at_10, round(coverage::numeric, 3) AS coverage,
       round(gini::numeric, 3) AS gini_of_exposure
  FROM model_cards ORDER BY model_id;
\echo '   How to read: ndcg_at_10 (0..1) is how near the top of each shopper''s list the held-out items came,'
\echo '   higher is better; coverage is the share of the catalogue that reached some top-10 list; gini_of_exposure'
\echo '   is how unevenly those lists spread over the catalogue (0 = every item equally often, 1 = one item only).'
\echo '   The card of the ALS model (abridged):'
SELECT jsonb_pretty(model_card(:als_model) - 'limitations' - 'signal_categories' - 'hyperparameters'
                    - 'warnings' - 'categories_skipped' - 'privacy') AS model_card;
SELECT c->>'category' AS category_used, c->>'justification' AS justification
  FROM jsonb_array_elements(model_card(:als_model)->'signal_categories') c
 WHERE c->>'category' IN ('browsing_history', 'purchase_history');
\echo '   Fold-in: shopper 2 gets factors from what is visible now; withdrawn shopper 499 gets none:'
SELECT dims(subject_factors(:als_model, 2)) AS shopper_2_factors,
       subject_factors(:als_model, 499) IS NULL AS shopper_499_has_none;

\echo
\echo '== 8. recommend(): scored from the active model in shared memory, each row with a reason'
-- the shop is paid to promote a few items, some of them close to shopper 150's taste
UPDATE personalize.items SET sponsored = true
 WHERE item_id IN (SELECT item_id FROM recommend(150, k => 8, exploration => 0) WHERE rank IN (2, 4, 6))
    OR item_id % 1000 = 3;
GRANT SELECT ON items TO shop_app;
SET ROLE shop_app;
SET personalize.purpose = 'recommendation';
\echo '   Shopper 150 (consented) gets ALS recommendations; "because you ..." names the item of their history that contributed most:'
SELECT rank, item_id, i.category, round(score::numeric, 3) AS score, reason, explored, sponsored
  FROM recommend(150, k => 6, seed => 1) JOIN items i USING (item_id) ORDER BY rank;
SELECT item_id AS top_item FROM recommend(150, k => 1, exploration => 0) \gset
\echo '   explain(): what the score of the top item is made of, one row per item of the history (the largest four):'
SELECT name AS because_of, kind, round(contribution::numeric, 4) AS contribution, round(share::numeric, 2) AS share
  FROM explain(150, :top_item) ORDER BY contribution DESC LIMIT 4;
\echo '   ... and all the contributions add up to the score:'
SELECT count(*) AS history_items, round(sum(e.contribution)::numeric, 6) AS sum_of_contributions,
       round(min(r.score)::numeric, 6) AS score_of_the_top_item
  FROM explain(150, :top_item) e,
       (SELECT score FROM recommend(150, k => 1, exploration => 0)) r;
\echo '   Sponsored items are disclosed on every row, and capped (by default 20% of the list):'
SELECT s AS sponsored_share, count(*) FILTER (WHERE sponsored) AS sponsored_rows_of_10,
       bool_and(reason LIKE 'Sponsored:%') FILTER (WHERE sponsored) AS all_disclosed
  FROM unnest(ARRAY[0, 0.2, 0.5]::real[]) s, recommend(150, k => 10, sponsored_share => s, exploration => 0)
 GROUP BY s ORDER BY s;
\echo '   Diversity: maximal marginal relevance over the model''s item factors (0 = pure relevance):'
SELECT d AS diversity, string_agg(i.category, ', ' ORDER BY r.rank) AS categories_of_the_top_6
  FROM unnest(ARRAY[0, 0.5, 0.8]::real[]) d, recommend(150, k => 6, diversity => d, exploration => 0) r
  JOIN items i USING (item_id) GROUP BY d ORDER BY d;
\echo '   Consent changes what is recommended and why: shopper 150 denies browsing history ...'
RESET ROLE;
SELECT set_consent(150, 'recommendation', 'personalization', deny => '{browsing_history}', source => 'privacy centre') \gset
SET ROLE shop_app;
SET personalize.purpose = 'recommendation';
SELECT rank, item_id, i.category, reason FROM recommend(150, k => 4, exploration => 0) JOIN items i USING (item_id) ORDER BY rank;
\echo '   A new shopper with no history: popularity, and Thompson sampling spends the exploration budget:'
SELECT rank, item_id, reason, explored FROM recommend(7777, k => 5, seed => 3) ORDER BY rank;
\echo '   Clicks and conversions feed the posteriors the exploration samples from:'
SELECT feedback(7777, :top_item) \gset
RESET ROLE;
SELECT item_id, shown, rewards, round(posterior_mean::numeric, 3) AS posterior_mean
  FROM bandit_arms() WHERE item_id = :top_item;
\echo '   What was shown is logged (model version, rank, explored, sponsored); the subject only with consent:'
SELECT count(*) AS impressions, count(subject_id) AS with_subject, count(*) FILTER (WHERE explored) AS explored,
       count(*) FILTER (WHERE sponsored) AS sponsored
  FROM impressions;
SELECT purpose, model_id, items, pg_size_pretty(bytes) AS shared_snapshot FROM serving_snapshots();
\echo '   Speed: 200 calls in one statement (each folds in the subject, scores all 20,000 items, ranks, explains):'
SET personalize.log_impressions = off;
\timing on
SELECT count(*) AS rows FROM generate_series(100, 299) s, recommend(s, k => 10);
\timing off
RESET personalize.log_impressions;
\echo '   Pricing is refused outright:'
SELECT pg_temp.refused($$SELECT * FROM personalize.recommend(150, purpose => 'pricing')$$) :show

\echo
\echo '== 9. The database keeps itself honest: background jobs, drift of what people are shown'
\echo '   A scheduler runs in every database with the extension (shared_preload_libraries):'
SELECT kind, datname, state FROM worker_status ORDER BY kind;
-- Makes a job due now and waits (at most a minute) until the scheduler has run it.
CREATE PROCEDURE demo_run_by_scheduler(job text, params jsonb DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE
	before timestamptz := (SELECT last_finished FROM personalize.jobs j WHERE j.job_name = job);
BEGIN
	PERFORM personalize.alter_job(job, params => params, next_run => now());
	COMMIT;
	FOR i IN 1..600 LOOP
		EXIT WHEN (SELECT last_finished FROM personalize.jobs j WHERE j.job_name = job) IS DISTINCT FROM before;
		PERFORM pg_sleep(0.1);  -- poll
	END LOOP;
END $$;
SELECT job_name, kind, schedule, enabled FROM jobs ORDER BY job_name;
-- Four weeks of what 600 shoppers were shown, 10 slots a day each: for two
-- weeks feeds span the eight categories; then, day by day, each feed
-- narrows towards the shopper's favourite category (a filter bubble forming).
INSERT INTO personalize.impressions (shown_at, subject_id, purpose, model_id, item_id, rank, explored, sponsored)
SELECT date_trunc('day', now()) - make_interval(days => d) + make_interval(mins => s + slot),
       1000 + s, 'recommendation', :als_model,
       8 * (1 + floor(random() * 2400)::int)
         + CASE WHEN random() < greatest(0, 14 - d) / 15.0 THEN s % 8 ELSE floor(random() * 8)::int END,
       slot, false, false
  FROM generate_series(1, 28) d, generate_series(0, 599) s, generate_series(1, 10) slot;
\echo '   ... 168,000 impressions over 28 days. The drift job measures each day as it completes; asked to run now:'
CALL demo_run_by_scheduler('drift');
SELECT last_status, last_result->'periods' AS periods_measured, last_result->'alerts' AS alerts_raised
  FROM jobs WHERE job_name = 'drift';
\echo '   How concentrated each day was (Gini: 0 = spread evenly, 1 = one thing only); feed = within each shopper''s feed:'
SELECT period_start::date AS day, impressions, category_gini AS categories, feed_category_gini AS feed,
       feed_category_gini_vs_week AS feed_vs_week_before, alert, feed_category_gini_trend AS last_14_days
  FROM gini_drift WHERE purpose = 'recommendation' AND segment = 'all'
 ORDER BY period_start DESC LIMIT 8;
\echo '   Read it as: feed near 0.8 means most shoppers now see one category; a rise of more than 0.05 over'
\echo '   the same day a week before (beyond sampling noise) raises an alert.'
\echo '   The first alert, as the server log and NOTIFY personalize_alerts gave it:'
SELECT alert_id, period_start::date AS day, segment, metric, baseline, round(delta::numeric, 3) AS rose_by
  FROM alerts ORDER BY alert_id LIMIT 3;
SELECT message FROM alerts ORDER BY alert_id LIMIT 1;
SELECT drift_chart('recommendation', 28) \g (format=unaligned tuples_only=on) drift.svg
SELECT (xpath('count(//*[local-name()="polyline"])', drift_chart('recommendation', 28)::xml))[1] AS lines_charted,
       (xpath('count(//*[local-name()="circle"])', drift_chart('recommendation', 28)::xml))[1] AS alert_marks
\gset
\echo '   The chart of those 28 days is in drift.svg (' :lines_charted 'Gini lines,' :alert_marks 'alert marks; KEEP_WORKDIR=1 make demo keeps the file).'
\echo '   Retraining: the retrain job trains when its interval passes or enough new interactions arrive; due now:'
CALL demo_run_by_scheduler('retrain', '{"purpose": "recommendation", "interval": "1 second"}');
SELECT runner, status, result->>'reason' AS why, result->>'model_id' AS model, result->>'status' AS model_status,
       result->>'status_reason' AS gate
  FROM job_runs WHERE job_name = 'retrain' ORDER BY run_id DESC LIMIT 1;

\echo
\echo '== 10. Rights: what is held about shopper 150, then forgetting them'
SELECT jsonb_array_length(e->'interactions') AS interactions, jsonb_array_length(e->'impressions') AS impressions,
       jsonb_array_length(e->'consent_history') AS ledger_entries
  FROM export_subject(150) e;
SELECT erase_subject(150) AS erasure \gset
SELECT (:'erasure'::jsonb)->'deleted' AS rows_deleted, (:'erasure'::jsonb)->>'models_marked' AS models_marked;
\echo '   Nothing keyed by 150 is left; the ledger keeps a keyed hash (proof of consent, no identifier):'
SELECT (SELECT count(*) FROM personalize.interactions WHERE subject_id = 150) AS interactions,
       (SELECT count(*) FROM personalize.impressions WHERE subject_id = 150) AS impressions,
       (SELECT count(*) FROM personalize.consent_ledger WHERE subject_id = 150) AS ledger_rows_with_the_id;
SELECT model_id, card->'erasure'->>'state' AS model_after_erasure
  FROM (SELECT model_id, model_card(model_id) AS card FROM models WHERE status = 'active') m;

\echo
\echo '== 11. Privacy: can a model tell who it was trained on? And a model that provably cannot'
\echo '   Every model is attacked before it may serve: members (trained on) against non-members (held out):'
SELECT model_id, algorithm, status,
       round((privacy->'membership_inference'->>'auc')::numeric, 3) AS attack_auc,
       round((privacy->'membership_inference'->>'tpr_at_1pct_fpr')::numeric, 3) AS found_at_1pct_false_alarms,
       privacy->'membership_inference'->>'empirical_epsilon' AS proves_epsilon_at_least,
       privacy->'membership_inference'->>'passed' AS passed
  FROM models WHERE model_id IN (:popularity_model, :als_model) ORDER BY model_id;
\echo '   How to read: attack AUC 0.5 = the attacker guesses; 1 = it tells members from non-members every time.'
\echo '   "proves_epsilon_at_least": the privacy loss the attack demonstrates (0 = none); a private model must stay below its epsilon.'
\echo '   (Even popularity leaks here: with 20,000 items and 400 shoppers, most items were seen by one shopper.)'
\echo '   Above personalize.mia_max_auc (0.97) a model is rejected and never activated.'
SELECT create_purpose('recommendation.private', 'recommendations from a differentially private model',
                      'personalization', decides_terms => false, inherit => true) \gset
SELECT set_privacy_budget('recommendation.private', 10) \gset
\echo '   A purpose with a privacy budget of epsilon 10; ALS trained with epsilon 2 and 8 (each pays):'
SELECT train('als', 'recommendation.private', factors => 16, dp_epsilon => 2) AS dp2 \gset
SELECT train('als', 'recommendation.private', factors => 16, dp_epsilon => 8, activate => 'never') AS dp8 \gset
SELECT coalesce(d->>'epsilon', 'none') AS epsilon, round((m.metrics->>'ndcg_at_k')::numeric, 3) AS ndcg_at_10,
       round((m.privacy->'membership_inference'->>'auc')::numeric, 3) AS attack_auc,
       m.privacy->'membership_inference'->>'empirical_epsilon' AS proves_epsilon_at_least,
       round((d->'model'->>'sigma')::numeric, 1) AS noise_sigma, d->>'items_modelled' AS items_modelled
  FROM models m LEFT JOIN LATERAL (SELECT m.privacy->'differential_privacy' AS d) x ON true
 WHERE model_id IN (:als_model, :dp2, :dp8) ORDER BY model_id;
SELECT purpose, epsilon, epsilon_spent, epsilon_remaining, models FROM privacy_budget;
\echo '   The budget is spent: one more private model would overspend, and a non-private one is not allowed on this purpose:'
SELECT pg_temp.refused($$SELECT personalize.train('als', 'recommendation.private', dp_epsilon => 4)$$) :show
SELECT pg_temp.refused($$SELECT personalize.train('als', 'recommendation.private')$$) :show
\echo '   With 400 shoppers the noise costs most of the quality: private models need many subjects.'
\echo '   On 20,000 generated subjects, ALS at epsilon 4 keeps all of its NDCG (test/bench/privacy.sh).'

\echo
\echo '== 12. Bad input is refused with a clear error, never stored'
SELECT pg_temp.refused($$SELECT '[1,2,NaN]'::personalize.embedding$$) :show
SELECT pg_temp.refused($$SELECT '[1,2'::personalize.embedding$$) :show
SELECT pg_temp.refused($$INSERT INTO items VALUES (99999, 'Broken', 'x', '[1,2,3]')$$) :show
SELECT count(*) AS items_after_bad_input FROM items;
SELECT simd_level() AS distance_kernels;
