/*
 * train_knn.c
 *		Item-item neighbours, two ways: item-kNN (cosine similarity between
 *		items' vectors over subjects, weighted beforehand by pz_matrix_weigh,
 *		with optional shrinkage) and RP3beta (a two-step random walk with a
 *		popularity penalty); either way the top few neighbours of every item
 *		are kept, and serving sums a history's neighbour scores.
 *
 * For item i, the dot products with every other item come from the rows of
 * i's subjects: for each subject u of i and each item j of u, acc[j] +=
 * w_ui w_uj.  That touches only co-occurring pairs, and the dense
 * accumulator (one double per item, reused from item to item) needs no
 * hashing; the items touched are listed so that resetting and scanning the
 * accumulator cost what the item's co-occurrences cost, not nitems.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "matrix.h"

/* A candidate neighbour in the selection heap. */
typedef struct KnnCand
{
	float		score;
	int32		item;
} KnnCand;

/*
 * a ranks below b: lower score, or equal score and larger item index (ties
 * go to the smaller index, so the result does not depend on visit order).
 */
static inline bool
cand_worse(const KnnCand *a, const KnnCand *b)
{
	return a->score < b->score || (a->score == b->score && a->item > b->item);
}

/* Restore the heap below position i; heap[0] is the worst kept. */
static void
heap_sift_down(KnnCand *heap, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			w = i;
		KnnCand		t;

		if (l < n && cand_worse(&heap[l], &heap[w]))
			w = l;
		if (l + 1 < n && cand_worse(&heap[l + 1], &heap[w]))
			w = l + 1;
		if (w == i)
			return;
		t = heap[i];
		heap[i] = heap[w];
		heap[w] = t;
		i = w;
	}
}

static void
heap_sift_up(KnnCand *heap, int i)
{
	while (i > 0)
	{
		int			parent = (i - 1) / 2;
		KnnCand		t;

		if (!cand_worse(&heap[i], &heap[parent]))
			return;
		t = heap[i];
		heap[i] = heap[parent];
		heap[parent] = t;
		i = parent;
	}
}

/*
 * What the neighbour search scores: the first hop i -> u weighs each entry
 * of item i's column by wcol, the second hop u -> j each entry of u's row by
 * wrow; the sum over u is then turned into the similarity by cosine
 * normalisation (norm, shrink) or by a per-target scale (rp3beta).
 */
typedef struct NeighborSpec
{
	const float *wrow;			/* [nnz] in row order */
	const float *wcol;			/* [nnz] in column order */
	const double *norm;			/* [nitems]: cosine denominators, or NULL */
	double		shrink;
	const double *scale;		/* [nitems]: factor per target item, or NULL */
	int			min_support;	/* subjects a pair must share to be kept */
} NeighborSpec;

static void
top_neighbors(const PzMatrix *m, const NeighborSpec *spec, int kn,
			  int32 *neighbor, float *score)
{
	int32		nitems = m->nitems;
	double	   *acc;			/* [nitems] dot products with item i */
	int32	   *support;		/* [nitems] subjects shared with item i */
	int32	   *touched;		/* [nitems] items with acc != 0 */
	bool	   *mark;			/* [nitems] listed in touched */
	KnnCand    *heap;

	acc = palloc0(sizeof(double) * Max(nitems, 1));
	support = palloc0(sizeof(int32) * Max(nitems, 1));
	touched = palloc(sizeof(int32) * Max(nitems, 1));
	mark = palloc0(sizeof(bool) * Max(nitems, 1));
	heap = palloc(sizeof(KnnCand) * kn);

	for (int32 i = 0; i < nitems; i++)
	{
		int32		ntouched = 0;
		int			nheap = 0;

		CHECK_FOR_INTERRUPTS();

		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
		{
			int32		u = m->item_users[e];
			double		wi = spec->wcol[e];

			for (int64 f = m->user_ptr[u]; f < m->user_ptr[u + 1]; f++)
			{
				int32		j = m->user_items[f];

				if (!mark[j])
				{
					mark[j] = true;
					touched[ntouched++] = j;
				}
				acc[j] += wi * spec->wrow[f];
				support[j]++;
			}
		}

		for (int32 t = 0; t < ntouched; t++)
		{
			int32		j = touched[t];
			double		dot = acc[j];
			double		sim;
			KnnCand		c;

			acc[j] = 0.0;
			mark[j] = false;
			if (j == i || !(dot > 0.0) || support[j] < spec->min_support)
			{
				support[j] = 0;
				continue;
			}
			support[j] = 0;
			if (spec->norm)
			{
				double		denom = spec->norm[i] * spec->norm[j] + spec->shrink;

				if (!(denom > 0.0))
					continue;
				sim = dot / denom;
			}
			else
				sim = dot;
			if (spec->scale)
				sim *= spec->scale[j];
			c.score = (float) sim;
			c.item = j;
			if (!(c.score > 0.0f) || isinf(c.score))
				continue;		/* underflowed */
			if (nheap < kn)
			{
				heap[nheap] = c;
				heap_sift_up(heap, nheap);
				nheap++;
			}
			else if (cand_worse(&heap[0], &c))
			{
				heap[0] = c;
				heap_sift_down(heap, nheap, 0);
			}
		}

		/* Pop worst first, filling the slots from the back: best first. */
		for (int s = kn - 1; s >= nheap; s--)
		{
			neighbor[(Size) i * kn + s] = -1;
			score[(Size) i * kn + s] = 0.0f;
		}
		while (nheap > 0)
		{
			Size		slot = (Size) i * kn + nheap - 1;

			neighbor[slot] = heap[0].item;
			score[slot] = heap[0].score;
			heap[0] = heap[--nheap];
			heap_sift_down(heap, nheap, 0);
		}
	}

	pfree(heap);
	pfree(mark);
	pfree(touched);
	pfree(acc);
	pfree(support);
}

void
pz_knn_fit(const PzMatrix *m, const PzKnnParams *p,
		   int32 *neighbor, float *score)
{
	NeighborSpec spec = {0};
	double	   *norm;

	if (p->neighbors < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("neighbors must be at least 1")));
	if (!(p->shrinkage >= 0.0f) || isinf(p->shrinkage))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shrinkage must be a finite number >= 0")));

	/* cosine over the values as weighted by the caller (pz_matrix_weigh) */
	norm = palloc(sizeof(double) * Max(m->nitems, 1));
	for (int32 i = 0; i < m->nitems; i++)
	{
		double		s = 0.0;

		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
			s += (double) m->item_vals[e] * m->item_vals[e];
		norm[i] = sqrt(s);
	}
	spec.wrow = m->user_vals;
	spec.wcol = m->item_vals;
	spec.norm = norm;
	spec.shrink = p->shrinkage;
	spec.min_support = p->min_support;
	top_neighbors(m, &spec, p->neighbors, neighbor, score);
	pfree(norm);
}

/*
 * P(j|u) = w_uj / sum_j' w_uj' (rows), P(u|i) = w_ui / sum_u' w_u'i
 * (columns), each raised to alpha; deg(j) = number of subjects of j.
 * RP3beta's popularity penalty is what sets it apart from the plain
 * random walk (P3alpha, beta = 0): without it the walk favours hubs.
 */
void
pz_rp3beta_fit(const PzMatrix *m, const PzRp3Params *p,
			   int32 *neighbor, float *score)
{
	NeighborSpec spec = {0};
	float	   *wrow;
	float	   *wcol;
	double	   *scale;

	if (p->neighbors < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("neighbors must be at least 1")));
	if (!(p->alpha > 0.0f) || isinf(p->alpha) || !(p->beta >= 0.0f) || isinf(p->beta))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rp3beta needs alpha > 0 and beta >= 0")));

	wrow = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(m->nnz, 1));
	wcol = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(m->nnz, 1));
	scale = palloc(sizeof(double) * Max(m->nitems, 1));
	for (int32 u = 0; u < m->nusers; u++)
	{
		double		s = 0.0;

		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
			s += m->user_vals[e];
		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
			wrow[e] = s > 0.0 ? (float) pow(m->user_vals[e] / s, p->alpha) : 0.0f;
	}
	for (int32 i = 0; i < m->nitems; i++)
	{
		double		s = 0.0;
		int64		deg = m->item_ptr[i + 1] - m->item_ptr[i];

		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
			s += m->item_vals[e];
		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
			wcol[e] = s > 0.0 ? (float) pow(m->item_vals[e] / s, p->alpha) : 0.0f;
		scale[i] = deg > 0 ? pow((double) deg, -p->beta) : 0.0;
	}
	spec.wrow = wrow;
	spec.wcol = wcol;
	spec.min_support = p->min_support;
	spec.scale = scale;
	top_neighbors(m, &spec, p->neighbors, neighbor, score);
	pfree(scale);
	pfree(wcol);
	pfree(wrow);
}
