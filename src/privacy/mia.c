/*
 * mia.c
 *		The membership-inference check: could someone who only sees what a
 *		model serves tell the subjects it was trained on from the others?
 *
 * A black-box, user-level attack in the spirit of Zhang et al., "Membership
 * Inference Attacks Against Recommender Systems" (CCS 2021).  Members are
 * training subjects; non-members are subjects held out of training
 * entirely.  Since the model being stored was trained on everybody, the
 * check trains a shadow model with the same parameters (and the same
 * pz_fit(), so a differentially private model's shadow is private too) on
 * everything but a seeded sample of subjects, and attacks the shadow:
 *
 *	non-members  round(20%) of the subjects with at least 2 items, at most
 *				 PZ_MIA_MAX_SUBJECTS; their rows are removed before the shadow
 *				 fit.  With fewer than PZ_MIA_TARGET, further disjoint folds
 *				 (shadow fits) follow, up to PZ_MIA_MAX_FOLDS, and their
 *				 results are pooled; fewer than PZ_MIA_MIN_SUBJECTS in all and
 *				 the check is not run (the card says why; the gate does not
 *				 reject: the AUC's standard error would exceed 0.07)
 *	members		 as many others with at least 2 items, trained on
 *
 * Both are chosen by a hash of (seed, subject), so the same seed and data
 * give the same check.  Each attacked subject is scored as serving scores
 * a history (ALS: folded in against the item factors; kNN and RP3beta:
 * neighbour scores summed; popularity: popularity), and two attacks read
 * the scores:
 *
 *	split	the subject's items cut in two seeded halves A and B; score from
 *			A only; the attack value is the mean percentile rank of B's
 *			items among the items not in A.  A member's B was trained on,
 *			so a model that memorised co-occurrences ranks it higher.
 *	self	score from the whole history; the mean percentile rank of the
 *			history's own items among all items.  A model that memorised
 *			its training rows reconstructs a member's row better.
 *
 * Each attack's AUC is the Mann-Whitney statistic (ties count 1/2) of
 * "member scores higher"; the direction is fixed by the mechanism, not
 * fitted, so a model that leaks nothing scores 0.5 on average.  The card
 * reports the stronger attack (the larger AUC), and that is what the gate
 * compares with personalize.mia_max_auc: taking the larger of two adds a
 * little upward noise, which errs on the side of rejecting.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "distance.h"
#include "mia.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define PZ_MIA_SHARE			0.2		/* of the eligible subjects, per fold */
#define PZ_MIA_MAX_SUBJECTS		2000	/* non-members per fold */
#define PZ_MIA_TARGET			200		/* non-members wanted (more folds if fewer) */
#define PZ_MIA_MAX_FOLDS		5		/* shadow fits at most */
#define PZ_MIA_MIN_SUBJECTS		50		/* non-members (and members) needed */
#define PZ_MIA_MIN_ELIGIBLE		50		/* the eligible subjects that gives */

/* Salts, so that these hashes are not the hold-out split's. */
#define PZ_MIA_SALT_SUBJECT		UINT64CONST(0x6d69612d7375626a)
#define PZ_MIA_SALT_HALF		UINT64CONST(0x6d69612d68616c66)

/*
 * 0.97, from measurements (README, "How the default was chosen"): below
 * the overfit ALS models measured (0.987 on Last.fm, 0.998 on sparse
 * generated data), above default ALS on real and small data (0.89-0.92),
 * which a default that rejected them would make unusable out of the box.
 * Item-kNN and RP3beta with min_support 1 on Last.fm's long tail
 * (0.999-1.0) are rejected: their neighbour lists expose who co-listened
 * (the default min_support 2 brings them to 0.66).
 */
static double mia_max_auc = 0.97;

void
pz_mia_define_gucs(void)
{
	/*
	 * SUSET: the limit protects the subjects, not the person training; a
	 * role allowed to train must not be able to loosen it for itself.
	 */
	DefineCustomRealVariable("personalize.mia_max_auc",
							 "Highest membership-inference attack AUC a trained model may have and still be activated.",
							 "A model whose attack AUC exceeds it is rejected and never activated.",
							 &mia_max_auc, 0.97, 0.5, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

typedef struct Ranked
{
	uint64		hash;
	int32		user;
} Ranked;

static int
ranked_cmp(const void *a, const void *b)
{
	const Ranked *x = a;
	const Ranked *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->user - y->user;
}

static int
double_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* ---- scoring as serving does ------------------------------------------------ */

/* Scores of every item for a history, from the shadow model f. */
static void
score_history(const Fitted *f, const TrainParams *p, const int32 *items,
			  const float *raw, int n, float *scores, float *x, float *wvals)
{
	int32		nitems = f->m->nitems;

	switch (f->algorithm)
	{
		case ALG_ALS:
			for (int j = 0; j < n; j++)
				wvals[j] = pz_weigh_value(p->weighting, raw[j],
										  f->item_idf ? f->item_idf[items[j]] : 1.0f);
			pz_als_fold_in(f->Y, f->k, f->YtY, items, wvals, n, &f->als, x);
			for (int32 i = 0; i < nitems; i++)
				scores[i] = pz_kernels->dot(x, f->Y + (Size) i * f->k, f->k);
			break;
		case ALG_ITEMKNN:
		case ALG_RP3BETA:
		case ALG_EASE:
			memset(scores, 0, sizeof(float) * nitems);
			for (int j = 0; j < n; j++)
				for (int k = 0; k < f->nn; k++)
				{
					int32		nb = f->nbr[(Size) items[j] * f->nn + k];

					if (nb < 0)
						break;
					scores[nb] += f->nbr_score[(Size) items[j] * f->nn + k];
				}
			break;
		case ALG_POPULARITY:
			for (int32 i = 0; i < nitems; i++)
				scores[i] = (float) f->popularity[i];
			break;
	}
	/* a degenerate fold-in must not break the comparisons below */
	for (int32 i = 0; i < nitems; i++)
		if (isnan(scores[i]))
			scores[i] = -FLT_MAX;
}

/*
 * Mean percentile rank of the targets among the candidates (the items with
 * excluded[i] false, targets among them): for each target, the share of the
 * other candidates scored below it, ties counting half.  One pass over the
 * candidates with a binary search among the (few) sorted target scores.
 */
static double
mean_percentile(const float *scores, int32 nitems, const bool *excluded,
				const int32 *targets, int ntargets, double *tscore)
{
	double		below = 0,
				ties = 0;
	int64		ncand = 0;

	for (int t = 0; t < ntargets; t++)
		tscore[t] = scores[targets[t]];
	qsort(tscore, ntargets, sizeof(double), double_cmp);
	for (int32 i = 0; i < nitems; i++)
	{
		double		c = scores[i];
		int			lo = 0,
					hi = ntargets;

		if (excluded != NULL && excluded[i])
			continue;
		ncand++;
		/* first target >= c */
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (tscore[mid] < c)
				lo = mid + 1;
			else
				hi = mid;
		}
		hi = lo;
		while (hi < ntargets && tscore[hi] == c)
			hi++;
		below += ntargets - hi;	/* targets above this candidate */
		ties += hi - lo;
	}
	ties -= ntargets;			/* each target tied with itself */
	if (ncand < 2)
		return 0.5;
	return (below + 0.5 * ties) / ((double) ntargets * (ncand - 1));
}

/* ---- statistics ----------------------------------------------------------- */

typedef struct Labelled
{
	double		v;
	bool		member;
} Labelled;

static int
labelled_cmp(const void *a, const void *b)
{
	return double_cmp(&((const Labelled *) a)->v, &((const Labelled *) b)->v);
}

/* P(member value > non-member value) + P(equal) / 2, by average ranks. */
static double
mann_whitney_auc(const double *mem, int n1, const double *non, int n2)
{
	Labelled   *all = palloc(sizeof(Labelled) * (n1 + n2));
	double		rank_sum = 0;
	int			n = n1 + n2;

	for (int i = 0; i < n1; i++)
		all[i] = (Labelled) {mem[i], true};
	for (int i = 0; i < n2; i++)
		all[n1 + i] = (Labelled) {non[i], false};
	qsort(all, n, sizeof(Labelled), labelled_cmp);
	for (int i = 0; i < n;)
	{
		int			j = i;
		double		avg;

		while (j < n && all[j].v == all[i].v)
			j++;
		avg = (i + 1 + j) / 2.0;	/* ranks i+1 .. j */
		for (int t = i; t < j; t++)
			if (all[t].member)
				rank_sum += avg;
		i = j;
	}
	pfree(all);
	return (rank_sum - (double) n1 * (n1 + 1) / 2.0) / ((double) n1 * n2);
}

/*
 * Share of members flagged when at most floor(fpr * n2) non-members are: the
 * threshold is the (floor(fpr * n2) + 1)-th highest non-member value and a
 * member must score strictly above it.  With fewer than 1 / fpr
 * non-members that allows none, i.e. it is the rate at zero false
 * positives, a lower bound of the rate at fpr.
 */
static double
tpr_at_fpr(const double *mem, int n1, const double *non, int n2, double fpr)
{
	double	   *sorted = palloc(sizeof(double) * n2);
	int			allowed = (int) floor(fpr * n2 + 1e-9);
	double		threshold;
	int			hits = 0;

	memcpy(sorted, non, sizeof(double) * n2);
	qsort(sorted, n2, sizeof(double), double_cmp);
	if (allowed >= n2)
		threshold = -INFINITY;
	else
		threshold = sorted[n2 - 1 - allowed];
	for (int i = 0; i < n1; i++)
		hits += mem[i] > threshold;
	pfree(sorted);
	return (double) hits / n1;
}

/*
 * Wilson score bounds of a proportion k/n at z (one side each).  The audit
 * below needs a lower bound of a rate and an upper bound of another.
 */
static double
wilson(int k, int n, double z, bool upper)
{
	double		ph = (double) k / n;
	double		d = 1 + z * z / n;
	double		c = ph + z * z / (2.0 * n);
	double		h = z * sqrt(ph * (1 - ph) / n + z * z / (4.0 * n * n));

	return upper ? Min((c + h) / d, 1.0) : Max((c - h) / d, 0.0);
}

/*
 * The epsilon the attack proves, at 95% confidence: an (epsilon, delta)-DP
 * model allows at any threshold TPR <= e^epsilon FPR + delta, and likewise
 * TNR <= e^epsilon FNR + delta (Jagielski et al., "Auditing differentially
 * private machine learning", 2020).  Each threshold between two observed
 * scores gives a bound from the confidence bounds of the rates (2.24: each
 * of the two one-sided bounds at 98.75%, Bonferroni); the largest counts.
 * Members and non-members come from one training run, so it is an
 * indication rather than a proof (Steinke et al. 2023 analyse such audits);
 * a private model whose figure exceeded its epsilon would be a bug.
 */
static double
empirical_epsilon(const double *mem, int n1, const double *non, int n2, double delta)
{
	double	   *t = palloc(sizeof(double) * (n1 + n2));
	double		best = 0;

	memcpy(t, mem, sizeof(double) * n1);
	memcpy(t + n1, non, sizeof(double) * n2);
	qsort(t, n1 + n2, sizeof(double), double_cmp);
	for (int i = 0; i < n1 + n2; i++)
	{
		int			tp = 0,
					fp = 0;
		double		tpr_lo,
					fpr_hi,
					tnr_lo,
					fnr_hi;

		if (i > 0 && t[i] == t[i - 1])
			continue;
		for (int j = 0; j < n1; j++)
			tp += mem[j] >= t[i];
		for (int j = 0; j < n2; j++)
			fp += non[j] >= t[i];
		tpr_lo = wilson(tp, n1, 2.24, false);
		fpr_hi = wilson(fp, n2, 2.24, true);
		tnr_lo = wilson(n2 - fp, n2, 2.24, false);
		fnr_hi = wilson(n1 - tp, n1, 2.24, true);
		if (tpr_lo > delta && fpr_hi > 0)
			best = Max(best, log((tpr_lo - delta) / fpr_hi));
		if (tnr_lo > delta && fnr_hi > 0)
			best = Max(best, log((tnr_lo - delta) / fnr_hi));
	}
	pfree(t);
	return best;
}

/* ---- the check ------------------------------------------------------------ */

/* The shadow's training rows: every row of full but the non-members'. */
static PzMatrix *
shadow_matrix(const PzMatrix *full, const bool *non_member)
{
	PzTriple   *t = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(PzTriple) * Max(full->nnz, 1));
	int64		n = 0;

	for (int32 u = 0; u < full->nusers; u++)
	{
		if (non_member[u])
			continue;
		for (int64 j = full->user_ptr[u]; j < full->user_ptr[u + 1]; j++)
		{
			t[n].subject_id = full->user_ids[u];
			t[n].item_id = full->item_ids[full->user_items[j]];
			t[n].value = full->user_vals[j];
			n++;
		}
	}
	return pz_matrix_build(t, n, full->item_ids, full->nitems);
}

/*
 * Both attack values of one subject of full against the shadow f: split
 * (history half A scored, half B ranked) and self (whole history).
 */
static void
attack_subject(const Fitted *f, const TrainParams *p, const PzMatrix *full, int32 u,
			   float *scores, bool *in_a, float *x, float *wvals, double *tscore,
			   double *split, double *self)
{
	int64		lo = full->user_ptr[u];
	int			n = (int) (full->user_ptr[u + 1] - lo);
	const int32 *items = full->user_items + lo;
	const float *raw = full->user_vals + lo;
	int32	   *a = palloc(sizeof(int32) * n);
	float	   *araw = palloc(sizeof(float) * n);
	int32	   *b = palloc(sizeof(int32) * n);
	Ranked	   *order = palloc(sizeof(Ranked) * n);
	int			na = 0,
				nb = 0;

	/* the floor(n / 2) items of smallest hash make B, the rest A */
	for (int j = 0; j < n; j++)
	{
		order[j].hash = pz_pair_hash((uint64) p->seed ^ PZ_MIA_SALT_HALF, full->user_ids[u],
									 full->item_ids[items[j]]);
		order[j].user = j;
	}
	qsort(order, n, sizeof(Ranked), ranked_cmp);
	for (int r = 0; r < n; r++)
	{
		int			j = order[r].user;

		if (r < n / 2)
			b[nb++] = items[j];
		else
		{
			a[na] = items[j];
			araw[na] = raw[j];
			na++;
		}
	}

	score_history(f, p, a, araw, na, scores, x, wvals);
	for (int j = 0; j < na; j++)
		in_a[a[j]] = true;
	*split = mean_percentile(scores, full->nitems, in_a, b, nb, tscore);
	for (int j = 0; j < na; j++)
		in_a[a[j]] = false;

	score_history(f, p, items, raw, n, scores, x, wvals);
	*self = mean_percentile(scores, full->nitems, NULL, items, n, tscore);

	pfree(a);
	pfree(araw);
	pfree(b);
	pfree(order);
}

/*
 * Hanley and McNeil's standard error of an AUC from n1 members and n2
 * non-members, so the card says how far the estimate can be trusted.
 */
static double
auc_stderr(double a, int n1, int n2)
{
	double		q1 = a / (2 - a);
	double		q2 = 2 * a * a / (1 + a);
	double		v = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) /
		((double) n1 * n2);

	return sqrt(Max(v, 0));
}

/* Everything the attacks of one check share. */
typedef struct MiaScratch
{
	float	   *scores;
	bool	   *in_a;
	float	   *x;
	float	   *wvals;
	double	   *tscore;
} MiaScratch;

/*
 * One fold: the subjects eligible[first .. first + n) are the non-members,
 * the n after them (wrapping) the members; shadow fit, then both attacks
 * on each, appended to the arrays at offset *done.
 */
static void
run_fold(const PzMatrix *full, const TrainParams *p, const Ranked *eligible, int neligible,
		 int first, int n, MiaScratch *w, double *split_mem, double *split_non,
		 double *self_mem, double *self_non, int *done)
{
	bool	   *non_member = palloc0(sizeof(bool) * Max(full->nusers, 1));
	PzMatrix   *shadow;
	Fitted		f;

	for (int i = 0; i < n; i++)
		non_member[eligible[first + i].user] = true;
	shadow = shadow_matrix(full, non_member);
	f = pz_fit(pz_weighted_copy(shadow, p), p);
	if (w->x == NULL)
		w->x = palloc(sizeof(float) * Max(f.k, 1));
	for (int i = 0; i < n; i++)
	{
		int			at = *done + i;

		attack_subject(&f, p, full, eligible[first + i].user, w->scores, w->in_a, w->x,
					   w->wvals, w->tscore, &split_non[at], &self_non[at]);
		attack_subject(&f, p, full, eligible[(first + n + i) % neligible].user, w->scores,
					   w->in_a, w->x, w->wvals, w->tscore, &split_mem[at], &self_mem[at]);
		CHECK_FOR_INTERRUPTS();
	}
	*done += n;
	pz_fitted_free(&f);
	pfree(non_member);
}

/*
 * Subjects with at least two items are eligible.  A fold takes 20% of them
 * (at most PZ_MIA_MAX_SUBJECTS) as non-members; when one fold gives fewer
 * than PZ_MIA_TARGET non-members, further disjoint folds are run (at most
 * PZ_MIA_MAX_FOLDS shadow fits, so on small data every eligible subject is
 * a non-member once), and the attack values of all folds are pooled.
 */
PzMiaResult
pz_membership_check(const PzMatrix *full, const TrainParams *p)
{
	PzMiaResult r;
	MemoryContext cxt,
				old;
	instr_time	start,
				elapsed;
	Ranked	   *eligible;
	int			neligible = 0;
	int			per_fold;
	int			folds;
	int			done = 0;
	int			longest = 1;
	double	   *split_mem,
			   *split_non,
			   *self_mem,
			   *self_non;
	MiaScratch	w = {0};

	INSTR_TIME_SET_CURRENT(start);
	memset(&r, 0, sizeof(r));
	r.max_auc = mia_max_auc;
	r.passed = true;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize membership check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	eligible = palloc(sizeof(Ranked) * Max(full->nusers, 1));
	for (int32 u = 0; u < full->nusers; u++)
	{
		int			n = (int) (full->user_ptr[u + 1] - full->user_ptr[u]);

		if (n < 2)
			continue;
		eligible[neligible].hash = pz_mix64((uint64) p->seed ^ PZ_MIA_SALT_SUBJECT ^
											pz_mix64((uint64) full->user_ids[u]));
		eligible[neligible].user = u;
		neligible++;
		longest = Max(longest, n);
	}
	r.eligible = neligible;
	per_fold = Min((int) rint(PZ_MIA_SHARE * neligible), PZ_MIA_MAX_SUBJECTS);
	folds = per_fold > 0 ? (PZ_MIA_TARGET + per_fold - 1) / per_fold : 0;
	folds = Min(folds, PZ_MIA_MAX_FOLDS);
	if (per_fold > 0)
		folds = Min(folds, neligible / per_fold);
	/* rounding must not drop a check the eligible subjects can afford */
	if (per_fold * folds < PZ_MIA_MIN_SUBJECTS && neligible >= PZ_MIA_MIN_ELIGIBLE)
	{
		folds = PZ_MIA_MAX_FOLDS;
		per_fold = neligible / PZ_MIA_MAX_FOLDS;
	}
	if (per_fold * folds < PZ_MIA_MIN_SUBJECTS)
	{
		r.ran = false;
		r.reason = psprintf("too few subjects to measure: %d with at least 2 items, the check needs %d",
							neligible, PZ_MIA_MIN_ELIGIBLE);
		MemoryContextSwitchTo(old);
		r.reason = pstrdup(r.reason);
		MemoryContextDelete(cxt);
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		r.check_ms = INSTR_TIME_GET_MILLISEC(elapsed);
		return r;
	}
	r.ran = true;
	r.folds = folds;
	r.members = r.non_members = per_fold * folds;
	qsort(eligible, neligible, sizeof(Ranked), ranked_cmp);

	w.scores = palloc(sizeof(float) * Max(full->nitems, 1));
	w.in_a = palloc0(sizeof(bool) * Max(full->nitems, 1));
	w.wvals = palloc(sizeof(float) * longest);
	w.tscore = palloc(sizeof(double) * longest);
	split_mem = palloc(sizeof(double) * r.members);
	split_non = palloc(sizeof(double) * r.members);
	self_mem = palloc(sizeof(double) * r.members);
	self_non = palloc(sizeof(double) * r.members);
	for (int fold = 0; fold < folds; fold++)
		run_fold(full, p, eligible, neligible, fold * per_fold, per_fold, &w,
				 split_mem, split_non, self_mem, self_non, &done);

	r.auc_split = mann_whitney_auc(split_mem, done, split_non, done);
	r.auc_self = mann_whitney_auc(self_mem, done, self_non, done);
	if (r.auc_split >= r.auc_self)
	{
		r.attack = "split";
		r.auc = r.auc_split;
		r.tpr_1pct = tpr_at_fpr(split_mem, done, split_non, done, 0.01);
		r.tpr_01pct = tpr_at_fpr(split_mem, done, split_non, done, 0.001);
		r.empirical_epsilon = empirical_epsilon(split_mem, done, split_non, done,
												p->dp.enabled ? p->dp.delta : 0);
	}
	else
	{
		r.attack = "self";
		r.auc = r.auc_self;
		r.tpr_1pct = tpr_at_fpr(self_mem, done, self_non, done, 0.01);
		r.tpr_01pct = tpr_at_fpr(self_mem, done, self_non, done, 0.001);
		r.empirical_epsilon = empirical_epsilon(self_mem, done, self_non, done,
												p->dp.enabled ? p->dp.delta : 0);
	}
	r.auc_stderr = auc_stderr(r.auc, done, done);
	r.passed = !(r.auc > r.max_auc);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	r.check_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	return r;
}

/* ---- the card ------------------------------------------------------------- */

static const char *
attack_description(const char *attack)
{
	if (strcmp(attack, "split") == 0)
		return "history split: each subject's items cut in two seeded halves; the mean percentile "
			"rank of the second half when the model scores from the first";
	return "own history: the mean percentile rank of a subject's own items when the model scores "
		"from their whole history";
}

void
pz_membership_store(int64 model_id, const PzMiaResult *r)
{
	StringInfoData s;

	initStringInfo(&s);
	if (!r->ran)
		appendStringInfo(&s, "{\"ran\": false, \"reason\": \"%s\", \"eligible_subjects\": %d, "
						 "\"max_auc\": %g, \"passed\": null, \"check_ms\": %.1f}",
						 r->reason, r->eligible, r->max_auc, r->check_ms);
	else
		appendStringInfo(&s, "{\"ran\": true, \"attack\": \"%s\", \"attack_description\": \"%s\", "
						 "\"auc\": %.4f, \"tpr_at_1pct_fpr\": %.4f, \"tpr_at_0_1pct_fpr\": %.4f, "
						 "\"auc_by_attack\": {\"split\": %.4f, \"self\": %.4f}, "
						 "\"auc_stderr\": %.4f, \"members\": %d, \"non_members\": %d, \"shadow_models\": %d, "
						 "\"eligible_subjects\": %d, \"empirical_epsilon\": %.3f, "
						 "\"max_auc\": %g, \"passed\": %s, \"check_ms\": %.1f}",
						 r->attack, attack_description(r->attack), r->auc, r->tpr_1pct,
						 r->tpr_01pct, r->auc_split, r->auc_self, r->auc_stderr, r->members,
						 r->non_members, r->folds, r->eligible, r->empirical_epsilon, r->max_auc,
						 r->passed ? "true" : "false", r->check_ms);
	pz_store_privacy(model_id, "membership_inference",
					 DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
}
