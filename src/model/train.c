/*
 * train.c
 *		personalize.train(): read the interactions visible under a purpose,
 *		weigh them (none, binary, log, BM25, log_idf), fit a model (ALS, item-kNN,
 *		RP3beta, EASE, popularity), optionally tuned (tune.c), score it on a seeded
 *		per-subject hold-out, refit on everything, store it as a new model
 *		version with its data snapshot and metrics, and activate it if it is
 *		not worse than the active one.
 *
 * Consent is applied explicitly (row_visible() under the model's purpose
 * in the query itself), so a superuser training a model gets exactly what
 * an application role under the purpose would see.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "distance.h"
#include "dp_fit.h"
#include "embedding.h"
#include "executor/spi.h"
#include "matrix.h"
#include "metrics.h"
#include "mia.h"
#include "miscadmin.h"
#include "personalize.h"
#include "train.h"
#include "train_progress.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* ---- parameters ---------------------------------------------------------- */

static Algorithm
parse_algorithm(const char *name)
{
	if (strcmp(name, "als") == 0)
		return ALG_ALS;
	if (strcmp(name, "itemknn") == 0)
		return ALG_ITEMKNN;
	if (strcmp(name, "popularity") == 0)
		return ALG_POPULARITY;
	if (strcmp(name, "rp3beta") == 0)
		return ALG_RP3BETA;
	if (strcmp(name, "ease") == 0)
		return ALG_EASE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown algorithm \"%s\"", name),
			 errhint("Use als, ease, itemknn, rp3beta or popularity.")));
	pg_unreachable();
}

const char *
pz_algorithm_name(Algorithm a)
{
	switch (a)
	{
		case ALG_ALS:
			return "als";
		case ALG_ITEMKNN:
			return "itemknn";
		case ALG_POPULARITY:
			return "popularity";
		case ALG_RP3BETA:
			return "rp3beta";
		case ALG_EASE:
			return "ease";
	}
	return "?";
}

/*
 * Compared in float, the type most parameters are kept in: a bound given as
 * a real (regularization => 1e-6) is then within the bound it matches.
 */
static void
check_range(const char *name, double value, double lo, double hi)
{
	float		v = (float) value;

	if (!(v >= (float) lo && v <= (float) hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g, not %g", name, lo, hi, value)));
}

/*
 * Every key train() understands.  A key not listed is an error, not
 * ignored: a misspelt "iteration" would otherwise train with the default
 * and say nothing.  Keys of another algorithm are ignored (the retrain job
 * may pass the active model's parameters to a new algorithm).
 */
#define TRAIN_PARAM_KEYS \
	"factors, iterations, regularization, alpha, cg_steps, neighbors, weighting, bm25_k1, " \
	"bm25_b, shrinkage, beta, half_life_days, holdout, k, seed, tune, activate, keep_models, " \
	"min_support, max_items, reg_exponent, dp_epsilon, dp_delta, dp_max_per_subject, dp_clip, dp_max_items, dp_seed"

static void
check_param_keys(Jsonb *params)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {JsonbPGetDatum(params)};
	char	   *type;
	char	   *unknown;

	if (SPI_execute_with_args(
			"SELECT jsonb_typeof($1), CASE WHEN jsonb_typeof($1) = 'object' THEN "
			"(SELECT min(key) FROM jsonb_object_keys($1) key "
			"WHERE key <> ALL (string_to_array('" TRAIN_PARAM_KEYS "', ', '))) END",
			1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "personalize: could not read training parameters");
	type = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	unknown = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (strcmp(type, "object") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training parameters must be a JSON object, not %s", type),
				 errhint("For example: params => '{\"cg_steps\": 3}'.")));
	if (unknown != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown training parameter \"%s\"", unknown),
				 errhint("The parameters are: " TRAIN_PARAM_KEYS ".")));
}

/*
 * What depends on the algorithm: the weighting of interaction values (see
 * PzWeighting) and RP3beta's parameters, with their per-algorithm defaults.
 * ALS and popularity weigh a subject's history again at serving time, value
 * by value, so BM25 (which needs the whole matrix) is not theirs.  "cosine"
 * is item-kNN's older name for "none".
 */
static void
algorithm_params(TrainParams *p, Jsonb *params, const char *weighting)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {JsonbPGetDatum(params)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	Datum		v;
	int			w;

	if (weighting == NULL)
		w = p->algorithm == ALG_ALS ? PZ_WEIGHT_LOG_IDF :
			p->algorithm == ALG_ITEMKNN ? PZ_WEIGHT_BM25 :
			p->algorithm == ALG_RP3BETA ? PZ_WEIGHT_BINARY :
			p->algorithm == ALG_EASE ? PZ_WEIGHT_LOG : PZ_WEIGHT_NONE;
	else if (strcmp(weighting, "cosine") == 0)
		w = PZ_WEIGHT_NONE;
	else
		w = pz_weighting_parse(weighting);
	if (w < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown weighting \"%s\"", weighting),
				 errhint("Use none, binary, log, log_idf or bm25.")));
	if ((w == PZ_WEIGHT_BM25 && (p->algorithm == ALG_ALS || p->algorithm == ALG_POPULARITY)) ||
		(w == PZ_WEIGHT_LOG_IDF && p->algorithm == ALG_POPULARITY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weighting %s is not available for %s", weighting, pz_algorithm_name(p->algorithm)),
				 errhint("Use none, binary%s or log; bm25 is for itemknn, rp3beta and ease.",
						 p->algorithm == ALG_ALS ? ", log_idf" : "")));
	p->weighting = (PzWeighting) w;

	if (SPI_execute_with_args("SELECT ($1->>'alpha')::real, coalesce(($1->>'beta')::real, 0.4),"
							  " coalesce(($1->>'neighbors')::int, 200),"
							  " coalesce(($1->>'regularization')::real, " CppAsString2(PZ_EASE_DEFAULT_REGULARIZATION) "),"
							  " coalesce(($1->>'max_items')::int, " CppAsString2(PZ_EASE_DEFAULT_MAX_ITEMS) ")",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "personalize: could not read training parameters");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	v = SPI_getbinval(t, d, 1, &isnull);
	p->rp3.alpha = isnull ? 1.0f : DatumGetFloat4(v);
	p->rp3.beta = DatumGetFloat4(SPI_getbinval(t, d, 2, &isnull));
	p->rp3.neighbors = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	if (p->algorithm == ALG_RP3BETA)
	{
		check_range("alpha", p->rp3.alpha, 0.01, 10);
		check_range("beta", p->rp3.beta, 0, 2);
	}
	/* "neighbors" is one key for every algorithm, checked once in parse_params() */
	p->ease.neighbors = p->rp3.neighbors;
	p->ease.regularization = DatumGetFloat4(SPI_getbinval(t, d, 4, &isnull));
	p->ease.max_items = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	if (p->algorithm == ALG_EASE)
	{
		/* relative to the mean diagonal: above 1e3 every weight is ~0 */
		check_range("regularization", p->ease.regularization, 1e-4, 1e3);
		check_range("max_items", p->ease.max_items, 1, PZ_EASE_MAX_ITEMS);
	}
}

/* Defaults live here, in one place; the jsonb holds what the caller set. */
static TrainParams
parse_params(const char *algorithm, Jsonb *params)
{
	TrainParams p;
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {JsonbPGetDatum(params)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	char	   *weighting;

	memset(&p, 0, sizeof(p));
	p.algorithm = parse_algorithm(algorithm);
	check_param_keys(params);
	if (SPI_execute_with_args(
			"SELECT coalesce(($1->>'factors')::int, 48), coalesce(($1->>'iterations')::int, 15),"
			" coalesce(($1->>'regularization')::real, 2), coalesce(($1->>'alpha')::real, 1),"
			" coalesce(($1->>'cg_steps')::int, 3), coalesce(($1->>'neighbors')::int, 200),"
			" $1->>'weighting', coalesce(($1->>'bm25_k1')::real, 1.2),"
			" coalesce(($1->>'bm25_b')::real, 0.75), coalesce(($1->>'shrinkage')::real, 0),"
			" coalesce(($1->>'half_life_days')::float8, 30), coalesce(($1->>'holdout')::float8, 0.2),"
			" coalesce(($1->>'k')::int, 10), coalesce(($1->>'seed')::bigint, 42),"
			" coalesce(($1->>'tune')::boolean, false), coalesce($1->>'activate', 'auto'),"
			" coalesce(($1->>'keep_models')::int, 5), coalesce(($1->>'min_support')::int, 2),"
			" coalesce(($1->>'reg_exponent')::real, 0.5)",
			1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "personalize: could not read training parameters");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	p.als.factors = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	p.als.iterations = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
	p.als.regularization = DatumGetFloat4(SPI_getbinval(t, d, 3, &isnull));
	p.als.alpha = DatumGetFloat4(SPI_getbinval(t, d, 4, &isnull));
	p.als.cg_steps = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	p.knn.neighbors = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
	weighting = SPI_getvalue(t, d, 7);
	p.knn.bm25_k1 = DatumGetFloat4(SPI_getbinval(t, d, 8, &isnull));
	p.knn.bm25_b = DatumGetFloat4(SPI_getbinval(t, d, 9, &isnull));
	p.knn.shrinkage = DatumGetFloat4(SPI_getbinval(t, d, 10, &isnull));
	p.half_life_days = DatumGetFloat8(SPI_getbinval(t, d, 11, &isnull));
	p.holdout = DatumGetFloat8(SPI_getbinval(t, d, 12, &isnull));
	p.k = DatumGetInt32(SPI_getbinval(t, d, 13, &isnull));
	p.seed = DatumGetInt64(SPI_getbinval(t, d, 14, &isnull));
	p.tune = DatumGetBool(SPI_getbinval(t, d, 15, &isnull));
	p.activate = SPI_getvalue(t, d, 16);
	p.keep_models = DatumGetInt32(SPI_getbinval(t, d, 17, &isnull));
	p.knn.min_support = DatumGetInt32(SPI_getbinval(t, d, 18, &isnull));
	p.als.reg_exponent = DatumGetFloat4(SPI_getbinval(t, d, 19, &isnull));
	p.rp3.min_support = p.knn.min_support;
	p.als.seed = (uint64) p.seed;

	check_range("factors", p.als.factors, 1, 256);
	check_range("iterations", p.als.iterations, 1, 200);
	/* without regularization, more factors than the data supports drift */
	if (p.algorithm != ALG_EASE)	/* EASE's is relative, checked with its own */
		check_range("regularization", p.als.regularization, 1e-6, 1e6);
	check_range("alpha", p.als.alpha, 0, 1e6);
	check_range("reg_exponent", p.als.reg_exponent, 0, 2);
	check_range("cg_steps", p.als.cg_steps, 1, 64);
	check_range("neighbors", p.knn.neighbors, 1, 1000);
	check_range("holdout", p.holdout, 0.01, 0.9);
	check_range("k", p.k, 1, 1000);
	check_range("keep_models", p.keep_models, 1, 1000);
	check_range("shrinkage", p.knn.shrinkage, 0, 1e9);
	check_range("min_support", p.knn.min_support, 1, 1000);
	/* a half-life of 0 or less is no half-life (it used to mean "no decay") */
	if (!(p.half_life_days > 0 && !isinf(p.half_life_days)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half_life_days must be a positive number of days, not %g", p.half_life_days),
				 errhint("Give the popularity half-life as an interval, e.g. half_life => '30 days'.")));
	algorithm_params(&p, params, weighting);
	pz_dp_params(&p, params);
	if (strcmp(p.activate, "auto") != 0 && strcmp(p.activate, "always") != 0 &&
		strcmp(p.activate, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activate must be auto, always or never, not \"%s\"", p.activate)));
	return p;
}

/* ---- reading consented data ---------------------------------------------- */

/*
 * The categories that may be used: justified ones.  Unjustified ones are
 * reported (data minimization: no justification, no training).
 */
static Datum
usable_categories(StringInfo skipped_json, List **warnings)
{
	Datum		used;

	if (SPI_execute("SELECT coalesce(jsonb_agg(jsonb_build_object('category', name, 'reason', "
					"'no justification recorded') ORDER BY name), '[]')::text "
					"FROM personalize.signal_categories WHERE justification IS NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: category lookup failed");
	appendStringInfoString(skipped_json, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	if (SPI_execute("SELECT name FROM personalize.signal_categories "
					"WHERE justification IS NULL ORDER BY name", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: category lookup failed");
	for (uint64 i = 0; i < SPI_processed; i++)
		*warnings = lappend(*warnings,
							psprintf("category \"%s\" has no justification and was not used for training",
									 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
	if (SPI_execute("SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM personalize.signal_categories "
					"WHERE justification IS NOT NULL", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: category lookup failed");
	{
		bool		isnull;

		used = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	}
	return datumCopy(used, false, -1);
}

static void
load_catalogue(TrainData *td)
{
	if (SPI_execute("SELECT item_id, category FROM personalize.items ORDER BY item_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: item lookup failed");
	td->nitems = (int32) SPI_processed;
	td->item_ids = pz_alloc_zeroed(td->nitems, sizeof(int64));
	td->item_category = pz_alloc_zeroed(td->nitems, sizeof(char *));
	for (int32 i = 0; i < td->nitems; i++)
	{
		bool		isnull;

		td->item_ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		td->item_category[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
}

/*
 * Ages count back from the newest row used, not from the newest row in the
 * table: that one may be hidden, and the popularity scores a model
 * publishes would give its time away.
 */
static void
ages_from_times(TrainData *td)
{
	td->first_at = td->last_at = 0;
	for (int64 i = 0; i < td->ntriples; i++)
	{
		if (i == 0 || td->age_days[i] < td->first_at)
			td->first_at = td->age_days[i];
		if (i == 0 || td->age_days[i] > td->last_at)
			td->last_at = td->age_days[i];
	}
	for (int64 i = 0; i < td->ntriples; i++)
		td->age_days[i] = (td->last_at - td->age_days[i]) / 86400.0;
}

/*
 * Stream the visible interactions through a cursor: 1M rows would be too
 * big to materialize as tuples.  The declared purpose is the model's for
 * the duration, so row_visible() applies that purpose's consents.
 */
static void
load_interactions(TrainData *td, const char *purpose, Datum categories)
{
	int			nest = NewGUCNestLevel();
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1] = {categories};
	Portal		portal;
	int64		cap = 1 << 16;
	SPIPlanPtr	plan;

	(void) set_config_option("personalize.purpose", purpose, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plan = SPI_prepare("SELECT i.subject_id, i.item_id, "
					   "(i.weight * coalesce(k.weight, 1))::real, "
					   "date_part('epoch', i.occurred_at), "
					   "k.kind IS NULL, i.category "
					   "FROM personalize.interactions i "
					   "LEFT JOIN personalize.interaction_kinds k ON k.kind = i.kind "
					   "JOIN personalize.items it ON it.item_id = i.item_id "
					   "WHERE i.category = ANY ($1) "
					   "AND personalize.row_visible(i.subject_id, i.category, i.occurred_at)",
					   1, argtypes);
	if (plan == NULL)
		elog(ERROR, "personalize: could not plan the training query");
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	td->triples = pz_alloc_zeroed(cap, sizeof(PzTriple));
	td->age_days = pz_alloc_zeroed(cap, sizeof(double));
	td->ntriples = 0;
	td->categories = pz_category_counts_create();
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (td->ntriples + (int64) SPI_processed > cap)
		{
			while (td->ntriples + (int64) SPI_processed > cap)
				cap *= 2;
			td->triples = repalloc_huge(td->triples, cap * sizeof(PzTriple));
			td->age_days = repalloc_huge(td->age_days, cap * sizeof(double));
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			PzTriple   *tr = &td->triples[td->ntriples];

			tr->subject_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			tr->item_id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
			tr->value = DatumGetFloat4(SPI_getbinval(t, d, 3, &isnull));
			/* the time for now; made an age once the newest row is known */
			td->age_days[td->ntriples] = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
			if (DatumGetBool(SPI_getbinval(t, d, 5, &isnull)))
				td->unknown_kinds++;
			{
				text	   *category = DatumGetTextPP(SPI_getbinval(t, d, 6, &isnull));

				pz_category_counts_add(td->categories, VARDATA_ANY(category),
									   VARSIZE_ANY_EXHDR(category), tr->subject_id);
			}
			td->ntriples++;
		}
		SPI_freetuptable(SPI_tuptable);
		pz_progress_rows(td->ntriples);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	AtEOXact_GUC(true, nest);
	ages_from_times(td);
}

/* ---- hold-out split -------------------------------------------------------- */

/*
 * Per subject with at least two items, hold out round(holdout * n) of them
 * (at least one, never all), chosen by a seeded hash of (subject, item):
 * the same seed and data give the same split.
 */
Split
pz_split_matrix(const PzMatrix *m, double holdout, int64 seed)
{
	Split		s;
	int64		t = 0,
				h = 0;
	uint64	   *hashes = pz_alloc_zeroed(m->nitems > 0 ? m->nitems : 1, sizeof(uint64));

	s.train = pz_alloc_zeroed(m->nnz, sizeof(PzTriple));
	s.test_ptr = pz_alloc_zeroed(m->nusers + 1, sizeof(int64));
	s.test_items = pz_alloc_zeroed(m->nnz, sizeof(int64));
	for (int32 u = 0; u < m->nusers; u++)
	{
		int64		lo = m->user_ptr[u],
					hi = m->user_ptr[u + 1];
		int64		n = hi - lo;
		int64		nheld = (n >= 2) ? Max(1, Min(n - 1, (int64) rint(holdout * n))) : 0;
		s.test_ptr[u] = h;
		if (nheld > 0)
		{
			/* the nheld smallest hashes are held out: find the cut */
			for (int64 j = lo; j < hi; j++)
				hashes[j - lo] = pz_pair_hash((uint64) seed, m->user_ids[u], m->item_ids[m->user_items[j]]);
			for (int64 a = 0; a < nheld; a++)
			{
				uint64		best = PG_UINT64_MAX;
				int64		bi = -1;

				for (int64 j = 0; j < n; j++)
					if (hashes[j] < best)
					{
						best = hashes[j];
						bi = j;
					}
				hashes[bi] = PG_UINT64_MAX;	/* marks it held out */
			}
		}
		for (int64 j = lo; j < hi; j++)
		{
			bool		held = nheld > 0 && hashes[j - lo] == PG_UINT64_MAX;

			if (held)
				s.test_items[h++] = m->user_items[j];
			else
			{
				s.train[t].subject_id = m->user_ids[u];
				s.train[t].item_id = m->item_ids[m->user_items[j]];
				s.train[t].value = m->user_vals[j];
				t++;
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	s.test_ptr[m->nusers] = h;
	s.ntrain = t;
	pfree(hashes);
	return s;
}

/* ---- fitting and scoring ------------------------------------------------- */

/* Popularity: summed (already time-decayed) weight per item. */
static double *
fit_popularity(const PzMatrix *m)
{
	double	   *pop = pz_alloc_zeroed(m->nitems, sizeof(double));

	for (int32 i = 0; i < m->nitems; i++)
		for (int64 j = m->item_ptr[i]; j < m->item_ptr[i + 1]; j++)
			pop[i] += m->item_vals[j];
	return pop;
}

/*
 * A copy of m sharing its structure, with its values weighted as p says
 * (m itself keeps the summed raw values, for other weightings).
 */
PzMatrix *
pz_weighted_copy(const PzMatrix *m, const TrainParams *p)
{
	PzMatrix   *c = palloc(sizeof(PzMatrix));

	*c = *m;
	if (p->weighting == PZ_WEIGHT_NONE && !p->dp.enabled)
		return c;
	c->user_vals = pz_alloc_zeroed(m->nnz, sizeof(float));
	c->item_vals = pz_alloc_zeroed(m->nnz, sizeof(float));
	memcpy(c->user_vals, m->user_vals, sizeof(float) * m->nnz);
	memcpy(c->item_vals, m->item_vals, sizeof(float) * m->nnz);
	pz_matrix_weigh(c, p->weighting, p->knn.bm25_k1, p->knn.bm25_b);
	if (p->dp.enabled)
		pz_dp_clip(c, p->dp.clip);
	return c;
}

Fitted
pz_fit(const PzMatrix *m, const TrainParams *p)
{
	Fitted		f;

	memset(&f, 0, sizeof(f));
	f.algorithm = p->algorithm;
	f.m = m;
	if (p->dp.enabled)
	{
		pz_dp_fit(m, p, &f);
		return f;
	}
	switch (p->algorithm)
	{
		case ALG_ALS:
			f.k = p->als.factors;
			f.X = pz_alloc_zeroed((Size) m->nusers * f.k, sizeof(float));
			f.Y = pz_alloc_zeroed((Size) m->nitems * f.k, sizeof(float));
			pz_als_fit(m, &p->als, f.X, f.Y);
			f.YtY = pz_alloc_zeroed((Size) f.k * f.k, sizeof(double));
			pz_als_gram(f.Y, m->nitems, f.k, f.YtY);
			f.als = p->als;
			if (p->weighting == PZ_WEIGHT_LOG_IDF)
			{
				/* the weighted copy has the raw matrix's structure, so the same idf */
				f.item_idf = pz_alloc_zeroed(m->nitems, sizeof(float));
				pz_item_idf(m, f.item_idf);
			}
			break;
		case ALG_ITEMKNN:
			f.nn = p->knn.neighbors;
			f.nbr = pz_alloc_zeroed((Size) m->nitems * f.nn, sizeof(int32));
			f.nbr_score = pz_alloc_zeroed((Size) m->nitems * f.nn, sizeof(float));
			pz_knn_fit(m, &p->knn, f.nbr, f.nbr_score);
			break;
		case ALG_RP3BETA:
			f.nn = p->rp3.neighbors;
			f.nbr = pz_alloc_zeroed((Size) m->nitems * f.nn, sizeof(int32));
			f.nbr_score = pz_alloc_zeroed((Size) m->nitems * f.nn, sizeof(float));
			pz_rp3beta_fit(m, &p->rp3, f.nbr, f.nbr_score);
			break;
		case ALG_EASE:
			f.nn = p->ease.neighbors;
			f.nbr = pz_alloc_zeroed((Size) m->nitems * f.nn, sizeof(int32));
			f.nbr_score = pz_alloc_zeroed((Size) m->nitems * f.nn, sizeof(float));
			f.ease_lambda = pz_ease_fit(m, &p->ease, f.nbr, f.nbr_score, &f.ease_items_modelled);
			break;
		case ALG_POPULARITY:
			break;
	}
	/* every model carries popularity: serving falls back on it */
	f.popularity = fit_popularity(m);
	return f;
}

void
pz_fitted_free(Fitted *f)
{
	if (f->X)
		pfree(f->X);
	if (f->Y)
		pfree(f->Y);
	if (f->YtY)
		pfree(f->YtY);
	if (f->item_idf)
		pfree(f->item_idf);
	if (f->nbr)
		pfree(f->nbr);
	if (f->nbr_score)
		pfree(f->nbr_score);
	if (f->popularity)
		pfree(f->popularity);
	memset(f, 0, sizeof(*f));
}

/* Scores of every item for dense user u (higher is better). */
static void
score_user(const Fitted *f, int32 u, float *scores)
{
	const PzMatrix *m = f->m;

	switch (f->algorithm)
	{
		case ALG_ALS:
			{
				/*
				 * Folded in from the subject's (weighted) training row, exactly
				 * as recommend() folds in a history against the stored item
				 * factors; the fit's own subject factors are one
				 * half-iteration stale and only approximately solved, which
				 * favoured fewer factors than serving does.
				 */
				float	   *x = f->X + (Size) u * f->k;
				int64		lo = m->user_ptr[u];

				pz_als_fold_in(f->Y, f->k, f->YtY, m->user_items + lo, m->user_vals + lo,
							   (int) (m->user_ptr[u + 1] - lo), &f->als, x);
				for (int32 i = 0; i < m->nitems; i++)
					scores[i] = pz_kernels->dot(x, f->Y + (Size) i * f->k, f->k);
			}
			break;
		case ALG_ITEMKNN:
		case ALG_RP3BETA:
		case ALG_EASE:
			memset(scores, 0, sizeof(float) * m->nitems);
			for (int64 j = m->user_ptr[u]; j < m->user_ptr[u + 1]; j++)
			{
				int32		i = m->user_items[j];

				for (int n = 0; n < f->nn; n++)
				{
					int32		nb = f->nbr[(Size) i * f->nn + n];

					if (nb < 0)
						break;
					scores[nb] += f->nbr_score[(Size) i * f->nn + n];
				}
			}
			break;
		case ALG_POPULARITY:
			for (int32 i = 0; i < m->nitems; i++)
				scores[i] = (float) f->popularity[i];
			break;
	}
}

/*
 * Top-k item indices by score, excluding the user's training items, best
 * first; ties go to the smaller index so results are reproducible.
 */
static int
top_k(const Fitted *f, int32 u, float *scores, int k, int64 *out)
{
	const PzMatrix *m = f->m;
	int			n = 0;

	for (int64 j = m->user_ptr[u]; j < m->user_ptr[u + 1]; j++)
		scores[m->user_items[j]] = -INFINITY;
	/* insertion into a small sorted array: k is small */
	for (int32 i = 0; i < m->nitems; i++)
	{
		float		s = scores[i];
		int			pos;

		if (s == -INFINITY || (n == k && s <= scores[out[n - 1]]))
			continue;
		pos = (n < k) ? n++ : k - 1;
		while (pos > 0 && scores[out[pos - 1]] < s)
		{
			out[pos] = out[pos - 1];
			pos--;
		}
		out[pos] = i;
	}
	return n;
}

/*
 * Mean ranking metrics over subjects with held-out items, each subject's
 * training items excluded from its ranking as recommend() excludes what
 * was seen, every catalogue item ranked.
 */
Metrics
pz_evaluate(const Fitted *f, const Split *s, int k, float *per_subject)
{
	const PzMatrix *m = f->m;
	Metrics		r = {0};
	float	   *scores = pz_alloc_zeroed(m->nitems, sizeof(float));
	int64	   *top = pz_alloc_zeroed(k, sizeof(int64));
	double	   *exposure = pz_alloc_zeroed(m->nitems, sizeof(double));
	int32		covered = 0;
	double		ndcg_sq = 0;
	PzRankMetrics rm;

	for (int32 u = 0; u < m->nusers; u++)
	{
		int64		lo = s->test_ptr[u],
					hi = s->test_ptr[u + 1];
		int			n;

		if (per_subject)
			per_subject[u] = NAN;
		if (hi == lo)
			continue;
		score_user(f, u, scores);
		n = top_k(f, u, scores, k, top);
		for (int j = 0; j < n; j++)
			exposure[top[j]] += 1;
		if (pz_ranking_metrics_at_k(top, n, s->test_items + lo, (int) (hi - lo), k, &rm))
		{
			r.precision += rm.precision;
			r.recall += rm.recall;
			r.ndcg += rm.ndcg;
			ndcg_sq += rm.ndcg * rm.ndcg;
			r.map += rm.average_precision;
			r.subjects++;
			if (per_subject)
				per_subject[u] = (float) rm.ndcg;
		}
		CHECK_FOR_INTERRUPTS();
	}
	for (int32 i = 0; i < m->nitems; i++)
		covered += exposure[i] > 0;
	if (r.subjects > 0)
	{
		r.precision /= r.subjects;
		r.recall /= r.subjects;
		r.ndcg /= r.subjects;
		r.map /= r.subjects;
		if (r.subjects > 1)
			r.ndcg_stderr = sqrt(Max(ndcg_sq / r.subjects - r.ndcg * r.ndcg, 0) /
								 (r.subjects - 1));
	}
	r.coverage = m->nitems > 0 ? (double) covered / m->nitems : 0;
	/* pz_gini() sorts in place: before the array is freed */
	r.gini = pz_gini(exposure, m->nitems);
	pfree(scores);
	pfree(top);
	pfree(exposure);
	return r;
}

/* ---- the command ---------------------------------------------------------- */


/* Time decay for popularity: an interaction half_life days old counts half. */
static void
apply_decay(TrainData *td, double half_life_days)
{
	Assert(half_life_days > 0);
	for (int64 i = 0; i < td->ntriples; i++)
		td->triples[i].value *= (float) pow(0.5, Max(td->age_days[i], 0) / half_life_days);
}

PZ_FUNCTION(pz_train_model)
{
	char	   *algorithm = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *params = PG_GETARG_JSONB_P(2);
	char	   *trained_by = NameStr(*PG_GETARG_NAME(3));
	TrainParams p;
	TrainData	td = {0};
	StringInfoData skipped;
	List	   *warnings = NIL;
	Datum		categories;
	PzMatrix   *full;
	PzMatrix   *train;
	PzMatrix   *weighted;
	Split		split;
	Fitted		f;
	Metrics		metrics;
	PzMiaResult mia;
	int64		model_id;
	instr_time	start,
				elapsed;

	INSTR_TIME_SET_CURRENT(start);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "personalize: SPI_connect failed");
	p = parse_params(algorithm, params);
	model_id = pz_store_begin(algorithm, purpose, params, trained_by);
	pz_store_spend_privacy(model_id, purpose, &p);
	pz_progress_begin(model_id, purpose, algorithm);

	initStringInfo(&skipped);
	categories = usable_categories(&skipped, &warnings);
	load_catalogue(&td);
	load_interactions(&td, purpose, categories);
	if (td.unknown_kinds > 0)
		warnings = lappend(warnings,
						   psprintf("%lld interactions have a kind not listed in interaction_kinds (weight 1 used)",
									(long long) td.unknown_kinds));
	if (p.algorithm == ALG_POPULARITY)
		apply_decay(&td, p.half_life_days);

	pz_progress_phase(PZ_PHASE_SPLITTING);
	full = pz_matrix_build(td.triples, td.ntriples, td.item_ids, td.nitems);
	if (full->nusers == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no interactions are visible under purpose \"%s\"", purpose),
				 errhint("Training uses only interactions whose subjects consented to the purpose for the category.")));
	if (p.dp.enabled)
		full = pz_dp_cap(full, p.dp.max_per_subject, (uint64) p.seed, td.item_ids, td.nitems);

	/*
	 * Score on a hold-out, then refit on everything for serving.  Every
	 * subject keeps at least one training item, so the training matrix has
	 * the same subjects in the same order and the split's indices apply.
	 */
	split = pz_split_matrix(full, p.holdout, p.seed);
	train = pz_matrix_build(split.train, split.ntrain, td.item_ids, td.nitems);
	Assert(train->nusers == full->nusers);
	if (p.tune)
	{
		pz_progress_phase(PZ_PHASE_TUNING);
		p = pz_tune(train, &td, p, &warnings);
	}
	pz_progress_phase(PZ_PHASE_FITTING_HELDOUT);
	weighted = pz_weighted_copy(train, &p);
	f = pz_fit(weighted, &p);
	pz_progress_phase(PZ_PHASE_EVALUATING);
	metrics = pz_evaluate(&f, &split, p.k, NULL);
	pz_fitted_free(&f);
	pz_progress_phase(PZ_PHASE_FITTING_FINAL);
	weighted = pz_weighted_copy(full, &p);
	f = pz_fit(weighted, &p);
	if (p.algorithm == ALG_EASE && !p.dp.enabled)
		warnings = lappend(warnings,
						   psprintf("EASE modelled %d of %d items (max_items %d), regularization %g x the mean diagonal = %g",
									f.ease_items_modelled, weighted->nitems, p.ease.max_items,
									p.ease.regularization, f.ease_lambda));
	pz_progress_phase(PZ_PHASE_CHECKING_PRIVACY);
	/* before storing: activation reads the result from the model's row */
	mia = pz_membership_check(full, &p);
	pz_membership_store(model_id, &mia);
	pz_progress_phase(PZ_PHASE_STORING);
	pz_store_parameters(model_id, &f, &td);
	if (p.dp.enabled)
		pz_store_privacy(model_id, "differential_privacy", pz_dp_card(&p, &f));

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	pz_store_finish(model_id, purpose, &p, weighted, &td, categories, skipped.data, warnings,
					&metrics, INSTR_TIME_GET_MILLISEC(elapsed));
	SPI_finish();
	pz_progress_end();
	PG_RETURN_INT64(model_id);
}
