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
