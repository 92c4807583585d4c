/*
 * metrics.c
 *		Evaluation helpers: ranking metrics at k (hits, precision, recall,
 *		average precision, NDCG) over bigint id arrays, and the gini()
 *		aggregate.  The formulas are written down in metrics.h and in the
 *		SQL comments (sql/install/085_metrics.sql); training code calls the
 *		same C functions, so SQL and C cannot drift apart.
 *
 *		NULL handling: the metric functions are STRICT (a NULL array or k
 *		gives NULL); a NULL element inside an array is an error.  With no
 *		relevant ids, recall, AP and NDCG are undefined and come back NULL,
 *		so avg() over users skips them as implicit's evaluation does.
 *		gini() skips NULL inputs like every aggregate: a zero exposure must
 *		be passed as 0, not NULL.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "metrics.h"
#include "miscadmin.h"
#include "personalize.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/memutils.h"

#define ST_SORT sort_int64
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

#define ST_SORT sort_float8
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* ---- ranking metrics ---------------------------------------------------- */

/* Index of id in the sorted, duplicate-free ids[0..n-1], or -1. */
static int
find_id(const int64 *ids, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else if (ids[mid] > id)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

/* 1 / log2(rank + 1) summed over ranks 1..m: the DCG of m hits in a row. */
static double
ideal_dcg(int m)
{
	double		idcg = 0.0;

	for (int i = 1; i <= m; i++)
		idcg += 1.0 / log2(i + 1.0);
	return idcg;
}

bool
pz_ranking_metrics_at_k(const int64 *ranked, int nranked,
						const int64 *relevant, int nrelevant,
						int k, PzRankMetrics *out)
{
	int64	   *rel;
	bool	   *seen;
	int			nrel = 0;
	int			limit;
	int			hits = 0;
	double		ap = 0.0;
	double		dcg = 0.0;
	int			m;

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, got %d", k),
				 errdetail("k is the cutoff: how many leading entries of the ranked list are evaluated.")));
	if (nranked < 0 || nrelevant < 0)
		elog(ERROR, "pz_ranking_metrics_at_k: negative array length");

	/* the relevant set: sorted, duplicates removed */
	rel = palloc_extended(sizeof(int64) * Max(nrelevant, 1), MCXT_ALLOC_HUGE);
	if (nrelevant > 0)
	{
		memcpy(rel, relevant, sizeof(int64) * nrelevant);
		sort_int64(rel, nrelevant);
		nrel = 1;
		for (int i = 1; i < nrelevant; i++)
			if (rel[i] != rel[nrel - 1])
				rel[nrel++] = rel[i];
	}
	seen = palloc_extended(sizeof(bool) * Max(nrel, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	/* positions past the end of ranked are misses; only the first k count */
	limit = Min(k, nranked);
	for (int i = 0; i < limit && hits < nrel; i++)
	{
		int			pos = find_id(rel, nrel, ranked[i]);

		/* a repeated id counts at its first position only */
		if (pos < 0 || seen[pos])
			continue;
		seen[pos] = true;
		hits++;
		ap += (double) hits / (double) (i + 1);
		dcg += 1.0 / log2(i + 2.0);
	}
	pfree(seen);
	pfree(rel);

	out->hits = hits;
	out->nrelevant = nrel;
	out->precision = (double) hits / (double) k;
	if (nrel == 0)
	{
		out->recall = get_float8_nan();
		out->average_precision = get_float8_nan();
		out->ndcg = get_float8_nan();
		return false;
	}
	m = Min(k, nrel);
	out->recall = (double) hits / (double) m;
	out->average_precision = ap / (double) m;
	out->ndcg = dcg / ideal_dcg(m);
	return true;
}

/*
 * The elements of a bigint[] argument.  The array must be one-dimensional
 * (or empty) and hold no NULL; its header is checked against its size.
 */
static const int64 *
id_array(ArrayType *a, const char *fname, const char *argname, int *n)
{
	int			nitems;

	if (ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s(): %s must be a bigint array", fname, argname)));
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s(): %s must be a one-dimensional array, not %d-dimensional",
						fname, argname, ARR_NDIM(a))));
	nitems = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s(): %s must not contain NULL elements", fname, argname),
				 errhint("Remove them first, e.g. array_remove(%s, NULL).", argname)));
	if ((Size) ARR_DATA_OFFSET(a) + (Size) nitems * sizeof(int64) > (Size) VARSIZE(a))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s(): %s is corrupt: %d elements do not fit in %zu bytes",
						fname, argname, nitems, (Size) VARSIZE(a))));
	*n = nitems;
	return (const int64 *) ARR_DATA_PTR(a);
}

typedef enum RankMetric
{
	RM_HITS,
	RM_PRECISION,
	RM_RECALL,
	RM_AP,
	RM_NDCG
} RankMetric;

/* Shared body of the SQL functions (ranked bigint[], relevant bigint[], k int). */
static Datum
rank_metric_sql(FunctionCallInfo fcinfo, RankMetric which, const char *fname)
{
	ArrayType  *ranked_a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *relevant_a = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	int			nranked,
				nrelevant;
	const int64 *ranked = id_array(ranked_a, fname, "ranked", &nranked);
	const int64 *relevant = id_array(relevant_a, fname, "relevant", &nrelevant);
	PzRankMetrics r;
	bool		defined;

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s(): k must be at least 1, got %d", fname, k),
				 errdetail("k is the cutoff: how many leading entries of ranked are evaluated.")));

	defined = pz_ranking_metrics_at_k(ranked, nranked, relevant, nrelevant, k, &r);
	switch (which)
	{
		case RM_HITS:
			PG_RETURN_INT32(r.hits);
		case RM_PRECISION:
			PG_RETURN_FLOAT8(r.precision);
		case RM_RECALL:
			if (!defined)
				PG_RETURN_NULL();
			PG_RETURN_FLOAT8(r.recall);
		case RM_AP:
			if (!defined)
				PG_RETURN_NULL();
			PG_RETURN_FLOAT8(r.average_precision);
		case RM_NDCG:
			if (!defined)
				PG_RETURN_NULL();
			PG_RETURN_FLOAT8(r.ndcg);
	}
	pg_unreachable();
}

PZ_FUNCTION(pz_sql_hits_at_k)
{
	return rank_metric_sql(fcinfo, RM_HITS, "hits_at_k");
}

PZ_FUNCTION(pz_sql_precision_at_k)
{
	return rank_metric_sql(fcinfo, RM_PRECISION, "precision_at_k");
}

PZ_FUNCTION(pz_sql_recall_at_k)
{
	return rank_metric_sql(fcinfo, RM_RECALL, "recall_at_k");
}

PZ_FUNCTION(pz_sql_average_precision_at_k)
{
	return rank_metric_sql(fcinfo, RM_AP, "average_precision_at_k");
}

PZ_FUNCTION(pz_sql_ndcg_at_k)
{
	return rank_metric_sql(fcinfo, RM_NDCG, "ndcg_at_k");
}

/* ---- Gini coefficient --------------------------------------------------- */

static void
check_gini_value(double x)
{
	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gini() input must not be NaN")));
	if (isinf(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gini() input must be finite, got %s", x > 0 ? "Infinity" : "-Infinity")));
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gini() input must not be negative, got %g", x),
				 errhint("The Gini coefficient measures a distribution of non-negative amounts such as exposures or counts.")));
}

/* Neumaier's compensated sum: *sum + *comp is the running total. */
static inline void
neumaier_add(double *sum, double *comp, double x)
{
	double		t = *sum + x;

	if (fabs(*sum) >= fabs(x))
		*comp += (*sum - t) + x;
	else
		*comp += (x - t) + *sum;
	*sum = t;
}

/*
 * Gini of a population of n values of which x[0..m-1] (m <= n, sorted
 * ascending, all finite and >= 0) are given and the other n - m are zeros:
 * with X the whole population sorted ascending (the zeros first),
 *
 * G = 2 sum_i i X_i / (n S) - (n + 1) / n  (i = 1..n) is rewritten, exactly,
 * as  sum_i (2i - n - 1) X_i / (n S)  and the terms paired from both ends:
 *
 *	G = sum_{i=1..floor(n/2)} (n + 1 - 2i) (X_{n+1-i} - X_i) / (n S)
 *
 * Every term is >= 0, so nothing cancels: equal values give exactly 0 and G
 * never comes out negative.  A pair whose upper end is one of the zeros is
 * zero, so only the first min(m, n/2) pairs are summed: O(m), however large
 * the population.  The values are scaled by a power of two first (G does
 * not depend on scale), so sums of huge values cannot overflow.
 */
static double
gini_sorted_padded(const double *x, int64 m, int64 n)
{
	int64		zeros = n - m;
	int64		pairs = Min(m, n / 2);
	int			e;
	double		num = 0.0,
				num_c = 0.0,
				sum = 0.0,
				sum_c = 0.0;

	Assert(m <= n);
	if (m == 0 || x[m - 1] == 0.0)
		return 0.0;				/* no values, or all zero: S = 0 */

	(void) frexp(x[m - 1], &e);	/* x[m-1] < 2^e */
	for (int64 i = 0; i < m; i++)
		neumaier_add(&sum, &sum_c, ldexp(x[i], -e));
	for (int64 i = 0; i < pairs; i++)
	{
		double		hi = ldexp(x[m - 1 - i], -e);
		double		lo = i < zeros ? 0.0 : ldexp(x[i - zeros], -e);

		neumaier_add(&num, &num_c, (double) (n - 1 - 2 * i) * (hi - lo));
	}
	sum += sum_c;
	num += num_c;
	return num / ((double) n * sum);
}

/* Gini of x[0..n-1], sorted ascending: the whole population is given. */
static double
gini_sorted(const double *x, int64 n)
{
	return gini_sorted_padded(x, n, n);
}

double
pz_gini_padded(double *values, int64 m, int64 n)
{
	if (m < 0 || n < m)
		elog(ERROR, "pz_gini_padded: " INT64_FORMAT " values for a population of " INT64_FORMAT, m, n);
	for (int64 i = 0; i < m; i++)
		check_gini_value(values[i]);
	sort_float8(values, (size_t) m);
	return gini_sorted_padded(values, m, n);
}

double
pz_gini(double *values, int64 n)
{
	if (n < 0)
		elog(ERROR, "pz_gini: negative count");
	for (int64 i = 0; i < n; i++)
		check_gini_value(values[i]);
	sort_float8(values, (size_t) n);
	return gini_sorted(values, n);
}

/*
 * The aggregate's state: every input value, in the aggregate's memory
 * context.  The final function sorts them in place; that keeps the multiset,
 * so more transitions (window frames) and more final calls stay valid.
 */
typedef struct GiniState
{
	int64		n;
	int64		cap;
	double	   *values;
	int64		population;		/* gini(value, population): -1 until known */
} GiniState;

#define GINI_INITIAL_CAP	8
#define GINI_MAX_VALUES		((int64) (MaxAllocHugeSize / sizeof(double)))

static MemoryContext
gini_aggcontext(FunctionCallInfo fcinfo, const char *caller)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", caller);
	return aggcontext;
}

static GiniState *
gini_new_state(MemoryContext cxt, int64 cap)
{
	GiniState  *state = MemoryContextAlloc(cxt, sizeof(GiniState));

	state->n = 0;
	state->population = -1;
	state->cap = Max(cap, GINI_INITIAL_CAP);
	state->values = MemoryContextAllocHuge(cxt, sizeof(double) * state->cap);
	return state;
}

/* Room for `more` values after the current ones. */
static void
gini_reserve(GiniState *state, int64 more)
{
	int64		need = state->n + more;
	int64		cap = state->cap;

	if (need <= cap)
		return;
	if (need > GINI_MAX_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gini() cannot hold more than " INT64_FORMAT " values", GINI_MAX_VALUES)));
	while (cap < need)
		cap = Min(cap * 2, GINI_MAX_VALUES);
	state->values = repalloc_huge(state->values, sizeof(double) * cap);
	state->cap = cap;
}

PZ_FUNCTION(pz_gini_accum)
{
	MemoryContext aggcontext = gini_aggcontext(fcinfo, "gini_accum");
	GiniState  *state = PG_ARGISNULL(0) ? NULL : (GiniState *) PG_GETARG_POINTER(0);
	double		x;

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	x = PG_GETARG_FLOAT8(1);
	check_gini_value(x);
	if (state == NULL)
		state = gini_new_state(aggcontext, GINI_INITIAL_CAP);
	gini_reserve(state, 1);
	state->values[state->n++] = x;
	PG_RETURN_POINTER(state);
}

PZ_FUNCTION(pz_gini_combine)
{
	MemoryContext aggcontext = gini_aggcontext(fcinfo, "gini_combine");
	GiniState  *s1 = PG_ARGISNULL(0) ? NULL : (GiniState *) PG_GETARG_POINTER(0);
	GiniState  *s2 = PG_ARGISNULL(1) ? NULL : (GiniState *) PG_GETARG_POINTER(1);

	if (s2 == NULL || s2->n == 0)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	/* s2 may live in a short-lived context (deserialized): copy it */
	if (s1 == NULL)
		s1 = gini_new_state(aggcontext, s2->n);
	gini_reserve(s1, s2->n);
	memcpy(s1->values + s1->n, s2->values, sizeof(double) * s2->n);
	s1->n += s2->n;
	PG_RETURN_POINTER(s1);
}

/* A partial state between processes of one parallel query: native doubles. */
PZ_FUNCTION(pz_gini_serialize)
{
	GiniState  *state;
	Size		len;
	bytea	   *result;

	(void) gini_aggcontext(fcinfo, "gini_serialize");
	state = (GiniState *) PG_GETARG_POINTER(0);
	if ((Size) state->n > (MaxAllocSize - VARHDRSZ) / sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gini() partial state of " INT64_FORMAT " values is too large to pass between parallel workers",
						state->n),
				 errhint("Run this query without parallelism: SET max_parallel_workers_per_gather = 0.")));
	len = sizeof(double) * state->n;
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	if (len > 0)
		memcpy(VARDATA(result), state->values, len);
	PG_RETURN_BYTEA_P(result);
}

PZ_FUNCTION(pz_gini_deserialize)
{
	bytea	   *b;
	Size		len;
	GiniState  *state;
	int64		n;

	(void) gini_aggcontext(fcinfo, "gini_deserialize");
	b = PG_GETARG_BYTEA_PP(0);
	len = VARSIZE_ANY_EXHDR(b);
	if (len % sizeof(double) != 0)
		elog(ERROR, "gini_deserialize: %zu bytes is not a whole number of values", len);
	n = (int64) (len / sizeof(double));
	/* combine copies it into the aggregate context; here is per-tuple memory */
	state = palloc(sizeof(GiniState));
	state->population = -1;
	state->n = n;
	state->cap = Max(n, 1);
	state->values = palloc_extended(sizeof(double) * state->cap, MCXT_ALLOC_HUGE);
	if (len > 0)
		memcpy(state->values, VARDATA_ANY(b), len);
	for (int64 i = 0; i < n; i++)
		check_gini_value(state->values[i]);
	PG_RETURN_POINTER(state);
}

PZ_FUNCTION(pz_gini_final)
{
	GiniState  *state;

	(void) gini_aggcontext(fcinfo, "gini_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_FLOAT8(0.0);	/* no rows: G = 0 by definition */
	state = (GiniState *) PG_GETARG_POINTER(0);
	/* values were checked on the way in */
	sort_float8(state->values, (size_t) state->n);
	PG_RETURN_FLOAT8(gini_sorted(state->values, state->n));
}

/*
 * gini(value, population): the same coefficient over a population of
 * `population` members of which only some are given as rows; the others
 * count as zeros (items never shown need not be materialized).  A NULL value
 * is one of those zeros.  Every row of a group must carry the same
 * population, at least the number of values given.
 */
static void
gini_set_population(GiniState *state, int64 population)
{
	if (population < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gini() population must not be negative, got " INT64_FORMAT, population)));
	if (state->population >= 0 && state->population != population)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gini() population must be the same for every row of a group, got "
						INT64_FORMAT " and " INT64_FORMAT, state->population, population),
				 errhint("Pass the size of the whole population, e.g. a scalar subquery counting the catalogue.")));
	state->population = population;
}

PZ_FUNCTION(pz_gini_pop_accum)
{
	MemoryContext aggcontext = gini_aggcontext(fcinfo, "gini_pop_accum");
	GiniState  *state = PG_ARGISNULL(0) ? NULL : (GiniState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gini() population must not be NULL"),
				 errhint("The population is how many members the distribution has, those given as rows and the zeros.")));
	if (state == NULL)
		state = gini_new_state(aggcontext, GINI_INITIAL_CAP);
	gini_set_population(state, PG_GETARG_INT64(2));
	if (!PG_ARGISNULL(1))
	{
		double		x = PG_GETARG_FLOAT8(1);

		check_gini_value(x);
		gini_reserve(state, 1);
		state->values[state->n++] = x;
	}
	PG_RETURN_POINTER(state);
}

PZ_FUNCTION(pz_gini_pop_combine)
{
	MemoryContext aggcontext = gini_aggcontext(fcinfo, "gini_pop_combine");
	GiniState  *s1 = PG_ARGISNULL(0) ? NULL : (GiniState *) PG_GETARG_POINTER(0);
	GiniState  *s2 = PG_ARGISNULL(1) ? NULL : (GiniState *) PG_GETARG_POINTER(1);

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	/* s2 may live in a short-lived context (deserialized): copy it */
	if (s1 == NULL)
		s1 = gini_new_state(aggcontext, s2->n);
	if (s2->population >= 0)
		gini_set_population(s1, s2->population);
	gini_reserve(s1, s2->n);
	if (s2->n > 0)
		memcpy(s1->values + s1->n, s2->values, sizeof(double) * s2->n);
	s1->n += s2->n;
	PG_RETURN_POINTER(s1);
}

/* Between processes of one parallel query: the population, then the values. */
PZ_FUNCTION(pz_gini_pop_serialize)
{
	GiniState  *state;
	Size		len;
	bytea	   *result;

	(void) gini_aggcontext(fcinfo, "gini_pop_serialize");
	state = (GiniState *) PG_GETARG_POINTER(0);
	if ((Size) state->n > (MaxAllocSize - VARHDRSZ - sizeof(int64)) / sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gini() partial state of " INT64_FORMAT " values is too large to pass between parallel workers",
						state->n),
				 errhint("Run this query without parallelism: SET max_parallel_workers_per_gather = 0.")));
	len = sizeof(int64) + sizeof(double) * state->n;
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), &state->population, sizeof(int64));
	if (state->n > 0)
		memcpy(VARDATA(result) + sizeof(int64), state->values, sizeof(double) * state->n);
	PG_RETURN_BYTEA_P(result);
}

PZ_FUNCTION(pz_gini_pop_deserialize)
{
	bytea	   *b;
	Size		len;
	GiniState  *state;

	(void) gini_aggcontext(fcinfo, "gini_pop_deserialize");
	b = PG_GETARG_BYTEA_PP(0);
	len = VARSIZE_ANY_EXHDR(b);
	if (len < sizeof(int64) || (len - sizeof(int64)) % sizeof(double) != 0)
		elog(ERROR, "gini_pop_deserialize: %zu bytes is not a population and whole values", len);
	/* combine copies it into the aggregate context; here is per-tuple memory */
	state = palloc(sizeof(GiniState));
	memcpy(&state->population, VARDATA_ANY(b), sizeof(int64));
	state->n = (int64) ((len - sizeof(int64)) / sizeof(double));
	state->cap = Max(state->n, 1);
	state->values = palloc_extended(sizeof(double) * state->cap, MCXT_ALLOC_HUGE);
	if (state->n > 0)
		memcpy(state->values, VARDATA_ANY(b) + sizeof(int64), sizeof(double) * state->n);
	for (int64 i = 0; i < state->n; i++)
		check_gini_value(state->values[i]);
	PG_RETURN_POINTER(state);
}

PZ_FUNCTION(pz_gini_pop_final)
{
	GiniState  *state;

	(void) gini_aggcontext(fcinfo, "gini_pop_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_FLOAT8(0.0);	/* no rows: G = 0 by definition */
	state = (GiniState *) PG_GETARG_POINTER(0);
	if (state->n > state->population)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gini() got " INT64_FORMAT " values for a population of " INT64_FORMAT,
						state->n, state->population),
				 errhint("The population counts every member, those given as rows included.")));
	/* values were checked on the way in */
	sort_float8(state->values, (size_t) state->n);
	PG_RETURN_FLOAT8(gini_sorted_padded(state->values, state->n, state->population));
}
