/*
 * metrics.h
 *		Ranking metrics and the Gini coefficient, callable from C (training
 *		evaluation) with exactly the definitions the SQL functions use.
 *
 * Ranking metrics at cutoff k, binary relevance (conventions of the
 * implicit library's ranking_metrics_at_k):
 *
 *	ranked		the recommendation list, best first.  Only its first k
 *				positions count; positions past its end count as misses.  An
 *				id repeated in ranked counts at its first position only (a
 *				later copy is a miss that still takes up its position).
 *	relevant	the held-out items; duplicates count once, order is ignored.
 *	rel(i)		1 if the id at rank i (1-based) is relevant and did not occur
 *				at an earlier rank, else 0.
 *	R			number of distinct relevant ids;  m = min(k, R).
 *
 *	hits		= sum_{i=1..k} rel(i)
 *	precision	= hits / k
 *	recall		= hits / m		(implicit's per-user "precision")
 *	AP			= (1/m) * sum_{i=1..k} rel(i) * hits(1..i) / i
 *	NDCG		= DCG / IDCG, DCG = sum_{i=1..k} rel(i) / log2(i + 1),
 *				  IDCG = sum_{i=1..m} 1 / log2(i + 1)
 *
 * With R = 0 recall, AP and NDCG are undefined: these functions return NaN
 * (the SQL functions return NULL) and pz_ranking_metrics_at_k() returns
 * false.  Implicit skips such users; so should callers averaging per user.
 * precision and hits are defined (0) for R = 0.  k must be >= 1 and the
 * counts >= 0 (the caller checks; these functions only Assert).
 *
 * Nothing here allocates except a temporary sorted copy of relevant
 * (palloc, freed before returning); inputs are never modified.
 */
#ifndef PERSONALIZE_METRICS_H
#define PERSONALIZE_METRICS_H

#include "postgres.h"

typedef struct PzRankMetrics
{
	int			hits;
	int			nrelevant;		/* R: distinct relevant ids */
	double		precision;
	double		recall;			/* NaN when R = 0, likewise below */
	double		average_precision;
	double		ndcg;
} PzRankMetrics;

/* All of them in one pass; false (and NaNs) when relevant is empty. */
extern bool pz_ranking_metrics_at_k(const int64 *ranked, int nranked,
									const int64 *relevant, int nrelevant,
									int k, PzRankMetrics *out);

/*
 * Gini coefficient of values[0..n-1] (the whole population, zeros
 * included), sorting values ascending in place:
 *
 *	G = 2 * sum_{i=1..n} i * x_(i) / (n * S) - (n + 1) / n,  S = sum x
 *
 * and G = 0 when n = 0 or S = 0.  Raises an error for a negative, NaN or
 * infinite value.
 */
extern double pz_gini(double *values, int64 n);

/*
 * The same over a population of n of which values[0..m-1] are given and
 * the other n - m are zeros (m <= n); O(m log m) however large n is.
 */
extern double pz_gini_padded(double *values, int64 m, int64 n);

#endif							/* PERSONALIZE_METRICS_H */
