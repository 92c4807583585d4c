-- Evaluation helpers: ranking metrics at a cutoff k (binary relevance, the
-- conventions of the implicit library's ranking_metrics_at_k) and the gini()
-- aggregate.  Training calls the same C code (src/model/metrics.h).
--
-- For ranked (the list, best first), relevant (held-out ids) and k >= 1:
--   only ranked[1..k] counts; positions past the end of ranked are misses;
--   an id repeated in ranked counts at its first position only;
--   relevant is a set (duplicates and order ignored), R = its size, m = min(k, R);
--   rel(i) = 1 when ranked[i] is relevant and not already counted, else 0.
-- A NULL argument gives NULL; a NULL element, a multi-dimensional array or
-- k < 1 is an error.  With R = 0, recall, AP and NDCG are undefined: NULL.
--
-- Implicit averages AP and NDCG over users that have held-out items (what
-- avg() over these functions does, NULLs skipped), but its "precision" is a
-- ratio of totals: sum(hits_at_k) / sum(least(k, R)) over those users.

CREATE FUNCTION hits_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'pz_sql_hits_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hits_at_k(bigint[], bigint[], integer) IS
	'hits = sum_{i=1..k} rel(i): distinct relevant ids among the first k ranked';

CREATE FUNCTION precision_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_precision_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION precision_at_k(bigint[], bigint[], integer) IS
	'hits / k (textbook precision; a list shorter than k is padded with misses; 0 when relevant is empty). Not implicit''s "precision", which is recall_at_k';

CREATE FUNCTION recall_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_recall_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recall_at_k(bigint[], bigint[], integer) IS
	'hits / min(k, R), R = distinct relevant ids (implicit''s per-user precision: 1 for a perfect list even when R > k); NULL when R = 0';

CREATE FUNCTION average_precision_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_average_precision_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION average_precision_at_k(bigint[], bigint[], integer) IS
	'AP@k = (1 / min(k, R)) * sum_{i=1..k} rel(i) * hits(1..i) / i (implicit''s convention; MAP@k = avg over users); NULL when R = 0';

CREATE FUNCTION ndcg_at_k(ranked bigint[], relevant bigint[], k integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_sql_ndcg_at_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ndcg_at_k(bigint[], bigint[], integer) IS
	'DCG / IDCG, DCG = sum_{i=1..k} rel(i) / log2(i + 1), IDCG = sum_{i=1..min(k, R)} 1 / log2(i + 1) (binary relevance, implicit''s convention); NULL when R = 0';

-- gini(): the state holds every value (8 bytes each) in the aggregate's
-- memory; partial states from parallel workers are concatenated.  The final
-- function sorts the values in place, which keeps them as a multiset, so it
-- does not modify the state in any way that matters (READ_ONLY).

CREATE FUNCTION gini_accum(internal, double precision) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gini_accum(internal, double precision) IS 'gini() state function: keeps each value (NULLs skipped; negative, NaN and infinite values are errors)';
CREATE FUNCTION gini_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gini_combine(internal, internal) IS 'gini() combine function: concatenates the values of two partial states';
CREATE FUNCTION gini_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pz_gini_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gini_serialize(internal) IS 'gini() serial function: a partial state as bytes, for parallel workers';
CREATE FUNCTION gini_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gini_deserialize(bytea, internal) IS 'gini() deserial function: a partial state from bytes';
CREATE FUNCTION gini_final(internal) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_gini_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gini_final(internal) IS 'gini() final function: sorts the values and computes the coefficient';

CREATE AGGREGATE gini(double precision) (
	SFUNC = gini_accum,
	STYPE = internal,
	FINALFUNC = gini_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = gini_combine,
	SERIALFUNC = gini_serialize,
	DESERIALFUNC = gini_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gini(double precision) IS
	'Gini coefficient: with x sorted ascending, G = 2 * sum_{i=1..n} i * x_i / (n * sum x) - (n + 1) / n; 0 for no rows or sum 0. Include the zeros (items never shown): a NULL is skipped, not counted as 0. Negative, NaN and infinite inputs are errors';
