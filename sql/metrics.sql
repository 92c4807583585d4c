-- metrics: gini() aggregate and ranking metrics at k (implicit's conventions)
SET search_path = public, personalize;

-- ---- gini ------------------------------------------------------------------
-- G = 2 * sum_{i=1..n} i * x_(i) / (n * S) - (n + 1) / n, x sorted ascending.

-- equal values: sum i*x = x*n(n+1)/2, so G = (n+1)/n - (n+1)/n = 0
SELECT gini(x) FROM (VALUES (5), (5), (5), (5)) v(x);
-- a single value: 2*x/x - 2/1 = 0
SELECT gini(x) FROM (VALUES (3.5)) v(x);
-- [1,2,3,4]: sum i*x = 1+4+9+16 = 30, S = 10: 60/40 - 5/4 = 1.5 - 1.25 = 0.25
SELECT gini(x) FROM (VALUES (3), (1), (4), (2)) v(x);
-- one-hot over n: sum i*x = n*x, so G = 2 - (n+1)/n = (n-1)/n: 1/2, 3/4, 9/10
SELECT n, gini(CASE WHEN i = n THEN 7 ELSE 0 END) AS g, (n - 1)::float8 / n AS expected
  FROM generate_series(2, 10, 1) n, generate_series(1, n) i
 WHERE n IN (2, 4, 10) GROUP BY n ORDER BY n;
-- the zeros matter: [0,0,0,0,1,2,3,4]: sum i*x = 5+12+21+32 = 70, S = 10, n = 8:
-- 140/80 - 9/8 = 1.75 - 1.125 = 0.625 (against 0.25 without the zeros)
SELECT gini(x) FROM (VALUES (0), (1), (0), (2), (0), (3), (0), (4)) v(x);
-- NULL is not a zero: it is skipped, so this is [1,2,3,4] again
SELECT gini(x) FROM (VALUES (1), (NULL), (2), (3), (NULL), (4)) v(x);
-- no rows, only NULLs, all zeros (S = 0): 0 by definition
SELECT gini(x) FROM (SELECT 1.0::float8 AS x WHERE false) v;
SELECT gini(x) FROM (VALUES (NULL::float8), (NULL)) v(x);
SELECT gini(x) FROM (VALUES (0), (0), (0)) v(x);
-- [1,4]: 2*(1+8)/(2*5) - 3/2 = 1.8 - 1.5 = 0.3
SELECT gini(x) FROM (VALUES (4), (1)) v(x);
-- values 1..n: sum i^2 = n(n+1)(2n+1)/6, S = n(n+1)/2, G = (n-1)/(3n); n = 1000: 999/3000 = 0.333
SELECT gini(i) FROM generate_series(1, 1000) i;
-- scale does not matter: 1:2:3:4 near the top of the double range (S alone
-- would overflow) and among subnormals (both only up to their rounding)
SELECT round(gini(x * 0.4e308)::numeric, 12) FROM (VALUES (1), (2), (3), (4)) v(x);
SELECT round(gini(x * 1e-320)::numeric, 3) FROM (VALUES (1), (2), (3), (4)) v(x);
-- bigint (count(*)) and numeric inputs go through the implicit cast to float8
SELECT gini(c) FROM (SELECT g, count(*) AS c FROM (VALUES (1), (2), (2), (3), (3), (3), (4), (4), (4), (4)) v(g) GROUP BY g) s;
SELECT gini(x) FROM (VALUES (1.0::numeric), (2.0), (3.0), (4.0)) v(x);
-- per group
SELECT g, gini(x) FROM (VALUES ('a', 1), ('a', 1), ('b', 0), ('b', 1), ('c', 1), ('c', 2), ('c', 3), ('c', 4)) v(g, x)
 GROUP BY g ORDER BY g;
-- as a window aggregate: the final function sorts the state in place, and
-- later rows are still added correctly. Running over 4, 1, 3, 2:
-- [4] 0;  [1,4] 0.3;  [1,3,4] 2*(1+6+12)/(3*8) - 4/3 = 38/24 - 32/24 = 0.25;  [1,2,3,4] 0.25
SELECT o, x, gini(x) OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
  FROM (VALUES (1, 4), (2, 1), (3, 3), (4, 2)) v(o, x) ORDER BY o;
-- a sliding frame: [4] 0, [4,1] 0.3, [1,3] 2*(1+6)/(2*4) - 1.5 = 0.25, [3,2] 2*(2+6)/(2*5) - 1.5 = 0.1
SELECT o, x, gini(x) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
  FROM (VALUES (1, 4), (2, 1), (3, 3), (4, 2)) v(o, x) ORDER BY o;
-- the same aggregate twice in one query shares its state
SELECT gini(x), gini(x) + 0 FROM (VALUES (4), (1), (3), (2)) v(x);

-- errors: negative, NaN and infinite inputs
SELECT gini(x) FROM (VALUES (1), (-1)) v(x);
SELECT gini(x) FROM (VALUES (1), ('NaN'::float8)) v(x);
SELECT gini(x) FROM (VALUES (1), ('Infinity'::float8)) v(x);
SELECT gini(x) FROM (VALUES (1), ('-Infinity'::float8)) v(x);
SELECT gini(x) FROM (VALUES (-0.0::float8), (1)) v(x);  -- -0 is zero, allowed: [0,1] gives 0.5

-- the support functions take internal: nothing calls them from SQL
SELECT gini_final(NULL);
SELECT gini_serialize(NULL);

-- the parallel plan (partial states serialized and combined) gives the serial
-- answer: values 1..30000 in scrambled order, G = 29999/90000
CREATE TABLE gini_data AS SELECT (i * 7919) % 30000 + 1 AS x FROM generate_series(0, 29999) i;
ANALYZE gini_data;
SELECT count(DISTINCT x), min(x), max(x) FROM gini_data;
CREATE TEMP TABLE serial_gini AS SELECT gini(x) AS g FROM gini_data;
SELECT abs(g - 29999.0 / 90000) < 1e-12 AS serial_ok FROM serial_gini;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gini(x) FROM gini_data;
SELECT gini(x) = (SELECT g FROM serial_gini) AS parallel_equals_serial FROM gini_data;
-- per residue class r, x = 3j + c for j = 0..9999 (c = 3 for r = 0, else r)
SELECT x % 3 AS r, round(gini(x)::numeric, 12) FROM gini_data GROUP BY 1 ORDER BY 1;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT x % 3 AS r, round(gini(x)::numeric, 12) FROM gini_data GROUP BY 1 ORDER BY 1;
DROP TABLE gini_data;

-- ---- ranking metrics -------------------------------------------------------
-- rel(i) = 1 when ranked[i] is relevant and not already counted; R = distinct
-- relevant; m = min(k, R). hits = sum rel(i), precision = hits/k,
-- recall = hits/m, AP = (1/m) sum rel(i) hits(1..i)/i,
-- NDCG = sum rel(i)/log2(i+1) / sum_{i=1..m} 1/log2(i+1).
CREATE FUNCTION all_metrics(ranked bigint[], relevant bigint[], k int)
RETURNS TABLE (hits int, prec float8, recall float8, ap float8, ndcg float8)
LANGUAGE sql AS $$
	SELECT hits_at_k(ranked, relevant, k), precision_at_k(ranked, relevant, k),
	       recall_at_k(ranked, relevant, k), average_precision_at_k(ranked, relevant, k),
	       ndcg_at_k(ranked, relevant, k)
$$;

-- ranked [1,2,3,4,5], relevant {2,5,9}, k = 5: hits at ranks 2 and 5; R = 3, m = 3
--   precision 2/5 = 0.4; recall 2/3
--   AP = (1/3)(1/2 + 2/5) = 0.3
--   NDCG = (1/log2 3 + 1/log2 6) / (1 + 1/log2 3 + 1/log2 4)
--        = (0.63093 + 0.38685) / (1 + 0.63093 + 0.5) = 1.01778 / 2.13093 = 0.47762
SELECT * FROM all_metrics('{1,2,3,4,5}', '{2,5,9}', 5);
-- the same at k = 3: one hit at rank 2; m = 3
--   precision 1/3, recall 1/3, AP = (1/3)(1/2) = 1/6, NDCG = 0.63093 / 2.13093 = 0.29608
SELECT * FROM all_metrics('{1,2,3,4,5}', '{2,5,9}', 3);
-- k larger than the list: positions 3..10 are misses; m = min(10, 2) = 2
--   precision 2/10; recall 2/2; AP = (1/2)(1/1 + 2/2) = 1; NDCG = 1
SELECT * FROM all_metrics('{1,2}', '{2,1}', 10);
-- a perfect list with more relevant ids than k: m = min(3, 6) = 3, so recall is 1
-- (implicit's convention, not 3/6)
SELECT * FROM all_metrics('{1,2,3}', '{1,2,3,4,5,6}', 3);
-- a duplicate in ranked counts once: [7,7,8], relevant {7,8}: hits at ranks 1 and 3
--   precision 2/3; recall 2/2; AP = (1/2)(1/1 + 2/3) = 5/6
--   NDCG = (1 + 1/log2 4) / (1 + 1/log2 3) = 1.5 / 1.63093 = 0.91972
SELECT * FROM all_metrics('{7,7,8}', '{7,8}', 3);
-- duplicates and order in relevant do not matter
SELECT * FROM all_metrics('{7,7,8}', '{8,7,7,8}', 3);
-- a relevant id repeated within ranked, and another one after it
--   [5,5,5,6], relevant {5,6}, k = 4: hits at 1 and 4; AP = (1/2)(1 + 2/4) = 0.75
--   NDCG = (1 + 1/log2 5) / (1 + 1/log2 3) = 1.43068 / 1.63093 = 0.87722
SELECT * FROM all_metrics('{5,5,5,6}', '{5,6}', 4);
-- no hits: all zero
SELECT * FROM all_metrics('{1,2,3}', '{4}', 3);
-- hits only past k do not count
SELECT * FROM all_metrics('{1,2,3,4}', '{4}', 3);
-- empty ranked: all zero (defined, R = 1)
SELECT * FROM all_metrics('{}', '{4}', 3);
-- empty relevant: hits 0, precision 0; recall, AP and NDCG undefined (NULL),
-- so avg() over users skips them, as implicit skips users with no held-out items
SELECT * FROM all_metrics('{1,2,3}', '{}', 3);
SELECT * FROM all_metrics('{}', '{}', 1);
-- k = 1
SELECT * FROM all_metrics('{2,1}', '{1}', 1);
SELECT * FROM all_metrics('{1,2}', '{1}', 1);
-- a huge k costs nothing: only the list and the relevant set are walked
SELECT * FROM all_metrics('{1,2}', '{1,2}', 2147483647);
-- ids are whole bigints, negative ones included; int[] arguments are cast
SELECT * FROM all_metrics('{-9223372036854775808,9223372036854775807}', '{9223372036854775807}', 2);
-- [3,1,2] vs {1,2}, k = 2: hit at rank 2: (1/log2 3) / (1 + 1/log2 3) = 0.63093 / 1.63093 = 0.38685
SELECT ndcg_at_k(ARRAY[3, 1, 2], ARRAY[1, 2], 2);
-- an array with explicit bounds is fine (its elements are what count):
--   hit at rank 3: AP = 1/3, NDCG = (1/log2 4) / 1 = 0.5
SELECT * FROM all_metrics('[5:7]={1,2,3}', '{3}', 3);

-- NULL arguments give NULL (STRICT)
SELECT ndcg_at_k(NULL, '{1}', 3), recall_at_k('{1}', NULL, 3), precision_at_k('{1}', '{1}', NULL);
-- errors: k < 1, NULL elements, multi-dimensional arrays
SELECT ndcg_at_k('{1,2}', '{1}', 0);
SELECT precision_at_k('{1,2}', '{1}', -5);
SELECT recall_at_k('{1,NULL}', '{1}', 2);
SELECT average_precision_at_k('{1,2}', '{NULL}', 2);
SELECT hits_at_k('{{1,2},{3,4}}', '{1}', 2);
SELECT ndcg_at_k('{1,2}', '{{1},{2}}', 2);

-- an independent definition in SQL, compared on random lists (duplicates
-- included, lists shorter and longer than k, empty relevant sets)
SELECT setseed(0.42);
CREATE TEMP TABLE cases AS
SELECT c,
       ARRAY(SELECT (random() * 30)::bigint FROM generate_series(1, (random() * 25)::int + c % 2)) AS ranked,
       ARRAY(SELECT (random() * 30)::bigint FROM generate_series(1, (random() * 8)::int + c % 2)) AS relevant,
       1 + (random() * 15)::int AS k
  FROM generate_series(1, 500) c;
CREATE TEMP VIEW reference AS
WITH pos AS (
	SELECT c, k, r.i,
	       (r.id = ANY (relevant) AND NOT r.id = ANY (ranked[1:r.i - 1]))::int AS rel
	  FROM cases, unnest(ranked) WITH ORDINALITY AS r(id, i)
	 WHERE r.i <= k
), run AS (
	SELECT c, i, rel, sum(rel) OVER (PARTITION BY c ORDER BY i) AS hits_so_far FROM pos
), per_case AS (
	SELECT cs.c, cs.k,
	       (SELECT count(DISTINCT x) FROM unnest(cs.relevant) x) AS r,
	       coalesce(sum(run.rel), 0) AS hits,
	       coalesce(sum(run.rel * run.hits_so_far::float8 / run.i), 0) AS ap_sum,
	       coalesce(sum(run.rel / log(2, run.i + 1::numeric)::float8), 0) AS dcg
	  FROM cases cs LEFT JOIN run ON run.c = cs.c
	 GROUP BY cs.c, cs.k, cs.relevant
)
SELECT c, hits, hits::float8 / k AS prec,
       hits::float8 / nullif(least(k, r), 0) AS recall,
       ap_sum / nullif(least(k, r), 0) AS ap,
       dcg / nullif((SELECT sum(1 / log(2, j + 1::numeric))::float8 FROM generate_series(1, least(k, r)) j), 0) AS ndcg
  FROM per_case;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE ref.recall IS NULL) AS empty_relevant,
       count(*) FILTER (WHERE cardinality(cs.ranked) < cs.k) AS shorter_than_k,
       count(*) FILTER (WHERE (SELECT count(DISTINCT x) FROM unnest(cs.ranked) x) < cardinality(cs.ranked)) AS with_duplicates,
       count(*) FILTER (WHERE ref.hits > 0) AS with_hits,
       count(*) FILTER (WHERE m.hits IS DISTINCT FROM ref.hits::int
                           OR abs(m.prec - ref.prec) > 1e-12
                           OR (m.recall IS NULL) <> (ref.recall IS NULL) OR abs(m.recall - ref.recall) > 1e-12
                           OR (m.ap IS NULL) <> (ref.ap IS NULL) OR abs(m.ap - ref.ap) > 1e-12
                           OR (m.ndcg IS NULL) <> (ref.ndcg IS NULL) OR abs(m.ndcg - ref.ndcg) > 1e-12) AS mismatches
  FROM cases cs JOIN reference ref USING (c), all_metrics(cs.ranked, cs.relevant, cs.k) m;
-- every metric lies in [0, 1]
SELECT bool_and(m.prec BETWEEN 0 AND 1 AND coalesce(m.recall BETWEEN 0 AND 1, true)
                AND coalesce(m.ap BETWEEN 0 AND 1, true) AND coalesce(m.ndcg BETWEEN 0 AND 1, true)) AS in_range
  FROM cases cs, all_metrics(cs.ranked, cs.relevant, cs.k) m;

-- implicit's ranking_metrics_at_k over users, from these functions:
--   precision = sum(hits) / sum(min(k, R)), map = avg(AP), ndcg = avg(NDCG)
-- over users with held-out items.  Users a, b, c (c has none), k = 2:
--   a: ranked [1,2], relevant {2}: hits 1, m 1, AP 1/2, NDCG (1/log2 3)/1 = 0.63093
--   b: ranked [3,4], relevant {3,4,5}: hits 2, m 2, AP 1, NDCG 1
--   precision = 3 / 3 = 1; map = 0.75; ndcg = 0.81546
SELECT sum(hits_at_k(ranked, relevant, 2))::float8
         / sum(least(2, cardinality(relevant))) FILTER (WHERE cardinality(relevant) > 0) AS "precision",
       avg(average_precision_at_k(ranked, relevant, 2)) AS map,
       round(avg(ndcg_at_k(ranked, relevant, 2))::numeric, 5) AS ndcg
  FROM (VALUES ('a', '{1,2}'::bigint[], '{2}'::bigint[]),
               ('b', '{3,4}', '{3,4,5}'),
               ('c', '{6,7}', '{}')) u(subject, ranked, relevant);

DROP FUNCTION all_metrics(bigint[], bigint[], int);
