/*
 * dp_fit.c
 *		Private fits: item popularity, ALS item factors and item-kNN
 *		neighbours from noisy statistics, after each subject's contribution
 *		is bounded.
 *
 * What a model releases is its item side (factors, neighbours, popularity):
 * subject factors are never stored, serving folds a subject's own history
 * in (see foldin.c), so each subject's own output depends on their own data
 * and on the private item side only (the "billboard" setting of Chien et
 * al., "Private Alternating Least Squares", ICML 2021, which this follows).
 *
 *	popularity	every model carries it (serving falls back on it): the
 *				per-item sum of clipped values plus N(0, sigma_pop^2); a
 *				subject moves it by at most sqrt(max_per_subject) * clip
 *	ALS			each iteration solves the subjects exactly and projects
 *				their factors into the unit ball, then releases the item-side
 *				sufficient statistics with Gaussian noise: sum x x^T over all
 *				subjects, and per item sum (c - 1) x x^T and sum c x.  Items
 *				whose noisy popularity is below three noise deviations get no
 *				factors (their statistics would be mostly noise)
 *	item-kNN	co-occurrence among the max_items items of highest noisy
 *				popularity, with noise on every pair (a subject moves at most
 *				m (m - 1) / 2 pairs by clip^2 each), normalised by the noisy
 *				popularity (cosine for binary values)
 *	RP3beta		refused: its transition probabilities divide by each
 *				subject's own degree, which has no useful bound yet
 *
 * This file plans the budget, bounds the subjects' rows, releases
 * popularity, writes the card and reads the dp_* parameters; the ALS and
 * item-kNN fits are in dp_models.c.
 */
#include "postgres.h"

#include <math.h>

#include "dp_fit.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* Share of the budget item popularity gets when it is not the model itself. */
#define DP_POPULARITY_SHARE 0.1
/* Items below this many noise deviations of popularity are not modelled. */
#define DP_DETECTION_SIGMAS 3.0
/* private ALS's base ridge (the flat non-private default until 0.4.0) */
#define DP_ALS_REGULARIZATION 0.05f

void *
pz_dp_alloc0(Size count, Size size)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, count * size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* ---- the plan ------------------------------------------------------------ */

/*
 * L2 sensitivity of one ALS iteration's release.  A subject's factor x has
 * |x| <= 1, so |x x^T|_F <= 1 in the global Gram; for each of at most m
 * items, |(c - 1) x x^T|_F <= alpha * clip and |c x| <= 1 + alpha * clip.
 */
static double
als_sensitivity(const PzDpParams *dp, double alpha)
{
	double		a = alpha * dp->clip;

	return sqrt(1.0 + dp->max_per_subject * (a * a + (1.0 + a) * (1.0 + a)));
}

void
pz_dp_plan(TrainParams *p)
{
	PzDpParams *dp = &p->dp;

	Assert(dp->enabled);
	if (p->algorithm == ALG_RP3BETA || p->algorithm == ALG_EASE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot be trained with differential privacy", pz_algorithm_name(p->algorithm)),
				 errhint("Train als, itemknn or popularity with dp_epsilon, or %s without it.",
						 pz_algorithm_name(p->algorithm))));
	if (p->weighting == PZ_WEIGHT_BM25 || p->weighting == PZ_WEIGHT_LOG_IDF)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weighting %s cannot be used with differential privacy", pz_weighting_name(p->weighting)),
				 errhint("It weighs each value by every subject's rows; use binary (the default with dp_epsilon), log or none.")));
	dp->rho = pz_dp_rho(dp->epsilon, dp->delta);
	dp->sensitivity_popularity = sqrt((double) dp->max_per_subject) * dp->clip;
	switch (p->algorithm)
	{
		case ALG_POPULARITY:
			dp->rho_popularity = dp->rho;
			dp->releases = 0;
			break;
		case ALG_ALS:
			dp->rho_popularity = dp->rho * DP_POPULARITY_SHARE;
			dp->releases = p->als.iterations;
			dp->sensitivity = als_sensitivity(dp, p->als.alpha);
			break;
		default:
			dp->rho_popularity = dp->rho * DP_POPULARITY_SHARE;
			dp->releases = 1;
			/* the pairs of at most m items, each product at most clip^2 */
			dp->sensitivity = sqrt((double) dp->max_per_subject * (dp->max_per_subject - 1) / 2.0)
				* dp->clip * dp->clip;
			if (dp->max_per_subject < 2)
				dp->sensitivity = dp->clip * dp->clip;
			break;
	}
	dp->sigma_popularity = pz_dp_sigma(dp->sensitivity_popularity, dp->rho_popularity, 1);
	if (dp->releases > 0)
		dp->sigma = pz_dp_sigma(dp->sensitivity, dp->rho - dp->rho_popularity, dp->releases);
}

/* ---- bounding a subject's contribution ------------------------------------ */

typedef struct RankedItem
{
	uint64		rank;
	int32		item;
	float		value;
} RankedItem;

static int
ranked_cmp(const void *a, const void *b)
{
	uint64		x = ((const RankedItem *) a)->rank;
	uint64		y = ((const RankedItem *) b)->rank;

	return x < y ? -1 : x > y ? 1 : 0;
}

PzMatrix *
pz_dp_cap(const PzMatrix *m, int cap, uint64 seed, const int64 *item_ids, int32 nitems)
{
	PzTriple   *t = pz_dp_alloc0(Max(m->nnz, 1), sizeof(PzTriple));
	RankedItem *row = palloc(sizeof(RankedItem) * Max(cap, 1));
	RankedItem *all = NULL;
	int64		n = 0;

	for (int32 u = 0; u < m->nusers; u++)
	{
		int64		lo = m->user_ptr[u];
		int64		len = m->user_ptr[u + 1] - lo;
		RankedItem *r = row;

		if (len > cap)
		{
			/* a shuffle seeded per subject and item: independent of the others' rows */
			all = all ? repalloc(all, sizeof(RankedItem) * len) : palloc(sizeof(RankedItem) * len);
			for (int64 e = 0; e < len; e++)
			{
				all[e].item = m->user_items[lo + e];
				all[e].value = m->user_vals[lo + e];
				all[e].rank = pz_pair_hash(seed, m->user_ids[u], m->item_ids[all[e].item]);
			}
			qsort(all, len, sizeof(RankedItem), ranked_cmp);
			r = all;
			len = cap;
		}
		else
			for (int64 e = 0; e < len; e++)
			{
				row[e].item = m->user_items[lo + e];
				row[e].value = m->user_vals[lo + e];
			}
		for (int64 e = 0; e < len; e++)
		{
			t[n].subject_id = m->user_ids[u];
			t[n].item_id = m->item_ids[r[e].item];
			t[n].value = r[e].value;
			n++;
		}
	}
	return pz_matrix_build(t, n, item_ids, nitems);
}

void
pz_dp_clip(PzMatrix *m, float clip)
{
	for (int64 e = 0; e < m->nnz; e++)
	{
		m->user_vals[e] = Min(m->user_vals[e], clip);
		m->item_vals[e] = Min(m->item_vals[e], clip);
	}
}

/* ---- popularity ------------------------------------------------------------ */

static double *
dp_popularity(const PzMatrix *m, const PzDpParams *dp, PzNoise *noise)
{
	double	   *pop = pz_dp_alloc0(Max(m->nitems, 1), sizeof(double));

	for (int32 i = 0; i < m->nitems; i++)
	{
		double		s = 0;

		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
			s += m->item_vals[e];
		pop[i] = Max(s + pz_noise_gaussian(noise, dp->sigma_popularity), 0.0);
	}
	return pop;
}

bool
pz_dp_detected(const double *pop, int32 i, const PzDpParams *dp)
{
	return pop[i] >= DP_DETECTION_SIGMAS * dp->sigma_popularity;
}

/* ---- the fit --------------------------------------------------------------- */

void
pz_dp_fit(const PzMatrix *m, const TrainParams *p, Fitted *f)
{
	PzNoise		noise;

	pz_noise_init(&noise, &p->dp);
	f->popularity = dp_popularity(m, &p->dp, &noise);
	f->dp_items_modelled = m->nitems;
	switch (p->algorithm)
	{
		case ALG_ALS:
			f->k = p->als.factors;
			f->X = pz_dp_alloc0((Size) m->nusers * f->k, sizeof(float));
			f->Y = pz_dp_alloc0((Size) m->nitems * f->k, sizeof(float));
			pz_dp_als_fit(m, p, f->popularity, &noise, f->X, f->Y);
			f->YtY = pz_dp_alloc0((Size) f->k * f->k, sizeof(double));
			pz_als_gram(f->Y, m->nitems, f->k, f->YtY);
			f->als = p->als;
			break;
		case ALG_ITEMKNN:
			f->nn = p->knn.neighbors;
			f->nbr = pz_dp_alloc0((Size) m->nitems * f->nn, sizeof(int32));
			f->nbr_score = pz_dp_alloc0((Size) m->nitems * f->nn, sizeof(float));
			pz_dp_knn_fit(m, p, f->popularity, &noise, f->nbr, f->nbr_score);
			break;
		default:
			break;
	}
	if (p->algorithm != ALG_POPULARITY)
	{
		f->dp_items_modelled = 0;
		for (int32 i = 0; i < m->nitems; i++)
			if (pz_dp_detected(f->popularity, i, &p->dp))
				f->dp_items_modelled++;
		if (p->algorithm == ALG_ITEMKNN)
			f->dp_items_modelled = Min(f->dp_items_modelled, p->dp.max_items);
	}
}

/* ---- the card ---------------------------------------------------------------- */

Datum
pz_dp_card(const TrainParams *p, const Fitted *f)
{
	const PzDpParams *dp = &p->dp;
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "{\"epsilon\": %.15g, \"delta\": %.15g,"
					 " \"epsilon_spent\": %.17g, \"rho\": %.17g,"
					 " \"accountant\": \"zero-concentrated DP (Bun and Steinke 2016), Gaussian mechanism, releases composed\","
					 " \"unit\": \"subject\", \"max_per_subject\": %d, \"clip\": %.9g,"
					 " \"popularity\": {\"rho\": %.17g, \"sensitivity\": %.17g, \"sigma\": %.17g}",
					 dp->epsilon, dp->delta, pz_dp_epsilon(dp->rho, dp->delta), dp->rho,
					 dp->max_per_subject, dp->clip,
					 dp->rho_popularity, dp->sensitivity_popularity, dp->sigma_popularity);
	if (dp->releases > 0)
		appendStringInfo(&s,
						 ", \"model\": {\"rho\": %.17g, \"releases\": %d, \"sensitivity\": %.17g, \"sigma\": %.17g}",
						 dp->rho - dp->rho_popularity, dp->releases, dp->sensitivity, dp->sigma);
	if (p->algorithm != ALG_POPULARITY)
		appendStringInfo(&s, ", \"items_modelled\": %d, \"items_not_modelled\": %d",
						 f->dp_items_modelled, f->m->nitems - f->dp_items_modelled);
	appendStringInfo(&s,
					 ", \"noise\": \"%s\", \"covers\": \"what is served: item factors, neighbours and popularity;"
					 " a subject's own factors come from their own history at request time; the card's"
					 " metrics and membership-inference figures are computed from the raw data and are not covered\"}",
					 dp->seeded ? "seeded by dp_seed: reproducible, for tests only" : "strong random source");
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/* ---- parameters ------------------------------------------------------------- */

static void
dp_check(const char *name, double v, double lo, double hi, const char *hint)
{
	if (!(v >= lo && v <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g, not %g", name, lo, hi, v),
				 errhint("%s", hint)));
}

void
pz_dp_params(TrainParams *p, Jsonb *params)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {JsonbPGetDatum(params)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	bool		seed_null;
	double		clip;
	PzDpParams *dp = &p->dp;

	memset(dp, 0, sizeof(*dp));
	if (SPI_execute_with_args(
			"SELECT ($1->>'dp_epsilon')::float8, coalesce(($1->>'dp_delta')::float8, 1e-6),"
			" coalesce(($1->>'dp_max_per_subject')::int, 50), coalesce(($1->>'dp_clip')::float8, 1),"
			" coalesce(($1->>'dp_max_items')::int, 5000), ($1->>'dp_seed')::bigint,"
			" $1 ? 'weighting', $1 ? 'iterations', $1 ?| array['dp_delta', 'dp_max_per_subject',"
			" 'dp_clip', 'dp_max_items', 'dp_seed'], $1 ? 'factors', $1 ? 'regularization',"
			" $1 ? 'reg_exponent'",
			1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "personalize: could not read training parameters");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	dp->epsilon = DatumGetFloat8(SPI_getbinval(t, d, 1, &isnull));
	if (isnull)
	{
		if (DatumGetBool(SPI_getbinval(t, d, 9, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dp_* parameters need dp_epsilon"),
					 errhint("Give the privacy budget of the model, e.g. dp_epsilon => 4.")));
		return;
	}
	dp->enabled = true;
	dp->delta = DatumGetFloat8(SPI_getbinval(t, d, 2, &isnull));
	dp->max_per_subject = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	clip = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
	dp->max_items = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	dp->seed = (uint64) DatumGetInt64(SPI_getbinval(t, d, 6, &seed_null));
	dp->seeded = !seed_null;
	dp_check("dp_epsilon", dp->epsilon, 1e-3, 1000,
			 "Smaller is more private: 1 is strong, 8 moderate, above 16 weak.");
	dp_check("dp_delta", dp->delta, 1e-15, 1e-2,
			 "delta should be far below one over the number of subjects, e.g. 1e-6.");
	dp_check("dp_max_per_subject", dp->max_per_subject, 1, 10000,
			 "Items a subject contributes at most, e.g. 50.");
	dp_check("dp_clip", clip, 1e-6, 1e6, "The largest weighted value a row contributes, e.g. 1.");
	dp->clip = (float) clip;
	dp_check("dp_max_items", dp->max_items, 2, 10000,
			 "Items item-kNN gives neighbours to at most (it keeps a dense pair table), e.g. 5000.");
	if (p->tune)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tune cannot be combined with dp_epsilon"),
				 errhint("Each tried configuration would spend the budget again; pick parameters on non-private or public data, then train privately with them.")));
	/* one value per pair bounds a subject best; popularity keeps its decay */
	if (!DatumGetBool(SPI_getbinval(t, d, 7, &isnull)) && p->algorithm != ALG_POPULARITY)
		p->weighting = PZ_WEIGHT_BINARY;
	/* every iteration is a release: fewer, each less noisy */
	if (!DatumGetBool(SPI_getbinval(t, d, 8, &isnull)))
		p->als.iterations = 5;
	/* the ridge that keeps noisy systems solvable grows with sqrt(factors) */
	if (!DatumGetBool(SPI_getbinval(t, d, 10, &isnull)))
		p->als.factors = 16;
	/*
	 * Private ALS adds its own ridge for the noise (dp_models.c) and gives
	 * every row the same one: the row-scaled ridge of the non-private
	 * default is not its.
	 */
	if (p->algorithm == ALG_ALS && p->als.reg_exponent > 0.0f)
	{
		if (DatumGetBool(SPI_getbinval(t, d, 12, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reg_exponent cannot be used with differential privacy"),
					 errhint("Private ALS gives every row the same ridge; leave reg_exponent out.")));
		p->als.reg_exponent = 0.0f;
		if (!DatumGetBool(SPI_getbinval(t, d, 11, &isnull)))
			p->als.regularization = DP_ALS_REGULARIZATION;
	}
	pz_dp_plan(p);
}
