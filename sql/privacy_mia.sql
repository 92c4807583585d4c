-- privacy_mia: the membership-inference check every trained model goes
-- through, and the gate personalize.mia_max_auc puts on activation.  The
-- data is deterministic (hashes, not random()); attack figures depend on
-- floating-point summation order, so only their ranges are shown.
SET search_path = public, personalize;
SET client_min_messages = warning;

-- ---- 1. the setting: only a superuser may loosen it -----------------------------------------------
SHOW personalize.mia_max_auc;
CREATE ROLE regress_mia_app;
SET ROLE regress_mia_app;
SET personalize.mia_max_auc = 1;
SELECT set_config('personalize.mia_max_auc', '0.99', false);
RESET ROLE;
SHOW personalize.mia_max_auc;
SET personalize.mia_max_auc = 0.4;     -- below chance makes no sense
RESET personalize.mia_max_auc;

-- ---- 2. data ------------------------------------------------------------------------------------
-- sparse: 300 subjects with ~16 of 400 items each, no structure to learn,
-- so whatever a model knows of a subject's items it learned from them
SELECT create_purpose('regress_mia_sparse', 'MIA tests: sparse data', 'personalization', decides_terms => false);
-- planted: 1,000 subjects, each ~15 items of its own cluster of 20
SELECT create_purpose('regress_mia_planted', 'MIA tests: planted structure', 'personalization', decides_terms => false);
-- tiny: 12 subjects, too few to measure
SELECT create_purpose('regress_mia_tiny', 'MIA tests: too few subjects', 'personalization', decides_terms => false);
INSERT INTO items (item_id, category) SELECT 8800000 + i, 'mia' FROM generate_series(1, 400) i;
SELECT count(*) AS consents FROM (
	SELECT set_consent(8800000 + s, 'regress_mia_sparse', 'personalization') FROM generate_series(1, 300) s
	UNION ALL
	SELECT set_consent(8810000 + s, 'regress_mia_planted', 'personalization') FROM generate_series(1, 1000) s
	UNION ALL
	SELECT set_consent(8820000 + s, 'regress_mia_tiny', 'personalization') FROM generate_series(1, 12) s) t;
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at)
SELECT 8800000 + s, 8800000 + i, 'browsing_history', 'view', now() - interval '1 day'
  FROM generate_series(1, 300) s, generate_series(1, 400) i
 WHERE abs(hashint8(s * 1000 + i)) % 100 < 4;
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at)
SELECT 8810000 + s, 8800000 + i, 'browsing_history', 'view', now() - interval '1 day'
  FROM generate_series(1, 1000) s, generate_series(1, 200) i
 WHERE (i % 10 = s % 10 AND abs(hashint8(s * 1000 + i)) % 100 < 75)
    OR abs(hashint8(s * 1000 + i + 500)) % 100 < 1;
INSERT INTO interactions (subject_id, item_id, category, kind, occurred_at)
SELECT 8820000 + s, 8800000 + i, 'browsing_history', 'view', now() - interval '1 day'
  FROM generate_series(1, 12) s, generate_series(1, 30) i
 WHERE i % 3 = s % 3;

-- ---- 3. a deliberately overfit model is rejected, whatever "activate" says --------------------
-- many factors, (almost) no regularization, tiny sparse data
SELECT train('als', 'regress_mia_sparse', factors => 64, regularization => 0.00001, iterations => 30,
             seed => 7) AS overfit \gset
SELECT status, status_reason ~ '^membership-inference attack AUC 0\.[0-9]+ exceeds personalize\.mia_max_auc 0\.97$' AS reason
  FROM models WHERE model_id = :overfit;
SELECT mi ->> 'ran' AS ran, mi ->> 'passed' AS passed, (mi ->> 'auc')::float8 > current_setting('personalize.mia_max_auc')::float8 AS over_limit,
       (mi ->> 'max_auc')::float8 AS max_auc, mi ->> 'attack' IN ('split', 'self') AS attack_named,
       (mi ->> 'members')::int = (mi ->> 'non_members')::int AS balanced,
       (mi ->> 'non_members')::int AS non_members, (mi ->> 'eligible_subjects')::int AS eligible,
       (mi ->> 'shadow_models')::int AS shadow_models
  FROM (SELECT model_card(:overfit) -> 'privacy' -> 'membership_inference' AS mi) c;
-- the attack proves a lower bound on epsilon: far from private
SELECT (model_card(:overfit) -> 'privacy' -> 'membership_inference' ->> 'empirical_epsilon')::float8 > 2
       AS proves_epsilon_above_2;
-- every figure is a share
SELECT bool_and(v::float8 BETWEEN 0 AND 1) AS in_unit_range, count(*) AS figures
  FROM (SELECT model_card(:overfit) -> 'privacy' -> 'membership_inference' AS mi) c,
       LATERAL (VALUES (mi ->> 'auc'), (mi ->> 'tpr_at_1pct_fpr'), (mi ->> 'tpr_at_0_1pct_fpr'),
                       (mi -> 'auc_by_attack' ->> 'split'), (mi -> 'auc_by_attack' ->> 'self'),
                       (mi ->> 'auc_stderr')) f(v);
SELECT (mi ->> 'check_ms')::float8 >= 0 AS timed,
       (mi ->> 'auc')::float8 = greatest((mi -> 'auc_by_attack' ->> 'split')::float8,
                                         (mi -> 'auc_by_attack' ->> 'self')::float8) AS stronger_reported
  FROM (SELECT model_card(:overfit) -> 'privacy' -> 'membership_inference' AS mi) c;
-- "always" and "never" do not get past it either
SELECT train('als', 'regress_mia_sparse', factors => 64, regularization => 0.00001, iterations => 30,
             seed => 7, activate => 'always') AS always \gset
SELECT train('als', 'regress_mia_sparse', factors => 64, regularization => 0.00001, iterations => 30,
             seed => 7, activate => 'never') AS never \gset
SELECT model_id = :always AS is_always, status FROM models WHERE model_id IN (:always, :never) ORDER BY model_id;
SELECT count(*) AS active_sparse FROM models WHERE purpose = 'regress_mia_sparse' AND status = 'active';
-- nor does a person: activate_model refuses
SELECT set_config('regress.overfit', :'overfit', false) IS NOT NULL AS noted;
DO $$
BEGIN
	PERFORM personalize.activate_model(current_setting('regress.overfit')::bigint);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE WARNING 'activate_model refused a model that failed the check (%): %', SQLSTATE,
		regexp_replace(SQLERRM, '[0-9]+(\.[0-9]+)?', 'n', 'g');
END $$;

-- ---- 4. a well-regularized model on planted structure passes and is activated --------------------
SELECT train('als', 'regress_mia_planted', regularization => 10, seed => 7, params => '{"reg_exponent": 0}') AS planted \gset
SELECT status, status_reason, (metrics ->> 'ndcg_at_k')::float8 > 0.3 AS learned_the_structure,
       privacy -> 'membership_inference' ->> 'passed' AS passed,
       (privacy -> 'membership_inference' ->> 'auc')::float8 <= current_setting('personalize.mia_max_auc')::float8 AS within_limit,
       (privacy -> 'membership_inference' ->> 'non_members')::int AS non_members,
       (privacy -> 'membership_inference' ->> 'shadow_models')::int AS shadow_models
  FROM models WHERE model_id = :planted;
-- on the same data the check ranks memorisation: item-kNN keeping every
-- co-occurring item leaks more than the regularized ALS
SELECT train('itemknn', 'regress_mia_planted', neighbors => 200, seed => 7, activate => 'never') AS knn \gset
SELECT (k.privacy -> 'membership_inference' ->> 'auc')::float8
       > (a.privacy -> 'membership_inference' ->> 'auc')::float8 AS knn_leaks_more
  FROM models k, models a WHERE k.model_id = :knn AND a.model_id = :planted;
-- every algorithm is checked, the same seed gives the same figures
SELECT train('popularity', 'regress_mia_planted', seed => 7, activate => 'never') AS pop1 \gset
SELECT train('popularity', 'regress_mia_planted', seed => 7, activate => 'never') AS pop2 \gset
SELECT train('rp3beta', 'regress_mia_planted', seed => 7, activate => 'never') AS rp3 \gset
SELECT algorithm, privacy -> 'membership_inference' ->> 'ran' AS ran
  FROM models WHERE model_id IN (:pop1, :rp3) ORDER BY model_id;
SELECT (a.privacy -> 'membership_inference') - 'check_ms' = (b.privacy -> 'membership_inference') - 'check_ms' AS reproducible
  FROM models a, models b WHERE a.model_id = :pop1 AND b.model_id = :pop2;
-- a superuser may loosen the limit for the next training; the card records the limit used
SET personalize.mia_max_auc = 1;
SELECT train('als', 'regress_mia_sparse', factors => 64, regularization => 0.00001, iterations => 30,
             seed => 7, activate => 'never') AS loosened \gset
SELECT status, privacy -> 'membership_inference' ->> 'passed' AS passed,
       (privacy -> 'membership_inference' ->> 'max_auc')::float8 AS max_auc
  FROM models WHERE model_id = :loosened;
RESET personalize.mia_max_auc;

-- ---- 5. too few subjects: not run, and the gate does not reject --------------------------------
SELECT train('als', 'regress_mia_tiny', factors => 4, seed => 7) AS tiny \gset
SELECT status, privacy -> 'membership_inference' ->> 'ran' AS ran,
       privacy -> 'membership_inference' ->> 'reason' AS reason,
       privacy -> 'membership_inference' ->> 'passed' AS passed
  FROM models WHERE model_id = :tiny;

-- ---- 6. retrain job, erasure, rejection: the old model leaves serving ----------------------------
-- a model of the sparse data, active under a loosened limit
SET personalize.mia_max_auc = 1;
SELECT train('als', 'regress_mia_sparse', factors => 64, regularization => 0.00001, iterations => 30,
             seed => 7) AS served \gset
RESET personalize.mia_max_auc;
SELECT status FROM models WHERE model_id = :served;
SELECT count(*) > 0 AS serves FROM recommend(8800001, k => 3, purpose => 'regress_mia_sparse', exploration => 0);
SELECT schedule_job('mia_retrain', 'retrain', '1 day', '{"purpose": "regress_mia_sparse"}', first_run => now() + interval '1 day');
SELECT erase_subject(8800001) -> 'models_marked' @> to_jsonb(:served) AS marked;
-- the retrained version (same parameters, without the subject) fails the
-- check at the default limit: the old model is retired all the same
SELECT status, result ->> 'reason' AS reason, result ->> 'status' AS new_status,
       (result ->> 'retired_model')::bigint = :served AS retired_the_old,
       regexp_replace(result ->> 'serving', '[0-9]+', 'n', 'g') AS serving
  FROM run_job('mia_retrain');
SELECT status, regexp_replace(status_reason, '[0-9]+', 'n', 'g') AS status_reason,
       (SELECT count(*) FROM model_item_factors f WHERE f.model_id = m.model_id) AS parameters
  FROM models m WHERE model_id = :served;
SELECT count(*) AS active_sparse FROM models WHERE purpose = 'regress_mia_sparse' AND status = 'active';
-- fail closed: nothing serves the purpose until a person acts
SELECT count(*) FROM recommend(8800002, k => 3, purpose => 'regress_mia_sparse', exploration => 0);
-- and no rollback brings back a model that failed the check or lost its parameters
SELECT rollback_model('regress_mia_sparse');
SELECT unschedule_job('mia_retrain');

-- ---- clean up ---------------------------------------------------------------------------------------
DROP ROLE regress_mia_app;
