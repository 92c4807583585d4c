-- errors: one error, one SQLSTATE, whichever function meets it (the table
-- in the README).  Each case prints "SQLSTATE: message"; cases are grouped
-- by the row of the table they belong to.
SET search_path = public, personalize;
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ': ' || msg;
END $$;

-- an active popularity model for "recommendation", none for "marketing"
INSERT INTO items (item_id, category) VALUES (970001, 'err_books'), (970002, 'err_books'), (970003, 'err_music');
SELECT set_consent(970001, 'recommendation', 'personalization');
SELECT track(970001, i, 'browsing_history') FROM generate_series(970001, 970003) i;
SELECT set_consent(970002, 'recommendation', 'personalization');
SELECT track(970002, 970001, 'browsing_history');
SELECT train('popularity', seed => 1, activate => 'always') AS model \gset

SELECT kind, q AS statement, pg_temp.try(q) AS result
  FROM (VALUES
	-- 22004: a NULL where a value is required
	(1, 'null', $$SELECT * FROM recommend(970001, k => NULL)$$),
	(2, 'null', $$SELECT * FROM recommend(NULL)$$),
	(3, 'null', $$SELECT set_consent(970001, NULL, 'personalization')$$),
	(4, 'null', $$SELECT track(970001, 970001, NULL)$$),
	(5, 'null', $$SELECT model_card(NULL)$$),
	(6, 'null', $$SELECT activate_model(NULL)$$),
	(7, 'null', $$SELECT feedback(970001, 970001, NULL)$$),
	(8, 'null', $$SELECT feedback(970001, 970001, 1, 'recommendation', NULL)$$),
	(9.1, 'null', $$SELECT erase_subject(NULL)$$),
	(9.2, 'null', $$SELECT export_subject(NULL)$$),
	(9.3, 'null', $$SELECT reset_subject(NULL)$$),
	(9.4, 'null', $$SELECT opt_out(970001, NULL)$$),
	-- 42704: a purpose, category, model or item nobody registered
	(10, 'unknown purpose', $$SELECT set_config('personalize.purpose', 'no_such_purpose', true)$$),
	(11, 'unknown purpose', $$SELECT set_consent(970001, 'no_such_purpose', 'personalization')$$),
	(12, 'unknown purpose', $$SELECT consent_of(970001, 'no_such_purpose')$$),
	(13, 'unknown purpose', $$SELECT * FROM recommend(970001, purpose => 'no_such_purpose')$$),
	(14, 'unknown purpose', $$SELECT * FROM bandit_arms('no_such_purpose')$$),
	(15, 'unknown purpose', $$SELECT train('popularity', purpose => 'no_such_purpose')$$),
	(16, 'unknown purpose', $$SELECT rollback_model('no_such_purpose')$$),
	(17, 'unknown purpose', $$SELECT revoke_purpose('pg_monitor', 'no_such_purpose')$$),
	(18, 'unknown purpose', $$SELECT create_purpose('no_such_purpose.child', 'x', 'enhanced', inherit => true)$$),
	(19, 'unknown purpose', $$SELECT opt_out(970001, 'location', 'no_such_purpose')$$),
	(19.1, 'unknown purpose', $$SELECT set_privacy_budget('no_such_purpose', 8)$$),
	(19.2, 'no budget to drop', $$SELECT drop_privacy_budget('recommendation')$$),
	(20, 'unknown category', $$SELECT set_consent(970001, 'recommendation', 'enhanced', '{no_such_category}')$$),
	(21, 'unknown category', $$SELECT make_consent('enhanced', '{no_such_category}')$$),
	(22, 'unknown category', $$SELECT make_consent('enhanced', deny => '{no_such_category}')$$),
	(23, 'unknown category', $$SELECT 'functional'::consent + 'no_such_category'$$),
	(24, 'unknown category', $$SELECT 'enhanced'::consent - 'no_such_category'$$),
	(25, 'unknown category', $$SELECT track(970001, 970001, 'no_such_category')$$),
	(25.1, 'unknown category', $$SELECT opt_out(970001, 'no_such_category')$$),
	(26, 'unknown item category', $$SELECT * FROM recommend(970001, category => 'no_such_category')$$),
	(30, 'unknown model', $$SELECT model_card(999999)$$),
	(31, 'unknown model', $$SELECT activate_model(999999)$$),
	(32, 'unknown model', $$SELECT subject_factors(999999, 970001)$$),
	(33, 'unknown item', $$SELECT * FROM explain(970001, 424242)$$),
	(34, 'unknown item', $$SELECT feedback(970001, 424242)$$),
	-- 42602: a malformed name
	(40, 'bad name', $$SELECT set_config('personalize.purpose', 'Not Valid', true)$$),
	(41, 'bad name', $$SELECT * FROM recommend(970001, purpose => 'Not Valid')$$),
	(42, 'bad name', $$SELECT set_consent(970001, 'Not Valid', 'personalization')$$),
	(43, 'bad name', $$SELECT create_purpose('Not Valid', 'x', 'enhanced')$$),
	(44, 'bad name', $$SELECT make_consent('enhanced', '{Location}')$$),
	(45, 'bad name', $$SELECT track(970001, 970001, 'session', 'Bad Kind')$$),
	(46, 'bad name', $$SELECT track_many('{970001}', '{970001}', '{session}', '{Bad Kind}')$$),
	(47, 'bad name', $$SELECT feedback(970001, 970001, 1, 'recommendation', 'Bad Kind')$$),
	(48, 'bad name', $$SELECT opt_out(970001, 'location', 'Not Valid')$$),
	-- 42710: already exists
	(50, 'exists', $$SELECT create_purpose('recommendation', 'again', 'enhanced', decides_terms => false)$$),
	-- 22023: a value outside what the parameter allows
	(60, 'bad value', $$SELECT * FROM recommend(970001, k => 0)$$),
	(61, 'bad value', $$SELECT * FROM recommend(970001, diversity => 2)$$),
	(62, 'bad value', $$SELECT train('no_such_algorithm')$$),
	(63, 'bad value', $$SELECT train('popularity', params => '{"iteration": 3}')$$),
	(64, 'bad value', $$SELECT train('popularity', params => '[1]')$$),
	(65, 'bad value', $$SELECT train('popularity', half_life => '-1 day')$$),
	(66, 'bad value', $$SELECT train('popularity', half_life => '0')$$),
	(67, 'bad value', $$SELECT train('popularity', params => '{"half_life_days": -3}')$$),
	(68, 'bad value', $$SELECT feedback(970001, 970001, 2)$$),
	(69.1, 'bad value', $$SELECT train('popularity', dp_epsilon => 0)$$),
	(69.2, 'bad value', $$SELECT train('als', dp_epsilon => 1, tune => true)$$),
	(69.3, 'bad value', $$SELECT set_privacy_budget('recommendation', -1)$$),
	(69.4, 'bad value', $$SELECT dp_noise_scale(1, 2, 1)$$),
	(69.5, 'bad value', $$SELECT train('ease', params => '{"max_items": 0}')$$),
	(69.6, 'bad value', $$SELECT train('ease', regularization => 0)$$),
	-- 55000: not in a state to do it
	(70, 'state', $$SELECT * FROM recommend(970001, purpose => 'marketing')$$),
	(71, 'state', $$SELECT rollback_model('marketing')$$),
	(72, 'state', $$SELECT train('popularity', dp_epsilon => 1)$$),
	(75, 'not supported', $$SELECT train('rp3beta', dp_epsilon => 1)$$),
	(76, 'not supported', $$SELECT train('ease', dp_epsilon => 1)$$),
	-- 22P02 text input, 22P03 binary input (never 08P01, a protocol error)
	(80, 'text input', $$SELECT '[1,2'::embedding$$),
	(81, 'text input', $$SELECT 'personalization+Location'::consent$$),
	(82, 'binary input', $$SELECT embedding_from_binary('\x0001')$$),
	(83, 'binary input', $$SELECT embedding_from_binary('\x00020000' || float4send(1))$$),
	(84, 'binary input', $$SELECT embedding_from_binary('\x00010001' || float4send(1))$$),
	(85, 'binary input', $$SELECT embedding_from_binary('\x00010000' || float4send(1) || '\x00')$$),
	(86, 'binary input', $$SELECT embedding8_from_binary('\x000100')$$),
	(87, 'binary input', $$SELECT embedding8_from_binary('\x00020000' || float4send(1) || '\x01')$$)
	) t(n, kind, q)
 ORDER BY n;

-- what the errors leave alone
SELECT model_card(:model) ->> 'algorithm' AS card_of_an_existing_model;
SELECT make_consent('enhanced', '{location}', '{session}') AS registered_categories;
SELECT count(*) AS rows_in_a_category FROM recommend(970001, category => 'err_music', exploration => 0, exclude_seen => false);
SELECT train('popularity', purpose => 'recommendation', seed => 2, half_life => '7 days', activate => 'never') > :model AS half_life_positive;
-- a bound is a bound as the parameter's type holds it: the smallest regularization is accepted
SELECT train('als', seed => 4, factors => 2, regularization => 0.000001, activate => 'never') > :model AS smallest_regularization;
SELECT train('rp3beta', seed => 4, alpha => 0.01, activate => 'never') > :model AS smallest_rp3beta_alpha;
-- keys of another algorithm are not an error (the retrain job passes the
-- active model's parameters to whatever algorithm it names)
SELECT train('popularity', seed => 3, activate => 'never', params => '{"factors": 8}') > :model AS other_algorithms_keys;

-- The binary form of a consent (binary COPY, binary parameters): its text
-- and a NUL.  A value without the NUL, or with bad text, is 22P03.
CREATE TEMP TABLE consent_copy (c consent);
CREATE FUNCTION pg_temp.copy_binary(field bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	data bytea := decode('5047434f50590aff0d0a00', 'hex') || int4send(0) || int4send(0)
	              || int2send(1::int2) || int4send(length(field)) || field || int2send(-1::int2);
	cmd text;
BEGIN
	-- printf with octal escapes writes the bytes of a binary COPY file
	SELECT 'printf ''' || string_agg('\' || (b / 64)::text || (b / 8 % 8)::text || (b % 8)::text, '' ORDER BY i) || ''''
	  INTO cmd
	  FROM (SELECT i, get_byte(data, i) AS b FROM generate_series(0, length(data) - 1) i) s;
	RETURN pg_temp.try(format('COPY pg_temp.consent_copy FROM PROGRAM %L (FORMAT binary)', cmd));
END $$;
SELECT pg_temp.copy_binary(convert_to('personalization+location', 'UTF8') || '\x00'::bytea) AS with_nul,
       pg_temp.copy_binary(convert_to('personalization+location', 'UTF8')) AS without_nul,
       pg_temp.copy_binary(convert_to('personalization+Location', 'UTF8') || '\x00'::bytea) AS bad_text;
SELECT c FROM consent_copy;
