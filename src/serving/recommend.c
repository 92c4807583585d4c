/*
 * recommend.c
 *		personalize.recommend(): the call an application makes on every page
 *		view.
 *
 * One call: check the purpose, attach the shared snapshot of the active
 * model, learn the subject's consent and visible history, score every
 * eligible item into a bounded pool, re-rank the pool for diversity under
 * the sponsored cap, spend the exploration budget, and explain each row.
 * Nothing is read per item from tables: the catalogue and the model are in
 * the snapshot, so the cost is a few small queries plus one pass over the
 * factors.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "distance.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "rank.h"
#include "recommend.h"
#include "request.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#define MAX_K			1000
#define POOL_MIN		50
#define POOL_PER_SLOT	5
#define POOL_MAX		2000
#define DIVERSE_POOL_MIN		500
#define DIVERSE_POOL_PER_SLOT	50

typedef enum ServingFactors
{
	FACTORS_FLOAT,
	FACTORS_INT8
} ServingFactors;

static const struct config_enum_entry serving_factors_options[] = {
	{"embedding", FACTORS_FLOAT, false},
	{"embedding8", FACTORS_INT8, false},
	{NULL, 0, false}
};

static const struct config_enum_entry diversity_by_options[] = {
	{"model", false, false},
	{"category", true, false},
	{NULL, 0, false}
};

bool		pz_log_impressions = true;
static int	serving_factors = FACTORS_FLOAT;
static double exploration_established = 0.05;
static double exploration_new = 0.2;
static int	new_subject_interactions = 5;
static double sponsored_share = 0.2;
static int	diversity_by_category = false;

void
pz_recommend_define_gucs(void)
{
	DefineCustomBoolVariable("personalize.log_impressions",
							 "Whether recommend() records what it showed in personalize.impressions.",
							 "Skipped in read-only transactions and on standbys.",
							 &pz_log_impressions, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("personalize.serving_factors",
							 "Precision of the item factors recommend() scores with.",
							 "embedding (float4) or embedding8 (int8, about 4x less memory traffic).",
							 &serving_factors, FACTORS_FLOAT, serving_factors_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("personalize.exploration",
							 "Share of slots explored for established subjects (epsilon-greedy).",
							 NULL, &exploration_established, 0.05, 0.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("personalize.exploration_new",
							 "Share of slots explored for new subjects (Thompson sampling).",
							 NULL, &exploration_new, 0.2, 0.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.new_subject_interactions",
							"Subjects with fewer distinct items in their visible history are new.",
							NULL, &new_subject_interactions, 5, 0, 1000000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("personalize.sponsored_share",
							 "Largest share of a recommendation list that may be sponsored.",
							 NULL, &sponsored_share, 0.2, 0.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("personalize.diversity_by",
							 "What diversity re-ranking compares items by.",
							 "model: the model's item factors or neighbours (category for popularity); category: the item category.",
							 &diversity_by_category, false, diversity_by_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.history_limit",
							"Most recent distinct items of a subject's history that scoring and fold-in use.",
							"Ties in time go to the larger summed weight, then the smaller item id. Excluding seen items always uses the whole history.", &pz_history_limit, 500, 1, 100000,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/* ---- arguments ----------------------------------------------------------- */

typedef struct RecommendArgs
{
	int64		subject;
	int			k;
	char	   *purpose;
	char	   *category;		/* NULL: any */
	ArrayType  *exclude;		/* NULL: none */
	double		diversity;
	double		exploration;	/* < 0: the lifecycle default */
	bool		exclude_seen;
	double		sponsored_share;
	bool		seeded;
	int64		seed;
} RecommendArgs;

static double
real_arg(FunctionCallInfo fcinfo, int n, const char *name, double dflt)
{
	double		v;

	if (PG_ARGISNULL(n))
		return dflt;
	v = DatumGetFloat4(PG_GETARG_DATUM(n));
	if (!(v >= 0.0 && v <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1, not %g", name, v)));
	return v;
}

static void
read_args(FunctionCallInfo fcinfo, RecommendArgs *a)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject and purpose must not be null")));
	/* no "unlimited": a NULL k would be a mistake served as 10 rows */
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null"),
				 errhint("Ask for between 1 and %d items; leave k out for 10.", MAX_K)));
	a->subject = PG_GETARG_INT64(0);
	a->k = PG_GETARG_INT32(1);
	if (a->k < 1 || a->k > MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d, not %d", MAX_K, a->k)));
	a->purpose = text_to_cstring(PG_GETARG_TEXT_PP(2));
	a->category = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	a->exclude = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	a->diversity = real_arg(fcinfo, 5, "diversity", 0.0);
	a->exploration = real_arg(fcinfo, 6, "exploration", -1.0);
	a->exclude_seen = PG_ARGISNULL(7) ? true : PG_GETARG_BOOL(7);
	a->sponsored_share = real_arg(fcinfo, 8, "sponsored_share", sponsored_share);
	a->seeded = !PG_ARGISNULL(9);
	a->seed = a->seeded ? PG_GETARG_INT64(9) : 0;
}

/* ---- eligibility --------------------------------------------------------- */

/*
 * The snapshot's index of an item category, compared as the snapshot stores
 * names (truncated to PZ_CATEGORY_MAX - 1 bytes).  A category no item of
 * the catalogue has is an error, not an empty list: it is most likely a
 * misspelling.
 */
static int32
category_index(const PzServing *s, const char *name)
{
	char		key[PZ_CATEGORY_MAX];

	strlcpy(key, name, sizeof(key));
	for (int32 c = 0; c < s->ncategories; c++)
		if (strcmp(PZ_AT(s, off_categories, const char *) + (Size) c * PZ_CATEGORY_MAX, key) == 0)
			return c;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("item category \"%s\" does not exist", name),
			 errhint("Item categories are the values of personalize.items.category.")));
	pg_unreachable();
}

/*
 * Items the subject already interacted with (unless asked not to), items
 * passed in exclude, items of categories the subject denied, and, with a
 * category filter, items outside it.
 */
static void
build_eligibility(const PzRequest *r, const RecommendArgs *a, PzEligibility *e)
{
	const PzServing *s = r->s;
	int32		only = a->category ? category_index(s, a->category) : -1;

	e->s = s;
	e->blocked = palloc0(Max(s->nitems, 1));
	e->listed = palloc0(Max(s->nitems, 1));
	e->category_ok = palloc(sizeof(bool) * (s->ncategories + 1));
	e->category_ok[0] = a->category == NULL;
	for (int32 c = 0; c < s->ncategories; c++)
	{
		const char *name = PZ_AT(s, off_categories, const char *) + (Size) c * PZ_CATEGORY_MAX;

		e->category_ok[c + 1] = (a->category == NULL || c == only) &&
			!(r->consent && consent_denies(r->consent, name, strlen(name)));
	}
	if (a->exclude_seen)
	{
		for (int h = 0; h < r->nhistory; h++)
			if (r->history_item[h] >= 0)
				e->blocked[r->history_item[h]] = 1;
		for (int j = 0; j < r->nseen; j++)
			e->blocked[r->seen_item[j]] = 1;
	}
	if (a->exclude)
	{
		Datum	   *ids;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(a->exclude) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("exclude must be a one-dimensional array of item ids")));
		deconstruct_array(a->exclude, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, &nulls, &n);
		for (int j = 0; j < n; j++)
		{
			int32		i = nulls[j] ? -1 : pz_serving_item_index(s, DatumGetInt64(ids[j]));

			if (i >= 0)
				e->blocked[i] = 1;
		}
	}
}

/* ---- scoring ------------------------------------------------------------- */

static void
score_als(const PzRequest *r, const PzEligibility *e, PzTopK *pool)
{
	const PzServing *s = r->s;
	const uint8 *flags = pz_item_flags(s);
	int			k = s->k;

	if (serving_factors == FACTORS_INT8)
	{
		const int8 *Y8 = pz_Y8(s);
		const float *scale = pz_Y8_scale(s);

		for (int32 i = 0; i < s->nitems; i++)
			if ((flags[i] & PZ_ITEM_FACTORS) && pz_eligible(e, i))
				pz_topk_push(pool, i, pz_kernels->dot_i8_f32(Y8 + (Size) i * k, r->u, k) * scale[i],
							 PZ_SOURCE_MODEL);
		return;
	}
	for (int32 i = 0; i < s->nitems; i++)
		if ((flags[i] & PZ_ITEM_FACTORS) && pz_eligible(e, i))
			pz_topk_push(pool, i, pz_kernels->dot(pz_Y(s) + (Size) i * k, r->u, k), PZ_SOURCE_MODEL);
}

/*
 * Summed similarity to the history, over the history's neighbours only.
 * EASE's weights may be negative, so a sum may pass through zero: an item
 * is listed as touched by its mark, not by its score.
 */
static void
score_knn(const PzRequest *r, const PzEligibility *e, PzTopK *pool)
{
	const PzServing *s = r->s;
	float	   *score = palloc0(sizeof(float) * Max(s->nitems, 1));
	bool	   *mark = palloc0(sizeof(bool) * Max(s->nitems, 1));
	int32	   *touched = palloc(sizeof(int32) * Max((Size) r->nhistory * s->nn, 1));
	int			ntouched = 0;

	for (int h = 0; h < r->nhistory; h++)
	{
		int32		j = r->history_item[h];
		const int32 *nbr;
		const float *sim;

		if (j < 0 || !(r->history[h].value > 0))
			continue;
		nbr = pz_nbr(s) + (Size) j * s->nn;
		sim = pz_nbr_score(s) + (Size) j * s->nn;
		for (int n = 0; n < s->nn && nbr[n] >= 0; n++)
		{
			if (!mark[nbr[n]])
			{
				mark[nbr[n]] = true;
				touched[ntouched++] = nbr[n];
			}
			score[nbr[n]] += sim[n];
		}
	}
	for (int t = 0; t < ntouched; t++)
		if (score[touched[t]] > 0.0f && pz_eligible(e, touched[t]))
			pz_topk_push(pool, touched[t], score[touched[t]], PZ_SOURCE_MODEL);
}

static void
score_popularity(const PzServing *s, const PzEligibility *e, PzTopK *pool)
{
	const float *pop = pz_popularity(s);

	for (int32 i = 0; i < s->nitems; i++)
		if (pz_eligible(e, i))
			pz_topk_push(pool, i, pop[i], PZ_SOURCE_POPULAR);
}

/*
 * Re-ranking for diversity needs candidates beyond the nearest few, which
 * tend to be alike; plain relevance needs only spares for the sponsored cap.
 */
static int
pool_size(int k, double diversity)
{
	if (diversity > 0)
		return Min(Max(DIVERSE_POOL_PER_SLOT * k, DIVERSE_POOL_MIN), POOL_MAX);
	return Min(Max(POOL_PER_SLOT * k, POOL_MIN), POOL_MAX);
}

/* The ranked list before exploration: model first, popularity to fill. */
static int
rank_list(const PzRequest *r, const PzRankOptions *opt, PzEligibility *e, PzCandidate *list)
{
	const PzServing *s = r->s;
	PzTopK		pool;
	int			n = 0;

	pz_topk_init(&pool, pool_size(opt->k, opt->diversity));
	if (pz_request_uses_model(r))
	{
		if (s->algorithm == PZ_SERVE_ALS)
			score_als(r, e, &pool);
		else
			score_knn(r, e, &pool);
		pz_topk_sort(&pool);
		n = pz_rerank(s, opt, pool.c, pool.n, list);
	}
	for (int i = 0; i < n; i++)
		e->listed[list[i].item] = 1;
	if (n < opt->k)
	{
		PzRankOptions rest = *opt;
		int			added;

		rest.k = opt->k - n;
		for (int i = 0; i < n; i++)
			rest.max_sponsored -= (pz_item_flags(s)[list[i].item] & PZ_ITEM_SPONSORED) != 0;
		pool.n = 0;
		score_popularity(s, e, &pool);
		pz_topk_sort(&pool);
		added = pz_rerank(s, &rest, pool.c, pool.n, list + n);
		for (int i = n; i < n + added; i++)
			e->listed[list[i].item] = 1;
		n += added;
	}
	return n;
}

/* ---- reasons ------------------------------------------------------------- */

static char *
because(const char *kind, const char *name)
{
	if (strcmp(kind, "view") == 0)
		return psprintf("Because you viewed %s", name);
	if (strcmp(kind, "click") == 0)
		return psprintf("Because you clicked on %s", name);
	if (strcmp(kind, "purchase") == 0)
		return psprintf("Because you bought %s", name);
	if (strcmp(kind, "cart") == 0)
		return psprintf("Because you added %s to your cart", name);
	if (strcmp(kind, "wishlist") == 0)
		return psprintf("Because you saved %s", name);
	if (strcmp(kind, "rating") == 0)
		return psprintf("Because you rated %s", name);
	return psprintf("Because of your interest in %s", name);
}

static char *
model_reason(const PzRequest *r, int32 item, float *contrib)
{
	int			best = -1;

	pz_request_contributions(r, item, contrib);
	for (int h = 0; h < r->nhistory; h++)
		if (contrib[h] > 0 && (best < 0 || contrib[h] > contrib[best]))
			best = h;
	if (best < 0)
		return pstrdup("Recommended for you");
	return because(r->history[best].kind, pz_serving_item_name(r->s, r->history_item[best]));
}

static char *
pz_reason(const PzRequest *r, const PzCandidate *c, float *contrib)
{
	const PzServing *s = r->s;
	char	   *reason;

	switch (c->source)
	{
		case PZ_SOURCE_MODEL:
			reason = model_reason(r, c->item, contrib);
			break;
		case PZ_SOURCE_EXPLORE:
			reason = pstrdup("Something new for you");
			break;
		default:
			reason = pz_serving_category_name(s, c->item) ?
				psprintf("Popular in %s", pz_serving_category_name(s, c->item)) :
				pstrdup("Popular right now");
			break;
	}
	if (pz_item_flags(s)[c->item] & PZ_ITEM_SPONSORED)
	{
		reason[0] = (char) pg_tolower((unsigned char) reason[0]);
		reason = psprintf("Sponsored: %s", reason);
	}
	return reason;
}

/* ---- the call ------------------------------------------------------------ */

static void
rank_options(const PzRequest *r, const RecommendArgs *a, PzRankOptions *opt)
{
	bool		is_new = r->nhistory < new_subject_interactions;

	opt->k = a->k;
	opt->diversity = a->diversity;
	opt->by_category = diversity_by_category;
	opt->max_sponsored = (int) floor(a->sponsored_share * a->k + 1e-9);
	opt->thompson = is_new;
	opt->exploration = a->exploration >= 0 ? a->exploration :
		is_new ? exploration_new : exploration_established;
}

static void
seed_rng(pg_prng_state *rng, const RecommendArgs *a)
{
	if (a->seeded)
		pg_prng_seed(rng, (uint64) a->seed ^ ((uint64) a->subject * UINT64CONST(0x9E3779B97F4A7C15)));
	else
		pg_prng_seed(rng, pg_prng_uint64(&pg_global_prng_state));
}

PZ_FUNCTION(pz_recommend)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RecommendArgs a;
	PzRequest	r;
	PzRankOptions opt;
	PzEligibility e;
	pg_prng_state rng;
	PzCandidate *list;
	float	   *contrib;
	int			n;
	PurposeInfo info;
	const PzServing *s;

	read_args(fcinfo, &a);
	InitMaterializedSRF(fcinfo, 0);
	s = pz_serving_for_purpose(a.purpose, &info);
	pz_request_subject(&r, s, a.purpose, &info, a.subject);
	rank_options(&r, &a, &opt);
	build_eligibility(&r, &a, &e);
	seed_rng(&rng, &a);

	list = palloc(sizeof(PzCandidate) * a.k);
	n = rank_list(&r, &opt, &e, list);
	n = pz_explore(s, &opt, &e, &rng, list, n);

	contrib = palloc(sizeof(float) * Max(r.nhistory, 1));
	for (int i = 0; i < n; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false};

		if (isnan(list[i].score))
			list[i].score = pz_request_score(&r, list[i].item);
		values[0] = Int64GetDatum(pz_item_ids(s)[list[i].item]);
		values[1] = Float4GetDatum(list[i].score);
		values[2] = Int32GetDatum(i + 1);
		values[3] = CStringGetTextDatum(pz_reason(&r, &list[i], contrib));
		values[4] = BoolGetDatum(list[i].source == PZ_SOURCE_EXPLORE);
		values[5] = BoolGetDatum((pz_item_flags(s)[list[i].item] & PZ_ITEM_SPONSORED) != 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pz_record_impressions(&r, list, n);
	return (Datum) 0;
}
