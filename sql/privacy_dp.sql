-- Private training: the accountant's formula, noise calibrated to it and
-- measured, the privacy budget of a purpose (refusals before any work,
-- spending that commits or rolls back with the model), what cannot be
-- trained privately, and the retrain job paying from the budget.
SET search_path = public, personalize;
SET client_min_messages = warning;

-- ---- 1. the accountant -------------------------------------------------------
-- sigma = sensitivity * sqrt(releases / (2 rho)), rho = (sqrt(eps + L) - sqrt(L))^2, L = ln(1/delta)
SELECT round(dp_noise_scale(1, 1e-6, 1, 1)::numeric, 6) AS sigma,
       round((1 / sqrt(2 * (sqrt(1 + ln(1e6)) - sqrt(ln(1e6))) ^ 2))::numeric, 6) AS by_hand;
SELECT round(dp_noise_scale(8, 1e-5, 3, 5)::numeric, 6) AS sigma,
       round((3 * sqrt(5 / (2 * (sqrt(8 + ln(1e5)) - sqrt(ln(1e5))) ^ 2)))::numeric, 6) AS by_hand;
-- less epsilon, more noise; more releases, more noise by sqrt(releases)
SELECT dp_noise_scale(1, 1e-6, 1) > dp_noise_scale(2, 1e-6, 1) AS monotone,
       round((dp_noise_scale(4, 1e-6, 1, 9) / dp_noise_scale(4, 1e-6, 1, 1))::numeric, 9) AS nine_releases;
SELECT dp_noise_scale(0, 1e-6, 1);
SELECT dp_noise_scale(1, 1, 1);
SELECT dp_noise_scale(1, 1e-6, 'infinity');
SELECT dp_noise_scale(1, 1e-6, 1, 0);

-- ---- data: 100 subjects who each used all of 400 items --------------------------
SELECT create_purpose('regress_dp', 'private training tests', 'personalization', decides_terms => false);
SELECT create_purpose('regress_dp_empty', 'nobody consented', 'personalization', decides_terms => false);
INSERT INTO items (item_id, category) SELECT 9100000 + i, 'dp' || (i % 4) FROM generate_series(1, 400) i;
SELECT count(*) FROM (SELECT set_consent(9100000 + s, 'regress_dp', 'personalization')
                        FROM generate_series(1, 100) s) t;
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at)
SELECT 9100000 + s, 9100000 + i, 'browsing_history', 'view', now() - interval '1 day'
  FROM generate_series(1, 100) s, generate_series(1, 400) i;
CREATE ROLE regress_dp_app;
CREATE ROLE regress_dp_other;
SELECT grant_purpose('regress_dp_app', 'regress_dp');
GRANT EXECUTE ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) TO regress_dp_app;

-- ---- 2. the budget decides before any work -----------------------------------------
SELECT train('popularity', 'regress_dp', dp_epsilon => 4);              -- no budget yet
SELECT set_privacy_budget('regress_dp', 40, 1e-5);
SELECT train('als', 'regress_dp');                                      -- a budget: private only
SELECT train('popularity', 'regress_dp', dp_epsilon => 41);             -- more than the budget
SELECT count(*) AS models, (SELECT count(*) FROM privacy_spending) AS spendings
  FROM models WHERE purpose = 'regress_dp';
-- bad budgets
SELECT set_privacy_budget('regress_dp', -1);
SELECT set_privacy_budget('regress_dp', 8, 1);
SELECT set_privacy_budget('regress_dp', NULL);
SELECT set_privacy_budget('no_such_purpose', 8);
SELECT drop_privacy_budget('regress_dp_empty');
-- what a training cannot be asked for
SELECT train('rp3beta', 'regress_dp', dp_epsilon => 4);
SELECT train('als', 'regress_dp', dp_epsilon => 4, tune => true);
SELECT train('itemknn', 'regress_dp', dp_epsilon => 4, weighting => 'bm25');
SELECT train('als', 'regress_dp', dp_epsilon => 4, weighting => 'log_idf');
SELECT train('als', 'regress_dp', dp_epsilon => 4, params => '{"reg_exponent": 0.5}');
SELECT train('als', 'regress_dp', params => '{"dp_delta": 1e-6}');
SELECT train('als', 'regress_dp', dp_epsilon => 0);
SELECT train('als', 'regress_dp', dp_epsilon => 4, dp_delta => 0.5);
SELECT train('als', 'regress_dp', dp_epsilon => 4, params => '{"dp_max_per_subject": 0}');
SELECT count(*) AS spendings FROM privacy_spending;

-- ---- 3. noise as calibrated: private popularity, every subject kept -------------------
-- each item's count is exactly 100; the noise is what the model stores minus 100
SELECT train('popularity', 'regress_dp', dp_epsilon => 16, half_life => '100000 days',
             params => '{"dp_max_per_subject": 400, "dp_seed": 7}') AS pop \gset
SELECT d ->> 'epsilon' AS epsilon, d ->> 'delta' AS delta, d ->> 'max_per_subject' AS cap, d ->> 'clip' AS clip,
       d ->> 'unit' AS unit, d ->> 'noise' AS noise,
       round((d -> 'popularity' ->> 'sensitivity')::numeric, 6) = round(sqrt(400)::numeric, 6) AS sensitivity_is_sqrt_cap,
       round((d -> 'popularity' ->> 'sigma')::numeric, 6) = round(dp_noise_scale(16, 1e-6, sqrt(400))::numeric, 6) AS sigma_as_calibrated,
       abs((d ->> 'epsilon_spent')::float8 - 16) < 1e-9 AS spent_what_was_asked
  FROM (SELECT model_card(:pop) -> 'privacy' -> 'differential_privacy' AS d) c;
-- 400 draws: the sample deviation is within 15% of sigma (its own standard error is 3.5%)
SELECT count(*) AS items,
       abs(stddev_pop(p.score - 100) / dp_noise_scale(16, 1e-6, sqrt(400)) - 1) < 0.15 AS deviation_matches,
       abs(avg(p.score - 100)) < 4 * dp_noise_scale(16, 1e-6, sqrt(400)) / sqrt(400) AS unbiased,
       count(*) FILTER (WHERE p.score <> 100) = count(*) AS every_count_moved
  FROM model_popularity p WHERE p.model_id = :pop AND p.item_id BETWEEN 9100001 AND 9100400;
-- the same dp_seed draws the same noise; none draws fresh noise each time
SELECT train('popularity', 'regress_dp', dp_epsilon => 1, half_life => '100000 days',
             params => '{"dp_max_per_subject": 400, "dp_seed": 7}') AS pop_seeded_a \gset
SELECT train('popularity', 'regress_dp', dp_epsilon => 1, half_life => '100000 days',
             params => '{"dp_max_per_subject": 400, "dp_seed": 7}') AS pop_seeded_b \gset
SELECT train('popularity', 'regress_dp', dp_epsilon => 1, half_life => '100000 days',
             params => '{"dp_max_per_subject": 400}') AS pop_fresh \gset
SELECT bool_and(a.score = b.score) AS seeded_repeats, bool_or(a.score <> c.score) AS fresh_differs
  FROM model_popularity a
  JOIN model_popularity b ON b.item_id = a.item_id AND b.model_id = :pop_seeded_b
  JOIN model_popularity c ON c.item_id = a.item_id AND c.model_id = :pop_fresh
 WHERE a.model_id = :pop_seeded_a;
SELECT model_card(:pop_fresh) -> 'privacy' -> 'differential_privacy' ->> 'noise' AS noise,
       params ? 'dp_seed' AS seed_kept_for_retraining
  FROM models WHERE model_id = :pop_seeded_a;

-- ---- 4. ALS: the card's arithmetic ------------------------------------------------------
SET ROLE regress_dp_app;
SELECT train('als', 'regress_dp', factors => 8, dp_epsilon => 4, activate => 'never', params => '{"dp_seed": 11}') AS als \gset
RESET ROLE;
SELECT d ->> 'max_per_subject' AS cap, m ->> 'releases' AS releases, params ->> 'weighting' AS weighting,
       params ->> 'iterations' AS iterations,
       round((d ->> 'rho')::numeric, 9) = round(((sqrt(4 + ln(1e6)) - sqrt(ln(1e6))) ^ 2)::numeric, 9) AS rho_from_epsilon,
       round((d -> 'popularity' ->> 'rho')::numeric, 9) = round((0.1 * (d ->> 'rho')::float8)::numeric, 9) AS popularity_gets_a_tenth,
       -- one iteration: |x x^T| <= 1, and per item (alpha clip)^2 + (1 + alpha clip)^2 = 5
       round((m ->> 'sensitivity')::numeric, 9) = round(sqrt(1 + 50 * 5)::numeric, 9) AS sensitivity_bound,
       round((m ->> 'sigma')::numeric, 6)
         = round(((m ->> 'sensitivity')::float8 * sqrt(5 / (2 * (m ->> 'rho')::float8)))::numeric, 6) AS sigma_from_rho
  FROM models, LATERAL (SELECT privacy -> 'differential_privacy' AS d) x, LATERAL (SELECT d -> 'model' AS m) y
 WHERE model_id = :als;
SELECT trained_by FROM models WHERE model_id = :als;
-- what the membership-inference attack proves about it stays within what it spent
SELECT (privacy -> 'membership_inference' ->> 'ran')::boolean AS attacked,
       (privacy -> 'membership_inference' ->> 'empirical_epsilon')::float8
         <= (privacy -> 'differential_privacy' ->> 'epsilon')::float8 AS within_epsilon
  FROM models WHERE model_id = :als;

-- ---- 5. spending: recorded with the model, gone with a failed training -----------------
SELECT purpose, epsilon, epsilon_spent, epsilon_remaining, delta, round(delta_spent::numeric, 9) AS delta_spent, models
  FROM privacy_budget;
SELECT model_id = :als AS is_last, epsilon FROM privacy_spending ORDER BY spend_id DESC LIMIT 1;
SELECT set_privacy_budget('regress_dp_empty', 10);
SELECT train('popularity', 'regress_dp_empty', dp_epsilon => 2);      -- nothing visible: fails after paying
SELECT epsilon_spent FROM privacy_budget WHERE purpose = 'regress_dp_empty';
-- a lower total leaves nothing to spend; spent stays spent, also across drop and set
SELECT set_privacy_budget('regress_dp', 20, 1e-5);
SELECT epsilon_spent, epsilon_remaining FROM privacy_budget WHERE purpose = 'regress_dp';
SELECT train('popularity', 'regress_dp', dp_epsilon => 0.5);
SELECT drop_privacy_budget('regress_dp');
SELECT set_privacy_budget('regress_dp', 40, 1e-5);
SELECT epsilon_spent, epsilon_remaining FROM privacy_budget WHERE purpose = 'regress_dp';

-- ---- 6. only administrators set budgets; nobody writes the ledger by hand ---------------
SET ROLE regress_dp_other;
SELECT set_privacy_budget('regress_dp', 1000);
SELECT drop_privacy_budget('regress_dp');
SELECT spend_privacy_budget('regress_dp', 1, -5, 0);
INSERT INTO privacy_spending (purpose, model_id, epsilon, delta) VALUES ('regress_dp', 1, 1, 1e-9);
UPDATE privacy_budgets SET epsilon_spent = 0;
SELECT count(*) > 0 AS can_read_budgets FROM privacy_budget;
RESET ROLE;

-- ---- 7. the retrain job pays from the budget, and skips what it cannot pay --------------
SELECT activate_model(:als);
SELECT schedule_job('regress_dp_retrain', 'retrain', '1 hour', '{"purpose": "regress_dp", "interval": "0 seconds"}');
SELECT (run_job('regress_dp_retrain')).status;
SELECT last_status, last_result ->> 'reason' AS reason,
       (SELECT params ->> 'dp_epsilon' FROM models WHERE model_id = (j.last_result ->> 'model_id')::bigint) AS epsilon
  FROM jobs j WHERE job_name = 'regress_dp_retrain';
SELECT epsilon_spent, models FROM privacy_budget WHERE purpose = 'regress_dp';
-- one epsilon left: the active model spends 4 per retraining
SELECT set_privacy_budget('regress_dp', (SELECT epsilon_spent + 1 FROM privacy_budgets WHERE purpose = 'regress_dp'), 1e-5);
SELECT (run_job('regress_dp_retrain')).status;
SELECT last_status, last_result ->> 'skipped' AS skipped FROM jobs WHERE job_name = 'regress_dp_retrain';
-- an erasure the budget cannot pay a retraining for: the model trained with
-- the erased subject stops serving all the same (fail closed)
SELECT model_id AS active_before FROM models WHERE purpose = 'regress_dp' AND status = 'active' \gset
SELECT :active_before IN (SELECT jsonb_array_elements_text(erase_subject(9100001) -> 'models_marked')::bigint) AS active_marked;
SELECT (run_job('regress_dp_retrain')).status;
SELECT last_result ->> 'reason' AS reason, (last_result ->> 'retired_model')::bigint = :active_before AS retired_the_active,
       last_result ->> 'not_retrained' LIKE 'the privacy budget of purpose "regress_dp" has epsilon 1 %' AS why
  FROM jobs WHERE job_name = 'regress_dp_retrain';
SELECT status, status_reason LIKE 'retired after an erasure: no replacement could be trained (%' AS reason_given
  FROM models WHERE model_id = :active_before;
SELECT count(*) AS active_models FROM models WHERE purpose = 'regress_dp' AND status = 'active';
SELECT unschedule_job('regress_dp_retrain');

-- ---- cleanup -------------------------------------------------------------------------------
SELECT revoke_purpose('regress_dp_app', 'regress_dp');
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) FROM regress_dp_app;
DROP ROLE regress_dp_app;
DROP ROLE regress_dp_other;
