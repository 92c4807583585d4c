/*
 * train.h
 *		Types shared by training (train.c) and model storage (model_store.c).
 */
#ifndef PERSONALIZE_TRAIN_H
#define PERSONALIZE_TRAIN_H

#include "postgres.h"

#include "dp.h"
#include "personalize.h"
#include "matrix.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum Algorithm
{
	ALG_ALS,
	ALG_ITEMKNN,
	ALG_POPULARITY,
	ALG_RP3BETA,
	ALG_EASE
} Algorithm;

typedef struct TrainParams
{
	Algorithm	algorithm;
	PzAlsParams als;
	PzKnnParams knn;
	PzRp3Params rp3;
	PzEaseParams ease;
	PzWeighting weighting;		/* of the interaction values, every algorithm */
	double		half_life_days; /* popularity decay; <= 0: none */
	double		holdout;		/* share of each subject's items held out */
	int			k;				/* cutoff of the ranking metrics */
	int64		seed;
	bool		tune;
	char	   *activate;		/* auto, always, never */
	int			keep_models;
	char	   *tuning_json;	/* what tuning tried (a JSON object), or NULL */
	PzDpParams	dp;				/* differential privacy, when asked for */
} TrainParams;

/* Rows and subjects read per signal category (train_categories.c). */
typedef struct PzCategoryCounts PzCategoryCounts;

/* What was read from the database. */
typedef struct TrainData
{
	PzTriple   *triples;
	int64		ntriples;
	double	   *age_days;		/* [ntriples], before the newest row used */
	double		first_at;		/* epoch seconds of the oldest and newest rows used */
	double		last_at;
	int64		unknown_kinds;
	int64	   *item_ids;		/* the catalogue, sorted */
	char	  **item_category;	/* [nitems], NULL when none */
	int32		nitems;
	PzCategoryCounts *categories;	/* what was read of each category */
} TrainData;

/* A fitted model, able to score every item for a subject. */
typedef struct Fitted
{
	Algorithm	algorithm;
	const PzMatrix *m;
	int			k;
	float	   *X;				/* ALS user factors [nusers x k] */
	float	   *Y;				/* ALS item factors [nitems x k] */
	double	   *YtY;			/* ALS: Y^T Y [k x k], for folding subjects in */
	PzAlsParams als;
	float	   *item_idf;		/* ALS with log_idf: each item's factor [nitems] */
	int			nn;
	int32	   *nbr;			/* kNN, RP3beta, EASE neighbours [nitems x nn] */
	float	   *nbr_score;
	double	   *popularity;		/* [nitems] */
	int32		dp_items_modelled;	/* private fits: items given factors or neighbours */
	int			ease_items_modelled;	/* EASE: items given weights */
	double		ease_lambda;	/* EASE: the absolute regularization used */
} Fitted;

typedef struct Metrics
{
	double		precision;
	double		recall;
	double		ndcg;
	double		map;
	double		coverage;
	double		gini;
	double		ndcg_stderr;	/* standard error of the mean NDCG */
	int64		subjects;
} Metrics;

/*
 * A seeded per-subject hold-out of a matrix (train.c), and what training
 * and tuning (tune.c) share.
 */
typedef struct Split
{
	PzTriple   *train;
	int64		ntrain;
	/* held-out items per user of the training matrix (dense item indices) */
	int64	   *test_ptr;		/* [nusers + 1] into test_items */
	int64	   *test_items;
} Split;

/*
 * A seeded hash of one (subject, item) pair: the hold-out split, the
 * membership check's halves and the private fits' cap each order a
 * subject's items by it, independently of every other subject's rows.
 */
static inline uint64
pz_pair_hash(uint64 seed, int64 subject, int64 item)
{
	return pz_mix64(seed ^ pz_mix64((uint64) subject * 31 + (uint64) item));
}

extern Split pz_split_matrix(const PzMatrix *m, double holdout, int64 seed);
extern PzMatrix *pz_weighted_copy(const PzMatrix *m, const TrainParams *p);
extern Fitted pz_fit(const PzMatrix *m, const TrainParams *p);
extern void pz_fitted_free(Fitted *f);
/*
 * per_subject, when not NULL, gets each subject's NDCG@k (NaN for subjects
 * with nothing held out): tuning compares points subject by subject.
 */
extern Metrics pz_evaluate(const Fitted *f, const Split *s, int k, float *per_subject);
extern const char *pz_algorithm_name(Algorithm a);

/* tune.c */
extern TrainParams pz_tune(const PzMatrix *train, const TrainData *td, TrainParams p,
						   List **warnings);

/* train_categories.c */
extern PzCategoryCounts *pz_category_counts_create(void);
extern void pz_category_counts_add(PzCategoryCounts *counts, const char *name, int len,
								   int64 subject);
extern Datum pz_category_counts_jsonb(PzCategoryCounts *counts);

/* model_store.c: all run inside the caller's SPI connection */
extern int64 pz_store_begin(const char *algorithm, const char *purpose, Jsonb *params,
							const char *trained_by);
extern void pz_store_parameters(int64 model_id, const Fitted *f, const TrainData *td);
/*
 * Spend the purpose's privacy budget on a private fit, or refuse a
 * non-private one on a purpose that has a budget (before any work; the
 * spending commits or rolls back with the model).
 */
extern void pz_store_spend_privacy(int64 model_id, const char *purpose, const TrainParams *p);
/* models.privacy gets key = value (other keys kept). */
extern void pz_store_privacy(int64 model_id, const char *key, Datum value);
extern void pz_store_finish(int64 model_id, const char *purpose, const TrainParams *p,
							const PzMatrix *m, const TrainData *td, Datum categories_used,
							const char *categories_skipped_json, List *warnings,
							const Metrics *metrics, double training_ms);

#endif							/* PERSONALIZE_TRAIN_H */
