-- consent_type: the consent type, its canonical text form, its operators and
-- the tier rules, checked against a truth table worked out by hand.
SET search_path = public, personalize;

-- errors as one line: SQLSTATE and message
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the tier enum is ordered
SELECT enum_range(NULL::consent_tier);
SELECT 'none'::consent_tier < 'functional' AS a, 'functional'::consent_tier < 'personalization' AS b,
       'personalization'::consent_tier < 'enhanced' AS c;

-- canonical text: sorted, duplicates dropped, whitespace ignored, deny wins
SELECT v AS input, v::consent AS canonical
  FROM (VALUES ('none'), ('functional'), ('personalization'), ('enhanced'),
               ('personalization+location-purchase_history'),
               ('personalization-purchase_history+location'),
               ('  enhanced - location + demographic + location  '),
               ('enhanced+third_party+demographic+location'),
               ('enhanced+location+location'),
               ('enhanced-location+location'),
               ('enhanced+location-location'),
               ('none+location')) t(v);

-- equal consents print equally and compare equal, whatever the input order
SELECT 'functional+b+a'::consent = 'functional+a+b'::consent AS same_grants,
       'functional+a-b'::consent = 'functional-b+a'::consent AS same_mix,
       'functional+a'::consent = 'functional-a'::consent AS grant_vs_deny,
       'functional'::consent = 'personalization'::consent AS tiers_differ;
-- the text form round-trips
SELECT c::text::consent = c AS round_trip
  FROM (VALUES ('enhanced+demographic+location-purchase_history'::consent)) t(c);

-- make_consent: a category both granted and denied is denied
SELECT make_consent('personalization', '{location,location,demographic}', '{purchase_history}');
SELECT make_consent('personalization', '{location}', '{location}');
SELECT make_consent('enhanced', "grant" => '{third_party}');
SELECT make_consent('functional', deny => '{session}');
SELECT make_consent('personalization', NULL, NULL);
SELECT make_consent('personalization');
SELECT make_consent(NULL) IS NULL AS null_tier_gives_null;

-- operators: + grants (lifting a denial), - denies (dropping a grant)
SELECT 'functional'::consent + 'location' AS plus,
       'enhanced+location'::consent - 'location' AS minus,
       'enhanced-location'::consent + 'location' AS plus_lifts_deny,
       ('personalization'::consent + 'location' + 'demographic') - 'purchase_history' AS chained;

-- accessors
SELECT tier(c), granted(c), denied(c)
  FROM (VALUES ('enhanced+location+demographic-purchase_history'::consent),
               ('none'::consent), ('functional-session'::consent)) t(c);

-- The tier rules, for a tier 1 (session), a tier 2 (purchase_history) and a
-- tier 3 (location) category:
--   none: nothing, even with an explicit grant
--   explicit deny: never
--   explicit grant: allowed
--   otherwise tier 1 needs functional, tier 2 personalization, tier 3 never
SELECT c AS consent,
       consent_allows_tier(c, 'session', 1) AS session_t1,
       consent_allows_tier(c, 'purchase_history', 2) AS purchase_t2,
       consent_allows_tier(c, 'location', 3) AS location_t3
  FROM (VALUES (1, 'none'::consent), (2, 'none+location+session'), (3, 'functional'),
               (4, 'functional+location'), (5, 'functional+purchase_history'),
               (6, 'personalization'), (7, 'personalization-purchase_history'),
               (8, 'enhanced'), (9, 'enhanced+location'), (10, 'enhanced-location'),
               (11, 'enhanced-session+location'), (12, 'personalization+location-location')) t(n, c)
 ORDER BY n;
-- expected, worked out from the rules above:
--   1 f f f | 2 f f f | 3 t f f | 4 t f t | 5 t t f | 6 t t f | 7 t f f
--   8 t t f | 9 t t t | 10 t t f | 11 f t t | 12 t t f
-- a name that merely shares a prefix is not granted
SELECT consent_allows_tier('enhanced+location', 'locations', 3) AS prefix,
       consent_allows_tier('enhanced+locations', 'location', 3) AS longer;

-- NULL in, NULL out (STRICT)
SELECT consent_allows_tier(NULL, 'session', 1) IS NULL AS a,
       ('functional'::consent + NULL::text) IS NULL AS b,
       tier(NULL) IS NULL AS c;

-- malformed input: SQLSTATE and message
SELECT q, pg_temp.try(q) AS result
  FROM (VALUES (1, $$SELECT ''::personalize.consent$$),
               (2, $$SELECT '   '::personalize.consent$$),
               (3, $$SELECT 'Personalization'::personalize.consent$$),
               (4, $$SELECT 'everything'::personalize.consent$$),
               (5, $$SELECT '+location'::personalize.consent$$),
               (6, $$SELECT 'personalization+'::personalize.consent$$),
               (7, $$SELECT 'personalization+Location'::personalize.consent$$),
               (8, $$SELECT 'personalization location'::personalize.consent$$),
               (9, $$SELECT 'personalization*location'::personalize.consent$$),
               (10, $$SELECT 'personalization+1abc'::personalize.consent$$),
               (11, $$SELECT 'personalization+loc;ation'::personalize.consent$$),
               (12, $$SELECT 'personalization++location'::personalize.consent$$),
               (13, $$SELECT 'personalization+location,'::personalize.consent$$),
               (14, $$SELECT 'personalization+_x'::personalize.consent$$)) t(n, q)
 ORDER BY n;

-- category name length: 63 characters is the maximum
SELECT length((granted(('personalization+' || repeat('a', 63))::consent))[1]) AS longest;
SELECT pg_temp.try($$SELECT ('personalization+' || repeat('a', 64))::personalize.consent$$) AS too_long;
SELECT left(pg_temp.try($$SELECT ('personalization+' || repeat('a', 5000))::personalize.consent$$), 70) AS far_too_long;
-- at most 64 categories in each list
SELECT cardinality(granted(('enhanced' || (SELECT string_agg('+c' || i, '') FROM generate_series(1, 64) i))::consent)) AS most;
SELECT pg_temp.try($$SELECT ('enhanced' || (SELECT string_agg('+c' || i, '') FROM generate_series(1, 65) i))::personalize.consent$$) AS too_many;
SELECT pg_temp.try($$SELECT personalize.make_consent('enhanced', (SELECT array_agg('c' || i) FROM generate_series(1, 65) i))$$) AS too_many_array;

-- bad arguments to the functions and operators
SELECT q, pg_temp.try(q) AS result
  FROM (VALUES (1, $$SELECT personalize.make_consent('personalization', '{NULL}')$$),
               (2, $$SELECT personalize.make_consent('personalization', '{{a},{b}}')$$),
               (3, $$SELECT personalize.make_consent('personalization', '{bad-name}')$$),
               (4, $$SELECT personalize.make_consent('personalization', '{}', '{Upper}')$$),
               (5, $$SELECT personalize.make_consent('everything')$$),
               (6, $$SELECT 'functional'::personalize.consent OPERATOR(personalize.+) 'Bad'$$),
               (7, $$SELECT 'functional'::personalize.consent OPERATOR(personalize.+) ''$$),
               (8, $$SELECT 'functional'::personalize.consent OPERATOR(personalize.-) 'a b'$$),
               (9, $$SELECT personalize.consent_allows_tier('enhanced', 'location', 0)$$),
               (10, $$SELECT personalize.consent_allows_tier('enhanced', 'location', 4)$$),
               (11, $$SELECT personalize.consent_allows_tier('enhanced', 'location', -2147483648)$$)) t(n, q)
 ORDER BY n;

-- the type stores in a table and joins on =
CREATE TEMP TABLE ct (c consent);
INSERT INTO ct VALUES ('enhanced+location-purchase_history'), ('none'), ('functional+session');
SELECT c FROM ct ORDER BY c::text;
SELECT count(*) FROM ct a JOIN ct b ON a.c = b.c;
