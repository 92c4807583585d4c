-- pgTAP: the embedding types' catalogue contract and error codes.
SET search_path = public, personalize;
BEGIN;
SELECT plan(35);

SELECT has_type('personalize', 'embedding', 'embedding type exists');
SELECT has_type('personalize', 'embedding8', 'embedding8 type exists');
SELECT is((SELECT typstorage FROM pg_type WHERE oid = 'personalize.embedding'::regtype),
          'e', 'embedding is STORAGE external, as pgvector''s vector');

SELECT has_operator('embedding', '<->', 'embedding', 'double precision', 'L2 operator');
SELECT has_operator('embedding', '<#>', 'embedding', 'double precision', 'negative inner product operator');
SELECT has_operator('embedding', '<=>', 'embedding', 'double precision', 'cosine operator');
SELECT has_operator('embedding', '<+>', 'embedding', 'double precision', 'L1 operator');
SELECT has_operator('embedding8', '<->', 'embedding8', 'double precision', 'embedding8 L2 operator');
SELECT has_opclass('personalize', 'embedding_ops', 'btree operator class');

-- every function of the embedding surface is STRICT (C) and IMMUTABLE, PARALLEL SAFE,
-- and none is SECURITY DEFINER
CREATE TEMP VIEW embedding_surface AS
SELECT p.* FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'personalize' AND p.prokind = 'f'
   AND ARRAY['personalize.embedding'::regtype, 'personalize.embedding8'::regtype]::oid[]
       && (p.proargtypes::oid[] || p.prorettype)
   -- model functions that return embeddings read tables: not part of the type
   AND p.proname <> 'subject_factors';
SELECT cmp_ok((SELECT count(*)::int FROM embedding_surface), '>=', 40, 'the embedding surface is found');
SELECT is((SELECT count(*)::int FROM embedding_surface
            WHERE prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AND NOT proisstrict),
          0, 'all embedding C functions are STRICT');
SELECT is((SELECT count(*)::int FROM embedding_surface WHERE provolatile <> 'i'),
          0, 'all embedding functions are IMMUTABLE');
SELECT is((SELECT count(*)::int FROM embedding_surface WHERE proparallel <> 's'),
          0, 'all embedding functions are PARALLEL SAFE');
SELECT is((SELECT count(*)::int FROM embedding_surface WHERE prosecdef),
          0, 'no SECURITY DEFINER function on the embedding surface');
SELECT is((SELECT string_agg(a.aggfnoid::regprocedure::text, ', ' ORDER BY 1) FROM pg_aggregate a
            JOIN pg_proc p ON p.oid = a.aggfnoid JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'personalize' AND a.aggcombinefn <> 0
             AND p.proargtypes[0] = 'personalize.embedding'::regtype),
          'avg(embedding), sum(embedding)', 'avg and sum have combine functions (parallel aggregation)');

-- SQLSTATEs of every class of bad input
SELECT throws_ok($$SELECT '[1,2'::embedding$$, '22P02', NULL, 'syntax error is 22P02');
SELECT throws_ok($$SELECT '[NaN]'::embedding$$, '22000', 'NaN not allowed in embedding', 'NaN is 22000');
SELECT throws_ok($$SELECT '[inf]'::embedding$$, '22000', 'infinite value not allowed in embedding', 'infinity is 22000');
SELECT throws_ok($$SELECT '[1e39]'::embedding$$, '22003', '"1e39" is out of range for type embedding', 'out of range is 22003');
SELECT throws_ok($$SELECT '[1,2]'::embedding <-> '[1]'$$, '22000', 'different embedding dimensions 2 and 1', 'dimension mismatch is 22000');
SELECT throws_ok($$SELECT '[1,2]'::embedding(3)$$, '22000', 'expected 3 dimensions, not 2', 'typmod mismatch is 22000');
SELECT throws_ok($$SELECT '[]'::embedding$$, '22000', 'embedding must have at least 1 dimension', 'empty is 22000');
SELECT throws_ok($$SELECT ('[' || repeat('1,', 16000) || '1]')::embedding$$, '54000',
                 'embedding cannot have more than 16000 dimensions', 'too many dimensions is 54000');
SELECT throws_ok($$SELECT '[1]'::embedding(0)$$, '22023', 'dimensions for type embedding must be at least 1', 'bad typmod is 22023');
SELECT throws_ok($$SELECT ARRAY[1,NULL]::embedding$$, '22004', 'array must not contain nulls', 'null element is 22004');
SELECT throws_ok($$SELECT '[3e38]'::embedding + '[3e38]'$$, '22003', 'value out of range: overflow', 'overflow is 22003');
SELECT throws_ok($$SELECT '[NaN]'::embedding8$$, '22000', 'NaN not allowed in embedding8', 'embedding8 names itself');

-- values
SELECT is('[1,2,3]'::embedding <-> '[4,5,6]', sqrt(27::float8), 'L2 distance');
SELECT is('[1,2,3]'::embedding <#> '[4,5,6]', -32::float8, 'negative inner product');
SELECT is('[1,2,3]'::embedding <+> '[4,5,6]', 9::float8, 'L1 distance');
SELECT is(('[0.5,-1.25]'::embedding)::text, '[0.5,-1.25]', 'text round trip');
SELECT is(avg(e)::text, '[2,3]', 'avg') FROM (VALUES ('[1,2]'::embedding), ('[3,4]')) v(e);
SELECT ok(simd_level() IN ('generic', 'avx2+fma', 'avx512'), 'simd_level names a kernel set');

-- embedding8 is ordered the same way as embedding for a clear nearest neighbour
SELECT is((SELECT id FROM (VALUES (1, '[1,0,0]'::embedding8), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')) v(id, e)
           ORDER BY e <=> '[1,0.05,0]' LIMIT 1), 1, 'embedding8 nearest neighbour by cosine');
SELECT cmp_ok(pg_column_size('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]'::embedding8) * 2,
              '<', pg_column_size('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]'::embedding), 'embedding8 is much smaller');

SELECT * FROM finish();
ROLLBACK;
