/*
 * embedding8.c
 *		The embedding8 type: about 4x smaller than embedding, for item
 *		factors at serving time.
 *
 * Quantization: scale = max|x| / 127 and q[i] = round(x[i] / scale), so each
 * element is off by at most scale / 2 = max|x| / 254.  Distances are computed
 * exactly for the dequantized vectors: the inner product is an integer sum,
 * and L2 and cosine follow from it and the cached sums of squares.
 */
#include "postgres.h"

#include <math.h>

#include "distance.h"
#include "embedding.h"
#include "embedding8.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "personalize.h"
#include "utils/float.h"

#define TYPE_NAME "embedding8"

static Embedding8 *
embedding8_alloc(int dim)
{
	Embedding8 *r = (Embedding8 *) palloc0(EMBEDDING8_SIZE(dim));

	SET_VARSIZE(r, EMBEDDING8_SIZE(dim));
	r->dim = dim;
	return r;
}

static void
embedding8_finish(Embedding8 *r)
{
	int32		s = 0;

	for (int i = 0; i < r->dim; i++)
		s += (int32) r->x[i] * r->x[i];
	r->sumsq = s;
}

/* Quantize x into q (dim int8s); returns the scale.  Used by serving too. */
float
pz_quantize_i8(const float *x, int dim, int8 *q)
{
	double		maxabs = 0.0;
	float		scale;

	for (int i = 0; i < dim; i++)
		maxabs = Max(maxabs, fabs((double) x[i]));
	scale = (float) (maxabs / 127.0);
	/* rounding up near FLT_MAX would make 127 * scale dequantize to inf */
	if (isinf(127.0f * scale))
		scale = nextafterf(scale, 0.0f);
	for (int i = 0; i < dim; i++)
	{
		double		v = scale > 0 ? rint((double) x[i] / (double) scale) : 0.0;

		q[i] = (int8) Max(-127.0, Min(127.0, v));
	}
	return scale;
}

static Embedding8 *
quantize(const float *x, int dim)
{
	Embedding8 *r = embedding8_alloc(dim);

	r->scale = pz_quantize_i8(x, dim, r->x);
	embedding8_finish(r);
	return r;
}

static float *
dequantize(const Embedding8 *e)
{
	float	   *x = palloc(sizeof(float) * Max(e->dim, 1));

	for (int i = 0; i < e->dim; i++)
		x[i] = (float) e->x[i] * e->scale;
	return x;
}

PZ_FUNCTION(embedding8_in)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	float	   *x = embedding_parse(lit, TYPE_NAME, &dim);

	embedding_check_dim(dim, TYPE_NAME);
	embedding_check_typmod(typmod, dim);
	PG_RETURN_POINTER(quantize(x, dim));
}

PZ_FUNCTION(embedding8_typmod_in)
{
	PG_RETURN_INT32(embedding_parse_typmod(PG_GETARG_ARRAYTYPE_P(0), TYPE_NAME));
}

PZ_FUNCTION(embedding8_out)
{
	Embedding8 *e = PG_GETARG_EMBEDDING8_P(0);

	PG_RETURN_CSTRING(embedding_format(dequantize(e), e->dim));
}

/* Binary form: int16 dim, int16 unused (0), float4 scale, dim int8s. */
PZ_FUNCTION(embedding8_recv)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	float		scale;
	Embedding8 *r;

	embedding_recv_need(buf, 2 * sizeof(int16) + sizeof(float4), TYPE_NAME, -1);
	dim = (int) pq_getmsgint(buf, sizeof(int16));
	unused = (int) pq_getmsgint(buf, sizeof(int16));
	scale = pq_getmsgfloat4(buf);
	embedding_check_dim(dim, TYPE_NAME);
	embedding_check_typmod(typmod, dim);
	embedding_recv_unused(unused);
	embedding_check_element(scale, TYPE_NAME);
	if (scale < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("embedding8 scale must not be negative")));
	if (isinf(127.0f * scale))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("embedding8 scale %g is out of range", scale)));
	embedding_recv_need(buf, dim, TYPE_NAME, dim);

	r = embedding8_alloc(dim);
	r->scale = scale;
	for (int i = 0; i < dim; i++)
	{
		int8		q = (int8) pq_getmsgbyte(buf);

		if (q == -128)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("embedding8 elements must lie in [-127, 127]")));
		r->x[i] = q;
	}
	embedding8_finish(r);
	PG_RETURN_POINTER(r);
}

/* embedding8_from_binary(bytea): the binary form, as embedding8_send gives it */
PZ_FUNCTION(embedding8_from_binary)
{
	PG_RETURN_DATUM(embedding_recv_bytea(embedding8_recv, PG_GETARG_BYTEA_PP(0)));
}

PZ_FUNCTION(embedding8_send)
{
	Embedding8 *e = PG_GETARG_EMBEDDING8_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, e->dim);
	pq_sendint16(&buf, e->unused);
	pq_sendfloat4(&buf, e->scale);
	for (int i = 0; i < e->dim; i++)
		pq_sendbyte(&buf, (uint8) e->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PZ_FUNCTION(embedding8_coerce)
{
	Embedding8 *e = PG_GETARG_EMBEDDING8_P(0);

	embedding_check_typmod(PG_GETARG_INT32(1), e->dim);
	PG_RETURN_POINTER(e);
}

PZ_FUNCTION(embedding_to_embedding8)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);

	embedding_check_typmod(PG_GETARG_INT32(1), e->dim);
	PG_RETURN_POINTER(quantize(e->x, e->dim));
}

PZ_FUNCTION(embedding8_to_embedding)
{
	Embedding8 *e = PG_GETARG_EMBEDDING8_P(0);
	Embedding  *r = embedding_alloc(e->dim);
	float	   *x = dequantize(e);

	embedding_check_typmod(PG_GETARG_INT32(1), e->dim);
	memcpy(r->x, x, sizeof(float) * e->dim);
	PG_RETURN_POINTER(r);
}

/*
 * For distances, which scans call once per row: no calls on the common path,
 * and prefetches for the rows to come (see pz_prefetch_next_rows()).
 */
#define GET_PAIR8(a, b) \
	Embedding8 *a = (Embedding8 *) PZ_GETARG_DETOASTED(0); \
	Embedding8 *b = (Embedding8 *) PZ_GETARG_DETOASTED(1); \
	if (unlikely(a->dim != b->dim)) \
		embedding_check_same_dims(a->dim, b->dim, TYPE_NAME); \
	pz_prefetch_next_rows(a); \
	pz_prefetch_next_rows(b)

static double
dot8(const Embedding8 *a, const Embedding8 *b)
{
	return (double) a->scale * (double) b->scale *
		(double) pz_kernels->dot_i8(a->x, b->x, a->dim);
}

PZ_FUNCTION(embedding8_l2_distance)
{
	double		sa,
				sb,
				d2;

	GET_PAIR8(a, b);
	sa = a->scale;
	sb = b->scale;
	d2 = sa * sa * a->sumsq + sb * sb * b->sumsq - 2.0 * dot8(a, b);
	PG_RETURN_FLOAT8(sqrt(Max(d2, 0.0)));
}

PZ_FUNCTION(embedding8_inner_product)
{
	GET_PAIR8(a, b);
	PG_RETURN_FLOAT8(dot8(a, b));
}

PZ_FUNCTION(embedding8_negative_inner_product)
{
	GET_PAIR8(a, b);
	PG_RETURN_FLOAT8(-dot8(a, b));
}

PZ_FUNCTION(embedding8_cosine_distance)
{
	double		similarity;

	GET_PAIR8(a, b);
	/* scales cancel; a zero vector has no direction and yields NaN */
	similarity = (double) pz_kernels->dot_i8(a->x, b->x, a->dim) /
		sqrt((double) a->sumsq * (double) b->sumsq);
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	PG_RETURN_FLOAT8(1.0 - similarity);
}

PZ_FUNCTION(embedding8_l1_distance)
{
	GET_PAIR8(a, b);
	PG_RETURN_FLOAT8((double) pz_kernels->l1_i8(a->x, a->scale, b->x, b->scale, a->dim));
}

PZ_FUNCTION(embedding8_dims)
{
	PG_RETURN_INT32(PG_GETARG_EMBEDDING8_P(0)->dim);
}

PZ_FUNCTION(embedding8_norm)
{
	Embedding8 *a = PG_GETARG_EMBEDDING8_P(0);

	PG_RETURN_FLOAT8((double) a->scale * sqrt((double) a->sumsq));
}

/* The largest error any element of this value carries: scale / 2. */
PZ_FUNCTION(embedding8_max_error)
{
	PG_RETURN_FLOAT8((double) PG_GETARG_EMBEDDING8_P(0)->scale / 2.0);
}
