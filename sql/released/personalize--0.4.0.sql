-- Generated from sql/install/*.sql; edit those files instead.
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

-- ---- sql/install/000_schema.sql
-- Everything lives in schema personalize; what each object lets a role do is
-- governed by its own grants and, for personal data, by row-level security.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-- ---- sql/install/010_embedding.sql
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

-- ---- sql/install/020_embedding8.sql
-- embedding8: int8 scalar-quantized embeddings (one scale per vector).

CREATE TYPE embedding8;

CREATE FUNCTION embedding8_in(cstring, oid, integer) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_in(cstring, oid, integer) IS 'input function of type embedding8: text such as [1,2,3], quantized';
CREATE FUNCTION embedding8_out(embedding8) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_out(embedding8) IS 'output function of type embedding8: the dequantized elements, e.g. [1,2,3]';
CREATE FUNCTION embedding8_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_typmod_in(cstring[]) IS 'type modifier of embedding8(n): the number of dimensions';
CREATE FUNCTION embedding8_recv(internal, oid, integer) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_recv(internal, oid, integer) IS 'binary input of type embedding8 (the embedding8_send format)';
CREATE FUNCTION embedding8_send(embedding8) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_send(embedding8) IS 'binary output of type embedding8: int16 dims, int16 0, float4 scale, one int8 per element';

CREATE TYPE embedding8 (
	INPUT     = embedding8_in,
	OUTPUT    = embedding8_out,
	TYPMOD_IN = embedding8_typmod_in,
	RECEIVE   = embedding8_recv,
	SEND      = embedding8_send,
	STORAGE   = external
);
COMMENT ON TYPE embedding8 IS 'int8 scalar-quantized vector: about 4x smaller than embedding, per-element error at most max|x|/254';

CREATE FUNCTION embedding8_from_binary(bytea) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8_from_binary(bytea) IS 'decode the binary form of embedding8_send (int16 dims, int16 0, float4 scale, one int8 per element); every byte must be used';

CREATE FUNCTION l2_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_distance(embedding8, embedding8) IS 'Euclidean distance of the dequantized vectors';
CREATE FUNCTION inner_product(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inner_product(embedding8, embedding8) IS 'inner product of the dequantized vectors';
CREATE FUNCTION negative_inner_product(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION negative_inner_product(embedding8, embedding8) IS 'negative inner product of the dequantized vectors (the <#> operator)';
CREATE FUNCTION cosine_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cosine_distance(embedding8, embedding8) IS 'cosine distance of the dequantized vectors, 1 - cos(a, b)';
CREATE FUNCTION l1_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l1_distance(embedding8, embedding8) IS 'taxicab distance of the dequantized vectors';
CREATE FUNCTION dims(embedding8) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding8_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dims(embedding8) IS 'number of dimensions';
CREATE FUNCTION norm(embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION norm(embedding8) IS 'Euclidean norm of the dequantized vector';
CREATE FUNCTION quantization_error(embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_max_error' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION quantization_error(embedding8) IS 'largest absolute error of any element of this value (scale / 2)';

CREATE FUNCTION embedding8(embedding8, integer, boolean) RETURNS embedding8
	AS 'MODULE_PATHNAME', 'embedding8_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8(embedding8, integer, boolean) IS 'cast to embedding8(n): checks the dimensions against the type modifier';
CREATE FUNCTION embedding8(embedding, integer, boolean) RETURNS embedding8
	AS 'MODULE_PATHNAME', 'embedding_to_embedding8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding8(embedding, integer, boolean) IS 'quantize an embedding: one scale per vector, each element rounded to an int8 in [-127, 127]';
CREATE FUNCTION embedding(embedding8, integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding8_to_embedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION embedding(embedding8, integer, boolean) IS 'dequantize an embedding8 into an embedding';

CREATE CAST (embedding8 AS embedding8)
	WITH FUNCTION embedding8(embedding8, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (embedding8 AS embedding8) IS 'applies a type modifier: embedding8(n) holds exactly n dimensions';
CREATE CAST (embedding AS embedding8)
	WITH FUNCTION embedding8(embedding, integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (embedding AS embedding8) IS 'quantizes (in assignments): storing into an embedding8 column loses at most max|x|/254 per element';
CREATE CAST (embedding8 AS embedding)
	WITH FUNCTION embedding(embedding8, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (embedding8 AS embedding) IS 'dequantizes (implicit), so every embedding function accepts an embedding8';

CREATE OPERATOR <-> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = l2_distance, COMMUTATOR = '<->');
COMMENT ON OPERATOR <->(embedding8, embedding8) IS 'Euclidean distance (l2_distance)';
CREATE OPERATOR <#> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = negative_inner_product, COMMUTATOR = '<#>');
COMMENT ON OPERATOR <#>(embedding8, embedding8) IS 'negative inner product, so that ascending order is most similar first (negative_inner_product)';
CREATE OPERATOR <=> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
COMMENT ON OPERATOR <=>(embedding8, embedding8) IS 'cosine distance (cosine_distance)';
CREATE OPERATOR <+> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = l1_distance, COMMUTATOR = '<+>');
COMMENT ON OPERATOR <+>(embedding8, embedding8) IS 'taxicab distance (l1_distance)';

-- ---- sql/install/030_consent.sql
-- Consent tiers and the consent type.

CREATE TYPE consent_tier AS ENUM ('none', 'functional', 'personalization', 'enhanced');
COMMENT ON TYPE consent_tier IS 'ordered consent tiers: none < functional < personalization < enhanced';

CREATE TYPE consent;
CREATE FUNCTION consent_in(cstring) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_in(cstring) IS 'input function of type consent: text such as personalization+location-purchase_history (syntax only: categories are checked where a consent is made or recorded)';
CREATE FUNCTION consent_out(consent) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_out(consent) IS 'output function of type consent: the canonical text (lists sorted, duplicates dropped)';
CREATE FUNCTION consent_recv(internal) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_recv(internal) IS 'binary input of type consent: the canonical text, NUL-terminated';
CREATE FUNCTION consent_send(consent) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_send(consent) IS 'binary output of type consent: the canonical text, NUL-terminated';
CREATE TYPE consent (
	INPUT = consent_in, OUTPUT = consent_out,
	RECEIVE = consent_recv, SEND = consent_send,
	INTERNALLENGTH = VARIABLE, STORAGE = main
);
COMMENT ON TYPE consent IS 'a consent for one purpose: tier plus explicitly granted (+) and denied (-) signal categories, e.g. personalization+location-purchase_history';

-- Making a consent from category names checks them against the registry
-- (personalize.signal_categories), so these read it: STABLE, not IMMUTABLE.
CREATE FUNCTION consent_make(text, text[], text[]) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_make(text, text[], text[]) IS 'make_consent() without defaults: tier name, granted and denied categories (each must be registered)';
CREATE FUNCTION make_consent(tier consent_tier, "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}')
	RETURNS consent LANGUAGE sql STABLE PARALLEL SAFE
	AS $$ SELECT @extschema@.consent_make(tier::text, coalesce("grant", '{}'), coalesce(deny, '{}')) $$;
COMMENT ON FUNCTION make_consent(consent_tier, text[], text[]) IS 'build a consent; a category both granted and denied is denied; every category must be registered';

CREATE FUNCTION consent_tier_name(consent) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_tier_name(consent) IS 'the tier of a consent as text (tier() returns it as a consent_tier)';
CREATE FUNCTION tier(c consent) RETURNS consent_tier LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT @extschema@.consent_tier_name(c)::@extschema@.consent_tier $$;
COMMENT ON FUNCTION tier(consent) IS 'the tier of a consent';
CREATE FUNCTION granted(consent) RETURNS text[]
	AS 'MODULE_PATHNAME', 'consent_granted' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION granted(consent) IS 'categories granted explicitly';
CREATE FUNCTION denied(consent) RETURNS text[]
	AS 'MODULE_PATHNAME', 'consent_denied' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION denied(consent) IS 'categories denied explicitly';

CREATE FUNCTION consent_grant(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_grant(consent, text) IS 'the consent with a registered category granted explicitly (lifts a denial; the + operator)';
CREATE FUNCTION consent_revoke(consent, text) RETURNS consent
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_revoke(consent, text) IS 'the consent with a registered category denied explicitly (lifts a grant; the - operator)';
CREATE FUNCTION consent_allows_tier(consent, text, integer) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_allows_tier(consent, text, integer) IS 'tier rules for a category of the given tier (1, 2 or 3)';
CREATE FUNCTION consent_eq(consent, consent) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consent_eq(consent, consent) IS 'same tier, grants and denials (the = operator)';

CREATE OPERATOR + (LEFTARG = consent, RIGHTARG = text, PROCEDURE = consent_grant);
CREATE OPERATOR - (LEFTARG = consent, RIGHTARG = text, PROCEDURE = consent_revoke);
CREATE OPERATOR = (LEFTARG = consent, RIGHTARG = consent, PROCEDURE = consent_eq,
	COMMUTATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR +(consent, text) IS 'grant a registered category explicitly: ''functional''::consent + ''location''';
COMMENT ON OPERATOR -(consent, text) IS 'deny a registered category explicitly: ''enhanced''::consent - ''location''';
COMMENT ON OPERATOR =(consent, consent) IS 'same tier, grants and denials';

-- ---- sql/install/040_registry.sql
-- The vocabulary: signal categories, purposes, and which roles may act under
-- which purpose.  Rows marked builtin come from this script; they are
-- dumped like the others, so that what an administrator changed in them
-- survives a restore (merge_restored_builtin() below).

-- Registry tables change only through the extension's functions (SECURITY
-- DEFINER, owned by the installing superuser) or by their owner: row-level
-- security is forced and no policy allows writes, so neither table grants
-- nor pg_write_all_data (which does not bypass row-level security) can.
CREATE FUNCTION seal_registry_table(tbl regclass, readable boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	IF readable THEN
		EXECUTE format('CREATE POLICY readable ON %s FOR SELECT USING (true)', tbl);
	END IF;
END $$;
REVOKE ALL ON FUNCTION seal_registry_table(regclass, boolean) FROM PUBLIC;
COMMENT ON FUNCTION seal_registry_table(regclass, boolean) IS 'install-time helper: only the owner and the extension''s functions write a registry table';

-- A restore runs CREATE EXTENSION, which writes the built-in rows as this
-- version ships them, and then loads the dumped rows, built-in ones
-- included.  A restored built-in row updates the installed one instead of
-- colliding with it, in the columns an administrator may tune (the
-- trigger's arguments after the key column): a weight, a retention or a
-- narrower tier cap set before the dump is set again.  A built-in row this
-- version does not have is inserted as it was.
CREATE FUNCTION merge_restored_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key text := TG_ARGV[0];
	merged bigint;
BEGIN
	IF NOT NEW.builtin THEN
		RETURN NEW;
	END IF;
	EXECUTE format('UPDATE %s t SET %s WHERE t.%I = ($1).%I AND t.builtin', TG_RELID::regclass,
	               (SELECT string_agg(format('%I = ($1).%I', c, c), ', ') FROM unnest(TG_ARGV[1:]) c),
	               key, key)
	USING NEW;
	GET DIAGNOSTICS merged = ROW_COUNT;
	RETURN CASE WHEN merged = 0 THEN NEW END;
END $$;
REVOKE ALL ON FUNCTION merge_restored_builtin() FROM PUBLIC;
COMMENT ON FUNCTION merge_restored_builtin() IS 'trigger: a restored built-in row updates the one CREATE EXTENSION wrote (in the columns named by the trigger''s arguments) instead of colliding with it';

CREATE TABLE signal_categories (
	name          text PRIMARY KEY
	              CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	tier          smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
	justification text CHECK (justification IS NULL OR btrim(justification) <> ''),
	retention     interval CHECK (retention IS NULL OR retention > interval '0'),
	builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE signal_categories IS 'kinds of personal signal; tier 1 functional, 2 personalization, 3 enhanced (per-category grant); a category without justification is never used for training';
COMMENT ON COLUMN signal_categories.name IS 'lower-case name, as consents and interactions.category spell it';
COMMENT ON COLUMN signal_categories.tier IS '1 functional, 2 personalization, 3 enhanced: the lowest consent tier that allows the category (tier 3 also needs an explicit grant)';
COMMENT ON COLUMN signal_categories.justification IS 'why the category is needed, shown on model cards; NULL: never used for training';
COMMENT ON COLUMN signal_categories.retention IS 'how long interactions of the category are kept (the retention job deletes older ones); NULL: no limit';
COMMENT ON COLUMN signal_categories.builtin IS 'installed by the extension; a restore keeps what was changed in its tier, justification and retention';

INSERT INTO signal_categories (name, tier, justification, retention, builtin) VALUES
	('session', 1, 'Signals of the current visit, needed to deliver the service (cart, recently viewed this session).', '1 day', true),
	('browsing_history', 2, 'Items viewed across visits, used to recommend related items.', '180 days', true),
	('purchase_history', 2, 'Items bought, used to recommend complements and avoid repeats.', '2 years', true),
	('preferences', 2, 'Preferences the person stated (favourite categories, sizes).', '2 years', true),
	('location', 3, 'Approximate location, used for local availability when granted.', '30 days', true),
	('demographic', 3, 'Age band or similar, only when the person grants it.', '1 year', true),
	('third_party', 3, 'Data from partners, only when the person grants it.', '90 days', true);

CREATE FUNCTION check_category_limit() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (SELECT count(*) FROM @extschema@.signal_categories) > 64 THEN
		RAISE EXCEPTION 'at most 64 signal categories can be registered'
			USING ERRCODE = 'program_limit_exceeded';
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION check_category_limit() FROM PUBLIC;
COMMENT ON FUNCTION check_category_limit() IS 'trigger: at most 64 signal categories (the consent check keeps one bit per category)';
CREATE TRIGGER category_limit AFTER INSERT ON signal_categories
	FOR EACH STATEMENT EXECUTE FUNCTION check_category_limit();

CREATE TABLE purposes (
	name                  text PRIMARY KEY
	                      CHECK (name ~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' AND length(name) <= 64),
	description           text NOT NULL,
	max_tier              consent_tier NOT NULL,
	personal_data_allowed boolean NOT NULL,
	builtin               boolean NOT NULL DEFAULT false,
	decides_terms         boolean NOT NULL DEFAULT false,
	inherits              boolean NOT NULL DEFAULT false,
	-- Deciding what a person pays, or on what terms, never uses personal data
	-- (personalized pricing is refused), whatever the purpose is called ...
	CONSTRAINT terms_never_personal CHECK (NOT (decides_terms AND personal_data_allowed)),
	-- ... and a name that says it sets prices or terms must declare it.
	CONSTRAINT price_names_decide_terms
		CHECK (decides_terms OR name !~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)'),
	CONSTRAINT top_level_inherits_nothing CHECK (NOT inherits OR name ~ '\.')
);
COMMENT ON TABLE purposes IS 'why personal data may be read; dotted names form a hierarchy in which a sub-purpose is never wider than its parent, and is covered by its parent''s grants and consents only when it inherits';
COMMENT ON COLUMN purposes.name IS 'dotted lower-case name; "marketing.email" is a sub-purpose of "marketing"';
COMMENT ON COLUMN purposes.description IS 'what the purpose is for, in words a person understands';
COMMENT ON COLUMN purposes.max_tier IS 'highest consent tier whose categories the purpose may read (the lowest along its ancestors applies)';
COMMENT ON COLUMN purposes.personal_data_allowed IS 'false: reading personal data under the purpose is an error (so is reading under a sub-purpose)';
COMMENT ON COLUMN purposes.builtin IS 'installed by the extension; a restore keeps what was changed in its description, tier cap and personal-data use';
COMMENT ON COLUMN purposes.decides_terms IS 'the purpose decides prices or terms offered to a person; such a purpose, and every sub-purpose of it, never reads personal data';
COMMENT ON COLUMN purposes.inherits IS 'a sub-purpose covered by its parent''s purpose grants, consents and active model; false: it needs its own';

INSERT INTO purposes (name, description, max_tier, personal_data_allowed, builtin, decides_terms) VALUES
	('service', 'Delivering the service the person asked for (session signals only).', 'functional', true, true, false),
	('recommendation', 'Recommending items to the person.', 'enhanced', true, true, false),
	('analytics', 'Aggregate analysis of how the service is used.', 'personalization', true, true, false),
	('marketing', 'Marketing messages to the person.', 'enhanced', true, true, false),
	('pricing', 'Setting prices. Personal data is never used: personalized pricing is refused.', 'none', false, true, true);

-- The purposes whose grants and consents cover a purpose: itself, then each
-- ancestor as long as the purpose below it inherits.  Most specific first.
CREATE FUNCTION purpose_chain(purpose text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE chain (name, inherits, depth) AS (
		SELECT p.name, p.inherits, 1 FROM @extschema@.purposes p WHERE p.name = purpose_chain.purpose
		UNION ALL
		SELECT p.name, p.inherits, c.depth + 1
		  FROM chain c JOIN @extschema@.purposes p ON p.name = substring(c.name FROM '^(.*)\.[^.]+$')
		 WHERE c.inherits)
	SELECT coalesce(array_agg(name ORDER BY depth), '{}') FROM chain
$$;
COMMENT ON FUNCTION purpose_chain(text) IS 'the purpose and the ancestors it inherits grants and consents from, most specific first (empty for an unknown purpose)';

CREATE FUNCTION create_purpose(name text, description text, max_tier consent_tier,
                               personal_data_allowed boolean DEFAULT NULL,
                               decides_terms boolean DEFAULT NULL, inherit boolean DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	parent @extschema@.purposes;
	parent_name text := substring(name FROM '^(.*)\.[^.]+$');
	personal boolean;
	terms boolean := decides_terms;
BEGIN
	IF name IS NULL OR description IS NULL OR max_tier IS NULL THEN
		RAISE EXCEPTION 'name, description and max_tier must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' OR length(name) > 64 THEN
		RAISE EXCEPTION 'invalid purpose name "%"', name
			USING ERRCODE = 'invalid_name',
			      HINT = 'Purposes are dotted lower-case names such as "recommendation" or "marketing.email".';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = create_purpose.name) THEN
		RAISE EXCEPTION 'purpose "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
	IF parent_name IS NOT NULL THEN
		SELECT * INTO parent FROM @extschema@.purposes p WHERE p.name = parent_name;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'parent purpose "%" of "%" does not exist', parent_name, name
				USING ERRCODE = 'undefined_object', HINT = 'Create the parent purpose first.';
		END IF;
		IF inherit IS NULL THEN
			RAISE EXCEPTION 'say whether sub-purpose "%" inherits the grants and consents of "%"', name, parent_name
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'inherit => true: roles granted the parent may act under it and consents to the parent cover it; inherit => false: it needs grants and consents of its own.';
		END IF;
		-- a sub-purpose of a purpose that decides prices or terms does too
		terms := coalesce(terms, parent.decides_terms);
		IF parent.decides_terms AND NOT terms THEN
			RAISE EXCEPTION 'purpose "%" decides prices or terms, and so does its sub-purpose "%"', parent_name, name
				USING ERRCODE = 'insufficient_privilege', HINT = 'Create it with decides_terms => true.';
		END IF;
	ELSIF inherit THEN
		RAISE EXCEPTION 'purpose "%" has no parent to inherit from', name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF terms IS NULL AND personal_data_allowed IS DISTINCT FROM false THEN
		RAISE EXCEPTION 'say whether purpose "%" decides prices or terms', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'decides_terms => true for a purpose that sets what a person pays or on what terms (it never reads personal data: personalized pricing is refused); decides_terms => false otherwise.';
	END IF;
	terms := coalesce(terms, false);
	IF terms AND personal_data_allowed THEN
		RAISE EXCEPTION 'purpose "%" decides prices or terms, so it may not use personal data: personalized pricing is refused', name
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT terms AND name ~ '(^|[._])(price|prices|pricing|tariff|tariffs|premium|premiums|terms|underwriting)([._]|$)' THEN
		RAISE EXCEPTION 'purpose name "%" says it sets prices or terms, so it must be created with decides_terms => true (and never reads personal data)', name
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'Personalized pricing is refused. If the purpose does not decide prices or terms, name it for what it does.';
	END IF;
	personal := coalesce(personal_data_allowed, NOT terms);
	IF parent_name IS NOT NULL AND (parent.max_tier < max_tier OR (NOT parent.personal_data_allowed AND personal)) THEN
		RAISE EXCEPTION 'purpose "%" cannot allow more than its parent "%"', name, parent_name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'A sub-purpose may narrow its parent''s tier cap and personal-data use, never widen them.';
	END IF;
	INSERT INTO @extschema@.purposes (name, description, max_tier, personal_data_allowed, builtin, decides_terms, inherits)
	VALUES (name, description, max_tier, personal, false, terms, coalesce(inherit, false));
END $$;
COMMENT ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) IS
	'register a purpose; say whether it decides prices or terms (then it never reads personal data) and, for a sub-purpose, whether it inherits its parent''s grants and consents';

CREATE TABLE purpose_grants (
	role       regrole NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name) ON DELETE CASCADE,
	granted_by name NOT NULL DEFAULT current_user,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (role, purpose)
);
COMMENT ON TABLE purpose_grants IS 'roles allowed to declare a purpose (and the sub-purposes that inherit from it)';
COMMENT ON COLUMN purpose_grants.role IS 'the grantee; its members with INHERIT hold the purpose too';
COMMENT ON COLUMN purpose_grants.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_grants.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_grants.granted_at IS 'when';

-- The role on whose behalf a change is made: SET ROLE counts, and so does
-- the caller of a SECURITY DEFINER function.
CREATE FUNCTION acting_role() RETURNS name LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN current_setting('role') = 'none' THEN session_user
	            ELSE current_setting('role')::name END
$$;
COMMENT ON FUNCTION acting_role() IS 'the role a session acts as (SET ROLE counts), also inside SECURITY DEFINER functions';

-- Holding a purpose is what makes a role a reader of personal data, so it
-- also gives SELECT on personalize.interactions (which PUBLIC does not have).
CREATE FUNCTION grant_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	INSERT INTO @extschema@.purpose_grants (role, purpose, granted_by)
	VALUES (role, purpose, @extschema@.acting_role())
	ON CONFLICT DO NOTHING;
	EXECUTE format('GRANT SELECT ON @extschema@.interactions TO %s', role);
END $$;
COMMENT ON FUNCTION grant_purpose(regrole, text) IS 'allow a role (and its members) to declare a purpose; gives it SELECT on personalize.interactions';

CREATE FUNCTION revoke_purpose(role regrole, purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	DELETE FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purpose_grants g WHERE g.role = revoke_purpose.role) THEN
		EXECUTE format('REVOKE SELECT ON @extschema@.interactions FROM %s', role);
	END IF;
END $$;
COMMENT ON FUNCTION revoke_purpose(regrole, text) IS 'withdraw a purpose grant (and SELECT on personalize.interactions with the role''s last one); takes effect at the role''s next statement';

CREATE FUNCTION declare_purpose(purpose text) RETURNS text LANGUAGE sql
AS $$ SELECT pg_catalog.set_config('personalize.purpose', purpose, false) $$;
COMMENT ON FUNCTION declare_purpose(text) IS 'function form of SET personalize.purpose (same checks)';
CREATE FUNCTION current_purpose() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT nullif(pg_catalog.current_setting('personalize.purpose', true), '') $$;
COMMENT ON FUNCTION current_purpose() IS 'the purpose this session declared, or NULL';

REVOKE ALL ON FUNCTION create_purpose(text, text, consent_tier, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_purpose(regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_purpose(regrole, text) FROM PUBLIC;
GRANT SELECT ON signal_categories, purposes TO PUBLIC;
SELECT seal_registry_table('signal_categories', true);
SELECT seal_registry_table('purposes', true);
SELECT seal_registry_table('purpose_grants', false);

CREATE TRIGGER merge_restored BEFORE INSERT ON signal_categories
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('name', 'tier', 'justification', 'retention');
CREATE TRIGGER merge_restored BEFORE INSERT ON purposes
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('name', 'description', 'max_tier', 'personal_data_allowed');
SELECT pg_catalog.pg_extension_config_dump('signal_categories', '');
SELECT pg_catalog.pg_extension_config_dump('purposes', '');
-- Grants to roles dropped since are not dumped: their OIDs could name
-- another role where the dump is restored.
SELECT pg_catalog.pg_extension_config_dump('purpose_grants',
	'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = role)');

-- ---- sql/install/050_ledger.sql
-- The consent ledger (append-only) and the current consent of each subject
-- for each purpose.  Neither is readable by application roles: they go
-- through set_consent(), withdraw_consent() and consent_of().

CREATE TABLE consent_ledger (
	entry_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject_id     bigint,
	purpose        text NOT NULL REFERENCES purposes (name),
	action         text NOT NULL CHECK (action IN ('set', 'withdraw')),
	consent        consent NOT NULL,
	source         text,
	notice_version text,
	recorded_by    name NOT NULL,
	recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
	subject_key    bytea,
	-- erase_subject() replaces the id by its keyed hash, nothing else
	CONSTRAINT subject_id_or_key CHECK ((subject_id IS NULL) <> (subject_key IS NULL))
);
CREATE INDEX ON consent_ledger (subject_id, recorded_at);
COMMENT ON TABLE consent_ledger IS 'every consent change, append-only: who, what, when, from where, under which notice';
COMMENT ON COLUMN consent_ledger.entry_id IS 'order of recording';
COMMENT ON COLUMN consent_ledger.subject_id IS 'the person the consent is about (NULL once erased: see subject_key)';
COMMENT ON COLUMN consent_ledger.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_ledger.action IS 'set (set_consent()) or withdraw (withdraw_consent())';
COMMENT ON COLUMN consent_ledger.consent IS 'the consent recorded (none for a withdrawal)';
COMMENT ON COLUMN consent_ledger.source IS 'where the person gave it (banner, settings page, support...), as the caller said';
COMMENT ON COLUMN consent_ledger.notice_version IS 'the version of the notice the person was shown';
COMMENT ON COLUMN consent_ledger.recorded_by IS 'the role that recorded it (SET ROLE counts)';
COMMENT ON COLUMN consent_ledger.recorded_at IS 'when it was recorded (clock time, so entries of one transaction are ordered)';
COMMENT ON COLUMN consent_ledger.subject_key IS 'after erase_subject(): the keyed hash of the subject id (personalize.subject_key()), kept as proof of consent; NULL before';

CREATE TABLE consents (
	subject_id bigint NOT NULL,
	purpose    text NOT NULL REFERENCES purposes (name),
	consent    consent NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (subject_id, purpose)
);
CREATE INDEX ON consents (purpose);
COMMENT ON TABLE consents IS 'current consent per subject and purpose (the latest ledger entry)';
COMMENT ON COLUMN consents.subject_id IS 'the person';
COMMENT ON COLUMN consents.purpose IS 'the purpose';
COMMENT ON COLUMN consents.consent IS 'the consent in force';
COMMENT ON COLUMN consents.updated_at IS 'when it was last recorded';

-- Append-only, with one exception: erase_subject() replaces an erased
-- subject's id by its keyed hash, and the id wherever the free-text fields
-- quote it by "[erased]".  An update doing exactly that, and nothing else,
-- passes; anything else is refused, whoever tries.
CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.subject_id IS NOT NULL AND NEW.subject_id IS NULL
	   AND NEW.subject_key = @extschema@.subject_key(OLD.subject_id)
	   AND (NEW.entry_id, NEW.purpose, NEW.action, NEW.consent::text, NEW.recorded_by, NEW.recorded_at)
	       IS NOT DISTINCT FROM (OLD.entry_id, OLD.purpose, OLD.action, OLD.consent::text, OLD.recorded_by, OLD.recorded_at)
	   AND NEW.source IS NOT DISTINCT FROM @extschema@.redact_subject(OLD.source, OLD.subject_id)
	   AND NEW.notice_version IS NOT DISTINCT FROM @extschema@.redact_subject(OLD.notice_version, OLD.subject_id) THEN
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'the consent ledger is append-only'
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'Record a change with personalize.set_consent() or personalize.withdraw_consent().';
END $$;
REVOKE ALL ON FUNCTION refuse_ledger_change() FROM PUBLIC;
COMMENT ON FUNCTION refuse_ledger_change() IS 'trigger: the consent ledger is append-only, except for the pseudonymization erase_subject() does';
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON consent_ledger
	FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON consent_ledger
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
-- also under session_replication_role = replica
ALTER TABLE consent_ledger ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE consent_ledger ENABLE ALWAYS TRIGGER append_only_truncate;

-- One wording and SQLSTATE for each error about names, wherever a name is
-- taken (the C code says the same, src/consent/purpose.h): NULL is 22004,
-- a malformed purpose name 42602, a name nobody registered 42704.
CREATE FUNCTION check_categories(names text[]) RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unknown text;
BEGIN
	IF array_position(names, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'signal category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT n INTO unknown FROM unnest(names) n
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.signal_categories c WHERE c.name = n)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'signal category "%" does not exist', unknown
			USING ERRCODE = 'undefined_object',
			      HINT = 'Known categories are listed in personalize.signal_categories.';
	END IF;
END $$;
COMMENT ON FUNCTION check_categories(text[]) IS 'an error unless every name is a registered signal category';

CREATE FUNCTION check_purpose_exists(purpose text) RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF purpose IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF purpose !~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$' OR length(purpose) > 64 THEN
		RAISE EXCEPTION 'invalid purpose name "%"', purpose
			USING ERRCODE = 'invalid_name',
			      HINT = 'Purposes are dotted lower-case names such as "recommendation" or "marketing.email".';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.purposes p WHERE p.name = purpose) THEN
		RAISE EXCEPTION 'purpose "%" does not exist', purpose
			USING ERRCODE = 'undefined_object',
			      HINT = 'Known purposes are listed in personalize.purposes; personalize.create_purpose() adds one.';
	END IF;
END $$;
COMMENT ON FUNCTION check_purpose_exists(text) IS 'an error unless the purpose is registered (NULL and malformed names have errors of their own)';

CREATE FUNCTION record_consent(subject bigint, purpose text, action text, c consent,
                               source text, notice_version text)
RETURNS consent LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(purpose);
	PERFORM @extschema@.check_categories(@extschema@.granted(c) || @extschema@.denied(c));
	INSERT INTO @extschema@.consent_ledger
		(subject_id, purpose, action, consent, source, notice_version, recorded_by)
	VALUES (subject, purpose, action, c, source, notice_version, @extschema@.acting_role());
	INSERT INTO @extschema@.consents AS cur (subject_id, purpose, consent, updated_at)
	VALUES (subject, purpose, c, clock_timestamp())
	ON CONFLICT ON CONSTRAINT consents_pkey
	DO UPDATE SET consent = excluded.consent, updated_at = excluded.updated_at;
	RETURN c;
END $$;
REVOKE ALL ON FUNCTION record_consent(bigint, text, text, consent, text, text) FROM PUBLIC;
COMMENT ON FUNCTION record_consent(bigint, text, text, consent, text, text) IS 'set_consent() and withdraw_consent(): append to the ledger and replace the current consent, after checking the purpose and categories';

CREATE FUNCTION refuse_null_tier() RETURNS consent LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'consent tier must not be null'
		USING ERRCODE = 'null_value_not_allowed',
		      HINT = 'Use ''none'' to record that nothing is allowed, or personalize.withdraw_consent().';
END $$;

REVOKE ALL ON FUNCTION refuse_null_tier() FROM PUBLIC;
COMMENT ON FUNCTION refuse_null_tier() IS 'set_consent() helper: a NULL tier is an error';

CREATE FUNCTION set_consent(subject bigint, purpose text, tier consent_tier,
                            "grant" text[] DEFAULT '{}', deny text[] DEFAULT '{}',
                            source text DEFAULT NULL, notice_version text DEFAULT NULL)
RETURNS consent LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tier IS NULL
	            THEN @extschema@.refuse_null_tier()
	            ELSE @extschema@.record_consent(subject, purpose, 'set',
	                     @extschema@.make_consent(tier, "grant", deny), source, notice_version) END
$$;
COMMENT ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text) IS
	'record a subject''s consent for a purpose (replaces the previous one); effective from the next statement';

CREATE FUNCTION withdraw_consent(subject bigint, purpose text, source text DEFAULT NULL,
                                 notice_version text DEFAULT NULL)
RETURNS consent LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	child text;
BEGIN
	-- a withdrawal of "marketing" also withdraws "marketing.email" and below
	FOR child IN
		SELECT c.purpose FROM @extschema@.consents c
		 WHERE c.subject_id = withdraw_consent.subject
		   AND starts_with(c.purpose, withdraw_consent.purpose || '.')
		   AND @extschema@.tier(c.consent) <> 'none'
		 ORDER BY c.purpose
	LOOP
		PERFORM @extschema@.record_consent(subject, child, 'withdraw', 'none'::@extschema@.consent,
		                                   source, notice_version);
	END LOOP;
	RETURN @extschema@.record_consent(subject, purpose, 'withdraw', 'none'::@extschema@.consent,
	                                  source, notice_version);
END $$;
COMMENT ON FUNCTION withdraw_consent(bigint, text, text, text) IS
	'withdraw a subject''s consent for a purpose: nothing of theirs is visible under it from the next statement';

CREATE FUNCTION consent_of(subject bigint, purpose text) RETURNS consent
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	RETURN (SELECT c.consent FROM @extschema@.consents c
	         WHERE c.subject_id = consent_of.subject AND c.purpose = consent_of.purpose);
END $$;
COMMENT ON FUNCTION consent_of(bigint, text) IS 'a subject''s current consent for a purpose (NULL when none was ever recorded; the purpose must exist)';

REVOKE ALL ON FUNCTION set_consent(bigint, text, consent_tier, text[], text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION withdraw_consent(bigint, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION consent_of(bigint, text) FROM PUBLIC;

-- Subject-keyed: row-level security forced, and no policy, so only the
-- functions above (owned by the installing superuser) read or write them.
ALTER TABLE consent_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_ledger FORCE ROW LEVEL SECURITY;
ALTER TABLE consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE consents FORCE ROW LEVEL SECURITY;

SELECT pg_catalog.pg_extension_config_dump('consent_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('consents', '');
-- and where the ledger's numbering is, or a restored database would hand
-- out entry ids that exist already
SELECT pg_catalog.pg_extension_config_dump('consent_ledger_entry_id_seq', '');

-- ---- sql/install/060_data.sql
-- The catalogue and the behavioural data the policies protect.

CREATE TABLE items (
	item_id    bigint PRIMARY KEY,
	category   text,
	attributes jsonb NOT NULL DEFAULT '{}',
	sponsored  boolean NOT NULL DEFAULT false,
	embedding  embedding,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE items IS 'the catalogue (not personal data)';
COMMENT ON COLUMN items.item_id IS 'the application''s id of the item';
COMMENT ON COLUMN items.category IS 'the item''s category in the catalogue (recommend(category => ...) filters on it; not a signal category)';
COMMENT ON COLUMN items.attributes IS 'anything else the application wants to keep with the item';
COMMENT ON COLUMN items.sponsored IS 'paid placement: recommend() caps such items at personalize.sponsored_share and marks them';
COMMENT ON COLUMN items.embedding IS 'an optional content embedding of the item';
COMMENT ON COLUMN items.created_at IS 'when the item was added';
GRANT SELECT ON items TO PUBLIC;

CREATE TABLE interactions (
	interaction_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject_id     bigint NOT NULL,
	item_id        bigint NOT NULL REFERENCES items (item_id) ON DELETE CASCADE,
	category       text NOT NULL REFERENCES signal_categories (name),
	kind           text NOT NULL DEFAULT 'view' CHECK (kind ~ '^[a-z][a-z0-9_]{0,30}$'),
	weight         real NOT NULL DEFAULT 1
	               CHECK (weight > '-Infinity'::real AND weight < 'Infinity'::real),
	occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON interactions (subject_id, occurred_at);
CREATE INDEX ON interactions (item_id);
COMMENT ON TABLE interactions IS 'behavioural signals: visible only under a declared purpose the subject consented to for the category';
COMMENT ON COLUMN interactions.interaction_id IS 'order of recording (names no one)';
COMMENT ON COLUMN interactions.subject_id IS 'the person who interacted';
COMMENT ON COLUMN interactions.item_id IS 'the item interacted with';
COMMENT ON COLUMN interactions.category IS 'the signal category of the row: which consent makes it visible';
COMMENT ON COLUMN interactions.kind IS 'view, click, cart, purchase... (training weight from interaction_kinds)';
COMMENT ON COLUMN interactions.weight IS 'the interaction''s own weight, multiplied by its kind''s';
COMMENT ON COLUMN interactions.occurred_at IS 'when it happened';

-- Reading is governed by the policy, and only roles holding a purpose may
-- try (grant_purpose() gives them SELECT); writing needs an explicit grant:
--   GRANT INSERT (subject_id, item_id, category, kind, weight, occurred_at)
--     ON personalize.interactions TO app;

CREATE FUNCTION track(subject bigint, item bigint, category text, kind text DEFAULT 'view',
                      weight real DEFAULT 1, occurred_at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF subject IS NULL OR item IS NULL THEN
		RAISE EXCEPTION 'subject and item must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY[category]);
	IF kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid interaction kind "%"', kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
	INSERT INTO @extschema@.interactions (subject_id, item_id, category, kind, weight, occurred_at)
	VALUES (subject, item, category, coalesce(kind, 'view'), coalesce(weight, 1), coalesce(occurred_at, now()));
END $$;
COMMENT ON FUNCTION track(bigint, bigint, text, text, real, timestamptz) IS 'record one behavioural signal (the caller needs INSERT on interactions)';

-- The bulk path for application roles: PostgreSQL refuses COPY FROM into a
-- table with row-level security for them, so arrays go in one statement.
CREATE FUNCTION track_many(subjects bigint[], items bigint[], categories text[],
                           kinds text[] DEFAULT NULL, weights real[] DEFAULT NULL,
                           occurred_at timestamptz[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := coalesce(cardinality(subjects), 0);
	inserted bigint;
	bad_kind text;
BEGIN
	IF coalesce(cardinality(items), 0) <> n OR coalesce(cardinality(categories), 0) <> n
	   OR (kinds IS NOT NULL AND cardinality(kinds) <> n)
	   OR (weights IS NOT NULL AND cardinality(weights) <> n)
	   OR (occurred_at IS NOT NULL AND cardinality(occurred_at) <> n) THEN
		RAISE EXCEPTION 'track_many() needs arrays of equal length'
			USING ERRCODE = 'array_subscript_error';
	END IF;
	IF array_position(subjects, NULL) IS NOT NULL OR array_position(items, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'subject and item must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY(SELECT DISTINCT c FROM unnest(categories) c));
	SELECT k INTO bad_kind FROM unnest(kinds) k WHERE k !~ '^[a-z][a-z0-9_]{0,30}$' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'invalid interaction kind "%"', bad_kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
	INSERT INTO @extschema@.interactions (subject_id, item_id, category, kind, weight, occurred_at)
	SELECT s, i, c, coalesce(k, 'view'), coalesce(w, 1), coalesce(t, now())
	  FROM unnest(subjects, items, categories,
	              coalesce(kinds, array_fill(NULL::text, ARRAY[n])),
	              coalesce(weights, array_fill(NULL::real, ARRAY[n])),
	              coalesce(occurred_at, array_fill(NULL::timestamptz, ARRAY[n]))) AS u(s, i, c, k, w, t);
	GET DIAGNOSTICS inserted = ROW_COUNT;
	RETURN inserted;
END $$;
COMMENT ON FUNCTION track_many(bigint[], bigint[], text[], text[], real[], timestamptz[]) IS
	'record many signals in one statement, all or nothing (the caller needs INSERT on interactions)';

SELECT pg_catalog.pg_extension_config_dump('items', '');
SELECT pg_catalog.pg_extension_config_dump('interactions', '');
SELECT pg_catalog.pg_extension_config_dump('interactions_interaction_id_seq', '');

-- ---- sql/install/070_policies.sql
-- Row-level security: personal rows are visible only under a declared purpose
-- granted to the reading role, and only when the row's subject consented to
-- that purpose (or a parent purpose) for the row's signal category.

CREATE FUNCTION row_visible(subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text) IS
	'true when the declared purpose is granted to the current role and the subject''s consent allows the category';

-- With the row's time: also false once the row is older than its category's
-- retention (the cutoff, statement start minus retention, is computed once
-- per statement; a NULL time never expires).  Not STRICT, for that NULL.
CREATE FUNCTION row_visible(subject bigint, category text, at timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_visible_at_sql' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION row_visible(bigint, text, timestamptz) IS
	'row_visible(subject, category), and the row''s time is within the category''s retention (a NULL time never expires)';

-- Statement triggers (fired in every session, also with
-- session_replication_role = replica, and for TRUNCATE) plus row triggers
-- enabled for replica sessions only: the logical replication apply worker
-- fires row triggers, never statement ones.  Either way, a change to the
-- registry reaches every session's next statement.
CREATE FUNCTION invalidate_visibility() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_invalidate_visibility' LANGUAGE C;
REVOKE ALL ON FUNCTION invalidate_visibility() FROM PUBLIC;
COMMENT ON FUNCTION invalidate_visibility() IS 'trigger on the registry tables: every session drops its cached consent decisions at commit';

CREATE FUNCTION watch_registry_table(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('CREATE TRIGGER invalidate_visibility AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
	               'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.invalidate_visibility()', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER invalidate_visibility', tbl);
	EXECUTE format('CREATE TRIGGER invalidate_visibility_apply BEFORE INSERT OR UPDATE OR DELETE ON %s '
	               'FOR EACH ROW EXECUTE FUNCTION @extschema@.invalidate_visibility()', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER invalidate_visibility_apply', tbl);
END $$;
REVOKE ALL ON FUNCTION watch_registry_table(regclass) FROM PUBLIC;
COMMENT ON FUNCTION watch_registry_table(regclass) IS 'install-time helper: the invalidation triggers of a registry table';
SELECT watch_registry_table(t) FROM unnest(ARRAY['purposes', 'purpose_grants', 'signal_categories']::regclass[]) t;

-- personalize.consents feeds the shared consent store (src/consent/consent_store.c):
-- the row trigger records every change, shows it to the transaction's own
-- later statements and applies it to the store when the transaction
-- commits; the statement trigger has the store rebuilt after a TRUNCATE.
-- AFTER, so that what is recorded is what was written.  Both are enabled
-- ALWAYS, so that sessions with session_replication_role = replica and the
-- logical replication apply worker (which fires row triggers only) cannot
-- change consents without the store learning it.  The trigger function
-- refuses any other table.
CREATE FUNCTION consents_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_consents_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION consents_changed() FROM PUBLIC;
COMMENT ON FUNCTION consents_changed() IS 'trigger on personalize.consents: keeps the shared consent store current (at commit) and shows a transaction its own changes';
CREATE TRIGGER consents_changed AFTER INSERT OR UPDATE OR DELETE ON consents
	FOR EACH ROW EXECUTE FUNCTION consents_changed();
CREATE TRIGGER consents_truncated AFTER TRUNCATE ON consents
	FOR EACH STATEMENT EXECUTE FUNCTION consents_changed();
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_changed;
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_truncated;

CREATE FUNCTION consent_store(OUT database name, OUT state text, OUT stale boolean,
                              OUT purposes integer, OUT consents bigint, OUT classes integer,
                              OUT bytes bigint, OUT built_at timestamptz, OUT build_ms double precision,
                              OUT builds bigint, OUT changes_applied bigint, OUT detail text)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pz_consent_store_sql' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION consent_store() FROM PUBLIC;
COMMENT ON FUNCTION consent_store() IS
	'the consent stores in shared memory, one per database: state (ready, stale, building, unusable, empty), purposes, consents held, distinct consents, bytes, when built and how long it took, builds, committed changes applied';

CREATE TABLE protected_tables (
	relid             regclass PRIMARY KEY,
	subject_column    name NOT NULL,
	category_column   name,
	category_constant text REFERENCES signal_categories (name),
	enabled_rls       boolean NOT NULL,
	forced_rls        boolean NOT NULL DEFAULT false,
	builtin           boolean NOT NULL DEFAULT false,
	protected_by      name NOT NULL DEFAULT current_user,
	protected_at      timestamptz NOT NULL DEFAULT now(),
	inherited_from    regclass,
	CHECK ((category_column IS NULL) <> (category_constant IS NULL)),
	time_column       name,
	erasable          boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE protected_tables IS 'tables whose rows are filtered by consent, partitions and inheritance children included (rights requests erase from these too)';
COMMENT ON COLUMN protected_tables.relid IS 'the protected table';
COMMENT ON COLUMN protected_tables.subject_column IS 'its column holding the subject id';
COMMENT ON COLUMN protected_tables.category_column IS 'its text column naming each row''s signal category (or NULL)';
COMMENT ON COLUMN protected_tables.category_constant IS 'the signal category of every row (or NULL)';
COMMENT ON COLUMN protected_tables.enabled_rls IS 'protect() enabled row-level security (unprotect() disables it again)';
COMMENT ON COLUMN protected_tables.forced_rls IS 'row-level security was already forced before protect()';
COMMENT ON COLUMN protected_tables.builtin IS 'a table of the extension itself';
COMMENT ON COLUMN protected_tables.protected_by IS 'the role that called protect()';
COMMENT ON COLUMN protected_tables.protected_at IS 'when';
COMMENT ON COLUMN protected_tables.inherited_from IS 'the protected ancestor this partition or inheritance child was protected through (NULL: protected itself)';
COMMENT ON COLUMN protected_tables.time_column IS 'its column holding when each row was recorded: rows older than their category''s retention are hidden and purged (NULL: rows never expire)';
COMMENT ON COLUMN protected_tables.erasable IS 'erase_subject() deletes the subject''s rows (false: kept, e.g. under a legal obligation, and reported)';
GRANT SELECT ON protected_tables TO PUBLIC;
SELECT seal_registry_table('protected_tables', true);
SELECT watch_registry_table('protected_tables');

CREATE FUNCTION column_type(tbl regclass, col name) RETURNS regtype LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT atttypid::regtype FROM pg_attribute
	 WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped
$$;
COMMENT ON FUNCTION column_type(regclass, name) IS 'the type of a column, NULL if the table has none of that name';

-- Writes into a table with unique keys must stay on rows the writer can see:
-- otherwise a key conflict would answer whether a hidden row exists.
CREATE FUNCTION row_writable(tbl regclass, subject bigint, category text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_row_writable' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION row_writable(regclass, bigint, text) IS
	'write check of protected tables: row_visible(subject, category) when a unique or exclusion constraint could involve the subject (a conflict would reveal a hidden row), else true';

-- Descendants (partitions, inheritance children) of a table, at any depth.
CREATE FUNCTION descendants(tbl regclass) RETURNS SETOF regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE d (relid) AS (
		SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl
		UNION
		SELECT i.inhrelid FROM d JOIN pg_inherits i ON i.inhparent = d.relid)
	SELECT relid::regclass FROM d
$$;
COMMENT ON FUNCTION descendants(regclass) IS 'the partitions and inheritance children of a table, at any depth';

-- What key and foreign-key checks can still tell about hidden rows of a
-- protected table: PostgreSQL checks them against every row.  A unique key
-- over the subject (and the category column, if the category is one) is
-- closed by row_writable(); an identity key says nothing about anyone.
CREATE FUNCTION open_channels(tbl regclass) RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	WITH p AS (
		SELECT t.relid, t.subject_column, t.category_column,
		       (SELECT attnum FROM pg_attribute WHERE attrelid = t.relid AND attname = t.subject_column) AS subj,
		       (SELECT attnum FROM pg_attribute WHERE attrelid = t.relid AND attname = t.category_column) AS cat
		  FROM @extschema@.protected_tables t WHERE t.relid = tbl
	)
	SELECT coalesce(array_agg(channel ORDER BY channel), '{}') FROM (
		SELECT format('%s %s: %s', CASE WHEN i.indisexclusion THEN 'exclusion constraint' ELSE 'unique key' END,
		              ic.relname,
		              CASE WHEN i.indisexclusion THEN 'a conflicting write tells that a hidden row exists'
		                   WHEN i.indexprs IS NOT NULL THEN 'an expression key: a conflicting write tells that a hidden row exists'
		                   WHEN NOT p.subj = ANY (i.indkey::int2[]) THEN format('does not include the subject column %I: a conflicting write tells that a hidden row exists', p.subject_column)
		                   ELSE format('does not include the category column %I: a conflicting write tells that a hidden row of another category exists', p.category_column) END) AS channel
		  FROM p JOIN pg_index i ON i.indrelid = p.relid AND (i.indisunique OR i.indisexclusion)
		  JOIN pg_class ic ON ic.oid = i.indexrelid
		 WHERE (i.indisexclusion OR i.indexprs IS NOT NULL OR NOT p.subj = ANY (i.indkey::int2[])
		        OR (p.cat IS NOT NULL AND NOT p.cat = ANY (i.indkey::int2[])))
		   -- a key that is one identity column GENERATED ALWAYS names no one
		   AND NOT (i.indnatts = 1 AND i.indexprs IS NULL AND EXISTS (
		            SELECT 1 FROM pg_attribute a WHERE a.attrelid = p.relid AND a.attnum = i.indkey[0] AND a.attidentity = 'a'))
		UNION ALL
		SELECT format('foreign key %s of %s references it: inserting into %s tells whether a key exists among hidden rows',
		              c.conname, c.conrelid::regclass, c.conrelid::regclass)
		  FROM p JOIN pg_constraint c ON c.confrelid = p.relid AND c.contype = 'f'
		UNION ALL
		SELECT format('role %s may create foreign keys to it (REFERENCES privilege): such a key tells whether a key exists among hidden rows',
		              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
		  FROM p JOIN pg_class c ON c.oid = p.relid, aclexplode(c.relacl) a
		 WHERE a.privilege_type = 'REFERENCES' AND a.grantee <> c.relowner
		UNION ALL
		SELECT format('extended statistics %s: planner estimates count hidden rows', s.stxname)
		  FROM p JOIN pg_statistic_ext s ON s.stxrelid = p.relid
	) c
$$;
COMMENT ON FUNCTION open_channels(regclass) IS
	'what unique keys, foreign keys, REFERENCES grants and extended statistics of a protected table can still tell about its hidden rows';

-- The permissive base policy protect() adds to a table without policies
-- depends on the extension through this function: DROP EXTENSION ... CASCADE
-- then drops it with the consent policy, and the table, whose row-level
-- security stays forced, is left closed rather than open.
CREATE FUNCTION protection_base() RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT true';
COMMENT ON FUNCTION protection_base() IS
	'the qual of the personalize_base policy (true): it ties the policy to the extension, so dropping the extension leaves protected tables closed';

CREATE FUNCTION protect_one(tbl regclass, subject name, category text, parent regclass,
                            time_column name, erasable boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subject_type regtype := @extschema@.column_type(tbl, subject);
	category_type regtype := @extschema@.column_type(tbl, category::name);
	time_type regtype := @extschema@.column_type(tbl, time_column);
	kind "char" := (SELECT relkind FROM pg_class WHERE oid = tbl);
	category_expr text;
	visible_expr text;
	had_rls boolean;
	had_force boolean;
BEGIN
	-- Listed before its policies exist: the ALTER TABLE below fires the event
	-- trigger that protects new descendants, which must find it done.
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RETURN;
	END IF;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table: only tables can be protected', tbl
			USING ERRCODE = 'wrong_object_type',
			      DETAIL = CASE WHEN parent IS NOT NULL THEN format('It is a partition or child of %s.', parent) END,
			      HINT = 'Row-level security cannot filter foreign tables, views or materialized views.';
	END IF;
	IF subject_type IS NULL THEN
		RAISE EXCEPTION 'table % has no column "%"', tbl, subject
			USING ERRCODE = 'undefined_column', HINT = 'subject => names the column holding the subject id.';
	END IF;
	IF subject_type NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
		RAISE EXCEPTION 'subject column "%" of % must be an integer type, not %', subject, tbl, subject_type
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF category_type IS NOT NULL THEN
		IF category_type NOT IN ('text'::regtype, 'character varying'::regtype) THEN
			RAISE EXCEPTION 'category column "%" of % must be text, not %', category, tbl, category_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		category_expr := format('%I::text', category);
	ELSE
		PERFORM @extschema@.check_categories(ARRAY[category]);
		category_expr := quote_literal(category) || '::text';
	END IF;
	visible_expr := format('@extschema@.row_visible(%I::bigint, %s)', subject, category_expr);
	IF time_column IS NOT NULL THEN
		IF time_type IS NULL THEN
			RAISE EXCEPTION 'table % has no column "%"', tbl, time_column
				USING ERRCODE = 'undefined_column', HINT = 'time_column => names the column holding when each row was recorded.';
		END IF;
		IF time_type NOT IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype, 'date'::regtype) THEN
			RAISE EXCEPTION 'time column "%" of % must be a timestamp or a date, not %', time_column, tbl, time_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		visible_expr := format('@extschema@.row_visible(%I::bigint, %s, %I::timestamptz)', subject, category_expr, time_column);
	END IF;

	SELECT relrowsecurity, relforcerowsecurity INTO had_rls, had_force FROM pg_class WHERE oid = tbl;
	INSERT INTO @extschema@.protected_tables
		(relid, subject_column, category_column, category_constant, enabled_rls, forced_rls, builtin,
		 protected_by, inherited_from, time_column, erasable)
	VALUES (tbl, subject,
	        CASE WHEN category_type IS NOT NULL THEN category END,
	        CASE WHEN category_type IS NULL THEN category END,
	        NOT had_rls, had_force, false, @extschema@.acting_role(), parent, time_column,
	        coalesce(erasable, true));
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	-- Restrictive, so any policy the application already has cannot widen it.
	EXECUTE format('CREATE POLICY personalize_consent ON %s AS RESTRICTIVE FOR ALL '
	               'USING (%s) '
	               'WITH CHECK (@extschema@.row_writable(%L::regclass, %I::bigint, %s))',
	               tbl, visible_expr, tbl::oid::text, subject, category_expr);
	IF NOT had_rls THEN
		EXECUTE format('CREATE POLICY personalize_base ON %s FOR ALL USING (@extschema@.protection_base()) '
		               'WITH CHECK (@extschema@.protection_base())', tbl);
	END IF;
END $$;
REVOKE ALL ON FUNCTION protect_one(regclass, name, text, regclass, name, boolean) FROM PUBLIC;
COMMENT ON FUNCTION protect_one(regclass, name, text, regclass, name, boolean) IS 'protect() for one table (no checks of ownership or ancestry)';

-- Partitions and children created or attached later are protected like
-- their ancestor, as part of the command that creates or attaches them.
CREATE FUNCTION protect_descendants() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT d.child, p.relid AS root, p.subject_column, coalesce(p.category_column::text, p.category_constant) AS category,
		       p.time_column, p.erasable
		  FROM @extschema@.protected_tables p
		  CROSS JOIN LATERAL @extschema@.descendants(p.relid) AS d(child)
		 WHERE p.inherited_from IS NULL
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables q WHERE q.relid = d.child)
		 ORDER BY d.child::oid
	LOOP
		PERFORM @extschema@.protect_one(r.child, r.subject_column, r.category, r.root, r.time_column, r.erasable);
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION protect_descendants() FROM PUBLIC;
COMMENT ON FUNCTION protect_descendants() IS 'protect the partitions and inheritance children of protected tables that are not yet';

-- protect(table, subject => column, category => column or category name
--         [, time_column => column] [, erasable => false]):
-- the table and all its partitions or inheritance children, now and later.
-- With a time column, rows older than their category's retention are
-- hidden from every purpose and deleted by purge_expired(); erasable =>
-- false keeps the subject's rows through erase_subject() (which reports
-- them), for records the law requires to be kept.
CREATE FUNCTION protect(tbl regclass, subject name, category text, time_column name DEFAULT NULL,
                        erasable boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unprotected_parent regclass;
	channel text;
BEGIN
	IF tbl IS NULL OR subject IS NULL OR category IS NULL THEN
		RAISE EXCEPTION 'table, subject and category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF erasable IS NULL THEN
		RAISE EXCEPTION 'erasable must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_has_role(@extschema@.acting_role(), (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'only the owner of % may protect it', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = tbl) THEN
		RAISE EXCEPTION 'table % is already protected', tbl
			USING ERRCODE = 'duplicate_object', HINT = 'Call personalize.unprotect() first to change how.';
	END IF;
	-- reading through an unprotected parent would return this table's rows unfiltered
	SELECT i.inhparent::regclass INTO unprotected_parent FROM pg_inherits i WHERE i.inhrelid = tbl LIMIT 1;
	IF unprotected_parent IS NOT NULL THEN
		RAISE EXCEPTION 'table % is a partition or child of %, which is not protected', tbl, unprotected_parent
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Protect the parent instead: its partitions and children are protected with it.';
	END IF;
	PERFORM @extschema@.protect_one(tbl, subject, category, NULL, time_column, erasable);
	PERFORM @extschema@.protect_descendants();
	FOREACH channel IN ARRAY @extschema@.open_channels(tbl) LOOP
		RAISE WARNING 'personal data of % can still be probed through %', tbl, channel
			USING HINT = 'See the "open_channels" column of personalize.protection_status.';
	END LOOP;
END $$;
COMMENT ON FUNCTION protect(regclass, name, text, name, boolean) IS
	'filter an application table, its partitions and children by consent: subject => its subject column, category => a text column or a category name, time_column => when rows were recorded (retention applies), erasable => whether erase_subject() deletes its rows';

CREATE FUNCTION protect_new_descendants() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.protect_descendants();
END $$;
REVOKE ALL ON FUNCTION protect_new_descendants() FROM PUBLIC;
COMMENT ON FUNCTION protect_new_descendants() IS 'event trigger: protect partitions and inheritance children of protected tables as they are created or attached';
CREATE EVENT TRIGGER personalize_protect_descendants ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE FOREIGN TABLE')
	EXECUTE FUNCTION protect_new_descendants();
ALTER EVENT TRIGGER personalize_protect_descendants ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER personalize_protect_descendants IS 'a partition or inheritance child of a protected table is protected in the command that creates or attaches it';

CREATE FUNCTION forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.protected_tables p
	 WHERE p.relid::oid IN (SELECT o.objid FROM pg_event_trigger_dropped_objects() o
	                         WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0);
END $$;
REVOKE ALL ON FUNCTION forget_dropped_tables() FROM PUBLIC;
COMMENT ON FUNCTION forget_dropped_tables() IS 'event trigger: a dropped table is no longer listed as protected';
CREATE EVENT TRIGGER personalize_forget_dropped ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION forget_dropped_tables();
ALTER EVENT TRIGGER personalize_forget_dropped ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER personalize_forget_dropped IS 'a dropped table leaves personalize.protected_tables (so its OID cannot name another table later)';

CREATE FUNCTION unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p @extschema@.protected_tables;
BEGIN
	SELECT * INTO p FROM @extschema@.protected_tables t WHERE t.relid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = 'undefined_object';
	END IF;
	IF p.builtin THEN
		RAISE EXCEPTION 'table % belongs to personalize and stays protected', tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT pg_has_role(@extschema@.acting_role(), (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'only the owner of % may unprotect it', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF p.inherited_from IS NOT NULL AND EXISTS (SELECT 1 FROM @extschema@.descendants(p.inherited_from) d WHERE d = tbl) THEN
		RAISE EXCEPTION 'table % is protected as a partition or child of %', tbl, p.inherited_from
			USING ERRCODE = 'wrong_object_type', HINT = 'Unprotect the parent; its partitions and children go with it.';
	END IF;
	FOR p IN SELECT * FROM @extschema@.protected_tables t WHERE t.relid = tbl OR t.inherited_from = tbl LOOP
		EXECUTE format('DROP POLICY IF EXISTS personalize_consent ON %s', p.relid);
		IF p.enabled_rls THEN
			EXECUTE format('DROP POLICY IF EXISTS personalize_base ON %s', p.relid);
			EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', p.relid);
		END IF;
		IF NOT p.forced_rls THEN
			EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', p.relid);
		END IF;
		DELETE FROM @extschema@.protected_tables t WHERE t.relid = p.relid;
	END LOOP;
END $$;
COMMENT ON FUNCTION unprotect(regclass) IS 'remove the consent filter protect() added, from the table and the partitions and children protected with it';
REVOKE ALL ON FUNCTION protect(regclass, name, text, name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION unprotect(regclass) FROM PUBLIC;

-- The extension's own behavioural data: readable only through the policy,
-- and only by roles holding a purpose (grant_purpose() gives them SELECT);
-- nobody but a BYPASSRLS role updates or deletes (no such policy exists).
ALTER TABLE interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE interactions FORCE ROW LEVEL SECURITY;
CREATE POLICY personalize_consent ON interactions FOR SELECT
	USING (@extschema@.row_visible(subject_id, category, occurred_at));
CREATE POLICY personalize_insert ON interactions FOR INSERT WITH CHECK (true);
INSERT INTO protected_tables (relid, subject_column, category_column, enabled_rls, forced_rls, builtin, time_column)
VALUES ('interactions', 'subject_id', 'category', false, false, true, 'occurred_at');

SELECT pg_catalog.pg_extension_config_dump('protected_tables', 'WHERE NOT builtin');

-- ---- sql/install/080_audit.sql
-- Views for the DBA.  They read the ledger and consents as their owner (the
-- installing superuser), so they are not granted to anyone by default.

CREATE VIEW consent_coverage AS
SELECT c.purpose, @extschema@.tier(c.consent) AS tier, sc.name AS category, sc.tier AS category_tier,
       count(*) FILTER (WHERE @extschema@.consent_allows_tier(c.consent, sc.name, sc.tier)
                          AND sc.tier <= (SELECT array_position(enum_range(NULL::@extschema@.consent_tier), p.max_tier) - 1
                                            FROM @extschema@.purposes p WHERE p.name = c.purpose)) AS subjects_allowed,
       count(*) AS subjects_with_consent
  FROM @extschema@.consents c CROSS JOIN @extschema@.signal_categories sc
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW consent_coverage IS 'per purpose, consent tier and category: how many subjects allow it';
COMMENT ON COLUMN consent_coverage.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_coverage.tier IS 'the tier of the consents counted';
COMMENT ON COLUMN consent_coverage.category IS 'a signal category';
COMMENT ON COLUMN consent_coverage.category_tier IS 'the tier of the category (1 functional, 2 personalization, 3 enhanced)';
COMMENT ON COLUMN consent_coverage.subjects_allowed IS 'subjects whose consent allows the category under the purpose (within the purpose''s tier cap)';
COMMENT ON COLUMN consent_coverage.subjects_with_consent IS 'subjects with a consent of this tier for the purpose';

CREATE VIEW consent_history AS
SELECT entry_id, subject_id, purpose, action, consent, @extschema@.tier(consent) AS tier,
       source, notice_version, recorded_by, recorded_at, subject_key
  FROM @extschema@.consent_ledger;
COMMENT ON VIEW consent_history IS 'the consent ledger, in order';
COMMENT ON COLUMN consent_history.entry_id IS 'order of recording';
COMMENT ON COLUMN consent_history.subject_id IS 'the person the consent is about';
COMMENT ON COLUMN consent_history.purpose IS 'the purpose consented to';
COMMENT ON COLUMN consent_history.action IS 'set or withdraw';
COMMENT ON COLUMN consent_history.consent IS 'the consent recorded';
COMMENT ON COLUMN consent_history.tier IS 'its tier';
COMMENT ON COLUMN consent_history.source IS 'where the person gave it, as the caller said';
COMMENT ON COLUMN consent_history.notice_version IS 'the version of the notice the person was shown';
COMMENT ON COLUMN consent_history.recorded_by IS 'the role that recorded it';
COMMENT ON COLUMN consent_history.recorded_at IS 'when';
COMMENT ON COLUMN consent_history.subject_key IS 'the keyed hash that replaced the subject id at erasure (NULL before)';

CREATE VIEW purpose_access AS
SELECT g.role, g.purpose, p.max_tier, p.personal_data_allowed, g.granted_by, g.granted_at,
       ARRAY(SELECT m.roleid::regrole FROM pg_auth_members m WHERE m.member = g.role::oid) AS member_of
  FROM @extschema@.purpose_grants g JOIN @extschema@.purposes p ON p.name = g.purpose;
COMMENT ON VIEW purpose_access IS 'which roles may act under which purpose';
COMMENT ON COLUMN purpose_access.role IS 'the grantee (its members with INHERIT hold the purpose too)';
COMMENT ON COLUMN purpose_access.purpose IS 'the purpose granted';
COMMENT ON COLUMN purpose_access.max_tier IS 'the purpose''s tier cap';
COMMENT ON COLUMN purpose_access.personal_data_allowed IS 'whether the purpose may read personal data at all';
COMMENT ON COLUMN purpose_access.granted_by IS 'the role that called grant_purpose()';
COMMENT ON COLUMN purpose_access.granted_at IS 'when';
COMMENT ON COLUMN purpose_access.member_of IS 'the roles the grantee is a member of';

CREATE VIEW protection_status AS
SELECT t.relid AS table_name, t.subject_column, coalesce(t.category_column::text, quote_literal(t.category_constant)) AS category,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = t.relid AND pol.polname = 'personalize_consent') AS policy_present,
       t.inherited_from,
       ARRAY(SELECT d FROM @extschema@.descendants(t.relid) d
              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.protected_tables p WHERE p.relid = d)
              ORDER BY d::text) AS unprotected_descendants,
       @extschema@.open_channels(t.relid) AS open_channels,
       t.protected_by, t.protected_at, t.time_column, t.erasable
  FROM @extschema@.protected_tables t JOIN pg_class c ON c.oid = t.relid;
COMMENT ON VIEW protection_status IS 'tables filtered by consent, whether their protection is intact, and what their keys can still tell about hidden rows';
COMMENT ON COLUMN protection_status.table_name IS 'the protected table';
COMMENT ON COLUMN protection_status.subject_column IS 'its column holding the subject id';
COMMENT ON COLUMN protection_status.category IS 'its category column, or the quoted category of every row';
COMMENT ON COLUMN protection_status.rls_enabled IS 'row-level security is enabled (false: protection lifted by the owner)';
COMMENT ON COLUMN protection_status.rls_forced IS 'row-level security is forced, so the owner is filtered too';
COMMENT ON COLUMN protection_status.policy_present IS 'the personalize_consent policy is in place';
COMMENT ON COLUMN protection_status.inherited_from IS 'the protected ancestor it was protected through, for a partition or inheritance child';
COMMENT ON COLUMN protection_status.unprotected_descendants IS 'partitions or children not protected (should be empty: new ones are protected as they are created)';
COMMENT ON COLUMN protection_status.open_channels IS 'unique keys, foreign keys, REFERENCES grants and extended statistics that can still tell about hidden rows';
COMMENT ON COLUMN protection_status.protected_by IS 'the role that called protect()';
COMMENT ON COLUMN protection_status.protected_at IS 'when';
COMMENT ON COLUMN protection_status.time_column IS 'its column holding when each row was recorded (retention applies), or NULL';
COMMENT ON COLUMN protection_status.erasable IS 'erase_subject() deletes the subject''s rows from it';

REVOKE ALL ON consent_coverage, consent_history, purpose_access, protection_status FROM PUBLIC;

-- ---- sql/install/085_metrics.sql
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

-- ---- sql/install/090_models.sql
-- Models: every version trained in the database, with what it was trained
-- on, how it scored on held-out data, and its status.  Only item-side
-- parameters are stored: subject factors are folded in at request time from
-- the history visible then (subject_factors()), so no per-subject model data
-- is kept at rest.

CREATE TABLE interaction_kinds (
	kind    text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,30}$'),
	weight  real NOT NULL CHECK (weight > 0 AND weight < 'Infinity'::real),
	builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE interaction_kinds IS 'training weight of each interaction kind (multiplied by the interaction''s own weight)';
COMMENT ON COLUMN interaction_kinds.kind IS 'the kind, as interactions.kind spells it';
COMMENT ON COLUMN interaction_kinds.weight IS 'training weight (a kind not listed weighs 1)';
COMMENT ON COLUMN interaction_kinds.builtin IS 'installed by the extension; a restore keeps a changed weight';
INSERT INTO interaction_kinds VALUES
	('view', 1, true), ('click', 1, true), ('wishlist', 2, true),
	('cart', 3, true), ('purchase', 5, true), ('rating', 1, true);
GRANT SELECT ON interaction_kinds TO PUBLIC;

CREATE TABLE models (
	model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	algorithm       text NOT NULL CHECK (algorithm IN ('als', 'itemknn', 'popularity', 'rp3beta')),
	purpose         text NOT NULL REFERENCES purposes (name),
	status          text NOT NULL DEFAULT 'training'
	                CHECK (status IN ('training', 'candidate', 'active', 'rejected', 'retired')),
	params          jsonb NOT NULL DEFAULT '{}',
	data            jsonb NOT NULL DEFAULT '{}',
	metrics         jsonb NOT NULL DEFAULT '{}',
	privacy         jsonb,
	warnings        text[] NOT NULL DEFAULT '{}',
	trained_by      name NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	training_ms     double precision,
	activated_at    timestamptz,
	retired_at      timestamptz,
	status_reason   text
);
CREATE UNIQUE INDEX models_one_active ON models (purpose) WHERE status = 'active';
COMMENT ON TABLE models IS 'every model version: parameters, data snapshot, held-out metrics, status';
COMMENT ON COLUMN models.model_id IS 'the version number, in order of training';
COMMENT ON COLUMN models.algorithm IS 'als, itemknn or popularity';
COMMENT ON COLUMN models.purpose IS 'the purpose it was trained under and serves';
COMMENT ON COLUMN models.status IS 'training, candidate, active (at most one per purpose), rejected or retired';
COMMENT ON COLUMN models.params IS 'the parameters used, defaults included (what train() was asked for while training)';
COMMENT ON COLUMN models.data IS 'data snapshot: rows, subjects and items used, time range, categories used and skipped, subjects left out';
COMMENT ON COLUMN models.metrics IS 'held-out metrics at k: precision, recall, NDCG, MAP, coverage, Gini of exposure';
COMMENT ON COLUMN models.privacy IS 'privacy figures, when the training method has any';
COMMENT ON COLUMN models.warnings IS 'what the model card warns about (unjustified categories skipped, unknown kinds...)';
COMMENT ON COLUMN models.trained_by IS 'the role that trained it (a job''s owner for a retrained model)';
COMMENT ON COLUMN models.created_at IS 'when training started';
COMMENT ON COLUMN models.training_ms IS 'how long training took';
COMMENT ON COLUMN models.activated_at IS 'when it last became active';
COMMENT ON COLUMN models.retired_at IS 'when another model replaced it';
COMMENT ON COLUMN models.status_reason IS 'why it has its status (rejected against the active model, replaced by model n, parameters pruned)';
GRANT SELECT ON models TO PUBLIC;

CREATE TABLE model_item_factors (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	factors  embedding NOT NULL,
	PRIMARY KEY (model_id, item_id)
);
CREATE TABLE model_neighbors (
	model_id    bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id     bigint NOT NULL,
	neighbor_id bigint NOT NULL,
	score       real NOT NULL,
	PRIMARY KEY (model_id, item_id, neighbor_id)
);
CREATE TABLE model_popularity (
	model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	item_id  bigint NOT NULL,
	category text,
	score    real NOT NULL,
	PRIMARY KEY (model_id, item_id)
);
COMMENT ON TABLE model_item_factors IS 'item factors of ALS models (no subject factors are stored: they are folded in at request time)';
COMMENT ON COLUMN model_item_factors.model_id IS 'the model';
COMMENT ON COLUMN model_item_factors.item_id IS 'the item';
COMMENT ON COLUMN model_item_factors.factors IS 'the item''s latent factors';
COMMENT ON TABLE model_neighbors IS 'nearest neighbours of each item in item-kNN models';
COMMENT ON COLUMN model_neighbors.model_id IS 'the model';
COMMENT ON COLUMN model_neighbors.item_id IS 'the item';
COMMENT ON COLUMN model_neighbors.neighbor_id IS 'a similar item';
COMMENT ON COLUMN model_neighbors.score IS 'their similarity (BM25-weighted or cosine)';
COMMENT ON TABLE model_popularity IS 'item scores of popularity models (also the fallback of the others for subjects without history)';
COMMENT ON COLUMN model_popularity.model_id IS 'the model';
COMMENT ON COLUMN model_popularity.item_id IS 'the item';
COMMENT ON COLUMN model_popularity.category IS 'the item''s catalogue category when trained';
COMMENT ON COLUMN model_popularity.score IS 'summed interaction weights (time-decayed by half_life in popularity models)';
GRANT SELECT ON model_item_factors, model_neighbors, model_popularity TO PUBLIC;
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['interaction_kinds', 'models', 'model_item_factors', 'model_neighbors', 'model_popularity']::regclass[]) t;

CREATE TRIGGER merge_restored BEFORE INSERT ON interaction_kinds
	FOR EACH ROW EXECUTE FUNCTION merge_restored_builtin('kind', 'weight');
SELECT pg_catalog.pg_extension_config_dump('interaction_kinds', '');
SELECT pg_catalog.pg_extension_config_dump('models', '');
SELECT pg_catalog.pg_extension_config_dump('models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('model_item_factors', '');
SELECT pg_catalog.pg_extension_config_dump('model_neighbors', '');
SELECT pg_catalog.pg_extension_config_dump('model_popularity', '');

CREATE FUNCTION train_model(algorithm text, purpose text, params jsonb, trained_by name)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'pz_train_model' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION train_model(text, text, jsonb, name) FROM PUBLIC;
COMMENT ON FUNCTION train_model(text, text, jsonb, name) IS 'train(), retrain jobs: fit, evaluate, store and gate a model from parameters in jsonb, on behalf of a role (no purpose check)';

-- A role may act under a purpose when it is a superuser or is a member of a
-- role the purpose, or a purpose it inherits from, was granted to.
CREATE FUNCTION may_act_for(role name, purpose text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = may_act_for.role AND rolsuper)
	    OR EXISTS (SELECT 1 FROM @extschema@.purpose_grants g
	                WHERE g.purpose = ANY (@extschema@.purpose_chain(may_act_for.purpose))
	                  AND pg_has_role(may_act_for.role, g.role, 'USAGE'))
$$;
COMMENT ON FUNCTION may_act_for(name, text) IS 'whether a role may act under a purpose (a superuser, or a member of a role it was granted to)';
REVOKE ALL ON FUNCTION may_act_for(name, text) FROM PUBLIC;

-- The caller (SET ROLE counts) must hold a purpose to act under it.
CREATE FUNCTION require_purpose(purpose text, action text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller name := @extschema@.acting_role();
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	IF NOT @extschema@.may_act_for(caller, purpose) THEN
		RAISE EXCEPTION 'role "%" may not % for purpose "%"', caller, action, purpose
			USING ERRCODE = 'insufficient_privilege',
			      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).', caller, purpose);
	END IF;
END $$;
REVOKE ALL ON FUNCTION require_purpose(text, text) FROM PUBLIC;
COMMENT ON FUNCTION require_purpose(text, text) IS 'an error unless the acting role (SET ROLE counts) may act under the purpose; the action names what was refused';

CREATE FUNCTION train(algorithm text, purpose text DEFAULT 'recommendation',
                      factors integer DEFAULT NULL, iterations integer DEFAULT NULL,
                      regularization real DEFAULT NULL, alpha real DEFAULT NULL,
                      neighbors integer DEFAULT NULL, weighting text DEFAULT NULL,
                      half_life interval DEFAULT NULL, tune boolean DEFAULT false,
                      holdout real DEFAULT NULL, k integer DEFAULT NULL,
                      seed bigint DEFAULT NULL, activate text DEFAULT 'auto',
                      params jsonb DEFAULT '{}',
                      dp_epsilon float8 DEFAULT NULL, dp_delta float8 DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p jsonb := coalesce(params, '{}') || jsonb_strip_nulls(jsonb_build_object(
		'factors', factors, 'iterations', iterations, 'regularization', regularization,
		'alpha', alpha, 'neighbors', neighbors, 'weighting', weighting,
		'half_life_days', extract(epoch FROM half_life) / 86400, 'tune', tune,
		'holdout', holdout, 'k', k, 'seed', seed, 'activate', activate,
		'dp_epsilon', dp_epsilon, 'dp_delta', dp_delta));
BEGIN
	IF purpose IS NULL OR algorithm IS NULL THEN
		RAISE EXCEPTION 'algorithm and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF half_life <= interval '0' THEN
		RAISE EXCEPTION 'half_life must be positive, not %', half_life
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example: half_life => ''30 days''.';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'train models');
	RETURN @extschema@.train_model(algorithm, purpose, p, @extschema@.acting_role());
END $$;
COMMENT ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) IS
	'train a model (als, itemknn, rp3beta, popularity) on consented data only, evaluate it on held-out data, record it, and activate it if it is not worse than the active one; with dp_epsilon, with differential privacy, paid from the purpose''s privacy budget';
REVOKE ALL ON FUNCTION train(text, text, integer, integer, real, real, integer, text, interval, boolean, real, integer, bigint, text, jsonb, float8, float8) FROM PUBLIC;

CREATE FUNCTION subject_factors(model bigint, subject bigint) RETURNS embedding
	AS 'MODULE_PATHNAME', 'pz_subject_factors' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION subject_factors(bigint, bigint) IS
	'a subject''s ALS factors, solved exactly from their history visible under the model''s purpose now (NULL without any); the caller must hold the purpose';

-- Activation swaps status in one transaction: a reader sees the old model or
-- the new one, never both or neither.
CREATE FUNCTION activate_model(model bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m @extschema@.models;
BEGIN
	IF model IS NULL THEN
		RAISE EXCEPTION 'model must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO m FROM @extschema@.models WHERE model_id = model FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist', model
			USING ERRCODE = 'undefined_object', HINT = 'Models are listed in personalize.models.';
	END IF;
	IF m.status = 'active' THEN
		RETURN;
	END IF;
	IF m.status = 'training' THEN
		RAISE EXCEPTION 'model % has not finished training', model USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- a person cannot override the membership-inference gate either: the
	-- check measured that the model gives its training subjects away
	IF (m.privacy -> 'membership_inference' ->> 'passed')::boolean IS FALSE THEN
		RAISE EXCEPTION 'model % failed the membership-inference check (attack AUC %, personalize.mia_max_auc was %)',
			model, m.privacy -> 'membership_inference' ->> 'auc', m.privacy -> 'membership_inference' ->> 'max_auc'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Train a new version that memorises less (more regularization, fewer neighbors, differential privacy); a superuser may raise personalize.mia_max_auc before training it.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.model_item_factors WHERE model_id = model)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.model_neighbors WHERE model_id = model)
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.model_popularity WHERE model_id = model) THEN
		RAISE EXCEPTION 'model % has no stored parameters (pruned?)', model
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- lock out a concurrent activation for the same purpose (a row lock no
	-- other role can take: FOR UPDATE needs UPDATE on purposes)
	PERFORM 1 FROM @extschema@.purposes p WHERE p.name = m.purpose FOR NO KEY UPDATE;
	UPDATE @extschema@.models SET status = 'retired', retired_at = clock_timestamp(),
	       status_reason = format('replaced by model %s', model)
	 WHERE purpose = m.purpose AND status = 'active';
	UPDATE @extschema@.models SET status = 'active', activated_at = clock_timestamp(),
	       status_reason = NULL, retired_at = NULL
	 WHERE model_id = model;
END $$;
COMMENT ON FUNCTION activate_model(bigint) IS 'make a model the active one for its purpose (atomically retires the previous); refused for a model that failed the membership-inference check';

CREATE FUNCTION rollback_model(purpose text DEFAULT 'recommendation') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	previous bigint;
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	SELECT model_id INTO previous FROM @extschema@.models m
	 WHERE m.purpose = rollback_model.purpose AND m.status = 'retired'
	   AND (m.privacy -> 'membership_inference' ->> 'passed')::boolean IS NOT FALSE
	   AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
	        OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
	 ORDER BY m.activated_at DESC NULLS LAST, m.model_id DESC LIMIT 1;
	IF previous IS NULL THEN
		RAISE EXCEPTION 'no previous model to roll back to for purpose "%"', purpose
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	PERFORM @extschema@.activate_model(previous);
	RETURN previous;
END $$;
COMMENT ON FUNCTION rollback_model(text) IS 'reactivate the most recently active retired model of a purpose';
REVOKE ALL ON FUNCTION activate_model(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rollback_model(text) FROM PUBLIC;

-- The model card: generated from training metadata, never written by hand.
-- What it says of the purpose and the categories is what the registry said
-- as training began (models.data), so editing the registry later changes
-- no card; a model without such a record (made by hand, or trained before
-- 0.3.0 and not frozen by the update) shows the registry as it is now, and
-- says so.  The erasure section is the model's state, not its history: how
-- many subjects it was trained with were erased since, and when the retrain
-- job will replace it.
CREATE FUNCTION model_card(model bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	card jsonb;
BEGIN
	IF model IS NULL THEN
		RAISE EXCEPTION 'model must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT jsonb_build_object(
		'model_id', m.model_id,
		'algorithm', m.algorithm,
		'status', m.status,
		'purpose', jsonb_build_object('name', m.purpose,
		                              'description', coalesce(m.data ->> 'purpose_description', p.description)),
		'trained_at', m.created_at,
		'trained_by', m.trained_by,
		'signal_categories', coalesce(m.data -> 'categories', (
			SELECT jsonb_agg(jsonb_build_object('category', c.name, 'tier', c.tier,
			                                    'justification', c.justification,
			                                    'retention', c.retention::text) ORDER BY c.name)
			  FROM @extschema@.signal_categories c
			 WHERE c.name IN (SELECT jsonb_array_elements_text(m.data -> 'categories_used'))), '[]'),
		'registry_recorded', coalesce(m.data ->> 'registry_recorded',
		                              CASE WHEN m.data ? 'categories' THEN 'at training'
		                                   ELSE 'not recorded: purpose and categories as the registry says now' END),
		'categories_without_rows', coalesce(m.data -> 'categories_without_rows', '[]'),
		'categories_skipped', coalesce(m.data -> 'categories_skipped', '[]'),
		'data', m.data - 'categories_used' - 'categories_skipped' - 'categories' - 'categories_without_rows'
		               - 'purpose_description' - 'registry' - 'registry_recorded',
		'hyperparameters', m.params,
		'metrics', m.metrics,
		'privacy', jsonb_build_object('differential_privacy', false) || coalesce(m.privacy, '{}'),
		'erasure', @extschema@.model_erasure_state(m.model_id),
		'intended_use', 'Ranking catalogue items by predicted preference for subjects who consented to the purpose "'
		                || m.purpose || '".',
		'not_intended_for', jsonb_build_array(
			'pricing or any decision about what a person pays (personalized pricing is refused)',
			'inferring demographic or other sensitive attributes of a person',
			'decisions with legal or similarly significant effects on a person'),
		'limitations', jsonb_build_array(
			'Learns only from subjects and categories with consent at training time; subjects who withdraw are removed at the next version, and get no personalized output at once.',
			'Erased subjects get no personalized output at once; the retrain job replaces a model trained with them (see "erasure"), and older versions trained with them lose their parameters.',
			'Rows past their category''s retention are not read; what the model learned from rows that expired since training stays until the next version.',
			'Implicit feedback: interactions show exposure as much as preference, so popular items are over-represented.',
			'Cold start: subjects or items without history fall back to popularity.',
			'Metrics are measured on a random per-subject hold-out of the same period, not on future behaviour.'),
		'warnings', to_jsonb(m.warnings))
	  INTO card
	  FROM @extschema@.models m JOIN @extschema@.purposes p ON p.name = m.purpose
	 WHERE m.model_id = model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model % does not exist', model
			USING ERRCODE = 'undefined_object', HINT = 'Models are listed in personalize.models.';
	END IF;
	RETURN card;
END $$;
COMMENT ON FUNCTION model_card(bigint) IS 'the model card of a model version, as jsonb (jsonb_pretty() prints it readably)';

-- One line per version, narrow enough for a terminal; the card itself is
-- on demand: SELECT jsonb_pretty(personalize.model_card(model_id)).
CREATE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'k')::integer AS k,
       round((m.metrics ->> 'ndcg_at_k')::numeric, 4) AS ndcg_at_k,
       round((m.metrics ->> 'recall_at_k')::numeric, 4) AS recall_at_k,
       round((m.metrics ->> 'coverage')::numeric, 4) AS coverage,
       round((m.metrics ->> 'gini')::numeric, 4) AS gini,
       cardinality(m.warnings) AS warnings,
       m.status_reason
  FROM @extschema@.models m;
COMMENT ON VIEW model_cards IS 'one line per model version: status, data and held-out metrics; the full card is personalize.model_card(model_id)';
COMMENT ON COLUMN model_cards.model_id IS 'the version';
COMMENT ON COLUMN model_cards.algorithm IS 'als, itemknn or popularity';
COMMENT ON COLUMN model_cards.purpose IS 'the purpose it serves';
COMMENT ON COLUMN model_cards.status IS 'training, candidate, active, rejected or retired';
COMMENT ON COLUMN model_cards.created_at IS 'when training started';
COMMENT ON COLUMN model_cards.subjects_included IS 'subjects whose interactions it was trained on';
COMMENT ON COLUMN model_cards.subjects_left_out IS 'subjects left out for lack of consent (rounded down to a multiple of 10)';
COMMENT ON COLUMN model_cards.k IS 'the cutoff of the held-out metrics';
COMMENT ON COLUMN model_cards.ndcg_at_k IS 'held-out NDCG@k (activation compares it)';
COMMENT ON COLUMN model_cards.recall_at_k IS 'held-out recall@k';
COMMENT ON COLUMN model_cards.coverage IS 'share of the catalogue that appears in the held-out subjects'' top k';
COMMENT ON COLUMN model_cards.gini IS 'Gini coefficient of how often each catalogue item appears in those top-k lists (0: evenly)';
COMMENT ON COLUMN model_cards.warnings IS 'how many warnings the card carries (model_card(model_id) -> ''warnings'')';
COMMENT ON COLUMN model_cards.status_reason IS 'why it has its status';

-- ---- sql/install/100_serving.sql
-- Serving: recommend(), explain(), and what they leave behind (impressions,
-- feedback).  The active model and the catalogue are read into a snapshot
-- shared between sessions; committed changes to items or models replace it.

CREATE FUNCTION serving_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pz_serving_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION serving_changed() FROM PUBLIC;
COMMENT ON FUNCTION serving_changed() IS 'trigger on items and models: recommend() rebuilds its snapshot after the change commits';
-- Statement triggers fire in every session (a sponsored flag must reach
-- recommend() even under session_replication_role = replica); row triggers,
-- in replica sessions only, cover the logical replication apply worker,
-- which fires no statement triggers.
CREATE TRIGGER serving_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON items
	FOR EACH STATEMENT EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
	FOR EACH STATEMENT EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON items
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
CREATE TRIGGER serving_changed_apply BEFORE INSERT OR UPDATE OR DELETE ON models
	FOR EACH ROW EXECUTE FUNCTION serving_changed();
ALTER TABLE items ENABLE ALWAYS TRIGGER serving_changed;
ALTER TABLE models ENABLE ALWAYS TRIGGER serving_changed;
ALTER TABLE items ENABLE REPLICA TRIGGER serving_changed_apply;
ALTER TABLE models ENABLE REPLICA TRIGGER serving_changed_apply;

-- Personal data (who was shown what): readable by the extension's owner
-- only, written by recommend() and feedback().
CREATE TABLE impressions (
	impression_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	shown_at      timestamptz NOT NULL DEFAULT now(),
	subject_id    bigint,
	purpose       text NOT NULL,
	model_id      bigint NOT NULL,
	item_id       bigint NOT NULL,
	rank          integer NOT NULL,
	score         real,
	explored      boolean NOT NULL,
	sponsored     boolean NOT NULL
);
CREATE INDEX ON impressions (subject_id, shown_at);
COMMENT ON TABLE impressions IS 'what recommend() showed: model version, rank, explored and sponsored flags (subject_id NULL without a consent for the purpose)';
COMMENT ON COLUMN impressions.impression_id IS 'order of recording';
COMMENT ON COLUMN impressions.shown_at IS 'when recommend() returned it';
COMMENT ON COLUMN impressions.subject_id IS 'to whom (NULL when the subject has no consent for the purpose)';
COMMENT ON COLUMN impressions.purpose IS 'the purpose recommend() was called under';
COMMENT ON COLUMN impressions.model_id IS 'the model version that ranked it';
COMMENT ON COLUMN impressions.item_id IS 'the item shown';
COMMENT ON COLUMN impressions.rank IS 'its position in the list, from 1';
COMMENT ON COLUMN impressions.score IS 'its score';
COMMENT ON COLUMN impressions.explored IS 'shown to explore, not for its score';
COMMENT ON COLUMN impressions.sponsored IS 'a sponsored item (disclosed in the reason)';

CREATE TABLE feedback (
	feedback_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	subject_id  bigint,
	purpose     text NOT NULL,
	item_id     bigint NOT NULL,
	kind        text NOT NULL,
	reward      real NOT NULL CHECK (reward >= 0 AND reward <= 1)
);
CREATE INDEX ON feedback (subject_id, recorded_at);
COMMENT ON TABLE feedback IS 'clicks and conversions on what was shown; rewards feed the exploration posteriors';
COMMENT ON COLUMN feedback.feedback_id IS 'order of recording';
COMMENT ON COLUMN feedback.recorded_at IS 'when feedback() recorded it';
COMMENT ON COLUMN feedback.subject_id IS 'who (NULL without a consent of tier functional or above for the purpose)';
COMMENT ON COLUMN feedback.purpose IS 'the purpose the item was recommended under';
COMMENT ON COLUMN feedback.item_id IS 'the item';
COMMENT ON COLUMN feedback.kind IS 'click, conversion... as the caller said';
COMMENT ON COLUMN feedback.reward IS 'the outcome, from 0 to 1';

ALTER TABLE impressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE impressions FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('impressions', '');
SELECT pg_catalog.pg_extension_config_dump('feedback', '');
SELECT pg_catalog.pg_extension_config_dump('impressions_impression_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('feedback_feedback_id_seq', '');

CREATE FUNCTION recommend(subject bigint, k integer DEFAULT 10,
                          purpose text DEFAULT 'recommendation', category text DEFAULT NULL,
                          exclude bigint[] DEFAULT '{}', diversity real DEFAULT 0,
                          exploration real DEFAULT NULL, exclude_seen boolean DEFAULT true,
                          sponsored_share real DEFAULT NULL, seed bigint DEFAULT NULL)
RETURNS TABLE (item_id bigint, score real, rank integer, reason text,
               explored boolean, sponsored boolean)
	AS 'MODULE_PATHNAME', 'pz_recommend' LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION recommend(bigint, integer, text, text, bigint[], real, real, boolean, real, bigint) IS
	'top-k items for a subject from the active model of the purpose, with a reason per row, diversity, exploration and sponsored disclosure';

CREATE FUNCTION explain(subject bigint, item bigint, purpose text DEFAULT 'recommendation')
RETURNS TABLE (source text, history_item bigint, name text, kind text,
               contribution real, share real)
	AS 'MODULE_PATHNAME', 'pz_explain' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION explain(bigint, bigint, text) IS
	'what a recommendation score is made of: each history item''s contribution (ALS, item-kNN), or popularity';

CREATE FUNCTION bandit_reward(purpose text, item bigint, reward real) RETURNS void
	AS 'MODULE_PATHNAME', 'pz_bandit_reward' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION bandit_reward(text, bigint, real) FROM PUBLIC;
COMMENT ON FUNCTION bandit_reward(text, bigint, real) IS 'feedback() helper: add a reward to the item''s exploration counter in the shared snapshot of the purpose (or its nearest served ancestor)';


CREATE FUNCTION feedback(subject bigint, item bigint, reward real DEFAULT 1,
                         purpose text DEFAULT 'recommendation', kind text DEFAULT 'click')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	consented boolean;
BEGIN
	IF subject IS NULL OR item IS NULL OR purpose IS NULL THEN
		RAISE EXCEPTION 'subject, item and purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF reward IS NULL THEN
		RAISE EXCEPTION 'reward must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT (reward >= 0 AND reward <= 1) THEN
		RAISE EXCEPTION 'reward must be between 0 and 1, not %', reward
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Record a click or a conversion as 1, a partial outcome as a fraction.';
	END IF;
	IF kind IS NULL THEN
		RAISE EXCEPTION 'kind must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF kind !~ '^[a-z][a-z0-9_]{0,30}$' THEN
		RAISE EXCEPTION 'invalid feedback kind "%"', kind
			USING ERRCODE = 'invalid_name',
			      HINT = 'A kind is a lower-case letter followed by up to 30 lower-case letters, digits or underscores.';
	END IF;
	PERFORM @extschema@.require_purpose(purpose, 'record feedback');
	IF NOT (SELECT bool_and(p.personal_data_allowed AND NOT p.decides_terms) FROM @extschema@.purposes p
	         WHERE p.name = feedback.purpose OR starts_with(feedback.purpose, p.name || '.')) THEN
		RAISE EXCEPTION 'purpose "%" may not use personal data', purpose
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Feedback is personal data; personalized pricing is refused.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.items i WHERE i.item_id = item) THEN
		RAISE EXCEPTION 'item % is not in the catalogue', item
			USING ERRCODE = 'undefined_object', HINT = 'Items are listed in personalize.items.';
	END IF;
	SELECT @extschema@.tier(c.consent) >= 'functional' INTO consented
	  FROM @extschema@.consents c
	 WHERE c.subject_id = subject AND c.purpose = ANY (@extschema@.purpose_chain(feedback.purpose))
	 ORDER BY length(c.purpose) DESC LIMIT 1;
	INSERT INTO @extschema@.feedback (subject_id, purpose, item_id, kind, reward)
	VALUES (CASE WHEN consented THEN subject END, purpose, item, kind, reward);
	PERFORM @extschema@.bandit_reward(purpose, item, reward);
END $$;
COMMENT ON FUNCTION feedback(bigint, bigint, real, text, text) IS
	'record a click or conversion (reward in [0, 1]) on a recommended item; it updates the exploration posteriors at once';

CREATE FUNCTION bandit_arms(purpose text DEFAULT 'recommendation')
RETURNS TABLE (item_id bigint, shown bigint, rewards real, posterior_mean real)
	AS 'MODULE_PATHNAME', 'pz_bandit_arms' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bandit_arms(text) IS
	'exploration posteriors of the items shown or rewarded under a purpose: Beta(1 + rewards, 1 + shown - rewards)';

CREATE FUNCTION serving_snapshots()
RETURNS TABLE (purpose text, model_id bigint, catalogue_version bigint, items integer, bytes bigint)
	AS 'MODULE_PATHNAME', 'pz_serving_snapshots' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION serving_snapshots() IS
	'model snapshots this database shares in memory between sessions (one per purpose being served)';

-- ---- sql/install/110_jobs.sql
-- Jobs: work the database does on its own (retraining, drift snapshots,
-- retention), run by the background scheduler of each database or by
-- run_jobs() from any session (cron, pg_cron).  A job kind names a handler
-- function (job personalize.jobs) RETURNS jsonb, which gets the job's row
-- (its params, owner, and last_result: state carried between runs); the
-- rights and privacy work adds kinds the same way.  A handler that decides
-- there is nothing to do returns an object with a "skipped" key saying why.

CREATE TABLE job_kinds (
	kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
	handler     regprocedure NOT NULL,
	description text NOT NULL,
	builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE job_kinds IS 'what a job can do: each kind names its handler function (job personalize.jobs) RETURNS jsonb';

CREATE TABLE jobs (
	job_name      text PRIMARY KEY CHECK (job_name ~ '^[a-z][a-z0-9_]{0,62}$'),
	kind          text NOT NULL REFERENCES job_kinds (kind) ON UPDATE CASCADE,
	schedule      interval NOT NULL CHECK (schedule >= interval '1 second'),
	params        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
	enabled       boolean NOT NULL DEFAULT true,
	owner         name NOT NULL,
	next_run      timestamptz NOT NULL DEFAULT now(),
	last_started  timestamptz,
	last_finished timestamptz,
	last_status   text CHECK (last_status IN ('succeeded', 'skipped', 'failed')),
	last_error    text,
	last_result   jsonb,
	runs          bigint NOT NULL DEFAULT 0,
	failures      bigint NOT NULL DEFAULT 0,
	consecutive_failures integer NOT NULL DEFAULT 0,
	builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE jobs IS 'scheduled jobs of this database: kind, schedule, parameters, owner and the outcome of the last run';

CREATE TABLE job_runs (
	run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_name    text NOT NULL REFERENCES jobs ON DELETE CASCADE ON UPDATE CASCADE,
	runner      text NOT NULL CHECK (runner IN ('worker', 'session')),
	pid         integer NOT NULL DEFAULT pg_backend_pid(),
	started_at  timestamptz,
	finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	status      text NOT NULL CHECK (status IN ('succeeded', 'skipped', 'failed')),
	result      jsonb,
	error       text,
	sqlstate    text
);
CREATE INDEX ON job_runs (job_name, run_id);
COMMENT ON TABLE job_runs IS 'the last runs of each job (personalize.job_history_size per job): who ran it, when, the result or the error';

COMMENT ON COLUMN job_kinds.kind IS 'the kind''s name, as jobs.kind spells it';
COMMENT ON COLUMN job_kinds.handler IS 'the function that does the work: handler(job personalize.jobs) RETURNS jsonb';
COMMENT ON COLUMN job_kinds.description IS 'what a job of the kind does';
COMMENT ON COLUMN job_kinds.builtin IS 'installed by the extension (not dumped)';

COMMENT ON COLUMN jobs.job_name IS 'the job''s name';
COMMENT ON COLUMN jobs.kind IS 'what it does (personalize.job_kinds)';
COMMENT ON COLUMN jobs.schedule IS 'how often it runs';
COMMENT ON COLUMN jobs.params IS 'its parameters, passed to the handler (a purpose named here must be one its owner may act under)';
COMMENT ON COLUMN jobs.enabled IS 'false: never run by the scheduler or run_jobs() (run_job() still runs it)';
COMMENT ON COLUMN jobs.owner IS 'the role the job acts for: the caller of schedule_job(), or of the last alter_job() that changed its parameters';
COMMENT ON COLUMN jobs.next_run IS 'when it is due next';
COMMENT ON COLUMN jobs.last_started IS 'when the last run started';
COMMENT ON COLUMN jobs.last_finished IS 'when the last run ended';
COMMENT ON COLUMN jobs.last_status IS 'succeeded, skipped or failed';
COMMENT ON COLUMN jobs.last_error IS 'the error of the last run, if it failed';
COMMENT ON COLUMN jobs.last_result IS 'what the last successful or skipped run returned (the handler''s state between runs)';
COMMENT ON COLUMN jobs.runs IS 'runs so far';
COMMENT ON COLUMN jobs.failures IS 'failed runs so far';
COMMENT ON COLUMN jobs.consecutive_failures IS 'failures since the last success (retries back off with it)';
COMMENT ON COLUMN jobs.builtin IS 'installed by the extension: it can be disabled, not removed';

COMMENT ON COLUMN job_runs.run_id IS 'order of the runs';
COMMENT ON COLUMN job_runs.job_name IS 'the job';
COMMENT ON COLUMN job_runs.runner IS 'worker (the background scheduler) or session (run_jobs(), run_job())';
COMMENT ON COLUMN job_runs.pid IS 'the process that ran it';
COMMENT ON COLUMN job_runs.started_at IS 'when it started';
COMMENT ON COLUMN job_runs.finished_at IS 'when it ended';
COMMENT ON COLUMN job_runs.status IS 'succeeded, skipped or failed';
COMMENT ON COLUMN job_runs.result IS 'what the handler returned';
COMMENT ON COLUMN job_runs.error IS 'the error message of a failed run';
COMMENT ON COLUMN job_runs.sqlstate IS 'the SQLSTATE of a failed run';

SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['job_kinds', 'jobs', 'job_runs']::regclass[]) t;

-- pg_dump writes every job, built-in ones included, so that a built-in job
-- an administrator disabled stays disabled after a restore.  The restore
-- first runs CREATE EXTENSION, which inserts the built-in jobs again; this
-- trigger turns the restored copy into an update of that row.
CREATE FUNCTION jobs_merge_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.builtin AND EXISTS (SELECT 1 FROM @extschema@.jobs j WHERE j.job_name = NEW.job_name AND j.builtin) THEN
		UPDATE @extschema@.jobs j SET schedule = NEW.schedule, params = NEW.params, enabled = NEW.enabled,
		       owner = NEW.owner, next_run = NEW.next_run, last_started = NEW.last_started,
		       last_finished = NEW.last_finished, last_status = NEW.last_status,
		       last_error = NEW.last_error, last_result = NEW.last_result, runs = NEW.runs,
		       failures = NEW.failures, consecutive_failures = NEW.consecutive_failures
		 WHERE j.job_name = NEW.job_name;
		RETURN NULL;
	END IF;
	RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION jobs_merge_restored() FROM PUBLIC;
COMMENT ON FUNCTION jobs_merge_restored() IS 'trigger: a restored built-in job updates the one CREATE EXTENSION made instead of colliding with it';
CREATE TRIGGER merge_restored BEFORE INSERT ON jobs
	FOR EACH ROW EXECUTE FUNCTION jobs_merge_restored();

SELECT pg_catalog.pg_extension_config_dump('job_kinds', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('jobs', '');
SELECT pg_catalog.pg_extension_config_dump('job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('job_runs_run_id_seq', '');

CREATE FUNCTION check_job_kind(kind text) RETURNS regprocedure
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	handler regprocedure;
BEGIN
	SELECT k.handler INTO handler FROM @extschema@.job_kinds k WHERE k.kind = check_job_kind.kind;
	IF handler IS NULL THEN
		RAISE EXCEPTION 'job kind "%" does not exist', kind
			USING ERRCODE = 'undefined_object',
			      HINT = 'The kinds are listed in personalize.job_kinds.';
	END IF;
	RETURN handler;
END $$;
REVOKE ALL ON FUNCTION check_job_kind(text) FROM PUBLIC;
COMMENT ON FUNCTION check_job_kind(text) IS 'the handler of a job kind, or an error naming the kinds';

CREATE FUNCTION check_job_exists(job text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.jobs j WHERE j.job_name = job) THEN
		RAISE EXCEPTION 'job "%" does not exist', job
			USING ERRCODE = 'undefined_object',
			      HINT = 'The jobs are listed in personalize.jobs.';
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_job_exists(text) FROM PUBLIC;
COMMENT ON FUNCTION check_job_exists(text) IS 'an error unless the job exists';

-- A job that acts under a purpose (its params name one) needs an owner who
-- may: checked when it is scheduled and again at every run, so revoking the
-- purpose stops the job.
CREATE FUNCTION check_job_owner(owner name, params jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF params ? 'purpose' THEN
		PERFORM @extschema@.check_purpose_exists(params ->> 'purpose');
		IF NOT @extschema@.may_act_for(owner, params ->> 'purpose') THEN
			RAISE EXCEPTION 'role "%" may not run jobs for purpose "%"', owner, params ->> 'purpose'
				USING ERRCODE = 'insufficient_privilege',
				      HINT = format('An administrator can allow it with SELECT personalize.grant_purpose(%L, %L).',
				                    owner, params ->> 'purpose');
		END IF;
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_job_owner(name, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION check_job_owner(name, jsonb) IS 'an error unless the job''s owner may act under the purpose its parameters name';

CREATE FUNCTION check_job_definition(job text, every interval, params jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF job !~ '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid job name "%"', job
			USING ERRCODE = 'invalid_name',
			      HINT = 'A job name is a lower-case letter followed by up to 62 lower-case letters, digits or underscores.';
	END IF;
	IF every < interval '1 second' THEN
		RAISE EXCEPTION 'a job cannot run more often than once a second (asked: every %)', every
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION 'job parameters must be a JSON object, not %', jsonb_typeof(params)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example: ''{"purpose": "recommendation"}''.';
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_job_definition(text, interval, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION check_job_definition(text, interval, jsonb) IS 'an error unless a job''s name, schedule and parameters are valid';

CREATE FUNCTION schedule_job(job text, kind text, every interval, params jsonb DEFAULT '{}',
                             enabled boolean DEFAULT true, first_run timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF job IS NULL OR kind IS NULL OR every IS NULL THEN
		RAISE EXCEPTION 'job, kind and every must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_job_definition(job, every, coalesce(params, '{}'));
	PERFORM @extschema@.check_job_kind(kind);
	PERFORM @extschema@.check_job_owner(@extschema@.acting_role(), coalesce(params, '{}'));
	INSERT INTO @extschema@.jobs (job_name, kind, schedule, params, enabled, owner, next_run)
	VALUES (job, kind, every, coalesce(params, '{}'), coalesce(enabled, true),
	        @extschema@.acting_role(), coalesce(first_run, now()));
	PERFORM @extschema@.wake_scheduler();
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'job "%" already exists', job
		USING ERRCODE = 'duplicate_object',
		      HINT = 'Change it with personalize.alter_job(), or remove it with personalize.unschedule_job().';
END $$;
REVOKE ALL ON FUNCTION schedule_job(text, text, interval, jsonb, boolean, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION schedule_job(text, text, interval, jsonb, boolean, timestamptz) IS
	'add a job of a kind (see job_kinds) that runs every interval, first at first_run (default now); the caller becomes its owner (the scheduler looks at it when the transaction commits)';

CREATE FUNCTION alter_job(job text, every interval DEFAULT NULL, params jsonb DEFAULT NULL,
                          enabled boolean DEFAULT NULL, next_run timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j @extschema@.jobs;
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	SELECT * INTO j FROM @extschema@.jobs WHERE job_name = job FOR UPDATE;
	PERFORM @extschema@.check_job_definition(job, coalesce(every, j.schedule), coalesce(params, j.params));
	IF params IS NOT NULL THEN
		PERFORM @extschema@.check_job_owner(@extschema@.acting_role(), params);
	END IF;
	UPDATE @extschema@.jobs SET schedule = coalesce(every, j.schedule),
	       params = coalesce(alter_job.params, j.params),
	       enabled = coalesce(alter_job.enabled, j.enabled),
	       next_run = coalesce(alter_job.next_run, j.next_run),
	       owner = CASE WHEN alter_job.params IS NULL THEN j.owner ELSE @extschema@.acting_role() END,
	       consecutive_failures = CASE WHEN alter_job.enabled THEN 0 ELSE j.consecutive_failures END
	 WHERE job_name = job;
	PERFORM @extschema@.wake_scheduler();
END $$;
REVOKE ALL ON FUNCTION alter_job(text, interval, jsonb, boolean, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION alter_job(text, interval, jsonb, boolean, timestamptz) IS
	'change a job''s schedule, parameters (the caller becomes its owner), enabled flag or next run; NULL keeps the current value';

CREATE FUNCTION unschedule_job(job text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	IF (SELECT builtin FROM @extschema@.jobs WHERE job_name = job) THEN
		RAISE EXCEPTION 'job "%" is built in and cannot be removed', job
			USING ERRCODE = 'object_in_use',
			      HINT = format('Disable it with SELECT personalize.alter_job(%L, enabled => false).', job);
	END IF;
	DELETE FROM @extschema@.jobs WHERE job_name = job;
END $$;
REVOKE ALL ON FUNCTION unschedule_job(text) FROM PUBLIC;
COMMENT ON FUNCTION unschedule_job(text) IS 'remove a job and its run history (built-in jobs can only be disabled)';

CREATE FUNCTION due_jobs() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT job_name FROM @extschema@.jobs WHERE enabled AND next_run <= now() ORDER BY next_run, job_name
$$;
REVOKE ALL ON FUNCTION due_jobs() FROM PUBLIC;
COMMENT ON FUNCTION due_jobs() IS 'names of the enabled jobs whose next run is due, oldest first';

CREATE FUNCTION next_job_due() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT min(next_run) FROM @extschema@.jobs WHERE enabled
$$;
REVOKE ALL ON FUNCTION next_job_due() FROM PUBLIC;
COMMENT ON FUNCTION next_job_due() IS 'when the next enabled job is due (NULL when none is enabled): the scheduler sleeps until then';

-- The next slot on the job's grid that lies in the future: a job late by
-- several periods (the server was down) runs once, not once per missed slot.
CREATE FUNCTION next_slot(last timestamptz, every interval) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN last > now() THEN last
	            ELSE last + every * (floor(extract(epoch FROM now() - last) / extract(epoch FROM every)) + 1)
	       END
$$;
REVOKE ALL ON FUNCTION next_slot(timestamptz, interval) FROM PUBLIC;
COMMENT ON FUNCTION next_slot(timestamptz, interval) IS 'the first time after now on the grid last + n * every';

CREATE FUNCTION prune_job_runs(job text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	DELETE FROM @extschema@.job_runs r
	 WHERE r.job_name = job
	   AND r.run_id <= (SELECT run_id FROM @extschema@.job_runs h WHERE h.job_name = job
	                     ORDER BY run_id DESC
	                    OFFSET current_setting('personalize.job_history_size')::int LIMIT 1)
$$;
REVOKE ALL ON FUNCTION prune_job_runs(text) FROM PUBLIC;
COMMENT ON FUNCTION prune_job_runs(text) IS 'keep the newest personalize.job_history_size runs of a job';

-- Runs one job in the caller's transaction.  Returns NULL without doing
-- anything when another session holds the job (it is running there) or,
-- unless forced, when it is not due: the scheduler and run_jobs() may race
-- for the same job, and exactly one of them runs it.
CREATE FUNCTION execute_job(job text, runner text DEFAULT 'session', force boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j @extschema@.jobs;
	started timestamptz := clock_timestamp();
	result jsonb;
	status text;
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	SELECT * INTO j FROM @extschema@.jobs WHERE job_name = job FOR UPDATE SKIP LOCKED;
	IF NOT FOUND OR (NOT force AND (NOT j.enabled OR j.next_run > now())) THEN
		RETURN NULL;
	END IF;
	PERFORM @extschema@.check_job_owner(j.owner, j.params);
	EXECUTE format('SELECT %s($1)', @extschema@.check_job_kind(j.kind)::regproc) INTO result USING j;
	result := coalesce(result, '{}');
	status := CASE WHEN result ? 'skipped' THEN 'skipped' ELSE 'succeeded' END;
	UPDATE @extschema@.jobs SET last_started = started, last_finished = clock_timestamp(),
	       last_status = status, last_error = NULL, last_result = result,
	       runs = runs + 1, consecutive_failures = 0,
	       next_run = CASE WHEN force THEN next_run ELSE @extschema@.next_slot(next_run, schedule) END
	 WHERE job_name = job;
	INSERT INTO @extschema@.job_runs (job_name, runner, started_at, status, result)
	VALUES (job, runner, started, status, result);
	PERFORM @extschema@.prune_job_runs(job);
	RETURN result;
END $$;
REVOKE ALL ON FUNCTION execute_job(text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION execute_job(text, text, boolean) IS
	'run one job now in this transaction if it is due (or forced) and nobody else is running it; NULL when it did not run';

-- Called in a fresh transaction after the failed run was rolled back.  A
-- failing job is retried at its next slot, or sooner while failures are
-- few: after 30 s, 1, 2, 4 ... minutes, never later than its schedule.
CREATE FUNCTION record_job_failure(job text, runner text, message text, code text,
                                   started timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE @extschema@.jobs SET last_started = started, last_finished = clock_timestamp(),
	       last_status = 'failed', last_error = message, last_result = NULL,
	       runs = runs + 1, failures = failures + 1,
	       consecutive_failures = consecutive_failures + 1,
	       next_run = now() + least(schedule, interval '30 seconds' * power(2, least(consecutive_failures, 16)))
	 WHERE job_name = job;
	IF FOUND THEN
		INSERT INTO @extschema@.job_runs (job_name, runner, started_at, status, error, sqlstate)
		VALUES (job, runner, started, 'failed', message, code);
		PERFORM @extschema@.prune_job_runs(job);
	END IF;
END $$;
REVOKE ALL ON FUNCTION record_job_failure(text, text, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION record_job_failure(text, text, text, text, timestamptz) IS
	'record that a run of a job failed (after its transaction was rolled back) and when it will be retried';

-- One job in a subtransaction: its failure is rolled back and recorded,
-- and the caller goes on.
CREATE FUNCTION run_one_job(job text, force boolean,
                            OUT status text, OUT result jsonb, OUT error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	started timestamptz := clock_timestamp();
	state text;
BEGIN
	BEGIN
		result := @extschema@.execute_job(job, 'session', force);
		status := CASE WHEN result IS NULL THEN 'not run' WHEN result ? 'skipped' THEN 'skipped' ELSE 'succeeded' END;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS error = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
		PERFORM @extschema@.record_job_failure(job, 'session', error, state, started);
		status := 'failed';
	END;
END $$;
REVOKE ALL ON FUNCTION run_one_job(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION run_one_job(text, boolean) IS 'run a job in a subtransaction, recording a failure instead of raising it';

CREATE FUNCTION run_jobs() RETURNS TABLE (job_name text, status text, result jsonb, error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	FOR job_name IN SELECT @extschema@.due_jobs() LOOP
		SELECT r.status, r.result, r.error INTO status, result, error
		  FROM @extschema@.run_one_job(job_name, false) r;
		RETURN NEXT;
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION run_jobs() FROM PUBLIC;
COMMENT ON FUNCTION run_jobs() IS
	'run every due job in this session, each in a subtransaction (for servers without the background workers: call it from cron or pg_cron)';

CREATE FUNCTION run_job(job text, OUT status text, OUT result jsonb, OUT error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_job_exists(job);
	SELECT r.status, r.result, r.error INTO status, result, error
	  FROM @extschema@.run_one_job(job, true) r;
END $$;
REVOKE ALL ON FUNCTION run_job(text) FROM PUBLIC;
COMMENT ON FUNCTION run_job(text) IS
	'run one job now, due or not, without moving its schedule; a failure is recorded and returned, not raised';

-- ---- sql/install/120_drift.sql
-- Drift monitoring: how concentrated what recommend() shows is, period by
-- period, and an alert when the concentration rises (a filter bubble
-- forming).  Each period of personalize.impressions is measured once into
-- drift_snapshots, for all subjects and for the new and established ones
-- apart; drift_job() (the built-in "drift" job) keeps the snapshots up to
-- date and raises alerts; gini_drift and drift_chart() show the trend.
--
-- Periods are aligned bins of personalize.drift_period (default 1 day)
-- starting on Monday 2001-01-01 00:00 UTC, so a week always starts on a
-- Monday at midnight UTC and a period a week earlier is a period too.  All
-- interval arithmetic on timestamps is in hours, never days: a day added in
-- a time zone with daylight saving can be 23 or 25 hours long.
--
-- The snapshots and alerts are aggregates of personal data (who was shown
-- what): only the extension's owner reads them unless an administrator
-- grants SELECT; they are written only by the SECURITY DEFINER functions
-- below, which PUBLIC cannot call.

-- ---- gini over a population ------------------------------------------------

CREATE FUNCTION gini_pop_accum(internal, double precision, bigint) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_pop_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gini_pop_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_pop_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gini_pop_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pz_gini_pop_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gini_pop_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_pop_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gini_pop_final(internal) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_gini_pop_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gini_pop_accum(internal, double precision, bigint) IS 'transition function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_combine(internal, internal) IS 'combine function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_serialize(internal) IS 'serialization function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_deserialize(bytea, internal) IS 'deserialization function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_final(internal) IS 'final function of gini(double precision, bigint)';

CREATE AGGREGATE gini(value double precision, population bigint) (
	SFUNC = gini_pop_accum,
	STYPE = internal,
	FINALFUNC = gini_pop_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = gini_pop_combine,
	SERIALFUNC = gini_pop_serialize,
	DESERIALFUNC = gini_pop_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gini(double precision, bigint) IS
	'Gini coefficient of a population of `population` members of which the rows give some values; the others (and NULL values) are zeros, so items never shown need no rows. Every row of a group must pass the same population, at least the number of values';

-- ---- settings ----------------------------------------------------------------

CREATE FUNCTION drift_settings(OUT period interval, OUT alert_delta double precision,
                               OUT new_subject_window interval, OUT min_impressions bigint,
                               OUT raise_exploration boolean, OUT exploration_ceiling double precision,
                               OUT exploration_step double precision)
	AS 'MODULE_PATHNAME', 'pz_drift_settings' LANGUAGE C STABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION drift_settings() FROM PUBLIC;
COMMENT ON FUNCTION drift_settings() IS
	'internal: the personalize.drift_* settings and personalize.gini_alert_delta as typed values (intervals in hours)';

CREATE FUNCTION drift_lock(key text, wait boolean) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_drift_lock' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION drift_lock(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION drift_lock(text, boolean) IS
	'internal: a transaction-level lock on a key (a purpose being measured) that no SQL advisory-lock function can take; false if busy and not waiting';

-- ---- tables ------------------------------------------------------------------

-- Periods are found by time; a BRIN index costs almost nothing on an
-- append-only log written in time order (a 0.2.0 table: this statement is
-- also part of the 0.2.0 -> 0.3.0 update).
CREATE INDEX impressions_shown_at_brin ON impressions USING brin (shown_at);
COMMENT ON INDEX impressions_shown_at_brin IS 'drift monitoring reads impressions period by period';

CREATE TABLE drift_snapshots (
	purpose            text NOT NULL,
	period_start       timestamptz NOT NULL,
	segment            text NOT NULL CHECK (segment IN ('all', 'new', 'established')),
	period_end         timestamptz NOT NULL CHECK (period_end > period_start),
	impressions        bigint NOT NULL CHECK (impressions >= 0),
	subjects           bigint NOT NULL CHECK (subjects >= 0),
	items_shown        bigint NOT NULL CHECK (items_shown >= 0),
	catalogue_items    bigint NOT NULL CHECK (catalogue_items >= items_shown),
	categories         bigint NOT NULL CHECK (categories >= 0),
	item_gini          double precision CHECK (item_gini >= 0 AND item_gini <= 1),
	category_gini      double precision CHECK (category_gini >= 0 AND category_gini <= 1),
	feed_category_gini double precision CHECK (feed_category_gini >= 0 AND feed_category_gini <= 1),
	coverage           double precision CHECK (coverage >= 0 AND coverage <= 1),
	explored_share     double precision CHECK (explored_share >= 0 AND explored_share <= 1),
	computed_at        timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (purpose, period_start, segment)
);
COMMENT ON TABLE drift_snapshots IS
	'one row per purpose, period and segment (all, new, established subjects): exposure concentration of what recommend() showed (Gini over items, categories, and per subject feed), coverage and exploration';
COMMENT ON COLUMN drift_snapshots.purpose IS 'the purpose whose impressions were measured';
COMMENT ON COLUMN drift_snapshots.period_start IS 'start of the period (aligned to personalize.drift_period from Monday 2001-01-01 UTC)';
COMMENT ON COLUMN drift_snapshots.period_end IS 'end of the period (exclusive)';
COMMENT ON COLUMN drift_snapshots.impressions IS 'slots shown in the period';
COMMENT ON COLUMN drift_snapshots.subjects IS 'distinct subjects shown something (impressions without a subject not counted)';
COMMENT ON COLUMN drift_snapshots.items_shown IS 'distinct items shown';
COMMENT ON COLUMN drift_snapshots.computed_at IS 'when the period was measured';
COMMENT ON COLUMN drift_snapshots.segment IS
	'all: every impression; new: subjects first shown anything within personalize.drift_new_subject_window before period_end; established: the other subjects. Impressions without a subject count in all only';
COMMENT ON COLUMN drift_snapshots.catalogue_items IS
	'population of item_gini: items created before period_end, plus any other item shown in the period (a catalogue loaded after its impressions keeps its categories)';
COMMENT ON COLUMN drift_snapshots.categories IS
	'population of category_gini and feed_category_gini: distinct categories of those items (no category counts as one)';
COMMENT ON COLUMN drift_snapshots.item_gini IS 'Gini of impressions per item, items never shown included; NULL without impressions';
COMMENT ON COLUMN drift_snapshots.category_gini IS 'Gini of impressions per category, categories never shown included; NULL without impressions';
COMMENT ON COLUMN drift_snapshots.feed_category_gini IS
	'mean over subjects of the Gini of impressions per category in the subject''s own feed, categories never shown included; NULL without subjects';
COMMENT ON COLUMN drift_snapshots.coverage IS 'share of catalogue_items shown at least once';
COMMENT ON COLUMN drift_snapshots.explored_share IS 'share of impressions that were exploration slots; NULL without impressions';

CREATE TABLE alerts (
	alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
	purpose         text,
	period_start    timestamptz,
	segment         text,
	metric          text,
	value           double precision,
	baseline        text,
	baseline_value  double precision,
	delta           double precision,
	action          text,
	message         text NOT NULL,
	acknowledged_at timestamptz,
	acknowledged_by name,
	CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
	CHECK (kind <> 'gini_drift' OR (purpose IS NOT NULL AND period_start IS NOT NULL
	       AND segment IN ('all', 'new', 'established')
	       AND metric IN ('item_gini', 'category_gini', 'feed_category_gini')
	       AND baseline IN ('previous period', 'same period a week earlier')
	       AND value IS NOT NULL AND baseline_value IS NOT NULL AND delta IS NOT NULL))
);
-- A period's alert is raised once, however often the period is measured.
CREATE UNIQUE INDEX alerts_gini_drift_once ON alerts (purpose, period_start, segment, metric, baseline)
	WHERE kind = 'gini_drift';
COMMENT ON TABLE alerts IS
	'alerts raised by monitoring (kind gini_drift: a Gini coefficient rose by more than personalize.gini_alert_delta over its baseline), with the action taken and who acknowledged them';
COMMENT ON COLUMN alerts.alert_id IS 'number of the alert (what acknowledge_alert() takes)';
COMMENT ON COLUMN alerts.raised_at IS 'when it was raised';
COMMENT ON COLUMN alerts.kind IS 'what raised it (gini_drift)';
COMMENT ON COLUMN alerts.purpose IS 'the purpose concerned';
COMMENT ON COLUMN alerts.period_start IS 'the period in which the metric rose';
COMMENT ON COLUMN alerts.segment IS 'all, new or established subjects';
COMMENT ON COLUMN alerts.metric IS 'item_gini, category_gini or feed_category_gini';
COMMENT ON COLUMN alerts.value IS 'the metric in the period';
COMMENT ON COLUMN alerts.baseline IS 'what it was compared with: previous period, or same period a week earlier';
COMMENT ON COLUMN alerts.baseline_value IS 'the metric in the baseline period';
COMMENT ON COLUMN alerts.delta IS 'value - baseline_value (more than personalize.gini_alert_delta)';
COMMENT ON COLUMN alerts.message IS 'the alert in words, as logged';
COMMENT ON COLUMN alerts.acknowledged_at IS 'when someone acknowledged it (NULL: open)';
COMMENT ON COLUMN alerts.acknowledged_by IS 'who acknowledged it';
COMMENT ON COLUMN alerts.action IS 'what was done automatically (personalize.drift_raise_exploration), NULL if nothing';

-- Where each purpose's impressions begin, noted when it is first measured
-- (one scan of the log per purpose, ever), so that the drift job measures
-- every period from there, gaps and periods before a first manual
-- drift_snapshot() included, without looking for them in the log again.
CREATE TABLE drift_purposes (
	purpose     text PRIMARY KEY,
	first_shown timestamptz NOT NULL,
	noted_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE drift_purposes IS
	'drift monitoring''s bookkeeping: when each measured purpose''s first impression was shown (delete a row to have it looked up again, after importing older impressions)';

COMMENT ON COLUMN drift_purposes.purpose IS 'a purpose whose impressions are measured';
COMMENT ON COLUMN drift_purposes.first_shown IS 'its first impression: measuring starts at the period holding it';
COMMENT ON COLUMN drift_purposes.noted_at IS 'when that was looked up';

SELECT seal_registry_table('drift_snapshots', true);
SELECT seal_registry_table('alerts', true);
SELECT seal_registry_table('drift_purposes', true);
REVOKE ALL ON drift_snapshots, alerts, drift_purposes FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('drift_purposes', '');
SELECT pg_catalog.pg_extension_config_dump('drift_snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('alerts', '');
SELECT pg_catalog.pg_extension_config_dump('alerts_alert_id_seq', '');

-- ---- helpers -----------------------------------------------------------------

CREATE FUNCTION drift_origin() RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN timestamptz '2001-01-01 00:00:00+00';
REVOKE ALL ON FUNCTION drift_origin() FROM PUBLIC;
COMMENT ON FUNCTION drift_origin() IS 'Monday 2001-01-01 00:00 UTC: where drift periods are aligned';

CREATE FUNCTION drift_utc(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
COMMENT ON FUNCTION drift_utc(timestamptz) IS 'a period boundary as ISO 8601 text in UTC, whatever the session''s time zone';

-- A period counts as complete a minute after its end: a serving transaction
-- stamps its impressions with its start time and may commit a little later.
CREATE FUNCTION drift_settle() RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN interval '1 minute';
REVOKE ALL ON FUNCTION drift_settle() FROM PUBLIC;
COMMENT ON FUNCTION drift_settle() IS 'how long after its end a period is complete (impressions committed late)';

CREATE FUNCTION sparkline(vals double precision[], span double precision DEFAULT 0.2) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(string_agg(CASE WHEN u.v IS NULL OR u.v = 'NaN' THEN ' '
	                                ELSE substr('▁▂▃▄▅▆▇█', 1 + least(7, greatest(0,
	                                     floor((u.v - m.lo) / greatest(m.hi - m.lo, $2, 1e-12) * 8)))::integer, 1)
	                           END, '' ORDER BY u.o), '')
	  FROM unnest($1) WITH ORDINALITY u(v, o),
	       (SELECT min(x) AS lo, max(x) AS hi FROM unnest($1) x WHERE x <> 'NaN') m
$$;
COMMENT ON FUNCTION sparkline(double precision[], double precision) IS
	'the values as bars ▁..█ from their minimum to their maximum, or to minimum + span if they vary less (so that noise stays flat: with the default 0.2, a rise of 0.05 is two bars higher); a NULL is a blank';

-- ---- measuring a period ----------------------------------------------------

-- One period of one purpose, three rows (all, new, established), in one
-- pass over the period's impressions (src/jobs/drift_measure.c): a subject's
-- segment is settled by one probe of the (subject_id, shown_at) index;
-- items and categories never shown are zeros of the population, never rows.
-- It refuses to run for a role that row-level security would show nothing.
CREATE FUNCTION drift_measure(purpose text, period_start timestamptz, period_end timestamptz,
                              new_since timestamptz)
RETURNS TABLE (segment text, impressions bigint, subjects bigint, items_shown bigint,
               catalogue_items bigint, categories bigint, item_gini double precision,
               category_gini double precision, feed_category_gini double precision,
               coverage double precision, explored_share double precision)
	AS 'MODULE_PATHNAME', 'pz_drift_measure' LANGUAGE C STABLE STRICT ROWS 3;
REVOKE ALL ON FUNCTION drift_measure(text, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_measure(text, timestamptz, timestamptz, timestamptz) IS
	'internal: the drift figures of one purpose over [period_start, period_end), subjects first shown anything at or after new_since being new';

-- The first impression of a purpose: as noted, else looked up (first_shown
-- when the caller already knows it) and noted.  NULL: no impression yet.
CREATE FUNCTION drift_note_purpose(purpose text, first_shown timestamptz) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	noted timestamptz;
BEGIN
	SELECT d.first_shown INTO noted FROM @extschema@.drift_purposes d WHERE d.purpose = drift_note_purpose.purpose;
	IF noted IS NOT NULL THEN
		RETURN noted;
	END IF;
	noted := drift_note_purpose.first_shown;
	IF noted IS NULL THEN
		SELECT min(i.shown_at) INTO noted FROM @extschema@.impressions i WHERE i.purpose = drift_note_purpose.purpose;
	END IF;
	IF noted IS NOT NULL THEN
		INSERT INTO @extschema@.drift_purposes (purpose, first_shown)
		VALUES (drift_note_purpose.purpose, noted) ON CONFLICT DO NOTHING;
	END IF;
	RETURN noted;
END $$;
REVOKE ALL ON FUNCTION drift_note_purpose(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_note_purpose(text, timestamptz) IS
	'internal: when a purpose''s first impression was shown, noted in drift_purposes the first time';

-- Measures one period and stores it (replacing an earlier measure), under a
-- transaction-level lock per purpose so that concurrent runs queue instead
-- of measuring the same period twice.
CREATE FUNCTION drift_store(purpose text, period_start timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	s record := @extschema@.drift_settings();
	period_end timestamptz := drift_store.period_start + s.period;
BEGIN
	PERFORM @extschema@.drift_lock(drift_store.purpose, true);
	PERFORM @extschema@.drift_note_purpose(drift_store.purpose, NULL);
	INSERT INTO @extschema@.drift_snapshots AS d
	       (purpose, period_start, segment, period_end, impressions, subjects, items_shown,
	        catalogue_items, categories, item_gini, category_gini, feed_category_gini,
	        coverage, explored_share, computed_at)
	SELECT drift_store.purpose, drift_store.period_start, m.segment, period_end, m.impressions,
	       m.subjects, m.items_shown, m.catalogue_items, m.categories,
	       m.item_gini, m.category_gini, m.feed_category_gini, m.coverage, m.explored_share, clock_timestamp()
	  FROM @extschema@.drift_measure(drift_store.purpose, drift_store.period_start, period_end,
	                                 period_end - s.new_subject_window) m
	ON CONFLICT (purpose, period_start, segment) DO UPDATE
	   SET period_end = excluded.period_end, impressions = excluded.impressions,
	       subjects = excluded.subjects, items_shown = excluded.items_shown,
	       catalogue_items = excluded.catalogue_items, categories = excluded.categories,
	       item_gini = excluded.item_gini, category_gini = excluded.category_gini,
	       feed_category_gini = excluded.feed_category_gini, coverage = excluded.coverage,
	       explored_share = excluded.explored_share, computed_at = excluded.computed_at;
END $$;
REVOKE ALL ON FUNCTION drift_store(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_store(text, timestamptz) IS 'internal: measure one aligned period of a purpose into drift_snapshots';

-- ---- alerts ------------------------------------------------------------------

-- Raises the exploration rate behind an alert, once per setting per
-- transaction (however many alerts name it), within the ceiling, for new
-- sessions of this database.  Returns what was done, NULL if nothing.
CREATE FUNCTION drift_raise_exploration(setting text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record := @extschema@.drift_settings();
	configured text;
	current_rate numeric;
	new_rate numeric;
BEGIN
	IF setting NOT IN ('personalize.exploration', 'personalize.exploration_new') THEN
		RAISE EXCEPTION 'drift alerts raise personalize.exploration or personalize.exploration_new, not %', setting
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- ALTER DATABASE updates one catalogue row: concurrent raises queue here
	-- (a purpose has no colon, so this key names no purpose)
	PERFORM @extschema@.drift_lock('setting:' || setting, true);
	SELECT substr(c, length(setting) + 2) INTO configured
	  FROM pg_db_role_setting r, unnest(r.setconfig) c
	 WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
	   AND r.setrole = 0 AND starts_with(c, setting || '=');
	current_rate := coalesce(configured, current_setting(setting))::numeric;
	new_rate := least(s.exploration_ceiling::numeric, round(current_rate + s.exploration_step::numeric, 6));
	IF new_rate <= current_rate THEN
		RETURN NULL;
	END IF;
	EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(), setting, new_rate::text);
	RETURN format('%s raised from %s to %s for new sessions of this database (ALTER DATABASE ... SET; ceiling %s)',
	              setting, trim_scale(current_rate), trim_scale(new_rate), trim_scale(s.exploration_ceiling::numeric));
END $$;
REVOKE ALL ON FUNCTION drift_raise_exploration(text) FROM PUBLIC;
COMMENT ON FUNCTION drift_raise_exploration(text) IS
	'internal: raise an exploration setting by personalize.drift_exploration_step, up to personalize.drift_exploration_ceiling, for the database';

-- What a listener on channel personalize_alerts receives.  Any role may
-- LISTEN on any channel, so the payload names the alert and nothing of what
-- it measured: a listener allowed to read alerts looks the rest up.
CREATE FUNCTION alert_notification(alert_id bigint) RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object('alert_id', a.alert_id, 'kind', a.kind)
	  FROM @extschema@.alerts a WHERE a.alert_id = $1
$$;
REVOKE ALL ON FUNCTION alert_notification(bigint) FROM PUBLIC;
COMMENT ON FUNCTION alert_notification(bigint) IS
	'internal: the JSON payload of the notification an alert sends on channel personalize_alerts: its id and kind only (any role may listen)';

-- After a period is measured: every segment and Gini metric that rose by more
-- than personalize.gini_alert_delta over the previous period, or over the
-- period a week earlier (periods shorter than a week), with at least
-- personalize.drift_min_impressions impressions on both sides, gets an alert
-- (once: a re-measure finds it there), a WARNING and a notification on
-- channel personalize_alerts.  latest: the period is the newest complete one,
-- the only one whose alerts may change the exploration rate.
-- Sampling alone moves a Gini between two periods of unchanged exposure:
-- drawing n impressions over 10 to 50 categories, category Gini has a
-- standard deviation of about 0.55 / sqrt(n) (0.017 at 1,000, 0.008 at
-- 5,000), the noisiest of the three metrics.  A rise must exceed
-- personalize.drift_noise_z such deviations of the difference as well as
-- personalize.gini_alert_delta: small sites still alert on a real narrowing
-- (a rise of 0.12 at 500 impressions a period), and no longer on noise.
CREATE FUNCTION drift_noise(impressions bigint, baseline_impressions bigint) RETURNS double precision
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT current_setting('personalize.drift_noise_z')::float8 * 0.55
	       * sqrt(1.0 / greatest(impressions, 1) + 1.0 / greatest(baseline_impressions, 1))
$$;
REVOKE ALL ON FUNCTION drift_noise(bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION drift_noise(bigint, bigint) IS
	'internal: the rise of a Gini that sampling noise alone could explain between periods of these sizes (personalize.drift_noise_z standard errors)';

CREATE FUNCTION drift_check_alerts(purpose text, period_start timestamptz, latest boolean)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	s record := @extschema@.drift_settings();
	r record;
	id bigint;
	act text;
	acted jsonb := '{}';
	setting text;
	what text;
	msg text;
	raised integer := 0;
BEGIN
	FOR r IN
		SELECT c.segment, m.metric, m.value, k.baseline, m.baseline_value,
		       m.value - m.baseline_value AS delta, c.impressions, b.impressions AS baseline_impressions
		  FROM @extschema@.drift_snapshots c
		 CROSS JOIN (VALUES (1, 'previous period'), (2, 'same period a week earlier')) k(ord, baseline)
		  JOIN @extschema@.drift_snapshots b
		    ON b.purpose = c.purpose AND b.segment = c.segment
		   AND CASE k.ord
		       WHEN 1 THEN b.period_end = c.period_start
		                   AND b.period_end - b.period_start = c.period_end - c.period_start
		       ELSE c.period_end - c.period_start < interval '168 hours'
		            AND b.period_start = c.period_start - interval '168 hours'
		            AND b.period_end = c.period_end - interval '168 hours' END
		 CROSS JOIN LATERAL (VALUES (1, 'item_gini', c.item_gini, b.item_gini),
		                            (2, 'category_gini', c.category_gini, b.category_gini),
		                            (3, 'feed_category_gini', c.feed_category_gini, b.feed_category_gini))
		       m(ord, metric, value, baseline_value)
		 WHERE c.purpose = drift_check_alerts.purpose AND c.period_start = drift_check_alerts.period_start
		   AND c.impressions >= s.min_impressions AND b.impressions >= s.min_impressions
		   AND m.value - m.baseline_value > greatest(s.alert_delta,
		           @extschema@.drift_noise(c.impressions, b.impressions))
		 ORDER BY array_position(ARRAY['all', 'new', 'established'], c.segment), m.ord, k.ord
	LOOP
		what := format('%s of purpose "%s" (%s) rose by %s over the %s, from %s to %s, in the period starting %s (%s impressions, %s in the baseline)',
		               r.metric, drift_check_alerts.purpose,
		               CASE r.segment WHEN 'all' THEN 'all subjects' ELSE r.segment || ' subjects' END,
		               round(r.delta::numeric, 3), r.baseline, round(r.baseline_value::numeric, 3),
		               round(r.value::numeric, 3), @extschema@.drift_utc(drift_check_alerts.period_start),
		               r.impressions, r.baseline_impressions);
		-- a Gini counting never-shown members rises when fewer impressions
		-- spread over the same catalogue: say so when traffic fell
		IF r.impressions < 0.8 * r.baseline_impressions THEN
			what := what || format('; traffic fell by %s%%, which alone raises a Gini that counts what was never shown',
			                       round(100 * (1 - r.impressions::numeric / r.baseline_impressions)));
		END IF;
		CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.alerts a
		                       WHERE a.kind = 'gini_drift' AND a.purpose = drift_check_alerts.purpose
		                         AND a.period_start = drift_check_alerts.period_start AND a.segment = r.segment
		                         AND a.metric = r.metric AND a.baseline = r.baseline);
		INSERT INTO @extschema@.alerts AS a (kind, purpose, period_start, segment, metric, value,
		                                     baseline, baseline_value, delta, message)
		VALUES ('gini_drift', drift_check_alerts.purpose, drift_check_alerts.period_start, r.segment,
		        r.metric, r.value, r.baseline, r.baseline_value, r.delta, what)
		ON CONFLICT (purpose, period_start, segment, metric, baseline) WHERE kind = 'gini_drift' DO NOTHING
		RETURNING a.alert_id INTO id;
		CONTINUE WHEN id IS NULL;			-- raised meanwhile by a concurrent run

		act := NULL;
		IF latest AND s.raise_exploration THEN
			setting := CASE r.segment WHEN 'new' THEN 'personalize.exploration_new'
			                          ELSE 'personalize.exploration' END;
			IF NOT acted ? setting THEN
				acted := acted || jsonb_build_object(setting, @extschema@.drift_raise_exploration(setting));
			END IF;
			act := acted ->> setting;
			UPDATE @extschema@.alerts SET action = act WHERE alert_id = id;
		END IF;

		msg := format('alert %s: %s', id, what);
		RAISE WARNING '%', msg
			USING DETAIL = coalesce('Action taken: ' || act || '.',
			                        'No action taken' || CASE WHEN latest AND s.raise_exploration
			                                                  THEN ': the exploration rate is at its ceiling.'
			                                                  ELSE '.' END),
			      HINT = format('%s Raise the exploration budget (%s), ask recommend() for more diversity, '
			                    'or check the active model; then SELECT personalize.acknowledge_alert(%s).',
			                    CASE r.metric
			                    WHEN 'item_gini' THEN 'Recommendations concentrate on fewer items.'
			                    WHEN 'category_gini' THEN 'Recommendations concentrate on fewer categories.'
			                    ELSE 'Each subject''s feed narrows to fewer categories (a filter bubble forming).' END,
			                    CASE r.segment WHEN 'new' THEN 'personalize.exploration_new'
			                                   ELSE 'personalize.exploration' END, id);
		PERFORM pg_notify('personalize_alerts', @extschema@.alert_notification(id)::text);
		raised := raised + 1;
	END LOOP;
	RETURN raised;
END $$;
REVOKE ALL ON FUNCTION drift_check_alerts(text, timestamptz, boolean) FROM PUBLIC;
COMMENT ON FUNCTION drift_check_alerts(text, timestamptz, boolean) IS
	'internal: raise the gini_drift alerts of a measured period (each once), with a WARNING and a notification on channel personalize_alerts';

-- A period just measured is a baseline too: the period after it and the
-- one a week later, if measured before it (out of order), are checked again
-- (what they raised already is not raised twice).  complete_before: the
-- end of the newest complete period, which tells which period is latest.
CREATE FUNCTION drift_check_alerts_around(purpose text, period_start timestamptz, complete_before timestamptz)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p interval := (@extschema@.drift_settings()).period;
	raised integer;
BEGIN
	raised := @extschema@.drift_check_alerts(purpose, period_start, period_start + 2 * p > complete_before)
	        + @extschema@.drift_check_alerts(purpose, period_start + p, period_start + 3 * p > complete_before);
	IF p < interval '168 hours' THEN
		raised := raised + @extschema@.drift_check_alerts(purpose, period_start + interval '168 hours',
		                                                  period_start + interval '168 hours' + 2 * p > complete_before);
	END IF;
	RETURN raised;
END $$;
REVOKE ALL ON FUNCTION drift_check_alerts_around(text, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_check_alerts_around(text, timestamptz, timestamptz) IS
	'internal: check the alerts of a measured period and of the periods it is the baseline of';

-- ---- what users call ------------------------------------------------------

CREATE FUNCTION drift_snapshot(purpose text DEFAULT 'recommendation', period_start timestamptz DEFAULT NULL)
RETURNS SETOF drift_snapshots LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	s record := @extschema@.drift_settings();
	complete_before timestamptz := now() - @extschema@.drift_settle();
	start timestamptz := drift_snapshot.period_start;
	aligned timestamptz;
BEGIN
	IF drift_snapshot.purpose IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(drift_snapshot.purpose);
	IF start IS NULL THEN
		start := date_bin(s.period, complete_before, @extschema@.drift_origin()) - s.period;
	END IF;
	aligned := date_bin(s.period, start, @extschema@.drift_origin());
	IF aligned <> start THEN
		RAISE EXCEPTION 'period_start % is not the start of a drift period', @extschema@.drift_utc(start)
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('Periods of %s hours are aligned on Monday 2001-01-01 00:00 UTC (personalize.drift_period).',
			                      trim_scale(extract(epoch FROM s.period) / 3600)),
			      HINT = format('The period containing it starts at %s.', @extschema@.drift_utc(aligned));
	END IF;
	IF start + s.period > complete_before THEN
		RAISE EXCEPTION 'the period starting % is not complete yet', @extschema@.drift_utc(start)
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = format('It can be measured from %s on.', @extschema@.drift_utc(start + s.period + @extschema@.drift_settle()));
	END IF;
	PERFORM @extschema@.drift_store(drift_snapshot.purpose, start);
	PERFORM @extschema@.drift_check_alerts_around(drift_snapshot.purpose, start, complete_before);
	RETURN QUERY SELECT * FROM @extschema@.drift_snapshots d
	              WHERE d.purpose = drift_snapshot.purpose AND d.period_start = start
	              ORDER BY array_position(ARRAY['all', 'new', 'established'], d.segment);
END $$;
REVOKE ALL ON FUNCTION drift_snapshot(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_snapshot(text, timestamptz) IS
	'measure (or measure again) one complete period of a purpose, by default the last one, raise its alerts, and return its rows (all, new, established)';

-- The handler of the built-in "drift" job.  params (all optional):
--   purpose      only this purpose (default: every purpose with impressions)
--   max_periods  most periods measured per purpose and run (default 100)
--   until        measure only periods ending by then (default: now)
-- Per purpose, in time order, every complete period from its first
-- impression on that has no snapshot (at the current period length), each
-- measured and its alerts checked.  A purpose another run is measuring is
-- skipped (reported under "busy"); a period already measured is not
-- measured again, so running twice, or two runs at once, measures each
-- period once.
CREATE FUNCTION drift_job(params jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record := @extschema@.drift_settings();
	p jsonb := coalesce(params, '{}');
	only_purpose text;
	max_periods integer := 100;
	until timestamptz := now() - @extschema@.drift_settle();
	watermark timestamptz;
	c record;
	first_shown timestamptz;
	missing timestamptz[];
	start timestamptz;
	done integer;
	raised integer;
	total_periods integer := 0;
	total_alerts integer := 0;
	purposes jsonb := '{}';
	busy text[] := '{}';
	bad text;
BEGIN
	IF jsonb_typeof(p) <> 'object' THEN
		RAISE EXCEPTION 'drift job parameters must be a JSON object, not %', jsonb_typeof(p)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example {"purpose": "recommendation", "max_periods": 30}.';
	END IF;
	SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(p) k
	 WHERE k NOT IN ('purpose', 'max_periods', 'until');
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown drift job parameter: %', bad
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The parameters are purpose, max_periods and until.';
	END IF;
	BEGIN
		only_purpose := p ->> 'purpose';
		max_periods := coalesce((p ->> 'max_periods')::integer, max_periods);
		until := least(until, (p ->> 'until')::timestamptz);
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'invalid drift job parameters %', p
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'purpose is a purpose name, max_periods a positive integer, until a timestamp with time zone.';
	END;
	IF max_periods < 1 THEN
		RAISE EXCEPTION 'max_periods must be at least 1, not %', max_periods
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p ? 'purpose' THEN
		PERFORM @extschema@.check_purpose_exists(only_purpose);
	END IF;

	-- Purposes to look at: those noted or measured before, and those with
	-- impressions since the latest snapshot of any purpose (all impressions
	-- the first time; the BRIN index bounds the scan afterwards).  Until a
	-- period after that snapshot is complete, no new purpose can have one:
	-- the scan is skipped, so frequent runs scan the log once a period.
	SELECT max(d.period_end) INTO watermark FROM @extschema@.drift_snapshots d;
	FOR c IN
		WITH recent AS (
			SELECT i.purpose, min(i.shown_at) AS first_shown
			  FROM @extschema@.impressions i
			 WHERE i.shown_at >= coalesce(watermark, '-infinity') AND i.shown_at < until
			   AND (watermark IS NULL OR watermark + s.period <= until)
			   AND (only_purpose IS NULL OR i.purpose = only_purpose)
			 GROUP BY i.purpose
		), known AS (
			SELECT d.purpose FROM @extschema@.drift_purposes d
			 WHERE only_purpose IS NULL OR d.purpose = only_purpose
			UNION
			SELECT d.purpose FROM @extschema@.drift_snapshots d
			 WHERE only_purpose IS NULL OR d.purpose = only_purpose
			UNION
			SELECT only_purpose WHERE only_purpose IS NOT NULL
		)
		SELECT u.purpose, r.first_shown
		  FROM (SELECT purpose FROM recent UNION SELECT purpose FROM known) u
		  LEFT JOIN recent r ON r.purpose = u.purpose
		 ORDER BY u.purpose
	LOOP
		IF NOT @extschema@.drift_lock(c.purpose, false) THEN
			busy := busy || c.purpose;
			CONTINUE;
		END IF;
		-- Where its impressions begin: the first scan saw them all; later
		-- ones saw only the recent rows (then the log is searched, once).
		first_shown := @extschema@.drift_note_purpose(c.purpose,
		                                              CASE WHEN watermark IS NULL THEN c.first_shown END);
		CONTINUE WHEN first_shown IS NULL;
		-- Every complete period from there not measured yet (at the current
		-- length), oldest first; read after taking the lock, so a run that
		-- held it has committed.
		SELECT array_agg(g ORDER BY g) INTO missing
		  FROM generate_series(date_bin(s.period, first_shown, @extschema@.drift_origin()),
		                       until - s.period, s.period) g
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.drift_snapshots d
		                    WHERE d.purpose = c.purpose AND d.period_start = g AND d.segment = 'all'
		                      AND d.period_end = g + s.period);
		done := 0;
		raised := 0;
		FOREACH start IN ARRAY coalesce(missing[1:max_periods], '{}') LOOP
			PERFORM @extschema@.drift_store(c.purpose, start);
			raised := raised + @extschema@.drift_check_alerts_around(c.purpose, start, until);
			done := done + 1;
		END LOOP;
		IF done > 0 THEN
			purposes := purposes || jsonb_build_object(c.purpose, jsonb_build_object(
				'periods', done, 'alerts', raised,
				'from', @extschema@.drift_utc(missing[1]), 'to', @extschema@.drift_utc(missing[done] + s.period),
				'behind', cardinality(missing) > done));
		END IF;
		total_periods := total_periods + done;
		total_alerts := total_alerts + raised;
	END LOOP;
	RETURN jsonb_build_object('periods', total_periods, 'alerts', total_alerts,
	                          'purposes', purposes, 'busy', to_jsonb(busy));
END $$;
REVOKE ALL ON FUNCTION drift_job(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION drift_job(jsonb) IS
	'handler of the drift job: measure every complete period not measured yet, per purpose (params: purpose, max_periods, until), raise alerts; returns {periods, alerts, purposes, busy}';

CREATE FUNCTION acknowledge_alert(alert_id bigint) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF acknowledge_alert.alert_id IS NULL THEN
		RAISE EXCEPTION 'alert_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	UPDATE @extschema@.alerts a SET acknowledged_at = clock_timestamp(), acknowledged_by = @extschema@.acting_role()
	 WHERE a.alert_id = acknowledge_alert.alert_id AND a.acknowledged_at IS NULL;
	IF FOUND THEN
		RETURN true;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.alerts a WHERE a.alert_id = acknowledge_alert.alert_id) THEN
		RAISE EXCEPTION 'alert % does not exist', acknowledge_alert.alert_id USING ERRCODE = 'undefined_object',
			HINT = 'See SELECT alert_id, message FROM personalize.alerts WHERE acknowledged_at IS NULL.';
	END IF;
	RETURN false;
END $$;
REVOKE ALL ON FUNCTION acknowledge_alert(bigint) FROM PUBLIC;
COMMENT ON FUNCTION acknowledge_alert(bigint) IS
	'mark an alert as seen (by the acting role, now); true if it was not acknowledged yet, false if it already was';

-- ---- reading the trend -----------------------------------------------------

-- Runs with the rights of whoever reads it (security_invoker), so it shows
-- only what that role may read in drift_snapshots and alerts.
CREATE VIEW gini_drift WITH (security_invoker = true) AS
SELECT d.purpose, d.segment, d.period_start, d.period_end, d.impressions, d.subjects,
       round(d.item_gini::numeric, 3) AS item_gini,
       round((d.item_gini - p.item_gini)::numeric, 3) AS item_gini_vs_previous,
       round((d.item_gini - w.item_gini)::numeric, 3) AS item_gini_vs_week,
       round(d.category_gini::numeric, 3) AS category_gini,
       round((d.category_gini - p.category_gini)::numeric, 3) AS category_gini_vs_previous,
       round((d.category_gini - w.category_gini)::numeric, 3) AS category_gini_vs_week,
       round(d.feed_category_gini::numeric, 3) AS feed_category_gini,
       round((d.feed_category_gini - p.feed_category_gini)::numeric, 3) AS feed_category_gini_vs_previous,
       round((d.feed_category_gini - w.feed_category_gini)::numeric, 3) AS feed_category_gini_vs_week,
       round(d.coverage::numeric, 3) AS coverage,
       round(d.explored_share::numeric, 3) AS explored_share,
       EXISTS (SELECT 1 FROM @extschema@.alerts a
                WHERE a.kind = 'gini_drift' AND a.purpose = d.purpose
                  AND a.period_start = d.period_start AND a.segment = d.segment) AS alert,
       @extschema@.sparkline(array_agg(d.item_gini) OVER trend) AS item_gini_trend,
       @extschema@.sparkline(array_agg(d.category_gini) OVER trend) AS category_gini_trend,
       @extschema@.sparkline(array_agg(d.feed_category_gini) OVER trend) AS feed_category_gini_trend
  FROM @extschema@.drift_snapshots d
  LEFT JOIN @extschema@.drift_snapshots p
    ON p.purpose = d.purpose AND p.segment = d.segment AND p.period_end = d.period_start
   AND p.period_end - p.period_start = d.period_end - d.period_start
  LEFT JOIN @extschema@.drift_snapshots w
    ON w.purpose = d.purpose AND w.segment = d.segment
   AND d.period_end - d.period_start < interval '168 hours'
   AND w.period_start = d.period_start - interval '168 hours'
   AND w.period_end = d.period_end - interval '168 hours'
WINDOW trend AS (PARTITION BY d.purpose, d.segment ORDER BY d.period_start ROWS BETWEEN 13 PRECEDING AND CURRENT ROW);
REVOKE ALL ON gini_drift FROM PUBLIC;
COMMENT ON VIEW gini_drift IS
	'drift periods per purpose and segment: Gini coefficients with their change since the previous period and since a week earlier, whether an alert was raised, and sparklines of the last 14 periods';
COMMENT ON COLUMN gini_drift.purpose IS 'the purpose';
COMMENT ON COLUMN gini_drift.segment IS 'all, new or established subjects';
COMMENT ON COLUMN gini_drift.period_start IS 'start of the period';
COMMENT ON COLUMN gini_drift.period_end IS 'end of the period';
COMMENT ON COLUMN gini_drift.impressions IS 'slots shown';
COMMENT ON COLUMN gini_drift.subjects IS 'distinct subjects shown something';
COMMENT ON COLUMN gini_drift.item_gini IS 'Gini of exposure over items (0 even, 1 one item)';
COMMENT ON COLUMN gini_drift.item_gini_vs_previous IS 'change of item_gini since the previous period';
COMMENT ON COLUMN gini_drift.item_gini_vs_week IS 'change of item_gini since the period a week earlier (periods shorter than a week)';
COMMENT ON COLUMN gini_drift.category_gini IS 'Gini of exposure over categories';
COMMENT ON COLUMN gini_drift.category_gini_vs_previous IS 'change of category_gini since the previous period';
COMMENT ON COLUMN gini_drift.category_gini_vs_week IS 'change of category_gini since a week earlier';
COMMENT ON COLUMN gini_drift.feed_category_gini IS 'mean Gini of categories within each subject''s feed (the filter-bubble metric)';
COMMENT ON COLUMN gini_drift.feed_category_gini_vs_previous IS 'change of feed_category_gini since the previous period';
COMMENT ON COLUMN gini_drift.feed_category_gini_vs_week IS 'change of feed_category_gini since a week earlier';
COMMENT ON COLUMN gini_drift.coverage IS 'share of the catalogue shown';
COMMENT ON COLUMN gini_drift.explored_share IS 'share of exploration slots';
COMMENT ON COLUMN gini_drift.alert IS 'an alert was raised for this period and segment';
COMMENT ON COLUMN gini_drift.item_gini_trend IS 'sparkline of item_gini over the last 14 periods';
COMMENT ON COLUMN gini_drift.category_gini_trend IS 'sparkline of category_gini over the last 14 periods';
COMMENT ON COLUMN gini_drift.feed_category_gini_trend IS 'sparkline of feed_category_gini over the last 14 periods';

CREATE FUNCTION xml_text(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN replace(replace(replace(replace(replace(t, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&apos;');
COMMENT ON FUNCTION xml_text(text) IS 'text escaped for XML content and attribute values';

-- SECURITY INVOKER on purpose: the chart reads drift_snapshots and alerts
-- with the caller's rights, so it shows nothing the caller could not SELECT.
CREATE FUNCTION drift_chart(purpose text DEFAULT 'recommendation', periods integer DEFAULT 30,
                            segment text DEFAULT 'all') RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	-- plot area: x0..x1 left to right, y0 (Gini 1) at the top to y1 (Gini 0)
	w constant integer := 800;
	h constant integer := 420;
	x0 constant integer := 70;
	x1 constant integer := 610;
	y0 constant integer := 60;
	y1 constant integer := 340;
	metrics constant text[] := ARRAY['item_gini', 'category_gini', 'feed_category_gini'];
	colours constant text[] := ARRAY['#1f77b4', '#ff7f0e', '#2ca02c'];
	labels constant text[] := ARRAY['items', 'categories', 'categories per feed'];
	starts timestamptz[];
	ends timestamptz[];
	vals float8[];				-- n values of item_gini, then category_gini, then feed
	xs numeric[] := '{}';
	n integer;
	title text;
	head text;
	body text := '';
	points text;
	marks text;
	label_format text;
	y numeric;
	r record;
BEGIN
	IF NOT has_table_privilege('@extschema@.drift_snapshots', 'SELECT')
	   OR NOT has_table_privilege('@extschema@.alerts', 'SELECT') THEN
		RAISE EXCEPTION 'permission denied to chart drift: role "%" cannot read personalize.drift_snapshots and personalize.alerts', current_user
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'An administrator can GRANT SELECT ON personalize.drift_snapshots, personalize.alerts to the role.';
	END IF;
	IF drift_chart.purpose IS NULL OR drift_chart.segment IS NULL OR drift_chart.periods IS NULL THEN
		RAISE EXCEPTION 'purpose, periods and segment must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF drift_chart.periods < 1 OR drift_chart.periods > 1000 THEN
		RAISE EXCEPTION 'periods must be between 1 and 1000, not %', drift_chart.periods
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'It is how many of the latest periods are plotted.';
	END IF;
	IF drift_chart.segment NOT IN ('all', 'new', 'established') THEN
		RAISE EXCEPTION 'unknown segment "%"', drift_chart.segment
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The segments are all, new and established.';
	END IF;
	PERFORM @extschema@.check_purpose_exists(drift_chart.purpose);

	SELECT array_agg(l.period_start ORDER BY l.period_start), array_agg(l.period_end ORDER BY l.period_start),
	       array_agg(l.item_gini ORDER BY l.period_start) || array_agg(l.category_gini ORDER BY l.period_start)
	       || array_agg(l.feed_category_gini ORDER BY l.period_start)
	  INTO starts, ends, vals
	  FROM (SELECT d.period_start, d.period_end, d.item_gini, d.category_gini, d.feed_category_gini
	          FROM @extschema@.drift_snapshots d
	         WHERE d.purpose = drift_chart.purpose AND d.segment = drift_chart.segment
	         ORDER BY d.period_start DESC LIMIT drift_chart.periods) l;
	n := coalesce(array_length(starts, 1), 0);

	title := format('Gini drift of purpose "%s", %s', drift_chart.purpose,
	                CASE drift_chart.segment WHEN 'all' THEN 'all subjects'
	                                         ELSE drift_chart.segment || ' subjects' END);
	head := format('<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
	               || '<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif">' || E'\n'
	               || '<title>%s</title>' || E'\n'
	               || '<rect width="100%%" height="100%%" fill="white"/>' || E'\n'
	               || '<text x="%s" y="30" font-size="18" text-anchor="middle">%s</text>' || E'\n',
	               w, h, w, h, @extschema@.xml_text(title), w / 2, @extschema@.xml_text(title));
	IF n = 0 THEN
		RETURN head || format('<text id="no-data" x="%s" y="%s" font-size="14" text-anchor="middle">'
		                      || 'No drift snapshots yet: the drift job (or personalize.drift_job()) measures complete periods.</text>' || E'\n'
		                      || '</svg>' || E'\n', w / 2, h / 2);
	END IF;
	FOR i IN 1 .. n LOOP
		xs := xs || CASE WHEN n = 1 THEN round((x0 + x1) / 2.0, 1)
		                 ELSE round(x0 + (i - 1) * (x1 - x0)::numeric / (n - 1), 1) END;
	END LOOP;
	head := head || format('<text x="%s" y="48" font-size="12" text-anchor="middle">%s periods from %s to %s</text>' || E'\n',
	                       w / 2, n, @extschema@.drift_utc(starts[1]), @extschema@.drift_utc(ends[n]));

	-- y axis: gridlines and labels at 0, 0.25, .., 1
	FOREACH y IN ARRAY ARRAY[0, 0.25, 0.5, 0.75, 1]::numeric[] LOOP
		body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#dddddd"/>'
		                       || '<text x="%s" y="%s" font-size="12" text-anchor="end">%s</text>' || E'\n',
		                       x0, round(y1 - y * (y1 - y0), 1), x1, round(y1 - y * (y1 - y0), 1),
		                       x0 - 8, round(y1 - y * (y1 - y0) + 4, 1), trim_scale(y));
	END LOOP;
	body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>'
	                       || '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>' || E'\n',
	                       x0, y0, x0, y1, x0, y1, x1, y1)
	             || format('<text x="20" y="%s" font-size="13" text-anchor="middle" transform="rotate(-90 20 %s)">Gini coefficient</text>' || E'\n',
	                       (y0 + y1) / 2, (y0 + y1) / 2);

	-- x axis: a tick per period, a date label on about 8 of them
	label_format := CASE WHEN ends[n] - starts[1] < n * interval '24 hours' THEN 'MM-DD HH24:MI' ELSE 'YYYY-MM-DD' END;
	FOR i IN 1 .. n LOOP
		body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>', xs[i], y1, xs[i], y1 + 4);
		IF (i - 1) % greatest(1, ceil(n / 8.0)::integer) = 0 THEN
			body := body || format('<text x="%s" y="%s" font-size="11" text-anchor="middle">%s</text>',
			                       xs[i], y1 + 18, to_char(starts[i] AT TIME ZONE 'UTC', label_format));
		END IF;
		body := body || E'\n';
	END LOOP;
	body := body || format('<text x="%s" y="%s" font-size="13" text-anchor="middle">period start (UTC)</text>' || E'\n',
	                       (x0 + x1) / 2, y1 + 40);

	-- periods with an alert: a band behind the lines
	FOR r IN SELECT array_position(starts, a.period_start) AS i,
	                string_agg(format('%s rose by %s over the %s', a.metric, round(a.delta::numeric, 3), a.baseline),
	                           '; ' ORDER BY a.alert_id) AS what
	           FROM @extschema@.alerts a
	          WHERE a.kind = 'gini_drift' AND a.purpose = drift_chart.purpose
	            AND a.segment = drift_chart.segment AND a.period_start = ANY (starts)
	          GROUP BY a.period_start ORDER BY a.period_start LOOP
		body := body || format('<rect class="alert-period" x="%s" y="%s" width="8" height="%s" fill="#d62728" fill-opacity="0.15"><title>alert: %s</title></rect>' || E'\n',
		                       xs[r.i] - 4, y0, y1 - y0, @extschema@.xml_text(r.what));
	END LOOP;

	-- per metric, one polyline per run of measured periods (an empty period,
	-- without a value, breaks the line), and a circle on each alerted point
	FOR k IN 1 .. 3 LOOP
		body := body || format('<g id="%s">', metrics[k]);
		points := '';
		FOR i IN 1 .. n + 1 LOOP
			IF i <= n AND vals[(k - 1) * n + i] IS NOT NULL THEN
				points := points || CASE WHEN points = '' THEN '' ELSE ' ' END
				          || xs[i] || ',' || round(y1 - vals[(k - 1) * n + i]::numeric * (y1 - y0), 1);
			ELSIF points <> '' THEN
				body := body || format('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>', colours[k], points);
				points := '';
			END IF;
		END LOOP;
		SELECT string_agg(format('<circle class="alert" cx="%s" cy="%s" r="5" fill="none" stroke="#d62728" stroke-width="2"><title>%s</title></circle>',
		                         xs[array_position(starts, m.period_start)],
		                         round(y1 - coalesce(vals[(k - 1) * n + array_position(starts, m.period_start)],
		                                             m.value)::numeric * (y1 - y0), 1),
		                         @extschema@.xml_text(m.what)),
		                  '' ORDER BY m.period_start)
		  INTO marks
		  FROM (SELECT a.period_start, max(a.value) AS value, string_agg(a.message, '; ' ORDER BY a.alert_id) AS what
		          FROM @extschema@.alerts a
		         WHERE a.kind = 'gini_drift' AND a.purpose = drift_chart.purpose AND a.segment = drift_chart.segment
		           AND a.metric = metrics[k] AND a.period_start = ANY (starts)
		         GROUP BY a.period_start) m;
		body := body || coalesce(marks, '') || '</g>' || E'\n';
	END LOOP;

	-- legend
	FOR k IN 1 .. 3 LOOP
		body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>'
		                       || '<text x="%s" y="%s" font-size="12">%s</text>' || E'\n',
		                       x1 + 20, y0 + 22 * k, x1 + 45, y0 + 22 * k, colours[k],
		                       x1 + 52, y0 + 4 + 22 * k, labels[k]);
	END LOOP;
	body := body || format('<circle cx="%s" cy="%s" r="5" fill="none" stroke="#d62728" stroke-width="2"/>'
	                       || '<text x="%s" y="%s" font-size="12">alert</text>' || E'\n',
	                       x1 + 32, y0 + 88, x1 + 52, y0 + 92);
	RETURN head || body || '</svg>' || E'\n';
END $$;
COMMENT ON FUNCTION drift_chart(text, integer, text) IS
	'an SVG chart of the latest periods of a purpose and segment: item, category and feed Gini coefficients, alerts marked; needs SELECT on drift_snapshots and alerts';

-- ---- sql/install/130_workers.sql
-- Background workers (src/jobs/): a launcher per cluster starts a scheduler
-- in each database that has this extension, which runs the due jobs of
-- personalize.jobs.  They run only when the library is in
-- shared_preload_libraries; personalize.run_jobs() is the alternative.

-- The launcher and the schedulers, from shared memory.  Like
-- pg_stat_activity's query column, what other databases' schedulers are
-- doing is shown only to roles with pg_read_all_stats; any other role sees
-- the launcher and its own database's scheduler (the function filters, so
-- no view or grant can widen it).
CREATE FUNCTION worker_status(
	OUT kind text, OUT datid oid, OUT datname name, OUT pid integer, OUT state text,
	OUT job text, OUT job_started timestamptz, OUT started_at timestamptz,
	OUT last_heartbeat timestamptz, OUT jobs_run bigint, OUT jobs_failed bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'pz_worker_status' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION worker_status() IS
	'the personalize launcher and the schedulers (of every database for pg_read_all_stats, else of this one): state, current job, heartbeat, jobs run and failed since start; no rows unless personalize is in shared_preload_libraries';

CREATE VIEW worker_status AS
	SELECT w.kind, w.datid, w.datname, w.pid, w.state, w.job, w.job_started,
	       w.started_at, w.last_heartbeat, w.jobs_run, w.jobs_failed
	  FROM @extschema@.worker_status() w
	 WHERE w.kind = 'launcher'
	    OR w.datid = (SELECT d.oid FROM pg_catalog.pg_database d
	                   WHERE d.datname = pg_catalog.current_database());
COMMENT ON VIEW worker_status IS
	'the personalize launcher and this database''s scheduler: state, current job, heartbeat, jobs run and failed since start';
GRANT SELECT ON worker_status TO PUBLIC;
COMMENT ON COLUMN worker_status.kind IS 'launcher (one per cluster) or scheduler (one per database)';
COMMENT ON COLUMN worker_status.datid IS 'the scheduler''s database (NULL for the launcher)';
COMMENT ON COLUMN worker_status.datname IS 'the scheduler''s database name (NULL for the launcher)';
COMMENT ON COLUMN worker_status.pid IS 'process id, as in pg_stat_activity (NULL while starting)';
COMMENT ON COLUMN worker_status.state IS 'idle, running job, waiting for extension update, not coordinator, waiting for extension lock, starting, stopping; the launcher: idle or scanning databases';
COMMENT ON COLUMN worker_status.job IS 'the job being run, while one runs';
COMMENT ON COLUMN worker_status.job_started IS 'when the job being run started';
COMMENT ON COLUMN worker_status.started_at IS 'when the process started';
COMMENT ON COLUMN worker_status.last_heartbeat IS 'the end of its latest look at the jobs (or the databases), or the start of the running job';
COMMENT ON COLUMN worker_status.jobs_run IS 'jobs run since the process started (runs another session made are not counted)';
COMMENT ON COLUMN worker_status.jobs_failed IS 'jobs that failed since the process started (their errors are in personalize.jobs and job_runs)';

-- For functions that change a job's schedule: the scheduler looks again
-- when the calling transaction commits instead of at its next wake-up.
CREATE FUNCTION wake_scheduler() RETURNS void
	AS 'MODULE_PATHNAME', 'pz_wake_scheduler_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION wake_scheduler() IS
	'make this database''s scheduler look at its jobs when the current transaction commits';
REVOKE ALL ON FUNCTION wake_scheduler() FROM PUBLIC;

-- ---- sql/install/140_builtin_jobs.sql
-- The built-in job kinds and jobs: retrain, retention, drift.

-- Retraining: when personalize.retrain_interval (or the job's "interval")
-- has passed since the purpose's newest model, or
-- personalize.retrain_min_interactions (or "min_interactions") new
-- interactions are visible under the purpose since the last retraining,
-- train with the job's algorithm and parameters (by default those of the
-- active model) and let train_model() evaluate, gate and activate.  A
-- purpose without an active model and without an algorithm in the job's
-- params is left alone: the first model is a decision for a person.  An
-- active model that may have learned from a subject erased since is
-- retrained at once (reason "erasure"), and the new version is activated
-- whatever its metrics: the erased subject must leave the served model.
-- Should the new version fail the membership-inference gate, the old model
-- is retired all the same and the purpose serves nothing (fail closed).
CREATE FUNCTION retrain_job(job jobs) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	target text := coalesce(job.params ->> 'purpose', 'recommendation');
	active @extschema@.models;
	algorithm text;
	params jsonb;
	newest timestamptz;
	since bigint := (job.last_result ->> 'interactions_up_to')::bigint;
	up_to bigint;
	fresh bigint;
	reason text;
	unpaid text;
	why text;
	model bigint;
	retired bigint;
	stale_after interval := coalesce((job.params ->> 'interval')::interval,
	                                 current_setting('personalize.retrain_interval')::interval);
	enough bigint := coalesce((job.params ->> 'min_interactions')::bigint,
	                          current_setting('personalize.retrain_min_interactions')::bigint);
BEGIN
	SELECT * INTO active FROM @extschema@.models m WHERE m.purpose = target AND m.status = 'active';
	algorithm := coalesce(job.params ->> 'algorithm', active.algorithm);
	IF algorithm IS NULL THEN
		RETURN jsonb_build_object('skipped', format('purpose "%s" has no active model and the job names no algorithm', target));
	END IF;
	SELECT max(created_at) INTO newest FROM @extschema@.models m
	 WHERE m.purpose = target AND m.status <> 'training';
	SELECT coalesce(max(interaction_id), 0) INTO up_to FROM @extschema@.interactions;
	IF EXISTS (SELECT 1 FROM @extschema@.model_erasures e WHERE e.model_id = active.model_id) THEN
		reason := 'erasure';
	ELSIF newest IS NULL OR now() - newest >= stale_after THEN
		reason := 'interval';
	ELSE
		-- counted only when it decides: the count reads up to "enough" rows
		fresh := @extschema@.visible_interactions_since(target, coalesce(since, up_to), enough);
		IF fresh < enough THEN
			RETURN jsonb_build_object('skipped', 'neither the interval has passed nor enough new interactions arrived',
			                          'last_model_at', newest, 'new_interactions', fresh,
			                          'interactions_up_to', coalesce(since, up_to));
		END IF;
		reason := 'new interactions';
	END IF;
	-- a model stored before weighting existed was trained on raw values; a
	-- retraining after an erasure replaces the model whatever it scores
	params := jsonb_build_object('activate', 'auto')
	          || coalesce(job.params -> 'params',
	                      CASE WHEN active.algorithm = 'als' AND NOT active.params ? 'weighting'
	                           THEN '{"weighting": "none"}'::jsonb ELSE '{}'::jsonb END
	                      || (coalesce(active.params, '{}') - 'seed' - 'tuned') || jsonb_build_object('tune', false))
	          || CASE WHEN reason = 'erasure' THEN '{"activate": "always"}'::jsonb ELSE '{}'::jsonb END;
	-- the purpose's privacy budget decides before any work: a retraining it
	-- cannot pay for is skipped
	unpaid := @extschema@.privacy_budget_refusal(target, params);
	IF unpaid IS NOT NULL AND reason <> 'erasure' THEN
		RETURN jsonb_build_object('skipped', unpaid, 'interactions_up_to', coalesce(since, up_to));
	END IF;
	IF unpaid IS NULL THEN
		model := @extschema@.train_model(algorithm, target, params, job.owner);
		IF reason = 'erasure' AND (SELECT m.status FROM @extschema@.models m WHERE m.model_id = model) = 'rejected' THEN
			why := format('its replacement, model %s, was rejected', model);
		END IF;
	ELSE
		why := format('no replacement could be trained (%s)', unpaid);
	END IF;
	-- fail closed: after an erasure the old model must stop serving even
	-- when no replacement passes the membership-inference gate or the
	-- budget; the purpose then has no model until a person acts
	IF why IS NOT NULL THEN
		UPDATE @extschema@.models m SET status = 'retired', retired_at = clock_timestamp(),
		       status_reason = 'retired after an erasure: ' || why
		 WHERE m.model_id = active.model_id AND m.status = 'active';
		IF FOUND THEN
			retired := active.model_id;
		END IF;
	END IF;
	RETURN coalesce((SELECT jsonb_build_object('model_id', m.model_id, 'status', m.status, 'reason', reason,
	                                           'ndcg_at_k', m.metrics -> 'ndcg_at_k', 'status_reason', m.status_reason,
	                                           'interactions_up_to', up_to)
	                   FROM @extschema@.models m WHERE m.model_id = model),
	                jsonb_build_object('reason', reason, 'not_retrained', unpaid))
	       || CASE WHEN retired IS NOT NULL THEN jsonb_build_object(
	              'retired_model', retired,
	              'serving', format('nothing: model %s was trained with an erased subject and %s; recommend() fails for purpose "%s" until a model is activated', retired, why, target))
	          ELSE '{}'::jsonb END;
END $$;
REVOKE ALL ON FUNCTION retrain_job(jobs) FROM PUBLIC;
COMMENT ON FUNCTION retrain_job(jobs) IS
	'job handler: retrain a purpose''s model when its interval has passed or enough new consented interactions arrived';

-- Counts, up to a limit, the interactions newer than an id that training
-- under the purpose would read: new rows of withdrawn subjects do not make
-- a model stale.
CREATE FUNCTION visible_interactions_since(purpose text, since bigint, up_to_count bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- the caller's declared purpose comes back when the function returns
SET personalize.purpose = '' AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM set_config('personalize.purpose', purpose, true);
	SELECT count(*) INTO n FROM (
		SELECT 1 FROM @extschema@.interactions i
		 WHERE i.interaction_id > since
		   AND @extschema@.row_visible(i.subject_id, i.category, i.occurred_at)
		 LIMIT up_to_count) s;
	RETURN n;
END $$;
REVOKE ALL ON FUNCTION visible_interactions_since(text, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION visible_interactions_since(text, bigint, bigint) IS
	'how many interactions after an id are visible under a purpose (counting stops at a limit)';

-- One of the extension's logs (impressions, feedback): rows older than
-- keep go, and the deletion is logged in retention_purges.
CREATE FUNCTION purge_log(tbl regclass, time_column name, keep interval, purged_by name) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cutoff timestamptz := now() - keep;
	n bigint;
BEGIN
	EXECUTE format('DELETE FROM %s WHERE %I < $1', tbl, time_column) USING cutoff;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		INSERT INTO @extschema@.retention_purges (purged_by, table_name, retention, cutoff, rows_deleted)
		VALUES (purged_by, tbl::text, keep, cutoff, n);
	END IF;
	RETURN n;
END $$;
REVOKE ALL ON FUNCTION purge_log(regclass, name, interval, name) FROM PUBLIC;
COMMENT ON FUNCTION purge_log(regclass, name, interval, name) IS
	'internal: delete the rows of one of the extension''s logs older than an interval, and log how many went';

-- Retention: purge_expired() deletes interactions (and rows of protected
-- tables with a time column) older than their category's retention; then
-- impressions and feedback older than the job's "impressions" and
-- "feedback" intervals (default 180 days) go.  Every deletion is logged in
-- retention_purges.
CREATE FUNCTION retention_job(job jobs) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	purged jsonb := @extschema@.purge_expired();
	result jsonb;
BEGIN
	result := jsonb_build_object('interactions', purged -> '@extschema@.interactions');
	IF purged - '@extschema@.interactions' <> '{}' THEN
		result := result || jsonb_build_object('tables', purged - '@extschema@.interactions');
	END IF;
	RETURN result || jsonb_build_object(
		'impressions', @extschema@.purge_log('@extschema@.impressions', 'shown_at',
		                                     coalesce((job.params ->> 'impressions')::interval, interval '180 days'), job.owner),
		'feedback', @extschema@.purge_log('@extschema@.feedback', 'recorded_at',
		                                  coalesce((job.params ->> 'feedback')::interval, interval '180 days'), job.owner));
END $$;
REVOKE ALL ON FUNCTION retention_job(jobs) FROM PUBLIC;
COMMENT ON FUNCTION retention_job(jobs) IS
	'job handler: purge_expired() (interactions and protected tables past their category''s retention), then old impressions and feedback';

-- Drift: every complete period not measured yet (see 120_drift.sql).
CREATE FUNCTION drift_handler(job jobs) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT @extschema@.drift_job(job.params)
$$;
REVOKE ALL ON FUNCTION drift_handler(jobs) FROM PUBLIC;
COMMENT ON FUNCTION drift_handler(jobs) IS
	'job handler: drift snapshots of every complete period not measured yet, with their alerts (params as drift_job(jsonb))';

INSERT INTO job_kinds (kind, handler, description, builtin) VALUES
	('drift', 'drift_handler(jobs)', 'measure the concentration of what was shown, period by period, and alert when it rises', true),
	('retrain', 'retrain_job(jobs)', 'retrain a purpose''s model on schedule or when enough new interactions arrived', true),
	('retention', 'retention_job(jobs)', 'delete data older than its retention', true);

INSERT INTO jobs (job_name, kind, schedule, params, owner, builtin) VALUES
	('retrain', 'retrain', '5 minutes', '{"purpose": "recommendation"}', current_user, true),
	('retention', 'retention', '1 hour', '{}', current_user, true),
	('drift', 'drift', '15 minutes', '{}', current_user, true);

-- ---- sql/install/150_progress.sql
-- Progress of running training, called by hand or by a job.

CREATE FUNCTION training_progress(
	OUT pid integer, OUT purpose text, OUT algorithm text, OUT model_id bigint,
	OUT phase text, OUT iteration integer, OUT iterations integer, OUT rows_read bigint,
	OUT started_at timestamptz, OUT elapsed interval, OUT in_phase interval)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'pz_training_progress' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION training_progress() IS
	'every train_model() running in this database: phase, ALS iteration, rows read, time (details of other roles'' training need pg_read_all_stats)';

CREATE VIEW training_progress AS SELECT * FROM training_progress();
COMMENT ON VIEW training_progress IS
	'running training in this database: phase (reading, splitting, tuning, fitting, evaluating, checking privacy, storing), iteration i of n, rows read, elapsed time';
COMMENT ON COLUMN training_progress.pid IS 'the backend training';
COMMENT ON COLUMN training_progress.purpose IS 'the purpose trained for';
COMMENT ON COLUMN training_progress.algorithm IS 'als, itemknn, rp3beta or popularity';
COMMENT ON COLUMN training_progress.model_id IS 'the model version being trained';
COMMENT ON COLUMN training_progress.phase IS 'reading, splitting, tuning, fitting, evaluating, checking privacy (the membership-inference check) or storing';
COMMENT ON COLUMN training_progress.iteration IS 'the ALS iteration under way';
COMMENT ON COLUMN training_progress.iterations IS 'the ALS iterations in all';
COMMENT ON COLUMN training_progress.rows_read IS 'interactions read so far';
COMMENT ON COLUMN training_progress.started_at IS 'when training started';
COMMENT ON COLUMN training_progress.elapsed IS 'time since it started';
COMMENT ON COLUMN training_progress.in_phase IS 'time spent in the current phase';

-- Like pg_stat_progress_*: everyone sees that training runs, only its role
-- (or pg_read_all_stats) sees what it is.
GRANT SELECT ON training_progress TO PUBLIC;

-- ---- sql/install/160_rights.sql
-- Data subject rights: what is held about a person (export_subject()),
-- forgetting them (erase_subject()), starting their personalization afresh
-- (reset_subject()), opting out of one category (opt_out()), and retention
-- that holds (purge_expired(); the policy hides expired rows already).
--
-- A subject erased leaves no raw id behind: the erasure log and the consent
-- ledger keep a keyed hash of it (HMAC-SHA256 under a key only the
-- extension's owner can read), so that proof of consent survives and a
-- request can be matched to a person who names themselves again, while
-- nobody without the key can tell whose entry it is, not even by hashing
-- every possible id.

-- ---- the keyed hash ---------------------------------------------------------

CREATE FUNCTION hmac_sha256(data bytea, key bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pz_hmac_sha256' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION hmac_sha256(bytea, bytea) FROM PUBLIC;
COMMENT ON FUNCTION hmac_sha256(bytea, bytea) IS 'HMAC-SHA256 of data under key (at least 16 bytes)';

-- One row: 32 bytes from the server's strong random source (three
-- gen_random_uuid(), 366 random bits, hashed), made at install.  Dumped, so
-- that a restored database still recognizes its erased subjects; a
-- restored key replaces the one CREATE EXTENSION made.
CREATE TABLE erasure_key (
	singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	key        bytea NOT NULL CHECK (length(key) >= 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE erasure_key IS 'the secret key of the keyed hash that stands for erased subjects; readable by the extension''s owner only';
COMMENT ON COLUMN erasure_key.singleton IS 'always true: there is one key';
COMMENT ON COLUMN erasure_key.key IS 'the key (32 random bytes)';
COMMENT ON COLUMN erasure_key.created_at IS 'when it was made';
SELECT seal_registry_table('erasure_key', false);
REVOKE ALL ON erasure_key FROM PUBLIC;

CREATE FUNCTION erasure_key_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM @extschema@.erasure_key;
	RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION erasure_key_restored() FROM PUBLIC;
COMMENT ON FUNCTION erasure_key_restored() IS 'trigger: a restored key replaces the one CREATE EXTENSION made';
CREATE TRIGGER merge_restored BEFORE INSERT ON erasure_key
	FOR EACH ROW EXECUTE FUNCTION erasure_key_restored();
INSERT INTO erasure_key (key)
SELECT sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
SELECT pg_catalog.pg_extension_config_dump('erasure_key', '');

CREATE FUNCTION subject_key(subject bigint) RETURNS bytea
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT @extschema@.hmac_sha256(int8send(subject), (SELECT k.key FROM @extschema@.erasure_key k))
$$;
REVOKE ALL ON FUNCTION subject_key(bigint) FROM PUBLIC;
COMMENT ON FUNCTION subject_key(bigint) IS 'the keyed hash that stands for a subject in the erasure log and, once erased, in the consent ledger (owner only: it reads the key)';

-- Free text a caller wrote (a consent's source, a notice version) may quote
-- the subject's id; erasure replaces each occurrence as a whole number.
CREATE FUNCTION redact_subject(t text, subject bigint) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT regexp_replace(t, '(?<![0-9])' || subject::text || '(?![0-9])', '[erased]', 'g')
$$;
REVOKE ALL ON FUNCTION redact_subject(text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION redact_subject(text, bigint) IS 'the text with every whole-number occurrence of the subject id replaced by [erased]';

-- ---- what is recorded -----------------------------------------------------------

CREATE TABLE rights_requests (
	request_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('export', 'erasure', 'reset')),
	subject_key  bytea NOT NULL,
	requested_by name NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	rows         jsonb NOT NULL DEFAULT '{}',
	models       bigint[] NOT NULL DEFAULT '{}'
);
CREATE INDEX ON rights_requests (subject_key);
COMMENT ON TABLE rights_requests IS 'every export, erasure and reset: whose (a keyed hash, never the id), when, by whom, how many rows (owner only; auditors read rights_log and erasure_log)';
COMMENT ON COLUMN rights_requests.request_id IS 'order of the requests';
COMMENT ON COLUMN rights_requests.kind IS 'export, erasure or reset';
COMMENT ON COLUMN rights_requests.subject_key IS 'personalize.subject_key() of the subject';
COMMENT ON COLUMN rights_requests.requested_by IS 'the role that called the function (SET ROLE counts)';
COMMENT ON COLUMN rights_requests.requested_at IS 'when';
COMMENT ON COLUMN rights_requests.rows IS 'rows per table: exported, deleted, pseudonymized (the ledger) or kept (tables protected with erasable => false)';
COMMENT ON COLUMN rights_requests.models IS 'erasure: the model versions trained while the subject had consented to their purpose';
SELECT seal_registry_table('rights_requests', false);
SELECT pg_catalog.pg_extension_config_dump('rights_requests', '');
SELECT pg_catalog.pg_extension_config_dump('rights_requests_request_id_seq', '');

-- Which model versions were trained with a subject erased since.  Models
-- keep no per-subject data (factors are item-side; subject factors are
-- folded in at request time), but their item-side parameters learned from
-- the subject: the active one is retrained at once by the retrain job, the
-- others lose their parameters.
CREATE TABLE model_erasures (
	model_id   bigint NOT NULL REFERENCES models ON DELETE CASCADE,
	request_id bigint NOT NULL REFERENCES rights_requests ON DELETE CASCADE,
	marked_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (model_id, request_id)
);
COMMENT ON TABLE model_erasures IS 'model versions trained with a subject erased since (which subject, only the erasure log''s keyed hash could say)';
COMMENT ON COLUMN model_erasures.model_id IS 'the model version';
COMMENT ON COLUMN model_erasures.request_id IS 'the erasure (rights_requests)';
COMMENT ON COLUMN model_erasures.marked_at IS 'when it was marked';
GRANT SELECT ON model_erasures TO PUBLIC;
SELECT seal_registry_table('model_erasures', true);
SELECT pg_catalog.pg_extension_config_dump('model_erasures', '');

CREATE TABLE retention_purges (
	purge_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	purged_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
	purged_by    name NOT NULL,
	table_name   text NOT NULL,
	category     text,
	retention    interval,
	cutoff       timestamptz NOT NULL,
	rows_deleted bigint NOT NULL
);
COMMENT ON TABLE retention_purges IS 'rows deleted for being older than their retention: when, by whom, from which table and category, up to which time (auditors read retention_log)';
COMMENT ON COLUMN retention_purges.purge_id IS 'order of the purges';
COMMENT ON COLUMN retention_purges.purged_at IS 'when';
COMMENT ON COLUMN retention_purges.purged_by IS 'the role that purged (a job''s runner: its owner)';
COMMENT ON COLUMN retention_purges.table_name IS 'the table purged (as named then)';
COMMENT ON COLUMN retention_purges.category IS 'the signal category of the rows (NULL for impressions and feedback, which the retention job keeps for its own intervals)';
COMMENT ON COLUMN retention_purges.retention IS 'the retention applied';
COMMENT ON COLUMN retention_purges.cutoff IS 'rows older than this were deleted';
COMMENT ON COLUMN retention_purges.rows_deleted IS 'how many';
SELECT seal_registry_table('retention_purges', false);
SELECT pg_catalog.pg_extension_config_dump('retention_purges', '');
SELECT pg_catalog.pg_extension_config_dump('retention_purges_purge_id_seq', '');

-- ---- helpers ----------------------------------------------------------------------

-- The oldest time still visible in each category with a retention, for the
-- current statement: what row_visible(subject, category, at) hides, in SQL.
-- A retention of 4000 years or more keeps everything (as in the C code).
CREATE FUNCTION retention_cutoffs() RETURNS TABLE (category text, retention interval, cutoff timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT c.name, c.retention, statement_timestamp() - c.retention
	  FROM @extschema@.signal_categories c
	 WHERE c.retention IS NOT NULL AND extract(epoch FROM c.retention) < 4000 * 365.25 * 86400
$$;
REVOKE ALL ON FUNCTION retention_cutoffs() FROM PUBLIC;
COMMENT ON FUNCTION retention_cutoffs() IS 'per category with a retention: the oldest time visible to the current statement (statement start minus retention)';

-- Every table of the extension keyed by subject (a subject_id column):
-- erasure and export cover tables added later without being told.
CREATE FUNCTION subject_tables() RETURNS SETOF regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT c.oid::regclass
	  FROM pg_depend d
	  JOIN pg_class c ON c.oid = d.objid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'subject_id' AND NOT a.attisdropped
	 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'personalize')
	   AND c.relkind IN ('r', 'p')
	   AND a.atttypid IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype)
	 ORDER BY c.relname
$$;
REVOKE ALL ON FUNCTION subject_tables() FROM PUBLIC;
COMMENT ON FUNCTION subject_tables() IS 'the extension''s tables with a subject_id column';

-- The model versions that may have learned from a subject: those trained
-- after the subject consented (tier above none) to their purpose or a
-- purpose it inherits from.  A superset of the exact answer, which no
-- model keeps (that would be per-subject data at rest): a consenting
-- subject without rows, or with rows in no category the model used, is
-- counted too.
CREATE FUNCTION models_trained_with(subject bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT m.model_id FROM @extschema@.models m
	 WHERE m.status <> 'training'
	   AND (EXISTS (SELECT 1 FROM @extschema@.consent_ledger l
	                 WHERE l.subject_id = models_trained_with.subject AND l.action = 'set'
	                   AND @extschema@.tier(l.consent) <> 'none'
	                   AND l.purpose = ANY (@extschema@.purpose_chain(m.purpose))
	                   AND l.recorded_at <= m.created_at + coalesce(m.training_ms, 0) * interval '1 millisecond')
	        OR EXISTS (SELECT 1 FROM @extschema@.consents c
	                    WHERE c.subject_id = models_trained_with.subject
	                      AND @extschema@.tier(c.consent) <> 'none'
	                      AND c.purpose = ANY (@extschema@.purpose_chain(m.purpose))
	                      AND c.updated_at <= m.created_at + coalesce(m.training_ms, 0) * interval '1 millisecond'))
	 ORDER BY m.model_id
$$;
REVOKE ALL ON FUNCTION models_trained_with(bigint) FROM PUBLIC;
COMMENT ON FUNCTION models_trained_with(bigint) IS 'model versions trained while the subject had consented to their purpose (a superset of those that read their rows)';

-- The erasure section of a model card.
CREATE FUNCTION model_erasure_state(model bigint) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH m AS (SELECT * FROM @extschema@.models WHERE model_id = model),
	e AS (SELECT count(*) AS n, min(marked_at) AS first_at FROM @extschema@.model_erasures WHERE model_id = model),
	j AS (SELECT j.job_name, j.schedule, j.next_run FROM @extschema@.jobs j, m
	       WHERE j.kind = 'retrain' AND j.enabled AND coalesce(j.params ->> 'purpose', 'recommendation') = m.purpose
	       ORDER BY j.schedule, j.job_name LIMIT 1)
	SELECT jsonb_build_object(
		'erased_subjects_since_training', e.n,
		'first_erasure_at', e.first_at,
		'state', CASE
			WHEN e.n = 0 THEN 'no subject it may have learned from has been erased'
			WHEN m.status = 'active' AND j.job_name IS NOT NULL
				THEN 'serving until the retrain job replaces it, due ' || to_char(j.next_run AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
			WHEN m.status = 'active'
				THEN 'serving: no enabled retrain job covers its purpose; train a new version'
			ELSE 'parameters removed: it can no longer be activated' END,
		'retrain_job', j.job_name,
		'retrain_every', j.schedule,
		'retrain_bound', CASE WHEN j.job_name IS NOT NULL THEN
			'an erasure makes the retrain job due at once; the model is replaced by its next run, at the latest one schedule later (while a scheduler or run_jobs() runs jobs)'
			ELSE 'no enabled retrain job covers the purpose: a model trained with an erased subject serves until a new version is trained' END)
	  FROM m CROSS JOIN e LEFT JOIN j ON true
$$;
COMMENT ON FUNCTION model_erasure_state(bigint) IS 'the erasure section of a model card: how many subjects it may have learned from were erased since, and when it is replaced';

-- A model trained with an erased subject keeps its parameters only while
-- it serves: once replaced they go, so that no rollback brings it back.
CREATE FUNCTION forget_erased_model() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.model_erasures e WHERE e.model_id = NEW.model_id) THEN
		PERFORM @extschema@.remove_model_parameters(ARRAY[NEW.model_id]);
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION forget_erased_model() FROM PUBLIC;
COMMENT ON FUNCTION forget_erased_model() IS 'trigger on models: a model trained with an erased subject loses its parameters when it stops being active';
CREATE TRIGGER forget_erased AFTER UPDATE OF status ON models
	FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status <> 'active')
	EXECUTE FUNCTION forget_erased_model();
ALTER TABLE models ENABLE ALWAYS TRIGGER forget_erased;

CREATE FUNCTION remove_model_parameters(models bigint[]) RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	removed bigint[];
BEGIN
	removed := ARRAY(
		SELECT m.model_id FROM @extschema@.models m
		 WHERE m.model_id = ANY (models) AND m.status <> 'active'
		   AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
		        OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
		        OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
		 ORDER BY m.model_id);
	DELETE FROM @extschema@.model_item_factors WHERE model_id = ANY (removed);
	DELETE FROM @extschema@.model_neighbors WHERE model_id = ANY (removed);
	DELETE FROM @extschema@.model_popularity WHERE model_id = ANY (removed);
	UPDATE @extschema@.models
	   SET status = CASE WHEN status = 'candidate' THEN 'retired' ELSE status END,
	       status_reason = concat_ws('; ', status_reason, 'parameters removed: trained with a subject erased since')
	 WHERE model_id = ANY (removed);
	RETURN removed;
END $$;
REVOKE ALL ON FUNCTION remove_model_parameters(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION remove_model_parameters(bigint[]) IS 'delete the stored parameters of the given models that are not active (they can no longer be activated)';

-- The one line per version gains how many subjects it may have learned
-- from were erased since.
CREATE OR REPLACE VIEW model_cards AS
SELECT m.model_id, m.algorithm, m.purpose, m.status, m.created_at,
       (m.data ->> 'subjects_included')::bigint AS subjects_included,
       (m.data -> 'subjects_left_out' ->> 'total')::bigint AS subjects_left_out,
       (m.metrics ->> 'k')::integer AS k,
       round((m.metrics ->> 'ndcg_at_k')::numeric, 4) AS ndcg_at_k,
       round((m.metrics ->> 'recall_at_k')::numeric, 4) AS recall_at_k,
       round((m.metrics ->> 'coverage')::numeric, 4) AS coverage,
       round((m.metrics ->> 'gini')::numeric, 4) AS gini,
       cardinality(m.warnings) AS warnings,
       m.status_reason,
       (SELECT count(*) FROM @extschema@.model_erasures e WHERE e.model_id = m.model_id) AS erased_since_training
  FROM @extschema@.models m;
COMMENT ON COLUMN model_cards.erased_since_training IS 'subjects it may have learned from who were erased since (a model with any is replaced by the retrain job)';

-- ---- erasure ------------------------------------------------------------------------

-- Protected application tables (the roots; partitions go with them), those
-- that others reference last, so that foreign keys between them do not
-- stop a deletion.
CREATE FUNCTION erasure_order() RETURNS SETOF regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	remaining regclass[] := ARRAY(SELECT p.relid FROM @extschema@.protected_tables p
	                               WHERE NOT p.builtin AND p.inherited_from IS NULL ORDER BY p.relid::text);
	batch regclass[];
BEGIN
	WHILE cardinality(remaining) > 0 LOOP
		batch := ARRAY(SELECT r FROM unnest(remaining) r
		                WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c
		                                   WHERE c.contype = 'f' AND c.confrelid = r
		                                     AND c.conrelid <> r AND c.conrelid = ANY (remaining)));
		IF cardinality(batch) = 0 THEN
			batch := remaining;		-- a cycle: the constraints' own actions decide
		END IF;
		RETURN QUERY SELECT b FROM unnest(batch) b;
		remaining := ARRAY(SELECT r FROM unnest(remaining) r WHERE r <> ALL (batch));
	END LOOP;
END $$;
REVOKE ALL ON FUNCTION erasure_order() FROM PUBLIC;
COMMENT ON FUNCTION erasure_order() IS 'protected application tables, referencing tables before the tables they reference';

-- Statistics are a copy of some values of a table: the most common ones and
-- histogram bounds, per column, in pg_statistic (and extended statistics).
-- A table whose statistics name the erased id is analyzed again, in the
-- erasing transaction, whose deletions ANALYZE does not sample; statistics
-- that still name it (a table left empty keeps its old ones) are deleted.
CREATE FUNCTION refresh_statistics_naming(tables regclass[], subject bigint) RETURNS regclass[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pattern text := '(^|[^0-9])' || subject::text || '([^0-9]|$)';
	named regclass[];
	tbl regclass;
BEGIN
	named := ARRAY(
		SELECT DISTINCT r FROM (
			SELECT s.starelid::regclass AS r FROM pg_statistic s
			 WHERE s.starelid IN (SELECT t FROM unnest(tables) t
			                      UNION SELECT @extschema@.descendants(t) FROM unnest(tables) t)
			   AND concat_ws(' ', s.stavalues1::text, s.stavalues2::text, s.stavalues3::text,
			                 s.stavalues4::text, s.stavalues5::text) ~ pattern
			UNION ALL
			SELECT e.stxrelid::regclass FROM pg_statistic_ext e JOIN pg_statistic_ext_data d ON d.stxoid = e.oid
			 WHERE e.stxrelid IN (SELECT t FROM unnest(tables) t
			                      UNION SELECT @extschema@.descendants(t) FROM unnest(tables) t)
			   AND d.stxdmcv::text ~ pattern) x
		ORDER BY 1);
	FOREACH tbl IN ARRAY named LOOP
		EXECUTE format('ANALYZE %s', tbl);
	END LOOP;
	-- ANALYZE leaves the statistics of a table it finds empty as they were:
	-- those go (the next ANALYZE makes new ones)
	DELETE FROM pg_statistic s
	 WHERE s.starelid = ANY (named)
	   AND concat_ws(' ', s.stavalues1::text, s.stavalues2::text, s.stavalues3::text,
	                 s.stavalues4::text, s.stavalues5::text) ~ pattern;
	DELETE FROM pg_statistic_ext_data d
	 WHERE d.stxoid IN (SELECT e.oid FROM pg_statistic_ext e WHERE e.stxrelid = ANY (named))
	   AND d.stxdmcv::text ~ pattern;
	RETURN named;
END $$;
REVOKE ALL ON FUNCTION refresh_statistics_naming(regclass[], bigint) FROM PUBLIC;
COMMENT ON FUNCTION refresh_statistics_naming(regclass[], bigint) IS 'analyze again those of the tables (and their partitions) whose planner statistics hold the subject id';

-- In one transaction: the subject's rows go from every subject-keyed table
-- of the extension and every protected application table not protected
-- with erasable => false; their consent ledger entries keep what was
-- consented, when and how, under the keyed hash instead of the id; model
-- versions that may have learned from them are marked, the active one is
-- retrained by the retrain job at its next run (made due now), the others
-- lose their parameters.  An unknown subject is erased all the same (zero
-- rows): the log shows the request was honoured.
CREATE FUNCTION erase_subject(subject bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key bytea;
	deleted jsonb := '{}';
	kept jsonb := '{}';
	pseudonymized bigint;
	marked bigint[];
	removed bigint[];
	request bigint;
	tbl regclass;
	p @extschema@.protected_tables;
	n bigint;
	touched regclass[] := '{}';
	analyzed regclass[];
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	key := @extschema@.subject_key(subject);
	IF key IS NULL THEN
		RAISE EXCEPTION 'the erasure key is missing'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'personalize.erasure_key must hold one row; restore it from a dump of this database.';
	END IF;
	-- Training under way commits first and is marked below; training that
	-- starts now waits, and does not see the subject.  Erasures queue.
	LOCK TABLE @extschema@.models IN SHARE ROW EXCLUSIVE MODE;
	marked := ARRAY(SELECT @extschema@.models_trained_with(subject));

	FOR tbl IN SELECT t FROM @extschema@.subject_tables() t
	            WHERE t <> '@extschema@.consent_ledger'::regclass LOOP
		EXECUTE format('DELETE FROM %s WHERE subject_id = $1', tbl) USING subject;
		GET DIAGNOSTICS n = ROW_COUNT;
		deleted := deleted || jsonb_build_object(tbl::text, n);
		touched := touched || tbl;
	END LOOP;
	touched := touched || '@extschema@.consent_ledger'::regclass;
	UPDATE @extschema@.consent_ledger l
	   SET subject_id = NULL, subject_key = key,
	       source = @extschema@.redact_subject(l.source, subject),
	       notice_version = @extschema@.redact_subject(l.notice_version, subject)
	 WHERE l.subject_id = subject;
	GET DIAGNOSTICS pseudonymized = ROW_COUNT;

	FOR tbl IN SELECT t FROM @extschema@.erasure_order() t LOOP
		SELECT * INTO p FROM @extschema@.protected_tables t WHERE t.relid = tbl;
		IF p.erasable THEN
			EXECUTE format('DELETE FROM %s WHERE %I = $1', tbl, p.subject_column) USING subject;
			GET DIAGNOSTICS n = ROW_COUNT;
			deleted := deleted || jsonb_build_object(tbl::text, n);
			touched := touched || tbl;
		ELSE
			EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1', tbl, p.subject_column) INTO n USING subject;
			kept := kept || jsonb_build_object(tbl::text, n);
		END IF;
	END LOOP;

	analyzed := @extschema@.refresh_statistics_naming(touched, subject);
	INSERT INTO @extschema@.rights_requests (kind, subject_key, requested_by, rows, models)
	VALUES ('erasure', key, @extschema@.acting_role(),
	        jsonb_build_object('deleted', deleted, 'kept', kept, 'ledger_entries_pseudonymized', pseudonymized,
	                           'statistics_refreshed', to_jsonb(analyzed::text[])),
	        marked)
	RETURNING request_id INTO request;
	INSERT INTO @extschema@.model_erasures (model_id, request_id)
	SELECT m, request FROM unnest(marked) m;
	removed := @extschema@.remove_model_parameters(marked);
	-- a retrain job that is running now is left alone: it is past its check
	WITH due AS (
		SELECT j.job_name FROM @extschema@.jobs j
		 WHERE j.kind = 'retrain' AND j.enabled
		   AND coalesce(j.params ->> 'purpose', 'recommendation') IN
		       (SELECT m.purpose FROM @extschema@.models m WHERE m.model_id = ANY (marked) AND m.status = 'active')
		   FOR UPDATE SKIP LOCKED)
	UPDATE @extschema@.jobs j SET next_run = least(j.next_run, now())
	  FROM due WHERE j.job_name = due.job_name;
	RETURN jsonb_build_object(
		'erasure', request,
		'deleted', deleted,
		'kept', kept,
		'ledger_entries_pseudonymized', pseudonymized,
		'statistics_refreshed', to_jsonb(analyzed::text[]),
		'models_marked', to_jsonb(marked),
		'model_parameters_removed', to_jsonb(removed),
		'retrain_due', to_jsonb(ARRAY(SELECT j.job_name FROM @extschema@.jobs j
		                               WHERE j.kind = 'retrain' AND j.enabled
		                                 AND coalesce(j.params ->> 'purpose', 'recommendation') IN
		                                     (SELECT m.purpose FROM @extschema@.models m
		                                       WHERE m.model_id = ANY (marked) AND m.status = 'active')
		                               ORDER BY 1)));
END $$;
REVOKE ALL ON FUNCTION erase_subject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION erase_subject(bigint) IS
	'forget a subject in one transaction: their rows in the extension and in erasable protected tables, the raw id in the consent ledger (a keyed hash stays), and the models that may have learned from them (retrained or stripped); logged without the id';

-- ---- reset ---------------------------------------------------------------------------

-- "Reset my recommendations": history, impressions and feedback go, the
-- consents stay.  Application tables are the application's records, not
-- personalization history, and are left as they are.
CREATE FUNCTION reset_subject(subject bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	deleted jsonb := '{}';
	tbl regclass;
	n bigint;
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH tbl IN ARRAY ARRAY['@extschema@.interactions', '@extschema@.impressions', '@extschema@.feedback']::regclass[] LOOP
		EXECUTE format('DELETE FROM %s WHERE subject_id = $1', tbl) USING subject;
		GET DIAGNOSTICS n = ROW_COUNT;
		deleted := deleted || jsonb_build_object(tbl::text, n);
	END LOOP;
	INSERT INTO @extschema@.rights_requests (kind, subject_key, requested_by, rows)
	VALUES ('reset', @extschema@.subject_key(subject), @extschema@.acting_role(), jsonb_build_object('deleted', deleted));
	RETURN jsonb_build_object('deleted', deleted);
END $$;
REVOKE ALL ON FUNCTION reset_subject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION reset_subject(bigint) IS
	'start a subject''s personalization afresh: delete their interactions, impressions and feedback, keep their consents';

-- ---- per-category opt-out --------------------------------------------------------------

-- Deny one category in the subject's consent for one purpose, or for every
-- purpose they consented to; recorded in the ledger like any change.
CREATE FUNCTION opt_out(subject bigint, category text, purpose text DEFAULT NULL,
                        source text DEFAULT 'opt_out')
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
	changed integer := 0;
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF category IS NULL THEN
		RAISE EXCEPTION 'signal category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_categories(ARRAY[category]);
	IF purpose IS NOT NULL THEN
		PERFORM @extschema@.check_purpose_exists(purpose);
	END IF;
	FOR c IN SELECT s.purpose, s.consent FROM @extschema@.consents s
	          WHERE s.subject_id = opt_out.subject AND (opt_out.purpose IS NULL OR s.purpose = opt_out.purpose)
	            AND @extschema@.tier(s.consent) <> 'none'
	            AND NOT (opt_out.category = ANY (@extschema@.denied(s.consent)))
	          ORDER BY s.purpose LOOP
		PERFORM @extschema@.record_consent(subject, c.purpose, 'set',
		                                   @extschema@.consent_revoke(c.consent, category), source, NULL);
		changed := changed + 1;
	END LOOP;
	RETURN changed;
END $$;
REVOKE ALL ON FUNCTION opt_out(bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION opt_out(bigint, text, text, text) IS
	'deny a signal category in a subject''s consent for a purpose (NULL: every purpose they consented to), through the ledger; returns how many consents changed';

-- ---- export ------------------------------------------------------------------------------

-- Everything held about a subject, as a person can read it (jsonb_pretty()).
-- Rows past their category's retention are not shown (no purpose sees them;
-- purge_expired() deletes them).  The export itself is logged (a keyed hash).
-- It is assembled as json text and made jsonb once: jsonb nested in jsonb
-- would be taken apart and rebuilt, a cost that doubles with a million rows.
CREATE FUNCTION export_subject(subject bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	app json[] := '{}';
	other json[] := '{}';
	counts jsonb := '{}';
	part json;
	n bigint;
	p record;
	tbl regclass;
	category_expr text;
	fresh_expr text;
	held jsonb;				-- rows per category, all tables
	by_category jsonb;
	result jsonb;
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT coalesce(jsonb_object_agg(c.category, c.n), '{}') INTO held
	  FROM (SELECT i.category, count(*) AS n
	          FROM @extschema@.interactions i LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = i.category
	         WHERE i.subject_id = subject AND (x.cutoff IS NULL OR i.occurred_at >= x.cutoff)
	         GROUP BY 1) c;
	counts := jsonb_build_object('@extschema@.interactions',
	                             (SELECT coalesce(sum(v::bigint), 0) FROM jsonb_each_text(held) e(k, v)));

	-- protected application tables, as their rows are
	FOR p IN SELECT t.relid, t.subject_column, t.category_column, t.category_constant, t.time_column, t.erasable
	           FROM @extschema@.protected_tables t
	          WHERE NOT t.builtin AND t.inherited_from IS NULL ORDER BY t.relid::text LOOP
		category_expr := CASE WHEN p.category_column IS NOT NULL THEN format('r.%I::text', p.category_column)
		                      ELSE quote_literal(p.category_constant) END;
		fresh_expr := CASE WHEN p.time_column IS NULL THEN 'true'
		                   ELSE format('(x.cutoff IS NULL OR r.%1$I IS NULL OR r.%1$I::timestamptz >= x.cutoff)',
		                               p.time_column) END;
		EXECUTE format('SELECT json_agg(to_json(r) ORDER BY to_json(r)::text), count(*)'
		               '  FROM %1$s r LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = %2$s'
		               ' WHERE r.%3$I = $1 AND %4$s',
		               p.relid, category_expr, p.subject_column, fresh_expr)
		   INTO part, n USING subject;
		counts := counts || jsonb_build_object(p.relid::text, n);
		CONTINUE WHEN n = 0;
		app := app || json_build_object(
			'table', p.relid::text,
			'signal_category', coalesce(p.category_constant, 'the value of its column ' || p.category_column),
			'erased_on_request', p.erasable,
			'rows', part);
		-- rows per category, added to those of the tables before
		EXECUTE format('SELECT coalesce(jsonb_object_agg(k, v), ''{}'') FROM (SELECT %1$s AS k, count(*) AS v'
		               '  FROM %2$s r LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = %1$s'
		               ' WHERE r.%3$I = $1 AND %4$s GROUP BY 1) s',
		               category_expr, p.relid, p.subject_column, fresh_expr)
		   INTO by_category USING subject;
		held := held || coalesce((
			SELECT jsonb_object_agg(e.k, coalesce((held ->> e.k)::bigint, 0) + e.v::bigint)
			  FROM jsonb_each_text(by_category) AS e(k, v)), '{}');
	END LOOP;

	-- subject-keyed tables of the extension this function does not know by name
	FOR tbl IN SELECT t FROM @extschema@.subject_tables() t
	            WHERE t NOT IN ('@extschema@.consent_ledger'::regclass, '@extschema@.consents'::regclass,
	                            '@extschema@.interactions'::regclass, '@extschema@.impressions'::regclass,
	                            '@extschema@.feedback'::regclass) LOOP
		EXECUTE format('SELECT json_agg((to_jsonb(r) - ''subject_id'')::json ORDER BY to_jsonb(r)::text), count(*)'
		               '  FROM %s r WHERE r.subject_id = $1', tbl)
		   INTO part, n USING subject;
		IF n > 0 THEN
			other := other || json_build_object('table', tbl::text, 'rows', part);
		END IF;
		counts := counts || jsonb_build_object(tbl::text, n);
	END LOOP;

	SELECT json_build_object(
		'subject', subject,
		'exported_at', statement_timestamp(),
		'format', 'personalize subject export 1: every section lists what is held now; rows past their retention are not shown (they are deleted by the next purge)',
		'consents', coalesce((
			SELECT json_agg(json_build_object(
				'purpose', c.purpose, 'purpose_description', pu.description,
				'consent', c.consent::text, 'tier', @extschema@.tier(c.consent),
				'granted', @extschema@.granted(c.consent),
				'denied', @extschema@.denied(c.consent),
				'since', c.updated_at) ORDER BY c.purpose)
			  FROM @extschema@.consents c JOIN @extschema@.purposes pu ON pu.name = c.purpose
			 WHERE c.subject_id = subject), '[]'),
		'consent_history', coalesce((
			SELECT json_agg(json_build_object(
				'entry', l.entry_id, 'purpose', l.purpose, 'action', l.action, 'consent', l.consent::text,
				'source', l.source, 'notice_version', l.notice_version,
				'recorded_by', l.recorded_by, 'recorded_at', l.recorded_at) ORDER BY l.entry_id)
			  FROM @extschema@.consent_ledger l WHERE l.subject_id = subject), '[]'),
		-- the long lists are sorted in a subquery (narrow rows, the index's
		-- order) and aggregated in that order, not sorted as json inside
		-- the aggregate
		'interactions', coalesce((
			SELECT json_agg(json_build_object(
				'interaction', i.interaction_id, 'item_id', i.item_id, 'category', i.category,
				'kind', i.kind, 'weight', i.weight, 'occurred_at', i.occurred_at))
			  FROM (SELECT i.* FROM @extschema@.interactions i
			          LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = i.category
			         WHERE i.subject_id = subject AND (x.cutoff IS NULL OR i.occurred_at >= x.cutoff)
			         ORDER BY i.occurred_at, i.interaction_id) i), '[]'),
		'impressions', coalesce((
			SELECT json_agg(json_build_object(
				'shown_at', m.shown_at, 'purpose', m.purpose, 'model_id', m.model_id, 'item_id', m.item_id,
				'rank', m.rank, 'score', m.score, 'explored', m.explored, 'sponsored', m.sponsored))
			  FROM (SELECT * FROM @extschema@.impressions m WHERE m.subject_id = subject
			         ORDER BY m.shown_at, m.impression_id) m), '[]'),
		'feedback', coalesce((
			SELECT json_agg(json_build_object(
				'recorded_at', f.recorded_at, 'purpose', f.purpose, 'item_id', f.item_id,
				'kind', f.kind, 'reward', f.reward))
			  FROM (SELECT * FROM @extschema@.feedback f WHERE f.subject_id = subject
			         ORDER BY f.recorded_at, f.feedback_id) f), '[]'),
		'bandit_effects', json_build_object(
			'explanation', 'Each feedback added its reward to the item''s exploration counters under the purpose; '
			               'the counters are per item and shared by everyone, and hold nothing that names you.',
			'items', coalesce((
				SELECT json_agg(json_build_object('purpose', f.purpose, 'item_id', f.item_id,
				                                  'feedback', f.n, 'rewards', f.rewards) ORDER BY f.purpose, f.item_id)
				  FROM (SELECT f.purpose, f.item_id, count(*) AS n, sum(f.reward) AS rewards
				          FROM @extschema@.feedback f WHERE f.subject_id = subject GROUP BY 1, 2) f), '[]')),
		'application_data', array_to_json(app),
		'other_records', array_to_json(other),
		'signal_categories', coalesce((
			SELECT json_agg(json_build_object(
				'category', sc.name, 'tier', sc.tier, 'justification', sc.justification,
				'retention', sc.retention::text, 'rows', h.n,
				'read_under_your_consent_for', coalesce((
					SELECT json_agg(json_build_object('purpose', c.purpose, 'description', pu.description) ORDER BY c.purpose)
					  FROM @extschema@.consents c JOIN @extschema@.purposes pu ON pu.name = c.purpose
					 WHERE c.subject_id = subject AND pu.personal_data_allowed
					   AND sc.tier <= array_position(enum_range(NULL::@extschema@.consent_tier), pu.max_tier) - 1
					   AND @extschema@.consent_allows_tier(c.consent, sc.name, sc.tier)), '[]'),
				'used_for_training', sc.justification IS NOT NULL) ORDER BY sc.name)
			  FROM @extschema@.signal_categories sc
			  JOIN jsonb_each(held) AS h(category, n) ON h.category = sc.name), '[]'),
		'models', coalesce((
			SELECT json_agg(json_build_object(
				'model_id', m.model_id, 'algorithm', m.algorithm, 'purpose', m.purpose, 'status', m.status,
				'trained_at', m.created_at) ORDER BY m.model_id)
			  FROM @extschema@.models m WHERE m.model_id IN (SELECT @extschema@.models_trained_with(subject))), '[]'),
		'models_explanation', 'Model versions trained while you had consented to their purpose: they may have learned from your interactions. '
		                      'They keep no data about you (your preferences are computed from your history at each request); '
		                      'after an erasure they are retrained or their parameters removed.',
		'previous_requests', coalesce((
			SELECT json_agg(json_build_object('kind', r.kind, 'at', r.requested_at) ORDER BY r.request_id)
			  FROM @extschema@.rights_requests r WHERE r.subject_key = @extschema@.subject_key(subject)), '[]'))::jsonb
	  INTO result;

	counts := counts || jsonb_build_object(
		'@extschema@.consents', (SELECT count(*) FROM @extschema@.consents c WHERE c.subject_id = subject),
		'@extschema@.consent_ledger', (SELECT count(*) FROM @extschema@.consent_ledger l WHERE l.subject_id = subject),
		'@extschema@.impressions', (SELECT count(*) FROM @extschema@.impressions m WHERE m.subject_id = subject),
		'@extschema@.feedback', (SELECT count(*) FROM @extschema@.feedback f WHERE f.subject_id = subject));
	INSERT INTO @extschema@.rights_requests (kind, subject_key, requested_by, rows)
	VALUES ('export', @extschema@.subject_key(subject), @extschema@.acting_role(), jsonb_build_object('exported', counts));
	RETURN result;
END $$;
REVOKE ALL ON FUNCTION export_subject(bigint) FROM PUBLIC;
COMMENT ON FUNCTION export_subject(bigint) IS
	'everything held about a subject as jsonb: consents and their history, interactions, impressions, feedback and its bandit effects, rows of protected application tables, the signal categories involved with their purposes and justifications, the models that may have learned from them';

-- ---- retention ------------------------------------------------------------------------------

-- Delete the rows older than their category's retention from interactions
-- and from protected tables with a time column (the policies hid them
-- already), and log how many went per table and category.
CREATE FUNCTION purge_expired() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p record;
	r record;
	counts jsonb;
	per_table jsonb;
	result jsonb := '{}';
	category_expr text;
BEGIN
	FOR p IN SELECT t.relid, t.category_column, t.category_constant, t.time_column
	           FROM @extschema@.protected_tables t
	          WHERE t.time_column IS NOT NULL AND t.inherited_from IS NULL
	          ORDER BY t.builtin DESC, t.relid::text LOOP
		category_expr := CASE WHEN p.category_column IS NOT NULL THEN format('t.%I::text', p.category_column)
		                      ELSE quote_literal(p.category_constant) END;
		per_table := '{}';
		-- counted and deleted in one statement (one snapshot): RETURNING every
		-- deleted row would cost as much again as the deletion.  Run whole,
		-- not as a cursor (a FOR over the query), whose plan would be made
		-- for the first rows.
		EXECUTE format(
			'WITH x AS (SELECT * FROM @extschema@.retention_cutoffs()),'
			' counted AS (SELECT x.category, x.retention, x.cutoff, count(*) AS n'
			'               FROM %1$s t JOIN x ON x.category = %2$s WHERE t.%3$I::timestamptz < x.cutoff'
			'              GROUP BY 1, 2, 3),'
			' d AS (DELETE FROM %1$s t USING x WHERE x.category = %2$s AND t.%3$I::timestamptz < x.cutoff)'
			' SELECT coalesce(jsonb_agg(to_jsonb(counted) ORDER BY category), ''[]'') FROM counted',
			p.relid, category_expr, p.time_column)
		   INTO counts;
		FOR r IN SELECT * FROM jsonb_to_recordset(counts) AS c(category text, retention interval, cutoff timestamptz, n bigint)
		LOOP
			per_table := per_table || jsonb_build_object(r.category, r.n);
			INSERT INTO @extschema@.retention_purges (purged_by, table_name, category, retention, cutoff, rows_deleted)
			VALUES (@extschema@.acting_role(), p.relid::text, r.category, r.retention, r.cutoff, r.n);
		END LOOP;
		result := result || jsonb_build_object(p.relid::text, per_table);
	END LOOP;
	RETURN result;
END $$;
REVOKE ALL ON FUNCTION purge_expired() FROM PUBLIC;
COMMENT ON FUNCTION purge_expired() IS
	'delete rows older than their category''s retention from interactions and protected tables with a time column; returns and logs (retention_purges) the counts per table and category';

-- ---- sql/install/170_audit.sql
-- The auditor's views: what is collected, why, for how long, who may read
-- it under which purpose, what was erased and purged, which model learned
-- from what.  None of them shows a personal row or a subject id; they read
-- the sealed tables as their owner.  grant_audit(role) gives a role these
-- views and nothing else (it cannot read interactions, consents, the
-- ledger, impressions or feedback, nor call the rights functions).

-- Rows held per signal category, over interactions and every protected
-- application table: how many, of how many subjects, the oldest, and how
-- many are past retention (hidden already, deleted by the next purge).
CREATE FUNCTION data_inventory_counts()
RETURNS TABLE (category text, stored_in text[], rows bigint, subjects bigint,
               oldest_row timestamptz, expired_rows bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	held text;
BEGIN
	SELECT string_agg(format('SELECT %L::text AS tbl, %s AS category, t.%I::bigint AS subject, %s AS at FROM %s t',
	                         p.relid::text,
	                         CASE WHEN p.category_column IS NOT NULL THEN format('t.%I::text', p.category_column)
	                              ELSE quote_literal(p.category_constant) END,
	                         p.subject_column,
	                         CASE WHEN p.time_column IS NOT NULL THEN format('t.%I::timestamptz', p.time_column)
	                              ELSE 'NULL::timestamptz' END,
	                         p.relid),
	                  ' UNION ALL ' ORDER BY p.relid::text)
	  INTO held
	  FROM @extschema@.protected_tables p WHERE p.inherited_from IS NULL;
	RETURN QUERY EXECUTE format(
		'WITH held AS (%s)'
		' SELECT h.category, array_agg(DISTINCT h.tbl ORDER BY h.tbl), count(*), count(DISTINCT h.subject),'
		'        min(h.at), count(*) FILTER (WHERE h.at < x.cutoff)'
		'   FROM held h LEFT JOIN @extschema@.retention_cutoffs() x ON x.category = h.category'
		'  GROUP BY h.category', held);
END $$;
REVOKE ALL ON FUNCTION data_inventory_counts() FROM PUBLIC;
COMMENT ON FUNCTION data_inventory_counts() IS 'data_inventory''s counts: rows, subjects, oldest row and rows past retention per category, over interactions and the protected tables';

CREATE VIEW data_inventory AS
SELECT c.name AS category, c.tier, c.justification, c.retention,
       c.justification IS NOT NULL AS used_for_training,
       coalesce(h.stored_in, '{}') AS stored_in,
       coalesce(h.rows, 0) AS rows,
       coalesce(h.subjects, 0) AS subjects,
       h.oldest_row,
       coalesce(h.expired_rows, 0) AS expired_rows,
       ARRAY(SELECT p.name FROM @extschema@.purposes p
              WHERE p.personal_data_allowed
                AND c.tier <= array_position(enum_range(NULL::@extschema@.consent_tier), p.max_tier) - 1
              ORDER BY p.name) AS purposes,
       ARRAY(SELECT m.model_id FROM @extschema@.models m
              WHERE m.data -> 'categories_used' ? c.name
                AND (EXISTS (SELECT 1 FROM @extschema@.model_item_factors f WHERE f.model_id = m.model_id)
                     OR EXISTS (SELECT 1 FROM @extschema@.model_neighbors f WHERE f.model_id = m.model_id)
                     OR EXISTS (SELECT 1 FROM @extschema@.model_popularity f WHERE f.model_id = m.model_id))
              ORDER BY m.model_id) AS models
  FROM @extschema@.signal_categories c
  LEFT JOIN @extschema@.data_inventory_counts() h ON h.category = c.name;
COMMENT ON VIEW data_inventory IS 'every signal category: tier, justification, retention, where its rows are, how many of how many subjects, the oldest, how many are past retention, which purposes may read it and which stored models learned from it';
COMMENT ON COLUMN data_inventory.category IS 'the signal category';
COMMENT ON COLUMN data_inventory.tier IS '1 functional, 2 personalization, 3 enhanced';
COMMENT ON COLUMN data_inventory.justification IS 'why it is collected (NULL: never used for training)';
COMMENT ON COLUMN data_inventory.retention IS 'how long its rows are kept (NULL: no limit)';
COMMENT ON COLUMN data_inventory.used_for_training IS 'it has a justification, so training may use it';
COMMENT ON COLUMN data_inventory.stored_in IS 'the tables holding rows of it (interactions and protected tables)';
COMMENT ON COLUMN data_inventory.rows IS 'rows held, past retention included';
COMMENT ON COLUMN data_inventory.subjects IS 'distinct subjects with rows';
COMMENT ON COLUMN data_inventory.oldest_row IS 'the time of the oldest row (tables with a time column)';
COMMENT ON COLUMN data_inventory.expired_rows IS 'rows past retention: no purpose sees them, the next purge deletes them';
COMMENT ON COLUMN data_inventory.purposes IS 'purposes whose tier cap admits the category (a subject''s consent must allow it too)';
COMMENT ON COLUMN data_inventory.models IS 'model versions with stored parameters that were trained on rows of it';

CREATE VIEW rights_log AS
SELECT r.request_id, r.kind, r.requested_at, r.requested_by, encode(r.subject_key, 'hex') AS subject_key, r.rows
  FROM @extschema@.rights_requests r;
COMMENT ON VIEW rights_log IS 'every export, erasure and reset: when, by whom, a keyed hash of the subject (never the id), rows per table';
COMMENT ON COLUMN rights_log.request_id IS 'order of the requests';
COMMENT ON COLUMN rights_log.kind IS 'export, erasure or reset';
COMMENT ON COLUMN rights_log.requested_at IS 'when';
COMMENT ON COLUMN rights_log.requested_by IS 'the role that called the function';
COMMENT ON COLUMN rights_log.subject_key IS 'HMAC-SHA256 of the subject id under the erasure key, in hex: the same subject has the same key, no one without the key can tell whose';
COMMENT ON COLUMN rights_log.rows IS 'rows exported, deleted, kept or pseudonymized, per table';

CREATE VIEW erasure_log AS
SELECT r.request_id AS erasure_id, r.requested_at AS erased_at, r.requested_by AS erased_by,
       encode(r.subject_key, 'hex') AS subject_key,
       r.rows -> 'deleted' AS deleted, r.rows -> 'kept' AS kept,
       (r.rows ->> 'ledger_entries_pseudonymized')::bigint AS ledger_entries_pseudonymized,
       r.models AS models_marked,
       ARRAY(SELECT m.model_id FROM @extschema@.models m
              WHERE m.model_id = ANY (r.models) AND m.status = 'active' ORDER BY m.model_id) AS models_still_serving
  FROM @extschema@.rights_requests r
 WHERE r.kind = 'erasure';
COMMENT ON VIEW erasure_log IS 'every erasure: when, by whom, a keyed hash of the subject, rows deleted and kept per table, ledger entries pseudonymized, models marked and which of them still serve (until the retrain job replaces them)';
COMMENT ON COLUMN erasure_log.erasure_id IS 'the request''s number';
COMMENT ON COLUMN erasure_log.erased_at IS 'when';
COMMENT ON COLUMN erasure_log.erased_by IS 'the role that called erase_subject()';
COMMENT ON COLUMN erasure_log.subject_key IS 'HMAC-SHA256 of the subject id under the erasure key, in hex';
COMMENT ON COLUMN erasure_log.deleted IS 'rows deleted, per table';
COMMENT ON COLUMN erasure_log.kept IS 'rows kept in tables protected with erasable => false, per table';
COMMENT ON COLUMN erasure_log.ledger_entries_pseudonymized IS 'consent ledger entries whose subject id was replaced by the keyed hash';
COMMENT ON COLUMN erasure_log.models_marked IS 'model versions that may have learned from the subject';
COMMENT ON COLUMN erasure_log.models_still_serving IS 'of those, the ones still active (the retrain job replaces them at its next run)';

CREATE VIEW retention_log AS
SELECT p.purge_id, p.purged_at, p.purged_by, p.table_name, p.category, p.retention, p.cutoff, p.rows_deleted
  FROM @extschema@.retention_purges p;
COMMENT ON VIEW retention_log IS 'rows deleted for being past their retention: when, by whom, which table and category, the cutoff, how many';
COMMENT ON COLUMN retention_log.purge_id IS 'order of the purges';
COMMENT ON COLUMN retention_log.purged_at IS 'when';
COMMENT ON COLUMN retention_log.purged_by IS 'the role that purged (purge_expired() or the retention job)';
COMMENT ON COLUMN retention_log.table_name IS 'the table';
COMMENT ON COLUMN retention_log.category IS 'the signal category (NULL for impressions and feedback)';
COMMENT ON COLUMN retention_log.retention IS 'the retention applied';
COMMENT ON COLUMN retention_log.cutoff IS 'rows older than this were deleted';
COMMENT ON COLUMN retention_log.rows_deleted IS 'how many';

REVOKE ALL ON data_inventory, rights_log, erasure_log, retention_log FROM PUBLIC;

-- The views an auditor reads; the role gets nothing else.
CREATE FUNCTION audit_views() RETURNS regclass[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT ARRAY['@extschema@.data_inventory', '@extschema@.purpose_access', '@extschema@.erasure_log',
	             '@extschema@.rights_log', '@extschema@.retention_log', '@extschema@.consent_coverage',
	             '@extschema@.model_cards', '@extschema@.protection_status']::regclass[]
$$;
REVOKE ALL ON FUNCTION audit_views() FROM PUBLIC;
COMMENT ON FUNCTION audit_views() IS 'the views grant_audit() gives';

CREATE FUNCTION grant_audit(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v regclass;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %s', role);
	FOREACH v IN ARRAY @extschema@.audit_views() LOOP
		EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
	END LOOP;
	EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.data_inventory_counts() TO %s', role);
END $$;
REVOKE ALL ON FUNCTION grant_audit(regrole) FROM PUBLIC;
COMMENT ON FUNCTION grant_audit(regrole) IS
	'let a role read the audit views (data_inventory, purpose_access, erasure_log, rights_log, retention_log, consent_coverage, model_cards, protection_status) and nothing personal';

CREATE FUNCTION revoke_audit(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v regclass;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH v IN ARRAY @extschema@.audit_views() LOOP
		EXECUTE format('REVOKE SELECT ON %s FROM %s', v, role);
	END LOOP;
	EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.data_inventory_counts() FROM %s', role);
END $$;
REVOKE ALL ON FUNCTION revoke_audit(regrole) FROM PUBLIC;
COMMENT ON FUNCTION revoke_audit(regrole) IS 'take back what grant_audit() gave (USAGE on the schema stays: other grants may need it)';

-- ---- sql/install/175_standby.sql
-- Serving on hot standbys.  recommend() keeps one snapshot of the active
-- model and the catalogue per database, and learns on the primary that
-- items or models changed from counters in shared memory, bumped when such
-- a transaction commits.  A standby replays those commits without running
-- the triggers that bump them, so it reads these counters instead: the
-- same triggers also add 1 to one row here, in the transaction that changed
-- the table, so the row commits (and replays) with the change.  Sixteen
-- rows, one picked by the writing backend, so that concurrent writers of
-- items rarely wait for one another; readers add them up.

CREATE TABLE serving_versions (
	slot      integer PRIMARY KEY CHECK (slot BETWEEN 0 AND 15),
	catalogue bigint NOT NULL DEFAULT 0 CHECK (catalogue >= 0),
	models    bigint NOT NULL DEFAULT 0 CHECK (models >= 0)
);
COMMENT ON TABLE serving_versions IS 'change counters of items and models, summed by recommend() on a hot standby to know when its snapshot is stale (written by the serving_changed triggers on the primary)';
COMMENT ON COLUMN serving_versions.slot IS 'one of 16 rows; a backend bumps the row of its backend id modulo 16';
COMMENT ON COLUMN serving_versions.catalogue IS 'transactions (and subtransactions) that changed personalize.items through this row';
COMMENT ON COLUMN serving_versions.models IS 'transactions (and subtransactions) that changed personalize.models through this row';
INSERT INTO serving_versions (slot) SELECT s FROM generate_series(0, 15) s;
SELECT seal_registry_table('serving_versions', true);
-- Counters of one server's history: a restored database starts from zero
-- (CREATE EXTENSION writes the rows), so no row is dumped.
SELECT pg_catalog.pg_extension_config_dump('serving_versions', 'WHERE false');

-- ---- sql/install/180_privacy.sql
-- Private models: a differential-privacy budget per purpose, spent by
-- training with dp_epsilon (see src/privacy/).  Every model trained on the
-- same subjects adds to what can be learned about them, so spending adds
-- up (basic composition: epsilons and deltas sum) and never comes back.  The
-- spending is written in the transaction that writes the model version:
-- a training that fails or is rolled back spent nothing.

CREATE TABLE privacy_budgets (
	purpose       text PRIMARY KEY REFERENCES purposes (name) ON UPDATE CASCADE,
	epsilon       float8 NOT NULL CHECK (epsilon > 0 AND epsilon <= 1000),
	delta         float8 NOT NULL CHECK (delta > 0 AND delta < 1),
	epsilon_spent float8 NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
	delta_spent   float8 NOT NULL DEFAULT 0 CHECK (delta_spent >= 0),
	set_at        timestamptz NOT NULL DEFAULT now(),
	set_by        name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE privacy_budgets IS 'the differential-privacy budget of each purpose that has one: what its models may spend in total, and what they spent';
COMMENT ON COLUMN privacy_budgets.purpose IS 'the purpose whose models the budget limits';
COMMENT ON COLUMN privacy_budgets.epsilon IS 'total epsilon the purpose''s models may spend';
COMMENT ON COLUMN privacy_budgets.delta IS 'total delta the purpose''s models may spend';
COMMENT ON COLUMN privacy_budgets.epsilon_spent IS 'epsilon spent so far (the sum of privacy_spending, kept here so that concurrent trainings queue on this row)';
COMMENT ON COLUMN privacy_budgets.delta_spent IS 'delta spent so far';
COMMENT ON COLUMN privacy_budgets.set_at IS 'when the budget was last set';
COMMENT ON COLUMN privacy_budgets.set_by IS 'who last set it';

CREATE TABLE privacy_spending (
	spend_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	purpose  text NOT NULL,
	model_id bigint NOT NULL,
	epsilon  float8 NOT NULL CHECK (epsilon > 0),
	delta    float8 NOT NULL CHECK (delta > 0),
	spent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX privacy_spending_purpose ON privacy_spending (purpose);
COMMENT ON TABLE privacy_spending IS 'every private training and what it spent: kept when a budget is dropped, and counted again when one is set';
COMMENT ON COLUMN privacy_spending.spend_id IS 'order of spending';
COMMENT ON COLUMN privacy_spending.purpose IS 'the purpose whose budget paid';
COMMENT ON COLUMN privacy_spending.model_id IS 'the model version trained (personalize.models)';
COMMENT ON COLUMN privacy_spending.epsilon IS 'epsilon the training spent';
COMMENT ON COLUMN privacy_spending.delta IS 'delta the training spent';
COMMENT ON COLUMN privacy_spending.spent_at IS 'when the training began';

GRANT SELECT ON privacy_budgets, privacy_spending TO PUBLIC;
SELECT seal_registry_table(t, true)
  FROM unnest(ARRAY['privacy_budgets', 'privacy_spending']::regclass[]) t;
SELECT pg_catalog.pg_extension_config_dump('privacy_budgets', '');
SELECT pg_catalog.pg_extension_config_dump('privacy_spending', '');
SELECT pg_catalog.pg_extension_config_dump('privacy_spending_spend_id_seq', '');

CREATE VIEW privacy_budget AS
SELECT b.purpose,
       b.epsilon, b.epsilon_spent, greatest(b.epsilon - b.epsilon_spent, 0) AS epsilon_remaining,
       b.delta, b.delta_spent, greatest(b.delta - b.delta_spent, 0) AS delta_remaining,
       (SELECT count(*) FROM @extschema@.privacy_spending s WHERE s.purpose = b.purpose) AS models,
       (SELECT max(s.spent_at) FROM @extschema@.privacy_spending s WHERE s.purpose = b.purpose) AS last_spent_at
  FROM @extschema@.privacy_budgets b;
GRANT SELECT ON privacy_budget TO PUBLIC;
COMMENT ON VIEW privacy_budget IS 'each purpose''s privacy budget: total, spent and remaining epsilon and delta, and how many private models spent it';
COMMENT ON COLUMN privacy_budget.purpose IS 'the purpose';
COMMENT ON COLUMN privacy_budget.epsilon IS 'total epsilon';
COMMENT ON COLUMN privacy_budget.epsilon_spent IS 'epsilon spent by its private models';
COMMENT ON COLUMN privacy_budget.epsilon_remaining IS 'epsilon a training may still spend (0 when the total was lowered below what was spent)';
COMMENT ON COLUMN privacy_budget.delta IS 'total delta';
COMMENT ON COLUMN privacy_budget.delta_spent IS 'delta spent';
COMMENT ON COLUMN privacy_budget.delta_remaining IS 'delta a training may still spend';
COMMENT ON COLUMN privacy_budget.models IS 'private models trained on it, ever';
COMMENT ON COLUMN privacy_budget.last_spent_at IS 'when it was last spent';

CREATE FUNCTION check_privacy_figures(epsilon float8, delta float8) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF epsilon IS NULL OR delta IS NULL THEN
		RAISE EXCEPTION 'epsilon and delta must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT (epsilon > 0 AND epsilon <= 1000) OR NOT (delta > 0 AND delta < 1) THEN
		RAISE EXCEPTION 'a privacy budget needs epsilon in (0, 1000] and delta in (0, 1), not % and %', epsilon, delta
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example: personalize.set_privacy_budget(''recommendation'', 8, 1e-5).';
	END IF;
END $$;
REVOKE ALL ON FUNCTION check_privacy_figures(float8, float8) FROM PUBLIC;
COMMENT ON FUNCTION check_privacy_figures(float8, float8) IS 'an error unless epsilon and delta make a privacy budget';

-- Setting a budget again changes its totals, never what was spent: a new
-- budget starts from everything the purpose's private models ever spent.
CREATE FUNCTION set_privacy_budget(purpose text, epsilon float8, delta float8 DEFAULT 1e-5)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	PERFORM @extschema@.check_privacy_figures(epsilon, delta);
	INSERT INTO @extschema@.privacy_budgets AS b (purpose, epsilon, delta, epsilon_spent, delta_spent, set_by)
	SELECT set_privacy_budget.purpose, set_privacy_budget.epsilon, set_privacy_budget.delta,
	       coalesce(sum(s.epsilon), 0), coalesce(sum(s.delta), 0), session_user
	  FROM @extschema@.privacy_spending s WHERE s.purpose = set_privacy_budget.purpose
	ON CONFLICT ON CONSTRAINT privacy_budgets_pkey DO UPDATE
	   SET epsilon = excluded.epsilon, delta = excluded.delta, set_at = now(), set_by = session_user;
END $$;
REVOKE ALL ON FUNCTION set_privacy_budget(text, float8, float8) FROM PUBLIC;
COMMENT ON FUNCTION set_privacy_budget(text, float8, float8) IS 'set the total epsilon and delta the purpose''s private models may spend (what was spent stays spent); from then on its models must be trained with dp_epsilon';

CREATE FUNCTION drop_privacy_budget(purpose text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM @extschema@.check_purpose_exists(purpose);
	DELETE FROM @extschema@.privacy_budgets b WHERE b.purpose = drop_privacy_budget.purpose;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'purpose "%" has no privacy budget to drop', purpose
			USING ERRCODE = 'undefined_object', HINT = 'Budgets are listed in personalize.privacy_budget.';
	END IF;
END $$;
REVOKE ALL ON FUNCTION drop_privacy_budget(text) FROM PUBLIC;
COMMENT ON FUNCTION drop_privacy_budget(text) IS 'remove a purpose''s privacy budget: its models may be trained without differential privacy again (privacy_spending keeps what was spent)';

-- Called by training, as it begins: the budget row is updated (not only
-- read), so that a concurrent training of the same purpose waits for this
-- one to commit or roll back and then sees what it spent, at any isolation
-- level (REPEATABLE READ and SERIALIZABLE fail it instead).
CREATE FUNCTION spend_privacy_budget(purpose text, model bigint, epsilon float8, delta float8)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b @extschema@.privacy_budgets;
BEGIN
	IF epsilon IS NULL THEN
		IF EXISTS (SELECT 1 FROM @extschema@.privacy_budgets p WHERE p.purpose = spend_privacy_budget.purpose) THEN
			RAISE EXCEPTION 'purpose "%" has a privacy budget: its models must be trained with differential privacy', purpose
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = format('Train with dp_epsilon (what remains is in personalize.privacy_budget), or remove the budget with personalize.drop_privacy_budget(%L).', purpose);
		END IF;
		RETURN;
	END IF;
	UPDATE @extschema@.privacy_budgets p
	   SET epsilon_spent = p.epsilon_spent + spend_privacy_budget.epsilon,
	       delta_spent = p.delta_spent + spend_privacy_budget.delta
	 WHERE p.purpose = spend_privacy_budget.purpose
	RETURNING * INTO b;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'purpose "%" has no privacy budget', purpose
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = format('An administrator sets one first, e.g. SELECT personalize.set_privacy_budget(%L, 8);', purpose);
	END IF;
	IF b.epsilon_spent > b.epsilon * (1 + 1e-12) OR b.delta_spent > b.delta * (1 + 1e-12) THEN
		RAISE EXCEPTION 'training with epsilon % and delta % would exceed the privacy budget of purpose "%"', epsilon, delta, purpose
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = format('Spent before: epsilon %s of %s, delta %s of %s.',
			                      round((b.epsilon_spent - epsilon)::numeric, 6)::float8, b.epsilon,
			                      (b.delta_spent - delta)::real, b.delta),
			      HINT = format('Train with dp_epsilon at most %s, or raise the budget with personalize.set_privacy_budget() if that is a decision you can defend.',
			                    round(greatest(b.epsilon - b.epsilon_spent + epsilon, 0)::numeric, 6)::float8);
	END IF;
	INSERT INTO @extschema@.privacy_spending (purpose, model_id, epsilon, delta)
	VALUES (spend_privacy_budget.purpose, model, epsilon, delta);
END $$;
REVOKE ALL ON FUNCTION spend_privacy_budget(text, bigint, float8, float8) FROM PUBLIC;
COMMENT ON FUNCTION spend_privacy_budget(text, bigint, float8, float8) IS 'training: spend epsilon and delta of the purpose''s budget on a model, or refuse (NULL epsilon: refuse a non-private training of a purpose with a budget)';

CREATE FUNCTION dp_noise_scale(epsilon float8, delta float8, sensitivity float8, releases integer DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'pz_dp_noise_scale' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dp_noise_scale(float8, float8, float8, integer) IS 'the Gaussian noise standard deviation private training uses for (epsilon, delta) over releases of the given L2 sensitivity: sensitivity * sqrt(releases / (2 rho)), rho = (sqrt(epsilon + ln(1/delta)) - sqrt(ln(1/delta)))^2';

-- What the retrain job asks before it trains: NULL when the purpose's
-- budget (or its absence) allows a training with these parameters, or why
-- not, in words for the job's result.
CREATE FUNCTION privacy_budget_refusal(purpose text, params jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
	         WHEN b.purpose IS NULL AND params ? 'dp_epsilon'
	           THEN format('purpose "%s" has no privacy budget for a private model', purpose)
	         WHEN b.purpose IS NULL THEN NULL
	         WHEN NOT params ? 'dp_epsilon'
	           THEN format('purpose "%s" has a privacy budget and the model to retrain is not private', purpose)
	         WHEN (params ->> 'dp_epsilon')::float8 > b.epsilon_remaining * (1 + 1e-12)
	           OR coalesce((params ->> 'dp_delta')::float8, 1e-6) > b.delta_remaining * (1 + 1e-12)
	           THEN format('the privacy budget of purpose "%s" has epsilon %s and delta %s left, a retraining needs %s and %s',
	                       purpose, round(b.epsilon_remaining::numeric, 6)::float8, b.delta_remaining::real,
	                       params ->> 'dp_epsilon', coalesce(params ->> 'dp_delta', '1e-06'))
	       END
	  FROM (SELECT 1) one
	  LEFT JOIN @extschema@.privacy_budget b ON b.purpose = privacy_budget_refusal.purpose
$$;
REVOKE ALL ON FUNCTION privacy_budget_refusal(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION privacy_budget_refusal(text, jsonb) IS 'retrain job: why the purpose''s privacy budget would refuse a training with these parameters, or NULL';
