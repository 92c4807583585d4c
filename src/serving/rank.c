/*
 * rank.c
 *		From scored candidates to the list a person sees.
 *
 * Relevance first keeps a bounded pool of the best candidates; maximal
 * marginal relevance (Carbonell and Goldstein) then picks the list one item
 * at a time, trading relevance against similarity to what is already
 * picked, and never takes more sponsored items than the cap allows.
 * Exploration spends a budget of slots on items the ranking would not have
 * shown: established subjects get epsilon-greedy (each slot explores with
 * probability epsilon), new subjects get Thompson sampling over each item's
 * Beta posterior of reward per impression.
 */
#include "postgres.h"

#include <math.h>

#include "distance.h"
#include "rank.h"

#define RANDOM_TRIES		64
#define THOMPSON_CANDIDATES	4		/* random candidates per exploration slot */

/* ---- top-k heap ---------------------------------------------------------- */

/* Ties go to the smaller catalogue index (smaller item id): reproducible. */
static inline bool
worse(const PzCandidate *a, const PzCandidate *b)
{
	return a->score < b->score || (a->score == b->score && a->item > b->item);
}

void
pz_topk_init(PzTopK *h, int cap)
{
	h->cap = cap;
	h->n = 0;
	h->c = palloc(sizeof(PzCandidate) * Max(cap, 1));
}

static void
sift_down(PzTopK *h, int at)
{
	for (;;)
	{
		int			l = 2 * at + 1;
		int			m = at;
		PzCandidate tmp;

		if (l < h->n && worse(&h->c[l], &h->c[m]))
			m = l;
		if (l + 1 < h->n && worse(&h->c[l + 1], &h->c[m]))
			m = l + 1;
		if (m == at)
			return;
		tmp = h->c[at];
		h->c[at] = h->c[m];
		h->c[m] = tmp;
		at = m;
	}
}

void
pz_topk_push(PzTopK *h, int32 item, float score, PzSource source)
{
	PzCandidate c = {item, score, source};

	if (isnan(score) || h->cap == 0)
		return;
	if (h->n < h->cap)
	{
		int			at = h->n++;

		h->c[at] = c;
		while (at > 0 && worse(&h->c[at], &h->c[(at - 1) / 2]))
		{
			PzCandidate tmp = h->c[at];

			h->c[at] = h->c[(at - 1) / 2];
			h->c[(at - 1) / 2] = tmp;
			at = (at - 1) / 2;
		}
	}
	else if (worse(&h->c[0], &c))
	{
		h->c[0] = c;
		sift_down(h, 0);
	}
}

static int
better_first(const void *a, const void *b)
{
	const PzCandidate *x = a;
	const PzCandidate *y = b;

	return worse(y, x) ? -1 : worse(x, y) ? 1 : 0;
}

void
pz_topk_sort(PzTopK *h)
{
	qsort(h->c, h->n, sizeof(PzCandidate), better_first);
}

/* ---- diversity ----------------------------------------------------------- */

static float
cosine(const float *a, const float *b, int k)
{
	float		ab,
				aa,
				bb;

	pz_kernels->cosine_parts(a, b, k, &ab, &aa, &bb);
	return aa > 0 && bb > 0 ? ab / sqrtf(aa * bb) : 0.0f;
}

/* How alike two items are, in [-1, 1]: by the model where it can say. */
static float
similarity(const PzServing *s, bool by_category, int32 a, int32 b)
{
	const int32 *cat = pz_item_category(s);

	if (!by_category && s->algorithm == PZ_SERVE_ALS &&
		(pz_item_flags(s)[a] & pz_item_flags(s)[b] & PZ_ITEM_FACTORS))
		return cosine(pz_Y(s) + (Size) a * s->k, pz_Y(s) + (Size) b * s->k, s->k);
	if (!by_category && s->algorithm == PZ_SERVE_ITEMKNN)
		return Max(pz_serving_neighbor_similarity(s, a, b),
				   pz_serving_neighbor_similarity(s, b, a));
	return cat[a] >= 0 && cat[a] == cat[b] ? 1.0f : 0.0f;
}

static inline bool
sponsored(const PzServing *s, int32 item)
{
	return (pz_item_flags(s)[item] & PZ_ITEM_SPONSORED) != 0;
}

int
pz_rerank(const PzServing *s, const PzRankOptions *opt,
		  const PzCandidate *pool, int npool, PzCandidate *out)
{
	bool	   *used = palloc0(sizeof(bool) * Max(npool, 1));
	float	   *max_sim = palloc0(sizeof(float) * Max(npool, 1));
	double		hi,
				lo;
	int			n = 0;
	int			nsponsored = 0;

	if (npool == 0)
		return 0;
	hi = pool[0].score;
	lo = pool[npool - 1].score;
	while (n < opt->k)
	{
		int			best = -1;
		double		best_value = -INFINITY;

		for (int c = 0; c < npool; c++)
		{
			double		relevance,
						value;

			if (used[c] || (sponsored(s, pool[c].item) && nsponsored >= opt->max_sponsored))
				continue;
			if (opt->diversity <= 0)
			{
				best = c;
				break;
			}
			relevance = hi > lo ? (pool[c].score - lo) / (hi - lo) : 1.0;
			value = (1.0 - opt->diversity) * relevance - opt->diversity * (n > 0 ? max_sim[c] : 0.0);
			if (value > best_value)
			{
				best_value = value;
				best = c;
			}
		}
		if (best < 0)
			break;
		used[best] = true;
		out[n++] = pool[best];
		nsponsored += sponsored(s, pool[best].item);
		/* keep each candidate's similarity to the list so far */
		if (opt->diversity > 0)
			for (int c = 0; c < npool; c++)
			{
				float		sim;

				if (used[c])
					continue;
				sim = similarity(s, opt->by_category, pool[c].item, pool[best].item);
				max_sim[c] = n == 1 ? sim : Max(max_sim[c], sim);
			}
	}
	pfree(used);
	pfree(max_sim);
	return n;
}

/* ---- exploration --------------------------------------------------------- */

static double
normal_sample(pg_prng_state *rng)
{
	double		u = 1.0 - pg_prng_double(rng);	/* (0, 1] */
	double		v = pg_prng_double(rng);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Marsaglia and Tsang; shape a >= 1 directly, a < 1 by boosting. */
static double
gamma_sample(pg_prng_state *rng, double a)
{
	double		d,
				c;

	if (a < 1.0)
		return gamma_sample(rng, a + 1.0) * pow(1.0 - pg_prng_double(rng), 1.0 / a);
	d = a - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		x = normal_sample(rng);
		double		v = 1.0 + c * x;
		double		u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = 1.0 - pg_prng_double(rng);
		if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

double
pz_beta_sample(pg_prng_state *rng, double a, double b)
{
	double		x = gamma_sample(rng, a);
	double		y = gamma_sample(rng, b);

	return x + y > 0 ? x / (x + y) : 0.5;
}

/* A uniformly drawn eligible item, or -1 after a bounded number of tries. */
static int32
random_eligible(const PzServing *s, PzEligibility *e, pg_prng_state *rng, bool allow_sponsored)
{
	if (s->nitems == 0)
		return -1;
	for (int t = 0; t < RANDOM_TRIES; t++)
	{
		int32		i = (int32) pg_prng_uint64_range(rng, 0, s->nitems - 1);

		if (pz_eligible(e, i) && (allow_sponsored || !sponsored(s, i)))
			return i;
	}
	return -1;
}

static int
count_sponsored(const PzServing *s, const PzCandidate *list, int n)
{
	int			count = 0;

	for (int r = 0; r < n; r++)
		count += sponsored(s, list[r].item);
	return count;
}

/* Each slot independently explores with probability epsilon. */
static void
explore_epsilon(const PzServing *s, const PzRankOptions *opt, PzEligibility *e,
				pg_prng_state *rng, PzCandidate *list, int n)
{
	int			nsponsored = count_sponsored(s, list, n);

	for (int r = 0; r < n; r++)
	{
		int32		pick;
		int			others;

		if (pg_prng_double(rng) >= opt->exploration)
			continue;
		others = nsponsored - sponsored(s, list[r].item);
		pick = random_eligible(s, e, rng, others < opt->max_sponsored);
		if (pick < 0)
			continue;
		e->listed[list[r].item] = 0;
		e->listed[pick] = 1;
		nsponsored = others + sponsored(s, pick);
		list[r].item = pick;
		list[r].score = NAN;	/* the caller scores it */
		list[r].source = PZ_SOURCE_EXPLORE;
	}
}

typedef struct Sampled
{
	PzCandidate c;
	double		theta;
} Sampled;

static int
by_theta(const void *a, const void *b)
{
	double		x = ((const Sampled *) a)->theta;
	double		y = ((const Sampled *) b)->theta;

	return x > y ? -1 : x < y ? 1 : 0;
}

/*
 * The list and some random candidates are ranked by a draw from each
 * item's posterior, Beta(1 + rewards, 1 + impressions - rewards); at most
 * the budget's share of slots goes to candidates that were not in the list.
 */
static int
explore_thompson(const PzServing *s, const PzRankOptions *opt, PzEligibility *e,
				 pg_prng_state *rng, PzCandidate *list, int n)
{
	double		expected = opt->exploration * n;
	int			budget = (int) floor(expected) + (pg_prng_double(rng) < expected - floor(expected));
	int			ncand = 0;
	Sampled    *all = palloc(sizeof(Sampled) * (n + THOMPSON_CANDIDATES * Max(budget, 1)));
	int			taken = 0,
				explored = 0,
				nsponsored = 0;

	if (budget == 0)
		return n;
	for (int r = 0; r < n; r++)
		all[ncand++].c = list[r];
	for (int t = 0; t < THOMPSON_CANDIDATES * budget; t++)
	{
		int32		pick = random_eligible(s, e, rng, true);

		if (pick < 0)
			break;
		e->listed[pick] = 1;
		all[ncand].c.item = pick;
		all[ncand].c.score = NAN;
		all[ncand].c.source = PZ_SOURCE_EXPLORE;
		ncand++;
	}
	for (int c = 0; c < ncand; c++)
	{
		int32		i = all[c].c.item;
		double		shown = (double) pg_atomic_read_u64(&pz_shown(s)[i]);
		double		reward = (double) pg_atomic_read_u64(&pz_reward(s)[i]) / PZ_REWARD_SCALE;

		all[c].theta = pz_beta_sample(rng, 1.0 + reward, 1.0 + Max(shown - reward, 0.0));
	}
	qsort(all, ncand, sizeof(Sampled), by_theta);
	for (int c = 0; c < ncand; c++)
	{
		bool		candidate = all[c].c.source == PZ_SOURCE_EXPLORE;
		bool		fits = taken < n && (!candidate || explored < budget) &&
			(!sponsored(s, all[c].c.item) || nsponsored < opt->max_sponsored);

		if (!fits)
		{
			e->listed[all[c].c.item] = 0;
			continue;
		}
		list[taken++] = all[c].c;
		explored += candidate;
		nsponsored += sponsored(s, all[c].c.item);
	}
	pfree(all);
	return taken;
}

int
pz_explore(const PzServing *s, const PzRankOptions *opt, PzEligibility *e,
		   pg_prng_state *rng, PzCandidate *list, int n)
{
	if (opt->exploration <= 0 || n == 0)
		return n;
	if (opt->thompson)
		return explore_thompson(s, opt, e, rng, list, n);
	explore_epsilon(s, opt, e, rng, list, n);
	return n;
}
