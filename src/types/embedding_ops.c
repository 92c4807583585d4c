/*
 * embedding_ops.c
 *		Distances, element-wise arithmetic, comparisons and helper functions
 *		of the embedding type.
 */
#include "postgres.h"

#include <math.h>

#include "distance.h"
#include "embedding.h"
#include "personalize.h"
#include "utils/float.h"

#define GET_PAIR(a, b) \
	Embedding  *a = PG_GETARG_EMBEDDING_P(0); \
	Embedding  *b = PG_GETARG_EMBEDDING_P(1); \
	embedding_check_same_dims(a->dim, b->dim, "embedding")

/*
 * For distances, which scans call once per row: no calls on the common path,
 * and prefetches for the rows to come (see pz_prefetch_next_rows()).
 */
#define GET_DISTANCE_PAIR(a, b) \
	Embedding  *a = (Embedding *) PZ_GETARG_DETOASTED(0); \
	Embedding  *b = (Embedding *) PZ_GETARG_DETOASTED(1); \
	if (unlikely(a->dim != b->dim)) \
		embedding_check_same_dims(a->dim, b->dim, "embedding"); \
	pz_prefetch_next_rows(a); \
	pz_prefetch_next_rows(b)

PZ_FUNCTION(embedding_l2_distance)
{
	GET_DISTANCE_PAIR(a, b);
	PG_RETURN_FLOAT8(sqrt((double) pz_kernels->l2sq(a->x, b->x, a->dim)));
}

PZ_FUNCTION(embedding_l2_squared_distance)
{
	GET_DISTANCE_PAIR(a, b);
	PG_RETURN_FLOAT8((double) pz_kernels->l2sq(a->x, b->x, a->dim));
}

PZ_FUNCTION(embedding_inner_product)
{
	GET_DISTANCE_PAIR(a, b);
	PG_RETURN_FLOAT8((double) pz_kernels->dot(a->x, b->x, a->dim));
}

PZ_FUNCTION(embedding_negative_inner_product)
{
	GET_DISTANCE_PAIR(a, b);
	PG_RETURN_FLOAT8((double) -pz_kernels->dot(a->x, b->x, a->dim));
}

/*
 * 1 - cos(a, b), clamped to [0, 2] against rounding.  A zero vector has no
 * direction: the result is NaN, as in pgvector.
 */
PZ_FUNCTION(embedding_cosine_distance)
{
	float		ab,
				aa,
				bb;
	double		similarity;

	GET_DISTANCE_PAIR(a, b);
	pz_kernels->cosine_parts(a->x, b->x, a->dim, &ab, &aa, &bb);
	/* sqrt(aa * bb) rather than sqrt(aa) * sqrt(bb): one rounding less */
	similarity = (double) ab / sqrt((double) aa * (double) bb);
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	PG_RETURN_FLOAT8(1.0 - similarity);
}

PZ_FUNCTION(embedding_l1_distance)
{
	GET_DISTANCE_PAIR(a, b);
	PG_RETURN_FLOAT8((double) pz_kernels->l1(a->x, b->x, a->dim));
}

PZ_FUNCTION(embedding_dims)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);

	PG_RETURN_INT32(a->dim);
}

/* Accumulated in double: norms feed normalisation, where error compounds. */
static double
embedding_norm_internal(const Embedding *a)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
		sum += (double) a->x[i] * (double) a->x[i];
	return sqrt(sum);
}

PZ_FUNCTION(embedding_norm)
{
	PG_RETURN_FLOAT8(embedding_norm_internal(PG_GETARG_EMBEDDING_P(0)));
}

/* A zero vector stays zero: it has no direction to keep. */
PZ_FUNCTION(embedding_l2_normalize)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	double		norm = embedding_norm_internal(a);
	Embedding  *result = embedding_alloc(a->dim);

	if (norm > 0)
	{
		for (int i = 0; i < a->dim; i++)
		{
			result->x[i] = (float) (a->x[i] / norm);
			if (isinf(result->x[i]))
				float_overflow_error();
		}
	}
	PG_RETURN_EMBEDDING_P(result);
}

/* subvector(e, start, count): 1-based like substring, clipped to the input. */
PZ_FUNCTION(embedding_subvector)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int32		end;
	Embedding  *result;

	if (count < 1)
		embedding_check_dim(0, "embedding");
	/* start + count may overflow; a->dim - count cannot (both positive) */
	end = (start > a->dim - count) ? a->dim + 1 : start + count;
	if (start < 1)
		start = 1;
	else if (start > a->dim)
		embedding_check_dim(0, "embedding");
	embedding_check_dim(end - start, "embedding");

	result = embedding_alloc(end - start);
	memcpy(result->x, a->x + (start - 1), sizeof(float) * (end - start));
	PG_RETURN_EMBEDDING_P(result);
}

static void
check_overflow(const Embedding *r)
{
	for (int i = 0; i < r->dim; i++)
		if (isinf(r->x[i]))
			float_overflow_error();
}

PZ_FUNCTION(embedding_add)
{
	Embedding  *r;

	GET_PAIR(a, b);
	r = embedding_alloc(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] + b->x[i];
	check_overflow(r);
	PG_RETURN_EMBEDDING_P(r);
}

PZ_FUNCTION(embedding_sub)
{
	Embedding  *r;

	GET_PAIR(a, b);
	r = embedding_alloc(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] - b->x[i];
	check_overflow(r);
	PG_RETURN_EMBEDDING_P(r);
}

PZ_FUNCTION(embedding_mul)
{
	Embedding  *r;

	GET_PAIR(a, b);
	r = embedding_alloc(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] * b->x[i];
	/* element by element, so the first bad element decides which error */
	for (int i = 0; i < a->dim; i++)
	{
		if (isinf(r->x[i]))
			float_overflow_error();
		if (r->x[i] == 0 && !(a->x[i] == 0 || b->x[i] == 0))
			float_underflow_error();
	}
	PG_RETURN_EMBEDDING_P(r);
}

PZ_FUNCTION(embedding_concat)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	Embedding  *r;

	embedding_check_dim(a->dim + b->dim, "embedding");
	r = embedding_alloc(a->dim + b->dim);
	memcpy(r->x, a->x, sizeof(float) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_EMBEDDING_P(r);
}

/*
 * Element by element, then shorter first: the order of PostgreSQL arrays,
 * so embeddings of different lengths still sort.
 */
static int
embedding_cmp_internal(const Embedding *a, const Embedding *b)
{
	int			dim = Min(a->dim, b->dim);

	for (int i = 0; i < dim; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

#define CMP_FUNCTION(name, expr) \
PZ_FUNCTION(name) \
{ \
	Embedding  *a = PG_GETARG_EMBEDDING_P(0); \
	Embedding  *b = PG_GETARG_EMBEDDING_P(1); \
	int			c = embedding_cmp_internal(a, b); \
	PG_RETURN_BOOL(expr); \
}

CMP_FUNCTION(embedding_lt, c < 0)
CMP_FUNCTION(embedding_le, c <= 0)
CMP_FUNCTION(embedding_eq, c == 0)
CMP_FUNCTION(embedding_ne, c != 0)
CMP_FUNCTION(embedding_ge, c >= 0)
CMP_FUNCTION(embedding_gt, c > 0)

PZ_FUNCTION(embedding_cmp)
{
	PG_RETURN_INT32(embedding_cmp_internal(PG_GETARG_EMBEDDING_P(0),
										   PG_GETARG_EMBEDDING_P(1)));
}
