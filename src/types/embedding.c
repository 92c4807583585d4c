/*
 * embedding.c
 *		Input, output, type modifiers and casts of the embedding type.
 *
 * The text form is "[1,2,3]" with the parsing rules of pgvector's vector
 * (strtof per element, whitespace around tokens), and the binary form is
 * the same byte layout, so data moves between the two by text or COPY.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "embedding.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "personalize.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

Embedding *
embedding_alloc(int dim)
{
	Size		size = EMBEDDING_SIZE(dim);
	Embedding  *result = (Embedding *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

void
embedding_check_dim(int dim, const char *type_name)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must have at least 1 dimension", type_name)));
	if (dim > EMBEDDING_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s cannot have more than %d dimensions",
						type_name, EMBEDDING_MAX_DIM)));
}

void
embedding_check_typmod(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

void
embedding_check_element(float value, const char *type_name)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in %s", type_name)));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in %s", type_name)));
}

void
embedding_check_same_dims(int a, int b, const char *type_name)
{
	if (a != b)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different %s dimensions %d and %d", type_name, a, b)));
}

static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline const char *
skip_spaces(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

static void
syntax_error(const char *lit, const char *type_name, const char *detail_fmt, int arg)
	pg_attribute_noreturn();

static void
syntax_error(const char *lit, const char *type_name, const char *detail_fmt, int arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", type_name, lit),
			 errdetail(detail_fmt, arg)));
}

/*
 * An upper bound on the element count, so the buffer is sized to the input
 * rather than to the largest legal embedding.
 */
static int
count_elements_upper_bound(const char *p)
{
	int			n = 1;

	for (; *p && n <= EMBEDDING_MAX_DIM; p++)
		if (*p == ',')
			n++;
	return n;
}

/*
 * Parse "[x1,x2,...]" into a palloc'd float array; *dim receives its length.
 * type_name names the SQL type in error messages.
 */
float *
embedding_parse(const char *lit, const char *type_name, int *dim)
{
	const char *p = skip_spaces(lit);
	int			capacity;
	int			n = 0;
	float	   *x;

	if (*p != '[')
		syntax_error(lit, type_name, "Embedding contents must start with \"[\".", 0);
	p = skip_spaces(p + 1);
	if (*p == ']')
		embedding_check_dim(0, type_name);

	capacity = Min(count_elements_upper_bound(p), EMBEDDING_MAX_DIM);
	x = (float *) palloc(sizeof(float) * capacity);

	for (;;)
	{
		char	   *end;
		float		val;

		if (n == EMBEDDING_MAX_DIM)
			embedding_check_dim(n + 1, type_name);

		p = skip_spaces(p);
		if (*p == '\0')
			syntax_error(lit, type_name, "Embedding contents must end with \"]\".", 0);

		errno = 0;
		/* strtof, like float4in, avoids double rounding; LC_NUMERIC is C */
		val = strtof(p, &end);
		if (end == p)
			syntax_error(lit, type_name, "Expected a number for element %d.", n + 1);
		if (errno == ERANGE && isinf(val))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type %s",
							pnstrdup(p, end - p), type_name)));
		embedding_check_element(val, type_name);
		x[n++] = val;

		p = skip_spaces(end);
		if (*p == ',')
			p++;
		else if (*p == ']')
		{
			p++;
			break;
		}
		else if (*p == '\0')
			syntax_error(lit, type_name, "Embedding contents must end with \"]\".", 0);
		else
			syntax_error(lit, type_name, "Expected \",\" or \"]\" after element %d.", n);
	}

	p = skip_spaces(p);
	if (*p != '\0')
		syntax_error(lit, type_name, "Junk after closing right brace.", 0);

	*dim = n;
	return x;
}

/* "[x1,x2,...]" with the shortest text that reads back to the same floats. */
char *
embedding_format(const float *x, int dim)
{
	char	   *buf = palloc(add_size(mul_size(FLOAT_SHORTEST_DECIMAL_LEN, dim), 3));
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	return buf;
}

PZ_FUNCTION(embedding_in)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	float	   *x = embedding_parse(lit, "embedding", &dim);
	Embedding  *result;

	embedding_check_dim(dim, "embedding");
	embedding_check_typmod(typmod, dim);
	result = embedding_alloc(dim);
	memcpy(result->x, x, sizeof(float) * dim);
	pfree(x);
	PG_RETURN_EMBEDDING_P(result);
}

PZ_FUNCTION(embedding_out)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);

	PG_RETURN_CSTRING(embedding_format(e->x, e->dim));
}

/* "(n)" with 1 <= n <= max; type_name names the type in errors. */
int32
embedding_parse_typmod(ArrayType *ta, const char *type_name)
{
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errhint("Give one dimension count, as in %s(128).", type_name)));
	if (*tl < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s must be at least 1", type_name)));
	if (*tl > EMBEDDING_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s cannot exceed %d",
						type_name, EMBEDDING_MAX_DIM)));
	return *tl;
}

PZ_FUNCTION(embedding_typmod_in)
{
	PG_RETURN_INT32(embedding_parse_typmod(PG_GETARG_ARRAYTYPE_P(0), "embedding"));
}

/*
 * Binary input reads only what the message holds: pq_getmsg*() on a short
 * message raises a protocol violation (08P01), which says the client's
 * connection is broken; a malformed value is a data error (22P03).  Errors
 * about the values themselves (dimensions, NaN) are those of text input.
 */
void
embedding_recv_need(StringInfo buf, Size bytes, const char *type_name, int dim)
{
	if ((Size) (buf->len - buf->cursor) < bytes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 dim < 0 ?
				 errmsg("incorrect binary data format for type %s: the header is incomplete", type_name) :
				 errmsg("insufficient data for an %s of %d dimensions", type_name, dim)));
}

void
embedding_recv_unused(int unused)
{
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("expected unused to be 0, not %d", unused)));
}

/* Binary form: int16 dim, int16 unused (0), then dim big-endian float4s. */
PZ_FUNCTION(embedding_recv)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	Embedding  *result;

	embedding_recv_need(buf, 2 * sizeof(int16), "embedding", -1);
	/* unsigned on the wire: 65535 is too many dimensions, not -1 */
	dim = (int) pq_getmsgint(buf, sizeof(int16));
	unused = (int) pq_getmsgint(buf, sizeof(int16));
	embedding_check_dim(dim, "embedding");
	embedding_check_typmod(typmod, dim);
	embedding_recv_unused(unused);
	embedding_recv_need(buf, (Size) dim * sizeof(float4), "embedding", dim);

	result = embedding_alloc(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		embedding_check_element(result->x[i], "embedding");
	}
	PG_RETURN_EMBEDDING_P(result);
}

/*
 * Run a receive function over the whole of a bytea, as COPY (FORMAT binary)
 * does over one field: every byte must be consumed.
 */
Datum
embedding_recv_bytea(PGFunction recv, bytea *data)
{
	StringInfoData buf;
	Datum		result;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
	result = DirectFunctionCall3(recv, PointerGetDatum(&buf),
								 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	if (buf.cursor != buf.len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format")));
	pfree(buf.data);
	return result;
}

/* embedding_from_binary(bytea): the binary form (e.g. a stored vector_send) */
PZ_FUNCTION(embedding_from_binary)
{
	PG_RETURN_DATUM(embedding_recv_bytea(embedding_recv, PG_GETARG_BYTEA_PP(0)));
}

PZ_FUNCTION(embedding_send)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, e->dim);
	pq_sendint16(&buf, e->unused);
	for (int i = 0; i < e->dim; i++)
		pq_sendfloat4(&buf, e->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Length coercion embedding -> embedding(n). */
PZ_FUNCTION(embedding_coerce)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);

	embedding_check_typmod(PG_GETARG_INT32(1), e->dim);
	PG_RETURN_EMBEDDING_P(e);
}

/* real[], double precision[], integer[], numeric[] -> embedding */
PZ_FUNCTION(embedding_from_array)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	int			n;
	Embedding  *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));
	if (elemtype != INT4OID && elemtype != FLOAT4OID &&
		elemtype != FLOAT8OID && elemtype != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("unsupported array type")));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, &elems, NULL, &n);
	embedding_check_dim(n, "embedding");
	embedding_check_typmod(typmod, n);

	result = embedding_alloc(n);
	for (int i = 0; i < n; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				result->x[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				result->x[i] = DatumGetFloat4(elems[i]);
				break;
			case FLOAT8OID:
				result->x[i] = (float) DatumGetFloat8(elems[i]);
				break;
			default:
				result->x[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elems[i]));
				break;
		}
	}
	pfree(elems);

	/*
	 * Only now reject NaN and infinity: an element that numeric_float4 finds
	 * out of range is reported first, wherever it is.
	 */
	for (int i = 0; i < n; i++)
		embedding_check_element(result->x[i], "embedding");
	PG_RETURN_EMBEDDING_P(result);
}

static ArrayType *
embedding_to_array(Embedding *e, Oid elemtype)
{
	Datum	   *d = palloc(sizeof(Datum) * e->dim);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	for (int i = 0; i < e->dim; i++)
	{
		switch (elemtype)
		{
			case FLOAT4OID:
				d[i] = Float4GetDatum(e->x[i]);
				break;
			case FLOAT8OID:
				d[i] = Float8GetDatum((double) e->x[i]);
				break;
			case INT4OID:
				d[i] = DirectFunctionCall1(ftoi4, Float4GetDatum(e->x[i]));
				break;
			default:
				d[i] = DirectFunctionCall1(float4_numeric, Float4GetDatum(e->x[i]));
				break;
		}
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return construct_array(d, e->dim, elemtype, typlen, typbyval, typalign);
}

PZ_FUNCTION(embedding_to_float4)
{
	PG_RETURN_ARRAYTYPE_P(embedding_to_array(PG_GETARG_EMBEDDING_P(0), FLOAT4OID));
}

PZ_FUNCTION(embedding_to_float8)
{
	PG_RETURN_ARRAYTYPE_P(embedding_to_array(PG_GETARG_EMBEDDING_P(0), FLOAT8OID));
}

PZ_FUNCTION(embedding_to_int4)
{
	PG_RETURN_ARRAYTYPE_P(embedding_to_array(PG_GETARG_EMBEDDING_P(0), INT4OID));
}

PZ_FUNCTION(embedding_to_numeric)
{
	PG_RETURN_ARRAYTYPE_P(embedding_to_array(PG_GETARG_EMBEDDING_P(0), NUMERICOID));
}
