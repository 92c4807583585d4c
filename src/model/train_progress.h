/*
 * train_progress.h
 *		What a running train_model() is doing, for other sessions to see.
 */
#ifndef TRAIN_PROGRESS_H
#define TRAIN_PROGRESS_H

typedef enum PzTrainPhase
{
	PZ_PHASE_READING,			/* streaming the visible interactions */
	PZ_PHASE_SPLITTING,			/* building the matrices and the hold-out */
	PZ_PHASE_TUNING,			/* fitting candidates on a validation split */
	PZ_PHASE_FITTING_HELDOUT,	/* fitting on the training part */
	PZ_PHASE_EVALUATING,		/* scoring the hold-out */
	PZ_PHASE_FITTING_FINAL,		/* refitting on everything */
	PZ_PHASE_CHECKING_PRIVACY,	/* the membership-inference check (mia.c) */
	PZ_PHASE_STORING			/* writing parameters and the card */
} PzTrainPhase;

extern void pz_train_progress_init(void);
extern void pz_progress_begin(int64 model_id, const char *purpose, const char *algorithm);
extern void pz_progress_phase(PzTrainPhase phase);
extern void pz_progress_rows(int64 rows_read);
extern void pz_progress_step(int step, int steps);
extern void pz_progress_end(void);

#endif							/* TRAIN_PROGRESS_H */
