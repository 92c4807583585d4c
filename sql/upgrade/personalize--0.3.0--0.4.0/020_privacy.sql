-- Private models: a differential-privacy budget per purpose, spent by
-- training with dp_epsilon (see src/privacy/).  Every model trained on the
-- same subjects adds to what can be learned about them, so spending adds
-- up (basic composition: epsilons and deltas sum) and never comes back.  The
-- spending is written in the transaction that writes the model version:
-- a training that fails or is rolled back spent nothing.

CREATE TABLE privacy_budgets (
	purpose       text PRIMARY KEY REFERENCES purposes (name) ON UPDATE CASCADE,
	epsilon       float8 NOT NULL CHECK (epsilon > 0 AND epsilon <= 1000),
	delta         float8 NOT NULL CHECK (delta > 0 AND delta < 1),
	epsilon_spent float8 NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
	delta_spent   float8 NOT NULL DEFAULT 0 CHECK (delta_spent >= 0),
	set_at        timestamptz NOT NULL DEFAULT now(),
	set_by        name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE privacy_budgets IS 'the differential-privacy budget of each purpose that has one: what its models may spend in total, and what they spent';
COMMENT ON COLUMN privacy_budgets.purpose IS 'the purpose whose models the budget limits';
COMMENT ON COLUMN privacy_budgets.epsilon IS 'total epsilon the purpose''s models may spend';
COMMENT ON COLUMN privacy_budgets.delta IS 'total delta the purpose''s models may spend';
COMMENT ON COLUMN privacy_budgets.epsilon_spent IS 'epsilon spent so far (the sum of privacy_spending, kept here so that concurrent trainings queue on this row)';
COMMENT ON COLUMN privacy_budgets.delta_spent IS 'delta spent so far';
COMMENT ON COLUMN privacy_budgets.set_at IS 'when the budget was last set';
COMMENT ON COLUMN privacy_budgets.set_by IS 'who last set it';

CREATE TABLE privacy_spending (
	spend_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	purpose  text NOT NULL,
	model_id bigint NOT NULL,
	epsilon  float8 NOT NULL CHECK (epsilon > 0),
	delta    float8 NOT NULL CHECK (delta > 0),
	spent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX privacy_spending_purpose ON privacy_spending (purpose);
COMMENT ON TABLE privacy_spending IS 'every private training and what it spent: kept when a budget is dropped, and counted again when one is set';
COMMENT ON COLUMN privacy_spending.spend_id IS 'order of spending';
COMMENT ON COLUMN privacy_spending.purpose IS 'the purpose whose budget paid';
COMMENT ON COLUMN privacy_spending.model_id IS 'the model version trained (personalize.models)';
COMMENT ON COLUMN privacy_spending.epsilon IS 'epsilon the training spent';
COMMENT ON COLUMN privacy_spending.delta IS 'delta the training spent';
COMMENT ON COLUMN privacy_spending.spent_at IS 'when the training began';

GRANT SELECT ON privacy_budgets, privacy_spending TO PUBLIC;
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['privacy_budgets', 'privacy_spending']::regclass[]) t;
SELECT pg_catalog.pg_extension_config_dump('privacy_budgets', '');
SELECT pg_catalog.pg_extension_config_dump('privacy_spending', '');
SELECT pg_catalog.pg_extension_config_dump('privacy_spending_spend_id_seq', '');

CREATE VIEW privacy_budget AS
SELECT b.purpose,
       b.epsilon, b.epsilon_spent, greatest(b.epsilon - b.epsilon_spent, 0) AS epsilon_remaining,
       b.delta, b.delta_spent, greatest(b.delta - b.delta_spent, 0) AS delta_remaining,
       (SELECT count(*) FROM @extschema@.privacy_spending s WHERE s.purpose = b.purpose) AS models,
       (SELECT max(s.spent_at) FROM @extschema@.privacy_spending s WHERE s.purpose = b.purpose) AS last_spent_at
  FROM @extschema@.privacy_budgets b;
GRANT SELECT ON privacy_budget TO PUBLIC;
COMMENT ON VIEW privacy_budget IS 'each purpose''s privacy budget: total, spent and remaining epsilon and delta, and how many private models spent it';
COMMENT ON COLUMN privacy_budget.purpose IS 'the purpose';
COMMENT ON COLUMN privacy_budget.epsilon IS 'total epsilon';
COMMENT ON COLUMN privacy_budget.epsilon_spent IS 'epsilon spent by its private models';
COMMENT ON COLUMN privacy_budget.epsilon_remaining IS 'epsilon a training may still spend (0 when the total was lowered below what was spent)';
COMMENT ON COLUMN privacy_budget.delta IS 'total delta';
COMMENT ON COLUMN privacy_budget.delta_spent IS 'delta spent';
COMMENT ON COLUMN privacy_budget.delta_remaining IS 'delta a training may still spend';
COMMENT ON COLUMN privacy_budget.models IS 'private models trained on it, ever';
COMMENT ON COLUMN privacy_budget.last_spent_at IS 'when it was last spent';

CREATE FUNCTION check_privacy_figures(epsilon float8, delta float8) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF epsilon IS NULL OR delta IS NULL THEN
		RAISE EXCEPTION 'epsilon and delta must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT (epsilon > 0 AND epsilon <= 1000) OR NOT (delta > 0 AND delta < 1) THEN
		RAISE EXCEPTION 'a privacy budget needs epsilon in (0, 1000] and delta in (0, 1), not % and %', epsilon, delta
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example: personalize.set_privacy_budget(''recommendation'', 8, 1e-5).';
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_privacy_figures(float8, float8) FROM PUBLIC;
COMMENT ON FUNCTION check_privacy_figures(float8, float8) IS 'an error unless epsilon and delta make a privacy budget';

-- Setting a budget again changes its totals, never what was spent: a new
-- budget starts from everything the purpose's private models ever spent.
CREATE FUNCTION set_privacy_budget(purpose text, epsilon float8, delta float8 DEFAULT 1e-5)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	PERFORM @extschema@.check_privacy_figures(epsilon, delta);
	INSERT INTO @extschema@.privacy_budgets AS b (purpose, epsilon, delta, epsilon_spent, delta_spent, set_by)
	SELECT set_privacy_budget.purpose, set_privacy_budget.epsilon, set_privacy_budget.delta,
	       coalesce(sum(s.epsilon), 0), coalesce(sum(s.delta), 0), session_user
	  FROM @extschema@.privacy_spending s WHERE s.purpose = set_privacy_budget.purpose
	ON CONFLICT ON CONSTRAINT privacy_budgets_pkey DO UPDATE
	   SET epsilon = excluded.epsilon, delta = excluded.delta, set_at = now(), set_by = session_user;
END $$;
REVOKE ALL ON FUNCTION set_privacy_budget(text, float8, float8) FROM PUBLIC;
COMMENT ON FUNCTION set_privacy_budget(text, float8, float8) IS 'set the total epsilon and delta the purpose''s private models may spend (what was spent stays spent); from then on its models must be trained with dp_epsilon';

CREATE FUNCTION drop_privacy_budget(purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	DELETE FROM @extschema@.privacy_budgets b WHERE b.purpose = drop_privacy_budget.purpose;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'purpose "%" has no privacy budget to drop', purpose
			USING ERRCODE = 'undefined_object', HINT = 'Budgets are listed in personalize.privacy_budget.';
	END IF;
END $$;
REVOKE ALL ON FUNCTION drop_privacy_budget(text) FROM PUBLIC;
COMMENT ON FUNCTION drop_privacy_budget(text) IS 'remove a purpose''s privacy budget: its models may be trained without differential privacy again (privacy_spending keeps what was spent)';

-- Called by training, as it begins: the budget row is updated (not only
-- read), so that a concurrent training of the same purpose waits for this
-- one to commit or roll back and then sees what it spent, at any isolation
-- level (REPEATABLE READ and SERIALIZABLE fail it instead).
CREATE FUNCTION spend_privacy_budget(purpose text, model bigint, epsilon float8, delta float8)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b @extschema@.privacy_budgets;
BEGIN
	IF epsilon IS NULL THEN
		IF EXISTS (SELECT 1 FROM @extschema@.privacy_budgets p WHERE p.purpose = spend_privacy_budget.purpose) THEN
			RAISE EXCEPTION 'purpose "%" has a privacy budget: its models must be trained with differential privacy', purpose
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = format('Train with dp_epsilon (what remains is in personalize.privacy_budget), or remove the budget with personalize.drop_privacy_budget(%L).', purpose);
		END IF;
		RETURN;
	END IF;
	UPDATE @extschema@.privacy_budgets p
	   SET epsilon_spent = p.epsilon_spent + spend_privacy_budget.epsilon,
	       delta_spent = p.delta_spent + spend_privacy_budget.delta
	 WHERE p.purpose = spend_privacy_budget.purpose
	RETURNING * INTO b;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'purpose "%" has no privacy budget', purpose
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = format('An administrator sets one first, e.g. SELECT personalize.set_privacy_budget(%L, 8);', purpose);
	END IF;
	IF b.epsilon_spent > b.epsilon * (1 + 1e-12) OR b.delta_spent > b.delta * (1 + 1e-12) THEN
		RAISE EXCEPTION 'training with epsilon % and delta % would exceed the privacy budget of purpose "%"', epsilon, delta, purpose
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = format('Spent before: epsilon %s of %s, delta %s of %s.',
			                      round((b.epsilon_spent - epsilon)::numeric, 6)::float8, b.epsilon,
			                      (b.delta_spent - delta)::real, b.delta),
			      HINT = format('Train with dp_epsilon at most %s, or raise the budget with personalize.set_privacy_budget() if that is a decision you can defend.',
			                    round(greatest(b.epsilon - b.epsilon_spent + epsilon, 0)::numeric, 6)::float8);
	END IF;
	INSERT INTO @extschema@.privacy_spending (purpose, model_id, epsilon, delta)
	VALUES (spend_privacy_budget.purpose, model, epsilon, delta);
END $$;
REVOKE ALL ON FUNCTION spend_privacy_budget(text, bigint, float8, float8) FROM PUBLIC;
COMMENT ON FUNCTION spend_privacy_budget(text, bigint, float8, float8) IS 'training: spend epsilon and delta of the purpose''s budget on a model, or refuse (NULL epsilon: refuse a non-private training of a purpose with a budget)';

CREATE FUNCTION dp_noise_scale(epsilon float8, delta float8, sensitivity float8, releases integer DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'pz_dp_noise_scale' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dp_noise_scale(float8, float8, float8, integer) IS 'the Gaussian noise standard deviation private training uses for (epsilon, delta) over releases of the given L2 sensitivity: sensitivity * sqrt(releases / (2 rho)), rho = (sqrt(epsilon + ln(1/delta)) - sqrt(ln(1/delta)))^2';

-- What the retrain job asks before it trains: NULL when the purpose's
-- budget (or its absence) allows a training with these parameters, or why
-- not, in words for the job's result.
CREATE FUNCTION privacy_budget_refusal(purpose text, params jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
	         WHEN b.purpose IS NULL AND params ? 'dp_epsilon'
	           THEN format('purpose "%s" has no privacy budget for a private model', purpose)
	         WHEN b.purpose IS NULL THEN NULL
	         WHEN NOT params ? 'dp_epsilon'
	           THEN format('purpose "%s" has a privacy budget and the model to retrain is not private', purpose)
	         WHEN (params ->> 'dp_epsilon')::float8 > b.epsilon_remaining * (1 + 1e-12)
	           OR coalesce((params ->> 'dp_delta')::float8, 1e-6) > b.delta_remaining * (1 + 1e-12)
	           THEN format('the privacy budget of purpose "%s" has epsilon %s and delta %s left, a retraining needs %s and %s',
	                       purpose, round(b.epsilon_remaining::numeric, 6)::float8, b.delta_remaining::real,
	                       params ->> 'dp_epsilon', coalesce(params ->> 'dp_delta', '1e-06'))
	       END
	  FROM (SELECT 1) one
	  LEFT JOIN @extschema@.privacy_budget b ON b.purpose = privacy_budget_refusal.purpose
$$;
REVOKE ALL ON FUNCTION privacy_budget_refusal(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION privacy_budget_refusal(text, jsonb) IS 'retrain job: why the purpose''s privacy budget would refuse a training with these parameters, or NULL';
