/*
 * dp.c
 *		The privacy accountant and the Gaussian mechanism's noise source.
 *
 * Accounting is in zero-concentrated differential privacy: the Gaussian
 * mechanism with L2 sensitivity s and noise sigma is s^2 / (2 sigma^2)-zCDP,
 * releases compose by adding rho, and rho-zCDP implies
 * (rho + 2 sqrt(rho ln(1/delta)), delta)-DP.  A fit asked for (epsilon,
 * delta) gets the rho whose conversion is exactly epsilon, splits it over
 * its releases and calibrates each one's sigma; the card records both.
 */
#include "postgres.h"

#include <math.h>

#include "dp.h"
#include "personalize.h"
#include "utils/builtins.h"

double
pz_dp_rho(double epsilon, double delta)
{
	double		l = log(1.0 / delta);
	double		r = sqrt(epsilon + l) - sqrt(l);

	return r * r;
}

double
pz_dp_epsilon(double rho, double delta)
{
	return rho + 2.0 * sqrt(rho * log(1.0 / delta));
}

double
pz_dp_sigma(double sensitivity, double rho, int releases)
{
	Assert(rho > 0 && releases > 0);
	return sensitivity * sqrt((double) releases / (2.0 * rho));
}

static inline uint64
rotl(uint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64
next64(PzNoise *n)
{
	uint64	   *s = n->s;
	uint64		result = rotl(s[1] * 5, 7) * 9;
	uint64		t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void
pz_noise_init(PzNoise *n, const PzDpParams *dp)
{
	memset(n, 0, sizeof(*n));
	if (dp->seeded)
	{
		uint64		z = dp->seed;

		/* splitmix64 spreads one seed over the four words */
		for (int i = 0; i < 4; i++)
			n->s[i] = pz_mix64(z += UINT64CONST(0x9E3779B97F4A7C15));
	}
	else if (!pg_strong_random(n->s, sizeof(n->s)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random noise for private training")));
	if ((n->s[0] | n->s[1] | n->s[2] | n->s[3]) == 0)
		n->s[0] = 1;
}

/* Uniform in (0, 1], 53 random bits. */
static double
uniform_open0(PzNoise *n)
{
	return ((double) (next64(n) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* Box-Muller, both values used. */
double
pz_noise_gaussian(PzNoise *n, double sigma)
{
	double		r,
				t;

	if (n->have_spare)
	{
		n->have_spare = false;
		return sigma * n->spare;
	}
	r = sqrt(-2.0 * log(uniform_open0(n)));
	t = 2.0 * M_PI * uniform_open0(n);
	n->spare = r * sin(t);
	n->have_spare = true;
	return sigma * r * cos(t);
}

/*
 * dp_noise_scale(epsilon, delta, sensitivity, releases): the noise standard
 * deviation training uses for that request, so that users and tests can
 * check the calibration.
 */
PZ_FUNCTION(pz_dp_noise_scale)
{
	double		epsilon = PG_GETARG_FLOAT8(0);
	double		delta = PG_GETARG_FLOAT8(1);
	double		sensitivity = PG_GETARG_FLOAT8(2);
	int32		releases = PG_GETARG_INT32(3);

	if (!(epsilon > 0 && epsilon <= 1000) || !(delta > 0 && delta < 1) ||
		!(sensitivity > 0 && !isinf(sensitivity)) || releases < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon must be in (0, 1000], delta in (0, 1), sensitivity positive and releases at least 1"),
				 errhint("For example: personalize.dp_noise_scale(1, 1e-6, 2.5, 5).")));
	PG_RETURN_FLOAT8(pz_dp_sigma(sensitivity, pz_dp_rho(epsilon, delta), releases));
}
