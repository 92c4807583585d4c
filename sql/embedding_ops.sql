-- embedding: distances, arithmetic, comparisons and helper functions
SET search_path = public, personalize;

-- distances (results match pgvector for the same input)
SELECT '[1,2,3]'::embedding <-> '[4,5,6]' AS l2,
       '[1,2,3]'::embedding <#> '[4,5,6]' AS neg_ip,
       '[1,2,3]'::embedding <=> '[4,5,6]' AS cosine,
       '[1,2,3]'::embedding <+> '[4,5,6]' AS l1;
SELECT l2_distance('[0,0]'::embedding, '[3,4]'), inner_product('[1,2]'::embedding, '[3,4]'),
       cosine_distance('[1,0]'::embedding, '[0,1]'), l1_distance('[0,0]'::embedding, '[3,-4]'),
       l2_squared_distance('[0,0]', '[3,4]'), negative_inner_product('[1,2]'::embedding, '[3,4]');
-- cosine is clamped to [0, 2]; a zero vector has no direction (NaN)
SELECT cosine_distance('[1,1]'::embedding, '[1,1]'), cosine_distance('[1,1]'::embedding, '[-1,-1]');
SELECT cosine_distance('[0,0]'::embedding, '[1,1]'), cosine_distance('[0,0]'::embedding, '[0,0]');
-- long vectors go through the SIMD path; compare with a SQL reference
WITH v AS (
  SELECT array_agg(sin(i)::real ORDER BY i) AS a, array_agg(cos(i * 0.7)::real ORDER BY i) AS b
    FROM generate_series(1, 1000) i
)
SELECT abs((a::embedding <-> b::embedding) -
           sqrt((SELECT sum((x - y)^2) FROM unnest(a, b) AS u(x, y)))) < 1e-4 AS l2_ok,
       abs((a::embedding <#> b::embedding) +
           (SELECT sum(x * y) FROM unnest(a, b) AS u(x, y))) < 1e-3 AS ip_ok,
       abs((a::embedding <+> b::embedding) -
           (SELECT sum(abs(x - y)) FROM unnest(a, b) AS u(x, y))) < 1e-2 AS l1_ok,
       abs((a::embedding <=> b::embedding) -
           (1 - (SELECT sum(x * y) / sqrt(sum(x * x) * sum(y * y)) FROM unnest(a, b) AS u(x, y)))) < 1e-5 AS cos_ok
  FROM v;

-- every binary operator refuses mismatched dimensions
SELECT '[1,2]'::embedding <-> '[1,2,3]';
SELECT '[1,2]'::embedding <#> '[1,2,3]';
SELECT '[1,2]'::embedding <=> '[1,2,3]';
SELECT '[1,2]'::embedding <+> '[1,2,3]';
SELECT '[1,2]'::embedding + '[1,2,3]';
SELECT '[1,2]'::embedding - '[1,2,3]';
SELECT '[1,2]'::embedding * '[1,2,3]';

-- element-wise arithmetic
SELECT '[1,2,3]'::embedding + '[4,5,6]', '[1,2,3]'::embedding - '[4,5,6]',
       '[1,2,3]'::embedding * '[4,5,6]', '[1,2]'::embedding || '[3]';
SELECT '[3e38]'::embedding + '[3e38]';
SELECT '[-3e38]'::embedding - '[3e38]';
SELECT '[1e20]'::embedding * '[1e20]';
SELECT '[1e-30]'::embedding * '[1e-30]';
SELECT ('[' || array_to_string(array_fill(1, ARRAY[8000]), ',') || ']')::embedding
    || ('[' || array_to_string(array_fill(1, ARRAY[8001]), ',') || ']')::embedding;

-- helpers
SELECT dims('[1,2,3]'::embedding), embedding_dims('[1]'::embedding),
       norm('[3,4]'::embedding), embedding_norm('[3,4]'::embedding);
SELECT l2_normalize('[3,4]'::embedding), l2_normalize('[0,0]'::embedding),
       norm(l2_normalize('[1,2,3,4,5]'::embedding));
SELECT subvector('[1,2,3,4,5]'::embedding, 2, 3);
SELECT subvector('[1,2,3,4,5]'::embedding, -1, 3);
SELECT subvector('[1,2,3,4,5]'::embedding, 4, 100);
SELECT subvector('[1,2,3,4,5]'::embedding, 3, 2147483647);
SELECT subvector('[1,2,3,4,5]'::embedding, 6, 1);
SELECT subvector('[1,2,3,4,5]'::embedding, 1, 0);
SELECT subvector('[1,2,3,4,5]'::embedding, -5, 3);

-- comparisons: element by element, then the shorter first
SELECT '[1,2,3]'::embedding < '[1,2,4]', '[1,2]'::embedding < '[1,2,3]',
       '[1,2,3]'::embedding = '[1,2,3]', '[1,2,3]'::embedding <> '[1,2,3]',
       '[2]'::embedding > '[1,9,9]', '[1,2]'::embedding >= '[1,2]',
       '[1,2]'::embedding <= '[1,1]', embedding_cmp('[1]', '[1]');
CREATE TEMP TABLE cmp (e embedding);
INSERT INTO cmp VALUES ('[1,2,3]'), ('[1,2]'), ('[0,9]'), ('[1,2,3]'), ('[-1]'), (NULL);
SELECT e FROM cmp ORDER BY e;
SELECT DISTINCT e FROM cmp ORDER BY e;
CREATE INDEX ON cmp (e);
SET enable_seqscan = off;
SELECT e FROM cmp WHERE e = '[1,2,3]';
RESET enable_seqscan;

-- nearest neighbours by each operator, over a small table
CREATE TEMP TABLE items (id int, e embedding(2));
INSERT INTO items VALUES (1, '[0,0]'), (2, '[1,0]'), (3, '[0,2]'), (4, '[-3,-3]'), (5, '[5,5]');
SELECT id FROM items ORDER BY e <-> '[1,1]', id LIMIT 3;
SELECT id FROM items ORDER BY e <#> '[1,1]', id LIMIT 3;
SELECT id FROM items WHERE e <> '[0,0]' ORDER BY e <=> '[1,1]', id LIMIT 3;
SELECT id FROM items ORDER BY e <+> '[1,1]', id LIMIT 3;
