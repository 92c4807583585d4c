-- embedding8: int8 scalar-quantized embeddings
SET search_path = public, personalize;

SELECT '[1,2,3]'::embedding8, '[0,0]'::embedding8, '[-1,0.5]'::embedding8;
SELECT '[1,2,3]'::embedding8(3);
SELECT '[1,2]'::embedding8(3);
SELECT '[1,2]'::embedding8(0);
SELECT '[1e-45]'::embedding8, '[1e-30,1]'::embedding8;
SELECT '[1,NaN]'::embedding8;
SELECT '[1,2'::embedding8;
SELECT '[]'::embedding8;
SELECT quantization_error('[127,1,-50]'::embedding8), dims('[1,2,3]'::embedding8);

-- casts both ways; a value survives a second quantization unchanged
SELECT '[0.1,0.2,-0.3]'::embedding::embedding8::embedding;
SELECT e::embedding8::embedding::embedding8::text = e::embedding8::text
  FROM (SELECT '[0.12,-5.5,3.25,1e-3]'::embedding AS e) s;
CREATE TEMP TABLE q (e embedding8(3));
INSERT INTO q SELECT '[1,2,3]'::embedding;
INSERT INTO q VALUES ('[4,5,6]');
SELECT e FROM q ORDER BY e <-> '[4,5,6]';

-- distances are exact for the dequantized values
SELECT a <-> b AS l2, a::embedding <-> b::embedding AS l2_deq,
       a <#> b AS neg_ip, a::embedding <#> b::embedding AS neg_ip_deq,
       a <=> b AS cosine, a <+> b AS l1, a::embedding <+> b::embedding AS l1_deq
  FROM (SELECT '[1,2,3]'::embedding8 AS a, '[4,5,6]'::embedding8 AS b) s;
SELECT cosine_distance('[0,0]'::embedding8, '[1,1]'::embedding8);
SELECT '[1,2]'::embedding8 <-> '[1,2,3]'::embedding8;
SELECT norm('[3,4]'::embedding8), inner_product('[1,1]'::embedding8, '[2,2]'::embedding8);

-- quantization error stays within the documented bound, max|x| / 254 per element
WITH v AS (
  SELECT array_agg((random() * 2 - 1)::real ORDER BY i) AS a
    FROM generate_series(1, 512) i
)
SELECT (SELECT max(abs(x - y)) FROM unnest(a, (a::embedding::embedding8::embedding)::real[]) u(x, y))
       <= (SELECT max(abs(x)) FROM unnest(a) x) / 254 * 1.0001 AS within_bound
  FROM v;

-- about 4x smaller than embedding
SELECT pg_column_size(e::embedding8) AS bytes8, pg_column_size(e) AS bytes32
  FROM (SELECT array_fill(0.5, ARRAY[128])::real[]::embedding AS e) s;

-- binary form round-trips
SELECT embedding8_send('[1,-2,3]');
