/*
 * train_ease.c
 *		EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
 *		2019): the item-item weights B minimising ||X - X B||^2 + lambda ||B||^2
 *		with a zero diagonal have a closed form,
 *
 *			B = I - P diagMat(1 / diag P),	P = (X^T X + lambda I)^-1,
 *
 *		so B_ij = -P_ij / P_jj off the diagonal.  A subject's score for j is
 *		the sum of B_ij over the items i of their history.
 *
 * The Gram matrix X^T X is dense and inverting it costs n^3 (dense.c), so
 * EASE models the max_items items with the most subjects; the others get no
 * weights and are reached through popularity, as cold items are.  Memory is
 * 12 n^2 bytes: 108 MB at the default 3,000 items.
 *
 * lambda is given relative to the mean diagonal of X^T X (with binary
 * weights, the mean number of subjects of a modelled item), so that one
 * value suits data sets of any size; the absolute value is reported.
 *
 * Serving sums stored neighbour weights over a history, as for item-kNN, so
 * each item keeps the `neighbors` weights largest in absolute value.  The
 * negative ones matter: on the Last.fm split, keeping only positive weights
 * cost 5% NDCG@10, keeping 200 of 3,000 by absolute value 0.5%.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "dense.h"
#include "matrix.h"

typedef struct EaseWeight
{
	float		weight;
	int32		item;
} EaseWeight;

/* Most subjects first; ties to the smaller index, so the choice is stable. */
static int
by_subjects_desc(const void *a, const void *b, void *arg)
{
	const PzMatrix *m = arg;
	int32		i = *(const int32 *) a;
	int32		j = *(const int32 *) b;
	int64		ni = m->item_ptr[i + 1] - m->item_ptr[i];
	int64		nj = m->item_ptr[j + 1] - m->item_ptr[j];

	if (ni != nj)
		return ni > nj ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Larger |weight| first; ties to the smaller item. */
static int
by_magnitude_desc(const void *a, const void *b)
{
	const EaseWeight *x = a;
	const EaseWeight *y = b;
	float		fx = fabsf(x->weight);
	float		fy = fabsf(y->weight);

	if (fx != fy)
		return fx > fy ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

/*
 * The modelled items (dense matrix indices, in Gram order) and, for every
 * matrix item, its Gram position or -1.
 */
static int
choose_items(const PzMatrix *m, int max_items, int32 **modelled, int32 **position)
{
	int32	   *order = pz_alloc_zeroed(m->nitems, sizeof(int32));
	int			n = 0;

	*position = pz_alloc_zeroed(m->nitems, sizeof(int32));
	for (int32 i = 0; i < m->nitems; i++)
	{
		(*position)[i] = -1;
		if (m->item_ptr[i + 1] > m->item_ptr[i])
			order[n++] = i;
	}
	qsort_arg(order, n, sizeof(int32), by_subjects_desc, (void *) m);
	n = Min(n, max_items);
	for (int g = 0; g < n; g++)
		(*position)[order[g]] = g;
	*modelled = order;
	return n;
}

/* Lower triangle of X^T X over the modelled items, row-major n x n. */
static double *
gram_matrix(const PzMatrix *m, const int32 *position, int n)
{
	double	   *G = pz_alloc_zeroed((Size) n * n, sizeof(double));
	int32	   *pos = pz_alloc_zeroed(Max(n, 1), sizeof(int32));
	double	   *val = pz_alloc_zeroed(Max(n, 1), sizeof(double));

	for (int32 u = 0; u < m->nusers; u++)
	{
		int			h = 0;

		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
		{
			int32		g = position[m->user_items[e]];

			if (g >= 0)
			{
				pos[h] = g;
				val[h] = m->user_vals[e];
				h++;
			}
		}
		for (int a = 0; a < h; a++)
		{
			double	   *row = G + (Size) pos[a] * n;

			for (int b = 0; b < h; b++)
				if (pos[b] <= pos[a])
					row[pos[b]] += val[a] * val[b];
		}
		if ((u & 255) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(pos);
	pfree(val);
	return G;
}

/*
 * Row g of B (weights from modelled item g to the others), its nn largest
 * in magnitude, into the neighbour slots of matrix item `item`.
 */
static void
keep_row(const float *P, int n, int g, const int32 *modelled, int nn,
		 EaseWeight *buf, int32 *neighbor, float *score)
{
	const float *pg = P + (Size) g * n;
	int			nw = 0;
	int			kept;

	for (int j = 0; j < n; j++)
	{
		float		w;

		if (j == g)
			continue;
		w = -pg[j] / P[(Size) j * n + j];
		if (w != 0.0f && isfinite(w))
		{
			buf[nw].weight = w;
			buf[nw].item = modelled[j];
			nw++;
		}
	}
	qsort(buf, nw, sizeof(EaseWeight), by_magnitude_desc);
	kept = Min(nw, nn);
	for (int s = 0; s < nn; s++)
	{
		neighbor[s] = s < kept ? buf[s].item : -1;
		score[s] = s < kept ? buf[s].weight : 0.0f;
	}
}

double
pz_ease_fit(const PzMatrix *m, const PzEaseParams *p, int32 *neighbor, float *score,
			int *items_modelled)
{
	int32	   *modelled;
	int32	   *position;
	int			n;
	double	   *G;
	double		mean_diagonal = 0.0;
	double		lambda;
	float	   *P;
	EaseWeight *buf;

	for (Size s = 0; s < (Size) m->nitems * p->neighbors; s++)
		neighbor[s] = -1;
	n = choose_items(m, p->max_items, &modelled, &position);
	*items_modelled = n;
	if (n == 0)
		return 0.0;

	G = gram_matrix(m, position, n);
	for (int g = 0; g < n; g++)
		mean_diagonal += G[(Size) g * n + g];
	mean_diagonal /= n;
	lambda = p->regularization * Max(mean_diagonal, 1e-12);
	for (int g = 0; g < n; g++)
		G[(Size) g * n + g] += lambda;
	if (!pz_dense_cholesky(G, n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("EASE could not invert the item Gram matrix with regularization %g", p->regularization),
				 errhint("Raise regularization.")));
	P = pz_alloc_zeroed((Size) n * n, sizeof(float));
	pz_dense_inverse_from_cholesky(G, n, P);
	pfree(G);

	buf = pz_alloc_zeroed(Max(n, 1), sizeof(EaseWeight));
	for (int g = 0; g < n; g++)
	{
		int32		item = modelled[g];

		keep_row(P, n, g, modelled, p->neighbors, buf,
				 neighbor + (Size) item * p->neighbors, score + (Size) item * p->neighbors);
		if ((g & 63) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(buf);
	pfree(P);
	pfree(modelled);
	pfree(position);
	return lambda;
}
