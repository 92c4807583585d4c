/*
 * model_store.c
 *		Writing a trained model version: its row in personalize.models, its
 *		parameters (factors, neighbours, popularity), its data snapshot and
 *		metrics, then activation if it is not worse than the active model,
 *		and pruning of old versions.  Everything happens in the caller's
 *		transaction: an error leaves no trace, and activation is one UPDATE
 *		pair, so readers see the old model or the new one.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "embedding.h"
#include "executor/spi.h"
#include "personalize.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

static void
spi_exec_nulls(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls,
			   int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "personalize: %s failed: %s", sql, SPI_result_code_string(rc));
}

static void
spi_exec(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	spi_exec_nulls(sql, nargs, argtypes, args, NULL, expected);
}

/*
 * The model's row, holding until training ends what the registry said as
 * training began: the purpose's description and each category's tier,
 * justification and retention.  The card is made from these, so editing
 * the registry later changes no card.  Retentions are written in one
 * interval style, whatever the session's.
 */
int64
pz_store_begin(const char *algorithm, const char *purpose, Jsonb *params,
			   const char *trained_by)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, JSONBOID, NAMEOID};
	Datum		args[4];
	bool		isnull;
	int			nest = NewGUCNestLevel();
	int64		model_id;

	args[0] = CStringGetTextDatum(algorithm);
	args[1] = CStringGetTextDatum(purpose);
	args[2] = JsonbPGetDatum(params);
	args[3] = DirectFunctionCall1(namein, CStringGetDatum(trained_by));
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	spi_exec("INSERT INTO personalize.models (algorithm, purpose, params, trained_by, data) "
			 "VALUES ($1, $2, $3, $4, jsonb_build_object('registry', jsonb_build_object("
			 "  'purpose_description', (SELECT p.description FROM personalize.purposes p WHERE p.name = $2),"
			 "  'categories', (SELECT coalesce(jsonb_object_agg(c.name, jsonb_build_object("
			 "      'tier', c.tier, 'justification', c.justification, 'retention', c.retention::text)), '{}')"
			 "    FROM personalize.signal_categories c))))"
			 " RETURNING model_id", 4, argtypes, args, SPI_OK_INSERT_RETURNING);
	model_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	AtEOXact_GUC(true, nest);
	return model_id;
}

static Oid
embedding_type_oid(void)
{
	return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("embedding"),
						   ObjectIdGetDatum(get_namespace_oid("personalize", false)));
}

static Datum
int64_array(const int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* rows x k factors as an embedding[] */
static Datum
factor_array(const float *factors, int rows, int k, Oid emb_oid)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(rows, 1));

	for (int r = 0; r < rows; r++)
	{
		Embedding  *e = embedding_alloc(k);

		memcpy(e->x, factors + (Size) r * k, sizeof(float) * k);
		d[r] = PointerGetDatum(e);
	}
	return PointerGetDatum(construct_array(d, rows, emb_oid, -1, false, TYPALIGN_INT));
}

static void
store_factors(int64 model_id, const int64 *ids, const float *factors, const float *idf,
			  int rows, int k)
{
	Oid			emb_oid = embedding_type_oid();
	Oid			argtypes[4] = {INT8OID, INT8ARRAYOID, get_array_type(emb_oid), FLOAT4ARRAYOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', idf ? ' ' : 'n'};

	args[0] = Int64GetDatum(model_id);
	args[1] = int64_array(ids, rows);
	args[2] = factor_array(factors, rows, k, emb_oid);
	args[3] = (Datum) 0;
	if (idf)
	{
		Datum	   *d = palloc_extended(sizeof(Datum) * Max(rows, 1), MCXT_ALLOC_HUGE);

		for (int i = 0; i < rows; i++)
			d[i] = Float4GetDatum(idf[i]);
		args[3] = PointerGetDatum(construct_array(d, rows, FLOAT4OID, 4, true, TYPALIGN_INT));
	}
	spi_exec_nulls("INSERT INTO personalize.model_item_factors (model_id, item_id, factors, idf) "
				   "SELECT $1, u.id, u.f, u.w FROM unnest($2, $3, $4) AS u(id, f, w)",
				   4, argtypes, args, nulls, SPI_OK_INSERT);
}

static void
store_neighbors(int64 model_id, const Fitted *f)
{
	const PzMatrix *m = f->m;
	Size		cap = (Size) m->nitems * f->nn;
	int64	   *item = palloc_extended(sizeof(int64) * Max(cap, 1), MCXT_ALLOC_HUGE);
	int64	   *nbr = palloc_extended(sizeof(int64) * Max(cap, 1), MCXT_ALLOC_HUGE);
	Datum	   *score = palloc_extended(sizeof(Datum) * Max(cap, 1), MCXT_ALLOC_HUGE);
	int			n = 0;
	Oid			argtypes[4] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, FLOAT4ARRAYOID};
	Datum		args[4];

	for (int32 i = 0; i < m->nitems; i++)
		for (int j = 0; j < f->nn; j++)
		{
			int32		nb = f->nbr[(Size) i * f->nn + j];

			if (nb < 0)
				break;
			item[n] = m->item_ids[i];
			nbr[n] = m->item_ids[nb];
			score[n] = Float4GetDatum(f->nbr_score[(Size) i * f->nn + j]);
			n++;
		}
	args[0] = Int64GetDatum(model_id);
	args[1] = int64_array(item, n);
	args[2] = int64_array(nbr, n);
	args[3] = PointerGetDatum(construct_array(score, n, FLOAT4OID, 4, true, TYPALIGN_INT));
	spi_exec("INSERT INTO personalize.model_neighbors SELECT $1, u.i, u.n, u.s "
			 "FROM unnest($2, $3, $4) AS u(i, n, s)", 4, argtypes, args, SPI_OK_INSERT);
}

static void
store_popularity(int64 model_id, const Fitted *f, const TrainData *td)
{
	const PzMatrix *m = f->m;
	Datum	   *score = palloc(sizeof(Datum) * Max(m->nitems, 1));
	Datum	   *category = palloc(sizeof(Datum) * Max(m->nitems, 1));
	bool	   *category_null = palloc(sizeof(bool) * Max(m->nitems, 1));
	int			dims[1] = {m->nitems};
	int			lbs[1] = {1};
	Oid			argtypes[4] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID};
	Datum		args[4];

	for (int32 i = 0; i < m->nitems; i++)
	{
		score[i] = Float4GetDatum((float) f->popularity[i]);
		category_null[i] = td->item_category[i] == NULL;
		category[i] = category_null[i] ? (Datum) 0 : CStringGetTextDatum(td->item_category[i]);
	}
	args[0] = Int64GetDatum(model_id);
	args[1] = int64_array(m->item_ids, m->nitems);
	args[2] = PointerGetDatum(construct_md_array(category, category_null, 1, dims, lbs,
												 TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(score, m->nitems, FLOAT4OID, 4, true, TYPALIGN_INT));
	spi_exec("INSERT INTO personalize.model_popularity SELECT $1, u.i, u.c, u.s "
			 "FROM unnest($2, $3, $4) AS u(i, c, s)", 4, argtypes, args, SPI_OK_INSERT);
}

void
pz_store_parameters(int64 model_id, const Fitted *f, const TrainData *td)
{
	const PzMatrix *m = f->m;

	switch (f->algorithm)
	{
		case ALG_ALS:
			store_factors(model_id, m->item_ids, f->Y, f->item_idf, m->nitems, f->k);
			break;
		case ALG_ITEMKNN:
		case ALG_RP3BETA:
		case ALG_EASE:
			store_neighbors(model_id, f);
			break;
		case ALG_POPULARITY:
			break;
	}
	store_popularity(model_id, f, td);
}

/* ---- hyperparameters as jsonb ---------------------------------------------- */

static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &v);
}

static void
push_numeric(JsonbParseState **state, const char *key, Numeric value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_int(JsonbParseState **state, const char *key, int64 value)
{
	push_numeric(state, key, int64_to_numeric(value));
}

/*
 * A float parameter as the shortest decimal that reads back as the same
 * float (what float4out prints at the default extra_float_digits, but
 * independent of the session's setting), so the card shows exactly the
 * value training used.
 */
static void
push_real(JsonbParseState **state, const char *key, float value)
{
	char		buf[32];

	float_to_shortest_decimal_buf(value, buf);
	push_numeric(state, key, DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1))));
}

static void
push_double(JsonbParseState **state, const char *key, double value)
{
	char		buf[32];

	double_to_shortest_decimal_buf(value, buf);
	push_numeric(state, key, DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1))));
}

static void
push_string(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_bool(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* The parameters training used, defaults and tuned values included. */
static Datum
effective_params(const TrainParams *p)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	switch (p->algorithm)
	{
		case ALG_ALS:
			push_int(&state, "factors", p->als.factors);
			push_int(&state, "iterations", p->als.iterations);
			push_real(&state, "regularization", p->als.regularization);
			push_real(&state, "reg_exponent", p->als.reg_exponent);
			push_real(&state, "alpha", p->als.alpha);
			push_int(&state, "cg_steps", p->als.cg_steps);
			break;
		case ALG_ITEMKNN:
			push_int(&state, "neighbors", p->knn.neighbors);
			push_real(&state, "shrinkage", p->knn.shrinkage);
			push_int(&state, "min_support", p->knn.min_support);
			break;
		case ALG_RP3BETA:
			push_int(&state, "neighbors", p->rp3.neighbors);
			push_real(&state, "alpha", p->rp3.alpha);
			push_real(&state, "beta", p->rp3.beta);
			push_int(&state, "min_support", p->rp3.min_support);
			break;
		case ALG_EASE:
			push_int(&state, "neighbors", p->ease.neighbors);
			push_real(&state, "regularization", p->ease.regularization);
			push_int(&state, "max_items", p->ease.max_items);
			break;
		case ALG_POPULARITY:
			push_double(&state, "half_life_days", p->half_life_days);
			break;
	}
	/* the retrain job replays these; never dp_seed: its noise must be fresh */
	if (p->dp.enabled)
	{
		push_double(&state, "dp_epsilon", p->dp.epsilon);
		push_double(&state, "dp_delta", p->dp.delta);
		push_int(&state, "dp_max_per_subject", p->dp.max_per_subject);
		push_real(&state, "dp_clip", p->dp.clip);
		if (p->algorithm == ALG_ITEMKNN)
			push_int(&state, "dp_max_items", p->dp.max_items);
	}
	/* serving reads the weighting back: ALS folds histories in with it */
	push_string(&state, "weighting", pz_weighting_name(p->weighting));
	if (p->weighting == PZ_WEIGHT_BM25)
	{
		push_real(&state, "bm25_k1", p->knn.bm25_k1);
		push_real(&state, "bm25_b", p->knn.bm25_b);
	}
	push_double(&state, "holdout", p->holdout);
	push_int(&state, "k", p->k);
	push_int(&state, "seed", p->seed);
	push_bool(&state, "tuned", p->tune);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}

/*
 * The metrics, with how they were computed (the README's "How the card's
 * metrics are computed" says the same at length), and the tuning search.
 */
static Datum
metrics_json(const Metrics *r, const TrainParams *p)
{
	char	   *s = psprintf("{\"k\": %d, \"precision_at_k\": %.6f, \"recall_at_k\": %.6f, "
							 "\"ndcg_at_k\": %.6f, \"ndcg_at_k_stderr\": %.6f, \"map_at_k\": %.6f, "
							 "\"coverage\": %.6f, \"gini\": %.6f, \"subjects_evaluated\": " INT64_FORMAT ", "
							 "\"holdout\": %g, \"seed\": " INT64_FORMAT ", "
							 "\"protocol\": \"per subject with at least 2 items, round(holdout x items) of them "
							 "(at least 1, never all) held out by a seeded hash of (seed, subject, item); the model "
							 "fitted with these parameters on the rest; every catalogue item ranked for each such "
							 "subject, its training items excluded; binary relevance; means over subjects; "
							 "recall over min(k, held-out); coverage and gini over the catalogue's exposure in "
							 "these top-k lists; the stored model is then refitted on all rows\"%s%s}",
							 p->k, r->precision, r->recall, r->ndcg, r->ndcg_stderr, r->map, r->coverage,
							 r->gini, r->subjects, p->holdout, p->seed,
							 p->tuning_json ? ", \"tuning\": " : "",
							 p->tuning_json ? p->tuning_json : "");

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s));
}

/*
 * The data snapshot.  What a card says about the data comes from the rows
 * the model was trained on, which are visible under its purpose, with one
 * exception: how many subjects were left out, which only the consent
 * records can tell.  Those counts are rounded down to a multiple of ten, so
 * that one person's withdrawal does not show as a change of one between two
 * cards, and they never count the subjects who have rows but no consent
 * (that would read rows the purpose may not see).  The time range is given
 * in whole days.
 *
 * A category counts as used when rows of it were read; each used one is
 * recorded with its rows and subjects and with the tier, justification and
 * retention the registry gave it as training began (pz_store_begin()), as
 * is the purpose's description.  Allowed categories without rows are
 * listed apart.
 */
static Datum
data_snapshot(int64 model_id, const char *purpose, const PzMatrix *m, const TrainData *td,
			  Datum categories_allowed, const char *skipped_json)
{
	Oid			argtypes[10] = {TEXTOID, INT8OID, INT8OID, INT4OID, INT4OID, TEXTARRAYOID, JSONBOID,
	FLOAT8ARRAYOID, INT8OID, JSONBOID};
	Datum		args[10];
	char		nulls[10] = "          ";
	Datum		range[2] = {Float8GetDatum(td->first_at), Float8GetDatum(td->last_at)};
	int32		items_seen = 0;
	bool		isnull;

	for (int32 i = 0; i < m->nitems; i++)
		items_seen += m->item_ptr[i + 1] > m->item_ptr[i];
	args[0] = CStringGetTextDatum(purpose);
	args[1] = Int64GetDatum(td->ntriples);
	args[2] = Int64GetDatum(m->nusers);
	args[3] = Int32GetDatum(items_seen);
	args[4] = Int32GetDatum(m->nitems);
	args[5] = categories_allowed;
	args[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(skipped_json));
	args[7] = PointerGetDatum(construct_array(range, 2, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[8] = Int64GetDatum(model_id);
	args[9] = pz_category_counts_jsonb(td->categories);
	if (td->ntriples == 0)
		nulls[7] = 'n';
	spi_exec_nulls("WITH current AS ("
				   "  SELECT DISTINCT ON (c.subject_id) personalize.tier(c.consent) AS tier"
				   "    FROM personalize.consents c WHERE c.purpose = ANY (personalize.purpose_chain($1))"
				   "   ORDER BY c.subject_id, length(c.purpose) DESC),"
				   " left_out AS ("
				   "  SELECT floor(count(*) FILTER (WHERE tier = 'none') / 10.0) * 10 AS withdrawn,"
				   "         floor(count(*) FILTER (WHERE tier = 'functional') / 10.0) * 10 AS below"
				   "    FROM current),"
				   " registry AS (SELECT m.data -> 'registry' AS r FROM personalize.models m WHERE m.model_id = $9),"
				   " read AS (SELECT x ->> 'category' AS category, x - 'category' AS counts"
				   "            FROM jsonb_array_elements($10) x WHERE (x ->> 'rows')::bigint > 0)"
				   "SELECT jsonb_build_object("
				   "  'rows_used', $2,"
				   "  'subjects_included', $3,"
				   "  'subjects_left_out', jsonb_build_object("
				   "     'withdrawn', withdrawn, 'consent_below_personalization', below,"
				   "     'total', withdrawn + below,"
				   "     'counted', 'from consent records only, rounded down to a multiple of 10'),"
				   "  'items_with_interactions', $4, 'catalogue_items', $5,"
				   "  'time_range', (SELECT jsonb_agg(to_char(to_timestamp(t) AT TIME ZONE 'UTC', 'YYYY-MM-DD'))"
				   "                   FROM unnest($8) t),"
				   "  'categories_used', (SELECT coalesce(jsonb_agg(category ORDER BY category), '[]') FROM read),"
				   "  'categories', (SELECT coalesce(jsonb_agg(jsonb_build_object('category', rd.category)"
				   "                        || coalesce(rg.r -> 'categories' -> rd.category, '{}') || rd.counts"
				   "                        ORDER BY rd.category), '[]') FROM read rd, registry rg),"
				   "  'categories_without_rows', to_jsonb(ARRAY(SELECT a FROM unnest($6) a"
				   "     WHERE a NOT IN (SELECT category FROM read) ORDER BY a)),"
				   "  'categories_skipped', $7,"
				   "  'purpose_description', (SELECT r ->> 'purpose_description' FROM registry))"
				   " FROM left_out",
				   10, argtypes, args, nulls, SPI_OK_SELECT);
	return datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
					 false, -1);
}

static Datum
warnings_array(List *warnings)
{
	int			n = list_length(warnings);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, warnings)
		d[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A model that failed the membership-inference check (mia.c, recorded in
 * its privacy column before this runs) is rejected, whatever "activate"
 * says: never is no exception, so its status tells why it must not serve.
 */
static bool
reject_if_leaky(Oid *argtypes, Datum *args)
{
	spi_exec("UPDATE personalize.models SET status = 'rejected', status_reason = "
			 "format('membership-inference attack AUC %s exceeds personalize.mia_max_auc %s', "
			 "       privacy -> 'membership_inference' ->> 'auc', privacy -> 'membership_inference' ->> 'max_auc') "
			 "WHERE model_id = $1 AND (privacy -> 'membership_inference' ->> 'passed')::boolean IS FALSE",
			 1, argtypes, args, SPI_OK_UPDATE);
	return SPI_processed > 0;
}

/*
 * Reject a model that failed the membership-inference check; otherwise
 * activate when asked, or (auto) when NDCG@k is not worse than the active
 * model's.
 */
static void
decide_activation(int64 model_id, const char *purpose, const TrainParams *p, const Metrics *r)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, FLOAT8OID};
	Datum		args[3];

	args[0] = Int64GetDatum(model_id);
	args[1] = CStringGetTextDatum(purpose);
	args[2] = Float8GetDatum(r->ndcg);
	if (reject_if_leaky(argtypes, args))
		return;
	if (strcmp(p->activate, "never") == 0)
		return;
	if (strcmp(p->activate, "auto") == 0)
	{
		spi_exec("SELECT (metrics->>'ndcg_at_k')::float8, model_id FROM personalize.models "
				 "WHERE purpose = $2 AND status = 'active' AND model_id <> $1",
				 2, argtypes, args, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		active = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull && r->ndcg < DatumGetFloat8(active))
			{
				spi_exec("UPDATE personalize.models SET status = 'rejected', status_reason = "
						 "format('NDCG@k %s is below the active model''s', round($3::numeric, 4)) "
						 "WHERE model_id = $1", 3, argtypes, args, SPI_OK_UPDATE);
				return;
			}
		}
	}
	spi_exec("SELECT personalize.activate_model($1)", 1, argtypes, args, SPI_OK_SELECT);
}

/* Keep the parameters of the newest keep_models versions (and the active one). */
static void
prune(const char *purpose, int keep)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {CStringGetTextDatum(purpose), Int32GetDatum(keep)};

	spi_exec("WITH old AS ("
			 "  SELECT model_id FROM personalize.models"
			 "   WHERE purpose = $1 AND status <> 'active'"
			 "   ORDER BY model_id DESC OFFSET $2),"
			 " f AS (DELETE FROM personalize.model_item_factors WHERE model_id IN (SELECT model_id FROM old)),"
			 " n AS (DELETE FROM personalize.model_neighbors WHERE model_id IN (SELECT model_id FROM old)),"
			 " p AS (DELETE FROM personalize.model_popularity WHERE model_id IN (SELECT model_id FROM old))"
			 "UPDATE personalize.models SET status = CASE WHEN status = 'candidate' THEN 'retired' ELSE status END,"
			 "       status_reason = 'parameters pruned (keep_models)'"
			 " WHERE model_id IN (SELECT model_id FROM old) AND status_reason IS DISTINCT FROM 'parameters pruned (keep_models)'",
			 2, argtypes, args, SPI_OK_UPDATE);
}

void
pz_store_finish(int64 model_id, const char *purpose, const TrainParams *p,
				const PzMatrix *m, const TrainData *td, Datum categories_used,
				const char *categories_skipped_json, List *warnings,
				const Metrics *metrics, double training_ms)
{
	Oid			argtypes[6] = {INT8OID, JSONBOID, JSONBOID, JSONBOID, TEXTARRAYOID, FLOAT8OID};
	Datum		args[6];

	args[0] = Int64GetDatum(model_id);
	args[1] = effective_params(p);
	args[2] = data_snapshot(model_id, purpose, m, td, categories_used, categories_skipped_json);
	args[3] = metrics_json(metrics, p);
	args[4] = warnings_array(warnings);
	args[5] = Float8GetDatum(training_ms);
	spi_exec("UPDATE personalize.models SET status = 'candidate', params = $2, data = $3, "
			 "metrics = $4, warnings = $5, training_ms = $6 WHERE model_id = $1",
			 6, argtypes, args, SPI_OK_UPDATE);
	decide_activation(model_id, purpose, p, metrics);
	prune(purpose, p->keep_models);
}

void
pz_store_spend_privacy(int64 model_id, const char *purpose, const TrainParams *p)
{
	Oid			argtypes[4] = {TEXTOID, INT8OID, FLOAT8OID, FLOAT8OID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = CStringGetTextDatum(purpose);
	args[1] = Int64GetDatum(model_id);
	args[2] = Float8GetDatum(p->dp.epsilon);
	args[3] = Float8GetDatum(p->dp.delta);
	if (!p->dp.enabled)
		nulls[2] = nulls[3] = 'n';
	spi_exec_nulls("SELECT personalize.spend_privacy_budget($1, $2, $3, $4)",
				   4, argtypes, args, nulls, SPI_OK_SELECT);
}

void
pz_store_privacy(int64 model_id, const char *key, Datum value)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, JSONBOID};
	Datum		args[3] = {Int64GetDatum(model_id), CStringGetTextDatum(key), value};

	spi_exec("UPDATE personalize.models SET privacy = coalesce(privacy, '{}') || jsonb_build_object($2, $3) "
			 "WHERE model_id = $1", 3, argtypes, args, SPI_OK_UPDATE);
}
