/*
 * recommend.h
 *		Serving settings, and the impressions recommend() leaves behind.
 */
#ifndef PERSONALIZE_RECOMMEND_H
#define PERSONALIZE_RECOMMEND_H

#include "postgres.h"

#include "rank.h"
#include "request.h"

extern bool pz_log_impressions;

extern void pz_recommend_define_gucs(void);

/* Count what was shown in the bandit counters, and log it if enabled. */
extern void pz_record_impressions(const PzRequest *r, const PzCandidate *list, int n);

#endif							/* PERSONALIZE_RECOMMEND_H */
