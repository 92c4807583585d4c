/*
 * request.h
 *		What recommend() and explain() know about one call: the purpose it
 *		runs under, the snapshot it scores from, and the subject (consent,
 *		visible history, folded-in factors).
 */
#ifndef PERSONALIZE_REQUEST_H
#define PERSONALIZE_REQUEST_H

#include "postgres.h"

#include "consent.h"
#include "purpose.h"
#include "serving.h"

#define PZ_KIND_MAX 32

/* One item of a subject's visible history. */
typedef struct PzHistoryRow
{
	int64		item_id;
	float		value;			/* summed weight x kind weight */
	char		kind[PZ_KIND_MAX];	/* the kind that weighed most */
} PzHistoryRow;

typedef struct PzRequest
{
	const char *purpose;
	const PzServing *s;
	int64		subject;
	Consent    *consent;		/* the subject's consent; NULL: none on record */
	int			tier;			/* its tier, capped by the purpose's */
	bool		personalized;	/* tier personalization or above, history used */

	int			nhistory;
	PzHistoryRow *history;		/* most recent first */
	int32	   *history_item;	/* catalogue index per row, -1: not in it */

	/*
	 * When the history was cut at personalize.history_limit: every visible
	 * item of the subject (catalogue indices), for excluding what was seen.
	 */
	int			nseen;
	int32	   *seen_item;

	/* ALS only: folded-in factors and the factored system behind them */
	float	   *u;
	double	   *L;
} PzRequest;

extern int	pz_history_limit;

/*
 * The snapshot serving a purpose, after checking the caller may use it;
 * info (if not NULL) receives what the purpose lookup found: its tier cap
 * and whose consents cover it.
 */
extern const PzServing *pz_serving_for_purpose(const char *purpose, PurposeInfo *info);

/* Load what a request needs to know about the subject (info as above). */
extern void pz_request_subject(PzRequest *r, const PzServing *s, const char *purpose,
							   const PurposeInfo *info, int64 subject);

/* Whether the model itself (not the popularity fallback) can score. */
extern bool pz_request_uses_model(const PzRequest *r);

/* The model's score of an item for the subject (popularity without one). */
extern float pz_request_score(const PzRequest *r, int32 item);

/*
 * How much each history row contributes to the model's score of an item
 * (contrib [nhistory]; they sum to the score for ALS and item-kNN).
 */
extern void pz_request_contributions(const PzRequest *r, int32 item, float *contrib);

/*
 * The subject's history visible under a purpose now, read as the caller
 * through the row-level security policy: one row per item, most recent
 * first (ties: larger summed weight first, then smaller item id, so the
 * subset kept under a limit is deterministic), at most limit rows (0: all).
 */
extern int	pz_visible_history(const char *purpose, int64 subject, int limit,
							   PzHistoryRow **rows);

#endif							/* PERSONALIZE_REQUEST_H */
