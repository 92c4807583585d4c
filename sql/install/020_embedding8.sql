-- embedding8: int8 scalar-quantized embeddings (one scale per vector).

CREATE TYPE embedding8;

CREATE FUNCTION embedding8_in(cstring, oid, integer) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_out(embedding8) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_recv(internal, oid, integer) RETURNS embedding8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8_send(embedding8) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

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
CREATE FUNCTION inner_product(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION negative_inner_product(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(embedding8, embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION dims(embedding8) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding8_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION norm(embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantization_error(embedding8) RETURNS float8
	AS 'MODULE_PATHNAME', 'embedding8_max_error' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION quantization_error(embedding8) IS 'largest absolute error of any element of this value (scale / 2)';

CREATE FUNCTION embedding8(embedding8, integer, boolean) RETURNS embedding8
	AS 'MODULE_PATHNAME', 'embedding8_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding8(embedding, integer, boolean) RETURNS embedding8
	AS 'MODULE_PATHNAME', 'embedding_to_embedding8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding(embedding8, integer, boolean) RETURNS embedding
	AS 'MODULE_PATHNAME', 'embedding8_to_embedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (embedding8 AS embedding8)
	WITH FUNCTION embedding8(embedding8, integer, boolean) AS IMPLICIT;
CREATE CAST (embedding AS embedding8)
	WITH FUNCTION embedding8(embedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (embedding8 AS embedding)
	WITH FUNCTION embedding(embedding8, integer, boolean) AS IMPLICIT;

CREATE OPERATOR <-> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = embedding8, RIGHTARG = embedding8,
	PROCEDURE = l1_distance, COMMUTATOR = '<+>');
