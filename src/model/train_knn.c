/*
 * train_knn.c
 *		Item-item nearest neighbours: cosine similarity between items' vectors
 *		over subjects, optionally BM25-weighted, with optional shrinkage, and
 *		the top few neighbours of every item kept.
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
 * Weight of every stored value, in row (CSR) order.
 *
 * Cosine: the raw value.  BM25, as implicit's bm25_weight applied with
 * subjects as the rows (documents) and items as the terms:
 *
 *		w_ui = v_ui (k1 + 1) / (k1 L_u + v_ui) * idf_i
 *		L_u = (1 - b) + b |u| / mean |u|	(|u| = sum of u's values)
 *		idf_i = log(nusers) - log(1 + df_i)	(df_i = subjects of item i)
 *
 * idf is floored at a small positive value: an item nearly every subject has
 * would otherwise get weight zero or below, which under cosine would flip
 * the sign of all its similarities.
 */
static float *
knn_weights(const PzMatrix *m, const PzKnnParams *p)
{
	float	   *w = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(float) * Max(m->nnz, 1));

	if (p->weighting == PZ_KNN_BM25)
	{
		double	   *len = palloc(sizeof(double) * Max(m->nusers, 1));
		double		total = 0.0;
		double		mean;
		double		k1 = p->bm25_k1;
		double		b = p->bm25_b;
		double		logn = log((double) Max(m->nusers, 1));

		for (int32 u = 0; u < m->nusers; u++)
		{
			double		s = 0.0;

			for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
				s += m->user_vals[e];
			len[u] = s;
			total += s;
		}
		mean = m->nusers > 0 ? total / m->nusers : 1.0;
		if (!(mean > 0.0))
			mean = 1.0;
		for (int32 u = 0; u < m->nusers; u++)
		{
			double		norm = (1.0 - b) + b * len[u] / mean;

			for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
			{
				int32		i = m->user_items[e];
				double		df = (double) (m->item_ptr[i + 1] - m->item_ptr[i]);
				double		idf = Max(logn - log1p(df), 1e-6);
				double		v = m->user_vals[e];

				w[e] = (float) (v * (k1 + 1.0) / (k1 * norm + v) * idf);
			}
		}
		pfree(len);
	}
	else
		memcpy(w, m->user_vals, sizeof(float) * m->nnz);
	return w;
}

void
pz_knn_fit(const PzMatrix *m, const PzKnnParams *p,
		   int32 *neighbor, float *score)
{
	int			kn = p->neighbors;
	int32		nitems = m->nitems;
	float	   *wrow;			/* [nnz] weights in row order */
	float	   *wcol;			/* [nnz] the same, in column order */
	double	   *norm;			/* [nitems] */
	double	   *acc;			/* [nitems] dot products with item i */
	int32	   *touched;		/* [nitems] items with acc != 0 */
	bool	   *mark;			/* [nitems] listed in touched */
	KnnCand    *heap;
	double		shrink = p->shrinkage;

	if (kn < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("neighbors must be at least 1")));
	if (p->weighting == PZ_KNN_BM25 &&
		(!(p->bm25_k1 >= 0.0f) || isinf(p->bm25_k1) ||
		 !(p->bm25_b >= 0.0f && p->bm25_b <= 1.0f)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("BM25 needs k1 >= 0 and b between 0 and 1")));
	if (!(shrink >= 0.0) || isinf(shrink))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shrinkage must be a finite number >= 0")));

	wrow = knn_weights(m, p);

	/* Column-order copy of the weights, matching item_users. */
	wcol = MemoryContextAllocHuge(CurrentMemoryContext,
								  sizeof(float) * Max(m->nnz, 1));
	{
		int64	   *next = palloc(sizeof(int64) * (nitems + 1));

		memcpy(next, m->item_ptr, sizeof(int64) * (nitems + 1));
		for (int32 u = 0; u < m->nusers; u++)
			for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
				wcol[next[m->user_items[e]]++] = wrow[e];
		pfree(next);
	}

	norm = palloc(sizeof(double) * Max(nitems, 1));
	for (int32 i = 0; i < nitems; i++)
	{
		double		s = 0.0;

		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
			s += (double) wcol[e] * wcol[e];
		norm[i] = sqrt(s);
	}

	acc = palloc0(sizeof(double) * Max(nitems, 1));
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
			double		wi = wcol[e];

			for (int64 f = m->user_ptr[u]; f < m->user_ptr[u + 1]; f++)
			{
				int32		j = m->user_items[f];

				if (!mark[j])
				{
					mark[j] = true;
					touched[ntouched++] = j;
				}
				acc[j] += wi * wrow[f];
			}
		}

		for (int32 t = 0; t < ntouched; t++)
		{
			int32		j = touched[t];
			double		dot = acc[j];
			double		denom = norm[i] * norm[j] + shrink;
			KnnCand		c;

			acc[j] = 0.0;
			mark[j] = false;
			if (j == i || !(dot > 0.0) || !(denom > 0.0))
				continue;
			c.score = (float) (dot / denom);
			c.item = j;
			if (!(c.score > 0.0f))
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
	pfree(norm);
	pfree(wcol);
	pfree(wrow);
}
