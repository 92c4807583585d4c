-- consent_layout: visibility must not depend on how subject ids are laid out
-- (dense, sparse, negative, at the int64 limits), on how many distinct
-- consents there are, or on category names sharing a prefix.  Expected rows
-- are computed here by plain SQL that does not involve the extension.
SET search_path = public, personalize;
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE ROLE regress_pz_lay_app;
SELECT grant_purpose('regress_pz_lay_app', p) FROM unnest(ARRAY['recommendation', 'marketing', 'analytics']) p;
INSERT INTO items (item_id) VALUES (601);

-- 1. sparse ids at the limits of bigint, under marketing: every subject has a
-- session and a purchase_history row; personalization allows both.
--   consented: min, -1, 2^62, max            -> 8 rows
--   0 never consented, 1 withdrawn, min+1 and max-1 never consented
CREATE TEMP TABLE sparse (s bigint, consented boolean);
INSERT INTO sparse VALUES (-9223372036854775808, true), (-9223372036854775807, false), (-1, true),
	(0, false), (1, false), (4611686018427387904, true), (9223372036854775806, false),
	(9223372036854775807, true);
SELECT count(*) FROM (SELECT track(s, 601, c) FROM sparse, unnest(ARRAY['session', 'purchase_history']) c) t;
SELECT count(*) FROM (SELECT set_consent(s, 'marketing', 'personalization') FROM sparse WHERE consented OR s = 1) t;
SELECT withdraw_consent(1, 'marketing');
GRANT SELECT ON sparse TO regress_pz_lay_app;
SET ROLE regress_pz_lay_app;
SET personalize.purpose = 'marketing';
SELECT subject_id, count(*) FROM interactions GROUP BY 1 ORDER BY 1;
SELECT (SELECT count(*) FROM interactions) AS visible, (SELECT 2 * count(*) FROM sparse WHERE consented) AS expected;
RESET ROLE;

-- 2. dense ids under recommendation: subjects 1001..1100, odd ones
-- functional (session only), even ones personalization (session and
-- browsing_history); 1000 and 1101, just outside, never consented.
SELECT count(*) FROM (SELECT track(s, 601, c) FROM generate_series(1000, 1101) s,
	unnest(ARRAY['session', 'browsing_history']) c) t;
SELECT count(*) FROM (SELECT set_consent(s, 'recommendation',
	CASE WHEN s % 2 = 1 THEN 'functional' ELSE 'personalization' END::consent_tier)
	FROM generate_series(1001, 1100) s) t;
SET ROLE regress_pz_lay_app;
SET personalize.purpose = 'recommendation';
SELECT (SELECT count(*) FROM interactions) AS visible, 50 * 1 + 50 * 2 AS expected;
SELECT subject_id, count(*) FROM interactions WHERE subject_id IN (1000, 1001, 1002, 1099, 1100, 1101)
 GROUP BY 1 ORDER BY 1;
-- and the same after a single change in the middle of the range
RESET ROLE;
SELECT withdraw_consent(1050, 'recommendation');
SET ROLE regress_pz_lay_app;
SELECT (SELECT count(*) FROM interactions) AS visible, 150 - 2 AS expected;
RESET ROLE;

-- 3. many distinct consents under analytics: nine tier 2 categories whose
-- names share their first 8 bytes; subject 2000 + s grants exactly the
-- categories whose bit is set in s (tier functional: nothing else).
INSERT INTO signal_categories (name, tier, justification)
	SELECT 'regress_lay_m' || i, 2, 'test' FROM generate_series(0, 8) i;
SELECT count(*) FROM (SELECT track(2000 + s, 601, 'regress_lay_m' || i)
	FROM generate_series(0, 299) s, generate_series(0, 8) i) t;
CREATE TEMP TABLE want (subject_id bigint, category text);
CREATE FUNCTION pg_temp.consent_bits(lo int, hi int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		SELECT personalize.set_consent(2000 + s, 'analytics', 'functional',
			ARRAY(SELECT 'regress_lay_m' || i FROM generate_series(0, 8) i WHERE s & (1 << i) <> 0))
		  FROM generate_series(lo, hi) s) t
$$;
-- 200 distinct consents first (few enough for a compact layout) ...
SELECT pg_temp.consent_bits(0, 199);
INSERT INTO want SELECT 2000 + s, 'regress_lay_m' || i FROM generate_series(0, 199) s, generate_series(0, 8) i
 WHERE s & (1 << i) <> 0;
GRANT SELECT ON want TO regress_pz_lay_app;
SET ROLE regress_pz_lay_app;
SET personalize.purpose = 'analytics';
SELECT (SELECT count(*) FROM interactions) AS visible, (SELECT count(*) FROM want) AS expected,
       (SELECT sum(bit_count(s::bit(9))) FROM generate_series(0, 199) s) AS by_popcount;
SELECT count(*) AS mismatches
  FROM (SELECT subject_id, category FROM interactions) v FULL JOIN want w USING (subject_id, category)
 WHERE v.subject_id IS NULL OR w.subject_id IS NULL;
RESET ROLE;
-- ... then 300 (more distinct consents than a compact layout holds)
SELECT pg_temp.consent_bits(200, 299);
INSERT INTO want SELECT 2000 + s, 'regress_lay_m' || i FROM generate_series(200, 299) s, generate_series(0, 8) i
 WHERE s & (1 << i) <> 0;
SET ROLE regress_pz_lay_app;
SELECT (SELECT count(*) FROM interactions) AS visible, (SELECT count(*) FROM want) AS expected,
       (SELECT sum(bit_count(s::bit(9))) FROM generate_series(0, 299) s) AS by_popcount;
SELECT count(*) AS mismatches
  FROM (SELECT subject_id, category FROM interactions) v FULL JOIN want w USING (subject_id, category)
 WHERE v.subject_id IS NULL OR w.subject_id IS NULL;
RESET ROLE;

-- 4. category values that are near misses of registered names never match.
-- 1002 consented to recommendation at personalization: session, the tier 2
-- built-ins and, since it is registered as tier 2 now, regress_lay_m0.
CREATE TABLE regress_pz_lay_t (subject bigint, cat text);
INSERT INTO regress_pz_lay_t VALUES (1002, 'session'), (1002, 'sessio'), (1002, 'sessionx'), (1002, 'Session'),
	(1002, 'session '), (1002, 'browsing_history'), (1002, 'browsing_histor'), (1002, 'browsing_historyx'),
	(1002, 'browsing_hixtory'), (1002, 'browsinG_history'), (1002, ''), (1002, 'regress_lay_m0');
GRANT SELECT ON regress_pz_lay_t TO regress_pz_lay_app;
SELECT protect('regress_pz_lay_t', 'subject', 'cat');
SET ROLE regress_pz_lay_app;
SET personalize.purpose = 'recommendation';
SELECT cat FROM regress_pz_lay_t ORDER BY cat COLLATE "C";
RESET ROLE;
RESET personalize.purpose;

-- clean up
SELECT unprotect('regress_pz_lay_t');
DROP TABLE regress_pz_lay_t;
DELETE FROM interactions WHERE item_id = 601;
DELETE FROM consents WHERE subject_id IN (SELECT s FROM sparse) OR subject_id BETWEEN 1000 AND 2299;
DELETE FROM signal_categories WHERE name LIKE 'regress_lay_m%';
DELETE FROM items WHERE item_id = 601;
SELECT revoke_purpose('regress_pz_lay_app', p) FROM unnest(ARRAY['recommendation', 'marketing', 'analytics']) p;
DROP OWNED BY regress_pz_lay_app;
DROP ROLE regress_pz_lay_app;
