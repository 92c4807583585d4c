/*
 * dp.h
 *		Differential privacy in training: the accountant (zero-concentrated
 *		DP, converted to epsilon and delta), the Gaussian mechanism's noise,
 *		and what a private fit was given and spent.
 *
 * The unit of privacy is the subject: each subject's rows are capped at
 * max_per_subject items and every weighted value is clipped at clip, so one
 * subject moves each released statistic by a bounded amount (its L2
 * sensitivity), and Gaussian noise calibrated to that bound hides whether
 * any one subject took part.  See README "Private models".
 */
#ifndef PERSONALIZE_DP_H
#define PERSONALIZE_DP_H

#include "postgres.h"

typedef struct PzDpParams
{
	bool		enabled;
	double		epsilon;		/* what the model may spend, with delta */
	double		delta;
	int			max_per_subject;	/* items a subject contributes, at most */
	float		clip;			/* largest weighted value a row contributes */
	int			max_items;		/* item-kNN: items given neighbours, at most */
	bool		seeded;			/* noise from seed (tests) or a strong source */
	uint64		seed;

	/* filled by pz_dp_plan() */
	double		rho;			/* zCDP budget of the whole fit */
	double		rho_popularity; /* share spent on item popularity */
	int			releases;		/* noisy releases of the model's statistics */
	double		sensitivity;	/* L2, of one release of the model's statistics */
	double		sigma;			/* noise of each of those releases */
	double		sensitivity_popularity;
	double		sigma_popularity;
} PzDpParams;

/* zCDP rho from (epsilon, delta), and back (Bun and Steinke 2016, Prop. 1.3). */
extern double pz_dp_rho(double epsilon, double delta);
extern double pz_dp_epsilon(double rho, double delta);

/* Gaussian noise giving rho-zCDP over `releases` releases of sensitivity s. */
extern double pz_dp_sigma(double sensitivity, double rho, int releases);

/*
 * A noise source: xoshiro256** seeded from pg_strong_random(), or from a
 * given seed so that tests are reproducible (never for a real model: an
 * attacker who knows the seed can subtract the noise).
 */
typedef struct PzNoise
{
	uint64		s[4];
	bool		have_spare;
	double		spare;
} PzNoise;

extern void pz_noise_init(PzNoise *n, const PzDpParams *dp);
extern double pz_noise_gaussian(PzNoise *n, double sigma);

#endif							/* PERSONALIZE_DP_H */
