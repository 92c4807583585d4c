/*
 * dp_fit.h
 *		Private fits (dp_fit.c): what pz_fit() calls when a training asked
 *		for differential privacy.
 */
#ifndef PERSONALIZE_DP_FIT_H
#define PERSONALIZE_DP_FIT_H

#include "dp.h"
#include "train.h"

/*
 * The dp_* training parameters into p->dp (enabled when dp_epsilon is
 * given), with their defaults; adjusts the defaults of the weighting and of
 * ALS iterations for a private fit.  Runs inside the caller's SPI connection.
 */
extern void pz_dp_params(TrainParams *p, Jsonb *params);

/*
 * Split the budget of p->dp over the fit's releases and calibrate their
 * noise (fills the derived fields of p->dp).  Errors for an algorithm that
 * cannot be trained privately, or a weighting that depends on every row.
 */
extern void pz_dp_plan(TrainParams *p);

/* m with at most cap items per subject, chosen by a seeded shuffle. */
extern PzMatrix *pz_dp_cap(const PzMatrix *m, int cap, uint64 seed, const int64 *item_ids,
						   int32 nitems);

/* Every value of a weighted copy clipped at clip (values are the copy's own). */
extern void pz_dp_clip(PzMatrix *m, float clip);

/* The private fit of p->algorithm into f (allocated like pz_fit's). */
extern void pz_dp_fit(const PzMatrix *m, const TrainParams *p, Fitted *f);

/* Shared by dp_fit.c and dp_models.c. */
extern void *pz_dp_alloc0(Size count, Size size);
/* whether item i's noisy popularity is clearly above the noise */
extern bool pz_dp_detected(const double *pop, int32 i, const PzDpParams *dp);
extern void pz_dp_als_fit(const PzMatrix *m, const TrainParams *p, const double *pop,
						  PzNoise *noise, float *X, float *Y);
extern void pz_dp_knn_fit(const PzMatrix *m, const TrainParams *p, const double *pop,
						  PzNoise *noise, int32 *nbr_out, float *score_out);

/* What the card says of a private fit (a jsonb object). */
extern Datum pz_dp_card(const TrainParams *p, const Fitted *f);

#endif							/* PERSONALIZE_DP_FIT_H */
