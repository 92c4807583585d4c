-- embedding: avg and sum aggregates (parallel safe)
SET search_path = public, personalize;

SELECT avg(e), sum(e) FROM (VALUES ('[1,2,3]'::embedding), ('[3,4,5]'), (NULL)) v(e);
SELECT avg(e), sum(e) FROM (VALUES (NULL::embedding)) v(e);
SELECT avg(e), sum(e) FROM (SELECT '[1]'::embedding AS e WHERE false) v;
SELECT avg(e) FROM (VALUES ('[1,2]'::embedding), ('[1,2,3]')) v(e);
SELECT sum(e) FROM (VALUES ('[1,2]'::embedding), ('[1,2,3]')) v(e);
SELECT avg(e) FROM (VALUES ('[3e38]'::embedding), ('[3e38]')) v(e);
SELECT sum(e) FROM (VALUES ('[3e38]'::embedding), ('[3e38]')) v(e);
SELECT avg(e) FROM (VALUES ('[1e-45]'::embedding), ('[0]')) v(e);
SELECT g, avg(e) FROM (VALUES (1, '[1,1]'::embedding), (1, '[3,3]'), (2, '[5,5]')) v(g, e)
 GROUP BY g ORDER BY g;

-- the parallel plan (partial aggregates combined) gives the serial answer
CREATE TABLE agg_data AS
  SELECT i, ARRAY[i % 7, i % 11, (i % 13) * 0.5]::real[]::embedding AS e
    FROM generate_series(1, 30000) i;
ANALYZE agg_data;
SELECT avg(e), sum(e), count(*) FROM agg_data;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(e), sum(e) FROM agg_data;
SELECT avg(e), sum(e), count(*) FROM agg_data;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE agg_data;
