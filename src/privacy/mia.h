/*
 * mia.h
 *		The membership-inference check every trained model goes through
 *		(mia.c), and the setting that gates activation on it.
 */
#ifndef PERSONALIZE_MIA_H
#define PERSONALIZE_MIA_H

#include "postgres.h"

#include "train.h"

/* What the check found; written to models.privacy by pz_membership_store. */
typedef struct PzMiaResult
{
	bool		ran;			/* false: too few subjects (reason says) */
	const char *reason;
	const char *attack;			/* the stronger of the two attacks */
	double		auc;			/* its AUC (members ranked above non-members) */
	double		tpr_1pct;		/* its true-positive rate at 1% false positives */
	double		tpr_01pct;		/* ... and at 0.1% */
	double		auc_split;		/* AUC of each attack */
	double		auc_self;
	double		auc_stderr;		/* Hanley-McNeil standard error of auc */
	int			folds;			/* shadow models fitted */
	int			members;
	int			non_members;
	int			eligible;		/* subjects with at least 2 items */
	double		max_auc;		/* personalize.mia_max_auc when checked */
	bool		passed;
	double		empirical_epsilon;	/* lower bound the attack proves, 95% */
	double		check_ms;
} PzMiaResult;

extern void pz_mia_define_gucs(void);

/*
 * Fit a shadow model with p on full minus the non-members' rows and attack
 * it (see mia.c).  full holds the summed values as read (before weighting).
 */
extern PzMiaResult pz_membership_check(const PzMatrix *full, const TrainParams *p);

/* Merge the result into models.privacy under "membership_inference" (SPI). */
extern void pz_membership_store(int64 model_id, const PzMiaResult *r);

#endif							/* PERSONALIZE_MIA_H */
