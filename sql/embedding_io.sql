-- embedding: text and binary input/output, type modifiers, casts
SET search_path = public, personalize;

-- text form: pgvector's rules (whitespace around tokens, shortest output)
SELECT '[1,2,3]'::embedding;
SELECT ' [ 1 , -2.5 ,3e2 ] '::embedding;
SELECT ('[' || chr(9) || '1,' || chr(10) || '2' || chr(13) || ',' || chr(12) || '3' || chr(11) || ']')::embedding;
SELECT '[1.23456789,0.1,-0,1e-45,3.4028235e38]'::embedding;
SELECT '[0x10,+1,.5,5.]'::embedding;
SELECT '[1e-50]'::embedding;

-- syntax errors name the type and say what is wrong
SELECT ''::embedding;
SELECT '1,2'::embedding;
SELECT '[1,2'::embedding;
SELECT '[1,2,]'::embedding;
SELECT '[1,,2]'::embedding;
SELECT '[1 2]'::embedding;
SELECT '[a]'::embedding;
SELECT '[1,2] x'::embedding;
SELECT '[]'::embedding;
SELECT '[ ]'::embedding;

-- values that are not finite floats
SELECT '[NaN]'::embedding;
SELECT '[1,inf]'::embedding;
SELECT '[-Infinity]'::embedding;
SELECT '[1e39]'::embedding;
SELECT '[-1e39]'::embedding;

-- dimension limits
SELECT dims(('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::embedding);
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::embedding;

-- type modifiers
SELECT '[1,2,3]'::embedding(3);
SELECT '[1,2]'::embedding(3);
SELECT '[1,2,3]'::embedding(0);
SELECT '[1,2,3]'::embedding(16001);
SELECT '[1,2,3]'::embedding(3, 2);
CREATE TEMP TABLE t3 (e embedding(3));
INSERT INTO t3 VALUES ('[1,2,3]');
INSERT INTO t3 VALUES ('[1,2]');
INSERT INTO t3 SELECT '[4,5,6]'::embedding;
SELECT * FROM t3 ORDER BY e;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 't3'::regclass AND attname = 'e';

-- binary form: int16 dim, int16 unused, big-endian float4s (pgvector's layout)
SELECT embedding_send('[1,-2,0.5]');

-- casts from arrays
SELECT ARRAY[1,2,3]::embedding;
SELECT ARRAY[1.5,2.5]::real[]::embedding;
SELECT ARRAY[1.5,2.5]::double precision[]::embedding;
SELECT ARRAY[1.5,2.5]::numeric[]::embedding;
SELECT ARRAY[1,2,3]::embedding(3);
SELECT ARRAY[1,2]::embedding(3);
SELECT ARRAY[[1,2],[3,4]]::embedding;
SELECT ARRAY[1,NULL]::embedding;
SELECT '{}'::int[]::embedding;
SELECT ARRAY['NaN']::real[]::embedding;
SELECT ARRAY[1e300]::double precision[]::embedding;
SELECT ARRAY[1e50]::numeric[]::embedding;
SELECT ARRAY['1'::text]::embedding;

-- casts to arrays
SELECT '[1,2.5,-3]'::embedding::real[];
SELECT '[1,2.5,-3]'::embedding::double precision[];
SELECT '[1,2.5,-3]'::embedding::numeric[];
SELECT '[1,2.5,-3]'::embedding::integer[];
SELECT '[3e9]'::embedding::integer[];
-- assignment casts make arrays usable as embeddings in INSERT
INSERT INTO t3 VALUES (ARRAY[7,8,9]);
SELECT count(*) FROM t3;

-- NULLs pass through untouched
SELECT NULL::embedding, dims(NULL::embedding), NULL::embedding <-> '[1]';
