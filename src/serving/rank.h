/*
 * rank.h
 *		Turning scores into a list: a bounded top-k heap, maximal marginal
 *		relevance re-ranking with a cap on sponsored items, and the
 *		exploration budget (epsilon-greedy or Thompson sampling).
 */
#ifndef PERSONALIZE_RANK_H
#define PERSONALIZE_RANK_H

#include "postgres.h"

#include "common/pg_prng.h"
#include "serving.h"

typedef enum PzSource
{
	PZ_SOURCE_MODEL,			/* the model's score for this subject */
	PZ_SOURCE_POPULAR,			/* non-personalized fallback */
	PZ_SOURCE_EXPLORE			/* an exploration slot */
} PzSource;

typedef struct PzCandidate
{
	int32		item;			/* catalogue index */
	float		score;
	PzSource	source;
} PzCandidate;

/* Bounded min-heap keeping the best cap candidates seen. */
typedef struct PzTopK
{
	int			cap;
	int			n;
	PzCandidate *c;
} PzTopK;

/* Which items may be shown to this subject in this call. */
typedef struct PzEligibility
{
	const PzServing *s;
	uint8	   *blocked;		/* [nitems]: seen, excluded */
	bool	   *category_ok;	/* [ncategories + 1]; [0] is "no category" */
	uint8	   *listed;			/* [nitems]: already in the list */
} PzEligibility;

static inline bool
pz_eligible(const PzEligibility *e, int32 item)
{
	return !e->blocked[item] && !e->listed[item] &&
		e->category_ok[pz_item_category(e->s)[item] + 1];
}

typedef struct PzRankOptions
{
	int			k;
	double		diversity;		/* MMR weight, 0: pure relevance */
	bool		by_category;	/* similarity by category, not the model */
	int			max_sponsored;
	double		exploration;	/* share of slots */
	bool		thompson;		/* new subject: Thompson sampling */
} PzRankOptions;

extern void pz_topk_init(PzTopK *h, int cap);
extern void pz_topk_push(PzTopK *h, int32 item, float score, PzSource source);
extern void pz_topk_sort(PzTopK *h);	/* best first; the heap is gone */

/* Pick up to opt->k of pool (best first) by MMR; returns how many. */
extern int	pz_rerank(const PzServing *s, const PzRankOptions *opt,
					  const PzCandidate *pool, int npool, PzCandidate *out);

/* Spend the exploration budget on list (n entries, at most opt->k). */
extern int	pz_explore(const PzServing *s, const PzRankOptions *opt, PzEligibility *e,
					   pg_prng_state *rng, PzCandidate *list, int n);

extern double pz_beta_sample(pg_prng_state *rng, double a, double b);

#endif							/* PERSONALIZE_RANK_H */
