/*
 * matrix.h
 *		The implicit-feedback matrix training works on: subjects x items with
 *		a confidence weight per pair, held both by subject (CSR) and by item
 *		(CSC), with dense indices mapped to and from database ids.
 */
#ifndef PERSONALIZE_MATRIX_H
#define PERSONALIZE_MATRIX_H

#include "postgres.h"

#include <math.h>

typedef struct PzMatrix
{
	int32		nusers;
	int32		nitems;
	int64		nnz;
	int64	   *user_ids;		/* [nusers] dense index -> subject id */
	int64	   *item_ids;		/* [nitems] dense index -> item id */

	/* by subject: items user_items[user_ptr[u] .. user_ptr[u+1]) */
	int64	   *user_ptr;		/* [nusers + 1] */
	int32	   *user_items;		/* [nnz], sorted within a row */
	float	   *user_vals;		/* [nnz], > 0 */

	/* by item: subjects item_users[item_ptr[i] .. item_ptr[i+1]) */
	int64	   *item_ptr;		/* [nitems + 1] */
	int32	   *item_users;		/* [nnz], sorted within a column */
	float	   *item_vals;		/* [nnz] */
} PzMatrix;

/* A triple as read from interactions, before indexing. */
typedef struct PzTriple
{
	int64		subject_id;
	int64		item_id;
	float		value;
} PzTriple;

/*
 * Build a matrix from triples (duplicates of a pair are summed; values that
 * end up <= 0 are dropped).  item_ids_all, when given, fixes the item index
 * (so items nobody interacted with still get an index); otherwise items are
 * those seen.  Memory comes from CurrentMemoryContext (huge allocations
 * allowed).
 */
extern PzMatrix *pz_matrix_build(PzTriple *triples, int64 ntriples,
								 const int64 *item_ids_all, int32 nitems_all);

/*
 * How stored interaction values become the values models learn from.  Raw
 * implicit-feedback counts (plays, views) are heavy-tailed: used as ALS
 * confidence or kNN weights as they are, a few heavy rows dominate.
 *
 *	none	the summed value as it is
 *	binary	1 for every (subject, item) pair
 *	log		log(1 + value)
 *	bm25	BM25 with subjects as documents and items as terms (see
 *			pz_matrix_weigh); it depends on the whole matrix, so models that
 *			weigh a subject's history again at serving time (ALS fold-in)
 *			cannot use it
 *	log_idf	log(1 + value) x the item's idf over its mean (pz_item_idf): the
 *			idf is a per-item factor, stored with ALS models, so fold-in
 *			weighs a history as training did
 */
typedef enum PzWeighting
{
	PZ_WEIGHT_NONE,
	PZ_WEIGHT_BINARY,
	PZ_WEIGHT_LOG,
	PZ_WEIGHT_BM25,
	PZ_WEIGHT_LOG_IDF
} PzWeighting;

/* The name of a weighting, and back (-1: unknown name). */
extern const char *pz_weighting_name(PzWeighting w);
extern int	pz_weighting_parse(const char *name);

/*
 * One value, for the weightings that need nothing but the value and, for
 * log_idf, the item's factor (pz_item_idf; 1 for the others).
 */
static inline float
pz_weigh_value(PzWeighting w, float v, float item_factor)
{
	switch (w)
	{
		case PZ_WEIGHT_BINARY:
			return v > 0.0f ? 1.0f : 0.0f;
		case PZ_WEIGHT_LOG:
			return v > 0.0f ? log1pf(v) : 0.0f;
		case PZ_WEIGHT_LOG_IDF:
			return v > 0.0f ? log1pf(v) * item_factor : 0.0f;
		default:
			return v;
	}
}

/*
 * idf[i] = max(ln(subjects) - ln(1 + subjects of i), 1e-6), divided by its
 * mean over the matrix's entries, so that log_idf keeps log's scale (and
 * alpha its meaning); 1 for items nobody has.
 */
extern void pz_item_idf(const PzMatrix *m, float *idf);

/*
 * Reweigh every stored value of m in place (rows and columns alike).  BM25
 * uses k1 and b; the others ignore them.
 */
extern void pz_matrix_weigh(PzMatrix *m, PzWeighting w, double bm25_k1, double bm25_b);

/*
 * count x size zeroed bytes from CurrentMemoryContext, more than 1 GB
 * allowed, the product checked (program_limit_exceeded).
 */
extern void *pz_alloc_zeroed(Size count, Size size);

/* Dense index of an id, or -1 (binary search; ids are sorted). */
extern int32 pz_search_ids(const int64 *ids, int32 n, int64 id);
extern int32 pz_matrix_user_index(const PzMatrix *m, int64 subject_id);
extern int32 pz_matrix_item_index(const PzMatrix *m, int64 item_id);

/* ---- ALS (train_als.c) --------------------------------------------------- */

typedef struct PzAlsParams
{
	int			factors;		/* k, 1..256 */
	float		regularization; /* lambda */
	float		reg_exponent;	/* a row's lambda x max(its entries, 1)^this */
	float		alpha;			/* confidence = 1 + alpha * value */
	int			iterations;
	int			cg_steps;		/* conjugate-gradient steps per solve */
	uint64		seed;
} PzAlsParams;

/*
 * The ridge of a row with n entries (a subject folded in with n history
 * items included): lambda x max(n, 1)^reg_exponent.  With an exponent
 * between 0 and 1 a row with more data gets a larger ridge, growing more
 * slowly than its data (Rendle et al., "Revisiting the Performance of iALS
 * on Item Recommendation Benchmarks", 2022: frequency-scaled
 * regularization); on Last.fm it is what made 48-64 factors pay off.
 */
static inline double
pz_als_row_lambda(const PzAlsParams *p, int n)
{
	if (!(p->reg_exponent > 0.0f))
		return p->regularization;
	return p->regularization * pow((double) Max(n, 1), p->reg_exponent);
}

/*
 * Fit user factors X [nusers x k] and item factors Y [nitems x k], row-major,
 * by implicit-feedback ALS (Hu, Koren, Volinsky) with a conjugate-gradient
 * solver warm-started from the previous iteration.  Arrays are allocated by
 * the caller; they are initialised here from the seed.  Calls
 * CHECK_FOR_INTERRUPTS() between solves.
 */
extern void pz_als_fit(const PzMatrix *m, const PzAlsParams *p, float *X, float *Y);

/* YtY [k x k] of item factors (row-major). */
extern void pz_als_gram(const float *Y, int32 nitems, int k, double *YtY);

/*
 * Exact factors for one subject from their history (fold-in): solves
 * (YtY + Y_u^T (C_u - I) Y_u + lambda I) x = Y_u^T C_u p_u by Cholesky.
 * items/values: the subject's item indices and raw values.
 */
extern void pz_als_fold_in(const float *Y, int k, const double *YtY,
						   const int32 *items, const float *values, int n,
						   const PzAlsParams *p, float *x);

/*
 * The same system, factored: returns L (k x k, row-major, lower triangle)
 * with A = L L^T, and fills b [k]; pz_cholesky_solve() then solves A x = b
 * for any b, which explanations use to split a score by history item.
 */
extern double *pz_als_fold_in_system(const float *Y, int k, const double *YtY,
									 const int32 *items, const float *values, int n,
									 const PzAlsParams *p, double *b);
extern void pz_cholesky_solve(const double *L, int k, double *b);

/*
 * In place, A = L L^T in the lower triangle of A [k x k].  A pivot at or
 * below floor fails (false) when floor is 0; a positive floor replaces it
 * (fold-in's minimum-norm-like answer for a singular system).
 */
extern bool pz_cholesky(double *A, int k, double floor);

/* ---- item-kNN (train_knn.c) ---------------------------------------------- */

typedef struct PzKnnParams
{
	int			neighbors;		/* neighbours kept per item */
	float		bm25_k1;		/* for PZ_WEIGHT_BM25 (pz_matrix_weigh) */
	float		bm25_b;
	float		shrinkage;		/* similarity damping for rare co-occurrence */
	int			min_support;	/* subjects a pair must share to be neighbours */
} PzKnnParams;

/*
 * For each item, its top `neighbors` most similar items (cosine similarity
 * of the items' columns of m, as weighted by pz_matrix_weigh, > 0), best
 * first: neighbor[i * neighbors + j], score likewise; unused slots have
 * neighbor -1.
 */
extern void pz_knn_fit(const PzMatrix *m, const PzKnnParams *p,
					   int32 *neighbor, float *score);

/* ---- RP3beta (train_knn.c) ------------------------------------------------ */

typedef struct PzRp3Params
{
	int			neighbors;		/* neighbours kept per item */
	float		alpha;			/* exponent of the transition probabilities */
	float		beta;			/* popularity penalty: deg(j)^-beta */
	int			min_support;	/* subjects a pair must share to be neighbours */
} PzRp3Params;

/*
 * RP3beta (Paudel, Christoffel, Bernstein, "Updatable, Accurate, Diverse,
 * and Scalable Recommendations for Interactive Applications", 2017): item i
 * to item j by a two-step random walk item -> subject -> item over the
 * weighted matrix, W_ij = sum_u P(u|i)^alpha P(j|u)^alpha / deg(j)^beta,
 * the top `neighbors` of each item kept, stored like pz_knn_fit's.
 */
extern void pz_rp3beta_fit(const PzMatrix *m, const PzRp3Params *p,
						   int32 *neighbor, float *score);

/* ---- EASE (train_ease.c) -------------------------------------------------- */

#define PZ_EASE_DEFAULT_REGULARIZATION 4
#define PZ_EASE_DEFAULT_MAX_ITEMS 3000
#define PZ_EASE_MAX_ITEMS 20000	/* 12 n^2 bytes: 4.8 GB */

typedef struct PzEaseParams
{
	float		regularization; /* lambda over the mean diagonal of X^T X */
	int			neighbors;		/* weights kept per item, by magnitude */
	int			max_items;		/* items modelled, the most followed first */
} PzEaseParams;

/*
 * EASE (Steck 2019): closed-form item-item weights over the max_items items
 * with the most subjects, each item's `neighbors` weights largest in
 * magnitude stored like pz_knn_fit's (some negative).  Returns the absolute
 * lambda used; *items_modelled gets how many items have weights.
 */
extern double pz_ease_fit(const PzMatrix *m, const PzEaseParams *p, int32 *neighbor,
						  float *score, int *items_modelled);

#endif							/* PERSONALIZE_MATRIX_H */
