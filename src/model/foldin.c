/*
 * foldin.c
 *		personalize.subject_factors(model, subject): a subject's ALS factors,
 *		solved exactly from the history visible under the model's purpose
 *		right now: its personalize.history_limit most recent distinct items,
 *		the same subset recommend() folds in (see pz_visible_history).
 *
 * User factors are not stored: folding in at request time costs one k x k
 * solve, keeps no personal model data at rest, and means a withdrawal or a
 * denied category changes a subject's factors from the next call on, while
 * a subject new since training gets factors without waiting for a retrain.
 * Item factors and their Gram matrix are cached per backend and model.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "embedding.h"
#include "executor/spi.h"
#include "matrix.h"
#include "personalize.h"
#include "privileged.h"
#include "request.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

typedef struct FoldinModel
{
	int64		model_id;
	char		purpose[NAMEDATALEN + 1];
	PzAlsParams params;
	int			weighting;		/* PzWeighting of history values */
	int32		nitems;
	int64	   *item_ids;		/* sorted */
	float	   *Y;				/* [nitems x k] */
	float	   *idf;			/* [nitems]: log_idf's item factor, else 1 */
	double	   *YtY;			/* [k x k] */
	MemoryContext cxt;
} FoldinModel;

static FoldinModel cached;

static void
load_model(int64 model_id)
{
	PzPrivileged ctx;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	MemoryContext old;
	int			k;

	if (cached.cxt == NULL)
		cached.cxt = AllocSetContextCreate(TopMemoryContext, "personalize fold-in",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(cached.cxt);
	cached.model_id = 0;

	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT algorithm, purpose, (params->>'factors')::int, "
							  "(params->>'regularization')::real, (params->>'alpha')::real, "
							  "coalesce(params->>'weighting', 'none'), "
							  "coalesce((params->>'reg_exponent')::real, 0) "
							  "FROM personalize.models WHERE model_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: model lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model " INT64_FORMAT " does not exist", model_id),
				 errhint("Models are listed in personalize.models.")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	if (strcmp(SPI_getvalue(t, d, 1), "als") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model " INT64_FORMAT " is not an ALS model", model_id),
				 errhint("Subject factors exist only for als models.")));
	strlcpy(cached.purpose, SPI_getvalue(t, d, 2), sizeof(cached.purpose));
	memset(&cached.params, 0, sizeof(cached.params));
	cached.params.factors = k = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	cached.params.regularization = DatumGetFloat4(SPI_getbinval(t, d, 4, &isnull));
	cached.params.alpha = DatumGetFloat4(SPI_getbinval(t, d, 5, &isnull));
	cached.params.reg_exponent = DatumGetFloat4(SPI_getbinval(t, d, 7, &isnull));
	cached.weighting = pz_weighting_parse(SPI_getvalue(t, d, 6));
	if (cached.weighting < 0)
		cached.weighting = PZ_WEIGHT_NONE;	/* a model of 0.2.0 */

	if (SPI_execute_with_args("SELECT item_id, factors, coalesce(idf, 1) FROM personalize.model_item_factors "
							  "WHERE model_id = $1 ORDER BY item_id",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: item factor lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model " INT64_FORMAT " has no item factors (pruned?)", model_id)));

	old = MemoryContextSwitchTo(cached.cxt);
	cached.nitems = (int32) SPI_processed;
	cached.item_ids = palloc(sizeof(int64) * cached.nitems);
	cached.Y = MemoryContextAllocHuge(cached.cxt, sizeof(float) * (Size) cached.nitems * k);
	cached.YtY = palloc(sizeof(double) * k * k);
	cached.idf = palloc(sizeof(float) * Max(cached.nitems, 1));
	for (int32 i = 0; i < cached.nitems; i++)
	{
		Embedding  *e;

		t = SPI_tuptable->vals[i];
		cached.item_ids[i] = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		e = DatumGetEmbeddingP(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		if (e->dim != k)
			elog(ERROR, "personalize: model " INT64_FORMAT " has factors of %d dimensions, expected %d",
				 model_id, e->dim, k);
		memcpy(cached.Y + (Size) i * k, e->x, sizeof(float) * k);
		cached.idf[i] = DatumGetFloat4(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull));
		if (!(cached.idf[i] > 0.0f) || isinf(cached.idf[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model " INT64_FORMAT " has idf %g for item " INT64_FORMAT ", expected a positive number",
							model_id, cached.idf[i], cached.item_ids[i])));
	}
	pz_als_gram(cached.Y, cached.nitems, k, cached.YtY);
	MemoryContextSwitchTo(old);
	pz_privileged_end(&ctx);
	cached.model_id = model_id;
}

/* The subject's visible history, as item indices of the model and values. */
static int
visible_history(int64 subject, int32 **items, float **values)
{
	PzHistoryRow *rows;
	int			nrows = pz_visible_history(cached.purpose, subject, pz_history_limit, &rows);
	int			n = 0;

	*items = palloc(sizeof(int32) * Max(nrows, 1));
	*values = palloc(sizeof(float) * Max(nrows, 1));
	for (int r = 0; r < nrows; r++)
	{
		int32		idx = pz_search_ids(cached.item_ids, cached.nitems, rows[r].item_id);

		/* items added since training have no factors; they cannot contribute */
		if (idx >= 0 && rows[r].value > 0)
		{
			(*items)[n] = idx;
			(*values)[n] = pz_weigh_value((PzWeighting) cached.weighting, rows[r].value,
										  cached.idf[idx]);
			n++;
		}
	}
	return n;
}

PZ_FUNCTION(pz_subject_factors)
{
	int64		model_id = PG_GETARG_INT64(0);
	int64		subject = PG_GETARG_INT64(1);
	int32	   *items;
	float	   *values;
	int			n;
	Embedding  *result;

	if (cached.model_id != model_id)
		load_model(model_id);
	n = visible_history(subject, &items, &values);
	if (n == 0)
		PG_RETURN_NULL();
	result = embedding_alloc(cached.params.factors);
	pz_als_fold_in(cached.Y, cached.params.factors, cached.YtY, items, values, n,
				   &cached.params, result->x);
	PG_RETURN_POINTER(result);
}
