/*
 * embedding_agg.c
 *		avg(embedding): the state is a float8[] of {count, sum_1..sum_n}, so
 *		partial states from parallel workers combine exactly like float4_accum.
 *		sum(embedding) needs no code of its own: it folds with embedding_add.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "embedding.h"
#include "personalize.h"
#include "utils/array.h"
#include "utils/float.h"

static float8 *
state_values(ArrayType *state, const char *caller, int *dim)
{
	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] < 1 ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		elog(ERROR, "%s: expected state array", caller);
	*dim = ARR_DIMS(state)[0] - 1;
	return (float8 *) ARR_DATA_PTR(state);
}

static ArrayType *
make_state(const float8 *values, int dim)
{
	Datum	   *d = palloc(sizeof(Datum) * (dim + 1));
	ArrayType  *result;

	for (int i = 0; i <= dim; i++)
		d[i] = Float8GetDatum(values[i]);
	result = construct_array(d, dim + 1, FLOAT8OID, sizeof(float8),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(d);
	return result;
}

/* out[1..dim] = a[1..dim] + b[1..dim] (b may be NULL for a copy). */
static void
add_sums(float8 *out, const float8 *a, const float8 *b, int dim)
{
	for (int i = 1; i <= dim; i++)
	{
		out[i] = a[i] + (b ? b[i] : 0.0);
		if (isinf(out[i]))
			float_overflow_error();
	}
}

PZ_FUNCTION(embedding_accum)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Embedding  *e = PG_GETARG_EMBEDDING_P(1);
	int			dim;
	float8	   *values = state_values(state, "embedding_accum", &dim);
	bool		first = (dim == 0);
	float8	   *out;

	/* the state's length, not its count, says whether it holds sums yet */
	if (first)
		dim = e->dim;
	else
		embedding_check_typmod(dim, e->dim);

	out = palloc(sizeof(float8) * (dim + 1));
	out[0] = values[0] + 1.0;
	for (int i = 0; i < dim; i++)
	{
		out[i + 1] = (first ? 0.0 : values[i + 1]) + (double) e->x[i];
		if (isinf(out[i + 1]))
			float_overflow_error();
	}
	PG_RETURN_ARRAYTYPE_P(make_state(out, dim));
}

PZ_FUNCTION(embedding_combine)
{
	int			dim1,
				dim2;
	float8	   *v1 = state_values(PG_GETARG_ARRAYTYPE_P(0), "embedding_combine", &dim1);
	float8	   *v2 = state_values(PG_GETARG_ARRAYTYPE_P(1), "embedding_combine", &dim2);
	int			dim = dim1 ? dim1 : dim2;
	float8	   *out;

	if (dim != 0)
		embedding_check_dim(dim, "embedding");
	out = palloc0(sizeof(float8) * (dim + 1));

	if (dim1 && dim2)
	{
		embedding_check_typmod(dim1, dim2);
		add_sums(out, v1, v2, dim);
	}
	else if (dim1)
		add_sums(out, v1, NULL, dim);
	else if (dim2)
		add_sums(out, v2, NULL, dim);
	out[0] = v1[0] + v2[0];
	PG_RETURN_ARRAYTYPE_P(make_state(out, dim));
}

PZ_FUNCTION(embedding_avg)
{
	int			dim;
	float8	   *v = state_values(PG_GETARG_ARRAYTYPE_P(0), "embedding_avg", &dim);
	Embedding  *result;

	/* the SQL average of no rows is NULL */
	if (v[0] == 0.0)
		PG_RETURN_NULL();
	embedding_check_dim(dim, "embedding");
	result = embedding_alloc(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (float) (v[i + 1] / v[0]);
		embedding_check_element(result->x[i], "embedding");
	}
	PG_RETURN_EMBEDDING_P(result);
}
