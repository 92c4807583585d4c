/*
 * dp_models.c
 *		The private fits of ALS and item-kNN (see dp_fit.c for what is
 *		released, the bound on each subject's contribution and the budget).
 *
 *	ALS			each iteration solves the subjects exactly and projects
 *				their factors into the unit ball, then releases the item-side
 *				sufficient statistics with Gaussian noise: sum x x^T over all
 *				subjects, and per item sum (c - 1) x x^T and sum c x
 *	item-kNN	co-occurrence among the max_items items of highest noisy
 *				popularity, with noise on every pair, normalised by the noisy
 *				popularity
 */
#include "postgres.h"

#include <math.h>

#include "dp_fit.h"
#include "miscadmin.h"

/*
 * The ridge added to each noisy item system, in sigma * sqrt(factors): about
 * the spectral norm of the noise.  3 was steadier than 1 on Last.fm (NDCG
 * 0.092-0.100 against 0.070-0.094 at epsilon 8).
 */
#define DP_RIDGE 3.0

/* ---- ALS ----------------------------------------------------------------- */

/* Add a symmetric noise matrix (independent upper triangle) to A [k x k]. */
static void
add_symmetric_noise(double *A, int k, double sigma, PzNoise *noise)
{
	for (int a = 0; a < k; a++)
		for (int c = 0; c <= a; c++)
		{
			double		z = pz_noise_gaussian(noise, sigma);

			A[a * k + c] += z;
			if (c != a)
				A[c * k + a] += z;
		}
}

/* Subjects: exact solves against Y, projected into the unit ball. */
static void
dp_als_subjects(const PzMatrix *m, const PzAlsParams *p, const float *Y, float *X)
{
	int			k = p->factors;
	double	   *YtY = palloc(sizeof(double) * k * k);

	pz_als_gram(Y, m->nitems, k, YtY);
	for (int32 u = 0; u < m->nusers; u++)
	{
		float	   *x = X + (Size) u * k;
		int64		lo = m->user_ptr[u];
		double		norm = 0;

		CHECK_FOR_INTERRUPTS();
		pz_als_fold_in(Y, k, YtY, m->user_items + lo, m->user_vals + lo,
					   (int) (m->user_ptr[u + 1] - lo), p, x);
		for (int a = 0; a < k; a++)
			norm += (double) x[a] * x[a];
		if (norm > 1.0)
			for (int a = 0; a < k; a++)
				x[a] = (float) (x[a] / sqrt(norm));
	}
	pfree(YtY);
}

/*
 * Items: each item's system from the noisy statistics.  The ridge grows
 * with the noise (about the spectral norm of the two noise matrices), so
 * that the noisy system stays positive definite; it doubles on the rare
 * draw where it is not.
 */
static void
dp_als_items(const PzMatrix *m, const PzAlsParams *p, const PzDpParams *dp,
			 const double *pop, const float *X, PzNoise *noise, float *Y)
{
	int			k = p->factors;
	double	   *G = pz_dp_alloc0(k * k, sizeof(double));
	double	   *A = palloc(sizeof(double) * k * k);
	double	   *b = palloc(sizeof(double) * k);
	double		ridge0 = p->regularization + DP_RIDGE * dp->sigma * sqrt((double) k);

	for (int32 u = 0; u < m->nusers; u++)
	{
		const float *x = X + (Size) u * k;

		for (int a = 0; a < k; a++)
			for (int c = 0; c <= a; c++)
				G[a * k + c] += (double) x[a] * x[c];
	}
	for (int a = 0; a < k; a++)
		for (int c = 0; c < a; c++)
			G[c * k + a] = G[a * k + c];
	add_symmetric_noise(G, k, dp->sigma, noise);

	for (int32 i = 0; i < m->nitems; i++)
	{
		float	   *y = Y + (Size) i * k;
		double		ridge = ridge0;

		CHECK_FOR_INTERRUPTS();
		/* the noise is drawn for every item, modelled or not: same release */
		memcpy(A, G, sizeof(double) * k * k);
		memset(b, 0, sizeof(double) * k);
		for (int64 e = m->item_ptr[i]; e < m->item_ptr[i + 1]; e++)
		{
			const float *x = X + (Size) m->item_users[e] * k;
			double		c1 = (double) p->alpha * m->item_vals[e];

			for (int a = 0; a < k; a++)
			{
				b[a] += (1.0 + c1) * x[a];
				for (int c = 0; c <= a; c++)
					A[a * k + c] += c1 * x[a] * x[c];
			}
		}
		for (int a = 0; a < k; a++)
			for (int c = 0; c < a; c++)
				A[c * k + a] = A[a * k + c];
		add_symmetric_noise(A, k, dp->sigma, noise);
		for (int a = 0; a < k; a++)
			b[a] += pz_noise_gaussian(noise, dp->sigma);
		if (!pz_dp_detected(pop, i, dp))
		{
			memset(y, 0, sizeof(float) * k);
			continue;
		}
		for (;;)
		{
			double	   *L = palloc(sizeof(double) * k * k);

			memcpy(L, A, sizeof(double) * k * k);
			for (int a = 0; a < k; a++)
				L[a * k + a] += ridge;
			if (pz_cholesky(L, k, 0))
			{
				pz_cholesky_solve(L, k, b);
				pfree(L);
				break;
			}
			pfree(L);
			ridge *= 2;
		}
		for (int a = 0; a < k; a++)
			y[a] = (float) b[a];
	}
	pfree(G);
	pfree(A);
	pfree(b);
}

void
pz_dp_als_fit(const PzMatrix *m, const TrainParams *p, const double *pop, PzNoise *noise,
			  float *X, float *Y)
{
	int			k = p->als.factors;
	uint64		state = p->als.seed;

	/* a data-independent start, as ALS's own */
	for (Size e = 0; e < (Size) m->nitems * k; e++)
	{
		state += UINT64CONST(0x9E3779B97F4A7C15);
		Y[e] = (float) ((double) (pz_mix64(state) >> 40) / 16777216.0 - 0.5) * 0.1f;
	}
	for (int it = 0; it < p->als.iterations; it++)
	{
		dp_als_subjects(m, &p->als, Y, X);
		dp_als_items(m, &p->als, &p->dp, pop, X, noise, Y);
	}
	/* subjects' factors as serving computes them: from the final Y */
	dp_als_subjects(m, &p->als, Y, X);
}

/* ---- item-kNN -------------------------------------------------------------- */

typedef struct PopRank
{
	double		pop;
	int32		item;
} PopRank;

static int
poprank_cmp(const void *a, const void *b)
{
	const PopRank *x = a;
	const PopRank *y = b;

	if (x->pop != y->pop)
		return x->pop > y->pop ? -1 : 1;
	return x->item - y->item;
}

/* Upper-triangle index of (a, b), a < b, among n. */
static inline Size
pair_index(int32 a, int32 b, int32 n)
{
	return (Size) a * (2 * (Size) n - a - 1) / 2 + (b - a - 1);
}

/* Keep the best nn of candidate (item, score) in a sorted list. */
static void
keep_best(int32 *nbr, float *score, int nn, int32 item, float s)
{
	int			pos;

	if (nbr[nn - 1] >= 0 && !(s > score[nn - 1]))
		return;
	pos = nn - 1;
	while (pos > 0 && (nbr[pos - 1] < 0 || s > score[pos - 1]))
	{
		nbr[pos] = nbr[pos - 1];
		score[pos] = score[pos - 1];
		pos--;
	}
	nbr[pos] = item;
	score[pos] = s;
}

void
pz_dp_knn_fit(const PzMatrix *m, const TrainParams *p, const double *pop, PzNoise *noise,
			  int32 *nbr_out, float *score_out)
{
	const PzDpParams *dp = &p->dp;
	int			nn = p->knn.neighbors;
	PopRank    *ranked = palloc(sizeof(PopRank) * Max(m->nitems, 1));
	int32	   *slot = palloc(sizeof(int32) * Max(m->nitems, 1));
	int32	   *item_of;
	int32		n = 0;
	float	   *C;

	for (int32 i = 0; i < m->nitems; i++)
	{
		ranked[i].pop = pop[i];
		ranked[i].item = i;
		slot[i] = -1;
	}
	qsort(ranked, m->nitems, sizeof(PopRank), poprank_cmp);
	while (n < m->nitems && n < dp->max_items && pz_dp_detected(pop, ranked[n].item, dp))
		n++;
	item_of = palloc(sizeof(int32) * Max(n, 1));
	for (int32 s = 0; s < n; s++)
	{
		item_of[s] = ranked[s].item;
		slot[ranked[s].item] = s;
	}
	for (Size e = 0; e < (Size) m->nitems * nn; e++)
	{
		nbr_out[e] = -1;
		score_out[e] = 0;
	}
	if (n < 2)
		return;

	C = pz_dp_alloc0((Size) n * (n - 1) / 2, sizeof(float));
	for (int32 u = 0; u < m->nusers; u++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
		{
			int32		a = slot[m->user_items[e]];

			if (a < 0)
				continue;
			for (int64 g = m->user_ptr[u]; g < m->user_ptr[u + 1]; g++)
			{
				int32		c = slot[m->user_items[g]];

				if (c > a)
					C[pair_index(a, c, n)] += m->user_vals[e] * m->user_vals[g];
			}
		}
	}
	for (Size e = 0; e < (Size) n * (n - 1) / 2; e++)
		C[e] += (float) pz_noise_gaussian(noise, dp->sigma);

	for (int32 a = 0; a < n; a++)
	{
		int32	   *nbr = nbr_out + (Size) item_of[a] * nn;
		float	   *score = score_out + (Size) item_of[a] * nn;

		CHECK_FOR_INTERRUPTS();
		for (int32 c = 0; c < n; c++)
		{
			float		co;
			float		s;

			if (c == a)
				continue;
			co = a < c ? C[pair_index(a, c, n)] : C[pair_index(c, a, n)];
			s = (float) (co / sqrt(pop[item_of[a]] * pop[item_of[c]]));
			if (s > 0)
				keep_best(nbr, score, nn, item_of[c], s);
		}
	}
	pfree(C);
}
