-- embedding: float4 vectors, data-compatible with pgvector's vector.

CREATE FUNCTION simd_level() RETURNS text
	AS 'MODULE_PATHNAME', 'pz_simd_level' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION simd_level() IS 'distance kernels chosen for this CPU';

CREATE TYPE embedding;

CREATE FUNCTION embedding_in(cstring, oid, integer) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_in(cstring, oid, integer) IS 'input function of type embedding: text such as [1,2,3]';
CREATE FUNCTION embedding_out(embedding) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_out(embedding) IS 'output function of type embedding: text such as [1,2,3]';
CREATE FUNCTION embedding_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_typmod_in(cstring[]) IS 'type modifier of embedding(n): the number of dimensions';
CREATE FUNCTION embedding_recv(internal, oid, integer) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_recv(internal, oid, integer) IS 'binary input of type embedding (pgvector''s vector_send format)';
CREATE FUNCTION embedding_send(embedding) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_send(embedding) IS 'binary output of type embedding: int16 dims, int16 0, big-endian float4s';

CREATE TYPE embedding (
	INPUT     = embedding_in,
	OUTPUT    = embedding_out,
	TYPMOD_IN = embedding_typmod_in,
	RECEIVE   = embedding_recv,
	SEND      = embedding_send,
	STORAGE   = external
);
COMMENT ON TYPE embedding IS 'single-precision vector, up to 16000 dimensions (pgvector-compatible)';

CREATE FUNCTION embedding_from_binary(bytea) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_from_binary(bytea) IS 'decode the binary form (embedding_send, or pgvector''s vector_send: int16 dims, int16 0, big-endian float4s); every byte must be used';

-- distances and helpers

CREATE FUNCTION l2_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_distance(embedding, embedding) IS 'Euclidean distance';
CREATE FUNCTION l2_squared_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_squared_distance(embedding, embedding) IS 'squared Euclidean distance (same order as l2_distance, no square root)';
CREATE FUNCTION inner_product(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inner_product(embedding, embedding) IS 'inner product';
CREATE FUNCTION negative_inner_product(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION negative_inner_product(embedding, embedding) IS 'negative inner product (the <#> operator)';
CREATE FUNCTION cosine_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cosine_distance(embedding, embedding) IS 'cosine distance, 1 - cos(a, b)';
CREATE FUNCTION l1_distance(embedding, embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l1_distance(embedding, embedding) IS 'taxicab distance';
CREATE FUNCTION dims(embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dims(embedding) IS 'number of dimensions';
CREATE FUNCTION embedding_dims(embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_dims(embedding) IS 'number of dimensions (pgvector''s vector_dims)';
CREATE FUNCTION norm(embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION norm(embedding) IS 'Euclidean norm';
CREATE FUNCTION embedding_norm(embedding) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_norm(embedding) IS 'Euclidean norm (pgvector''s vector_norm)';
CREATE FUNCTION l2_normalize(embedding) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_normalize(embedding) IS 'scale to unit Euclidean norm (a zero vector stays zero)';
CREATE FUNCTION subvector(embedding, integer, integer) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION subvector(embedding, integer, integer) IS 'elements start .. start+count-1 (1-based, like substring)';

-- arithmetic and comparison (implementations of operators)

CREATE FUNCTION embedding_add(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_add(embedding, embedding) IS 'element-wise sum (the + operator)';
CREATE FUNCTION embedding_sub(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_sub(embedding, embedding) IS 'element-wise difference (the - operator)';
CREATE FUNCTION embedding_mul(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_mul(embedding, embedding) IS 'element-wise product (the * operator)';
CREATE FUNCTION embedding_concat(embedding, embedding) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_concat(embedding, embedding) IS 'the elements of the first, then of the second (the || operator)';
CREATE FUNCTION embedding_lt(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_lt(embedding, embedding) IS 'less than, in the B-tree order of embedding_cmp() (the < operator)';
CREATE FUNCTION embedding_le(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_le(embedding, embedding) IS 'less than or equal, in the B-tree order of embedding_cmp() (the <= operator)';
CREATE FUNCTION embedding_eq(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_eq(embedding, embedding) IS 'same dimensions and elements (the = operator)';
CREATE FUNCTION embedding_ne(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_ne(embedding, embedding) IS 'not equal (the <> operator)';
CREATE FUNCTION embedding_ge(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_ge(embedding, embedding) IS 'greater than or equal, in the B-tree order of embedding_cmp() (the >= operator)';
CREATE FUNCTION embedding_gt(embedding, embedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_gt(embedding, embedding) IS 'greater than, in the B-tree order of embedding_cmp() (the > operator)';
CREATE FUNCTION embedding_cmp(embedding, embedding) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_cmp(embedding, embedding) IS 'B-tree comparison: element by element, then the shorter first (-1, 0 or 1)';

-- aggregates

CREATE FUNCTION embedding_accum(double precision[], embedding) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_accum(double precision[], embedding) IS 'avg(embedding) state function: adds a vector to the running count and sums';
CREATE FUNCTION embedding_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_combine(double precision[], double precision[]) IS 'avg(embedding) combine function: merges two partial states (parallel aggregation)';
CREATE FUNCTION embedding_avg(double precision[]) RETURNS embedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_avg(double precision[]) IS 'avg(embedding) final function: sums divided by the count';

CREATE AGGREGATE avg(embedding) (
	SFUNC = embedding_accum,
	STYPE = double precision[],
	FINALFUNC = embedding_avg,
	COMBINEFUNC = embedding_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE avg(embedding) IS 'element-wise mean of embeddings of equal dimensions (NULLs skipped)';
CREATE AGGREGATE sum(embedding) (
	SFUNC = embedding_add,
	STYPE = embedding,
	COMBINEFUNC = embedding_add,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE sum(embedding) IS 'element-wise sum of embeddings of equal dimensions (NULLs skipped)';

-- casts

CREATE FUNCTION embedding(embedding, integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding(embedding, integer, boolean) IS 'cast to embedding(n): checks the dimensions against the type modifier';
CREATE FUNCTION array_to_embedding(integer[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_embedding(integer[], integer, boolean) IS 'cast from integer[] (one-dimensional, no NULLs)';
CREATE FUNCTION array_to_embedding(real[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_embedding(real[], integer, boolean) IS 'cast from real[] (one-dimensional, no NULLs)';
CREATE FUNCTION array_to_embedding(double precision[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_embedding(double precision[], integer, boolean) IS 'cast from double precision[] (one-dimensional, no NULLs; values must fit in float4)';
CREATE FUNCTION array_to_embedding(numeric[], integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_embedding(numeric[], integer, boolean) IS 'cast from numeric[] (one-dimensional, no NULLs; values must fit in float4)';
CREATE FUNCTION embedding_to_float4(embedding, integer, boolean) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_to_float4(embedding, integer, boolean) IS 'cast to real[]';
CREATE FUNCTION embedding_to_float8(embedding, integer, boolean) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_to_float8(embedding, integer, boolean) IS 'cast to double precision[]';
CREATE FUNCTION embedding_to_int4(embedding, integer, boolean) RETURNS integer[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_to_int4(embedding, integer, boolean) IS 'cast to integer[] (elements rounded)';
CREATE FUNCTION embedding_to_numeric(embedding, integer, boolean) RETURNS numeric[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding_to_numeric(embedding, integer, boolean) IS 'cast to numeric[]';

CREATE CAST (embedding AS embedding)
	WITH FUNCTION embedding(embedding, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (embedding AS embedding) IS 'applies a type modifier: embedding(n) holds exactly n dimensions';
CREATE CAST (embedding AS real[])
	WITH FUNCTION embedding_to_float4(embedding, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (embedding AS real[]) IS 'the elements as a real[] (implicit)';
CREATE CAST (embedding AS double precision[])
	WITH FUNCTION embedding_to_float8(embedding, integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (embedding AS double precision[]) IS 'the elements as a double precision[] (in assignments)';
CREATE CAST (embedding AS integer[])
	WITH FUNCTION embedding_to_int4(embedding, integer, boolean);
COMMENT ON CAST (embedding AS integer[]) IS 'the elements rounded to integers (explicit only)';
CREATE CAST (embedding AS numeric[])
	WITH FUNCTION embedding_to_numeric(embedding, integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (embedding AS numeric[]) IS 'the elements as a numeric[] (in assignments)';
CREATE CAST (integer[] AS embedding)
	WITH FUNCTION array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (integer[] AS embedding) IS 'an integer array as an embedding (in assignments)';
CREATE CAST (real[] AS embedding)
	WITH FUNCTION array_to_embedding(real[], integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (real[] AS embedding) IS 'a real array as an embedding (in assignments)';
CREATE CAST (double precision[] AS embedding)
	WITH FUNCTION array_to_embedding(double precision[], integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (double precision[] AS embedding) IS 'a double precision array as an embedding (in assignments; values must fit in float4)';
CREATE CAST (numeric[] AS embedding)
	WITH FUNCTION array_to_embedding(numeric[], integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (numeric[] AS embedding) IS 'a numeric array as an embedding (in assignments; values must fit in float4)';

-- operators

CREATE OPERATOR <-> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = l2_distance, COMMUTATOR = '<->');
COMMENT ON OPERATOR <->(embedding, embedding) IS 'Euclidean distance (l2_distance)';
CREATE OPERATOR <#> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = negative_inner_product, COMMUTATOR = '<#>');
COMMENT ON OPERATOR <#>(embedding, embedding) IS 'negative inner product, so that ascending order is most similar first (negative_inner_product)';
CREATE OPERATOR <=> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
COMMENT ON OPERATOR <=>(embedding, embedding) IS 'cosine distance (cosine_distance)';
CREATE OPERATOR <+> (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = l1_distance, COMMUTATOR = '<+>');
COMMENT ON OPERATOR <+>(embedding, embedding) IS 'taxicab distance (l1_distance)';
CREATE OPERATOR + (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_add, COMMUTATOR = +);
COMMENT ON OPERATOR +(embedding, embedding) IS 'element-wise sum';
CREATE OPERATOR - (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_sub);
COMMENT ON OPERATOR -(embedding, embedding) IS 'element-wise difference';
CREATE OPERATOR * (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_mul, COMMUTATOR = *);
COMMENT ON OPERATOR *(embedding, embedding) IS 'element-wise product';
CREATE OPERATOR || (LEFTARG = embedding, RIGHTARG = embedding,
	PROCEDURE = embedding_concat);
COMMENT ON OPERATOR ||(embedding, embedding) IS 'concatenation';
CREATE OPERATOR < (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
COMMENT ON OPERATOR <(embedding, embedding) IS 'less than (B-tree order: element by element, then the shorter first)';
CREATE OPERATOR <= (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
COMMENT ON OPERATOR <=(embedding, embedding) IS 'less than or equal (B-tree order)';
CREATE OPERATOR = (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR =(embedding, embedding) IS 'equal: same dimensions and elements';
CREATE OPERATOR <> (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR <>(embedding, embedding) IS 'not equal';
CREATE OPERATOR >= (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
COMMENT ON OPERATOR >=(embedding, embedding) IS 'greater than or equal (B-tree order)';
CREATE OPERATOR > (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
COMMENT ON OPERATOR >(embedding, embedding) IS 'greater than (B-tree order)';

CREATE OPERATOR CLASS embedding_ops
	DEFAULT FOR TYPE embedding USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 embedding_cmp(embedding, embedding);
COMMENT ON OPERATOR CLASS embedding_ops USING btree IS 'B-tree order of embeddings: for ORDER BY, DISTINCT, unique and B-tree indexes (not for nearest-neighbour search)';
COMMENT ON OPERATOR FAMILY embedding_ops USING btree IS 'B-tree order of embeddings (the family of operator class embedding_ops)';
