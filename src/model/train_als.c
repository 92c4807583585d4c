/*
 * train_als.c
 *		Implicit-feedback alternating least squares (Hu, Koren and Volinsky,
 *		"Collaborative Filtering for Implicit Feedback Datasets", 2008) with
 *		the conjugate-gradient solver of Takacs, Pilaszy and Tikk ("Applications
 *		of the Conjugate Gradient Method for Implicit Feedback Collaborative
 *		Filtering", 2011).
 *
 * Each half-iteration fixes one side's factors Y and, for every row u of the
 * other side, improves x_u towards the solution of
 *
 *		(Y^T C_u Y + lambda I) x_u = Y^T C_u p_u
 *
 * with p_ui = 1 for observed pairs, 0 elsewhere, and confidence c_ui = 1 +
 * alpha * value (1 where unobserved).  Y^T C_u Y = Y^T Y + sum over the row's
 * own items of (c_ui - 1) y_i y_i^T, so the dense part G = Y^T Y + lambda I is
 * computed once per half-iteration and each row only adds its own items.  A
 * is never formed: each CG step costs one k x k product with G plus two
 * k-length passes per observed item, and a few steps warm-started from the
 * previous iteration's x_u are enough because x_u moves little between
 * iterations.
 *
 * Factors are kept in float, in private copies whose rows are padded with
 * zeros to a multiple of 16 floats and aligned to 64 bytes, so every row is a
 * whole number of vectors and the kernels need no scalar tails.  The padding
 * stays zero: G's padded rows and columns are zero, so a zero component of x
 * gives zero residual and search direction there.  Gram matrices are
 * accumulated in double (sums of thousands of products).
 *
 * The kernels (train_als_kernels.h) are compiled for the baseline and, on
 * x86-64, for AVX2+FMA and AVX-512, each with vectors of the registers' own
 * width; the widest the CPU supports is picked on first use.  On the test
 * machine (6,000 x 4,000, 1M pairs, 64 factors, 15 iterations) that took
 * 1.4 s baseline, 0.58 s AVX2, 0.47 s AVX-512 on one thread.
 *
 * The row solves call no PostgreSQL function, so they run on up to
 * PZ_MAX_THREADS threads (two threads: 0.26 s instead of 0.47 s); the
 * backend's own thread checks for interrupts between blocks of rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "matrix.h"
#include "personalize.h"
#include "train_progress.h"

#define PZ_MAX_FACTORS	256
#define PZ_PAD			16		/* rows padded to a multiple of this */
#define PZ_ALIGN		64
#define PZ_GRAM_ROWS	4		/* rows per sweep of the Gram kernel */

/*
 * Rows solved between interrupt checks: about this many entries (a few
 * milliseconds of work) or this many rows, whichever comes first.  Worker
 * threads are started per block, so blocks must not be much smaller: at a
 * sixteenth of this, thread start-up ate most of the second core's gain.
 */
#define PZ_BLOCK_ENTRIES	262144
#define PZ_BLOCK_ROWS		4096

/* Most threads the row solves use (see solver_threads). */
#ifndef PZ_MAX_THREADS
#define PZ_MAX_THREADS		2
#endif

/*
 * Room for gathering one row's other-side factors (see solve_rows_nv); rows
 * with more entries than fit are read in place.
 */
#define PZ_GATHER_BYTES	((Size) 4 * 1024 * 1024)

/* Below this squared residual norm a row is solved (as implicit does). */
#define PZ_CG_EPS		1e-20f

/*
 * Vectors are passed between always-inlined helpers only; GCC warns that
 * such a type's ABI differs between targets, which matters only across real
 * calls.
 */
#pragma GCC diagnostic ignored "-Wpsabi"

#define PZ_INLINE static inline __attribute__((always_inline))

/*
 * Loops over a row's vectors run nv times, a constant in each specialisation
 * of the row solver: unrolled, their vectors stay in registers.
 */
#define PZ_UNROLL _Pragma("GCC unroll 16")

/* One side's half-iteration: everything the row solver reads and writes. */
typedef struct PzSolveSide
{
	const float *G;				/* [kp x kp] other side's Gram + lambda I (0 I with a reg_exponent) */
	const float *Y;				/* other side's factors, row stride kp */
	float	   *X;				/* this side's factors, row stride kp */
	const int64 *ptr;			/* row u's entries are ptr[u] .. ptr[u+1] */
	const int32 *idx;			/* other-side index of each entry */
	const float *val;			/* raw value of each entry */
	int			k;
	int			kp;				/* k rounded up to a multiple of PZ_PAD */
	float		alpha;
	int			cg_steps;
	float		lambda;			/* with reg_exponent > 0: each row's own ridge, */
	float		reg_exponent;	/* lambda x max(entries, 1)^reg_exponent */
} PzSolveSide;

/* The kernels, once per instruction set (see train_als_kernels.h). */
#define PZ_SUFFIX generic
#define PZ_LANES 4
#include "train_als_kernels.h"
#undef PZ_SUFFIX
#undef PZ_LANES

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	!defined(PZ_NO_DISPATCH)
#define PZ_X86_DISPATCH 1

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define PZ_SUFFIX avx2
#define PZ_LANES 8
#include "train_als_kernels.h"
#undef PZ_SUFFIX
#undef PZ_LANES
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
#define PZ_SUFFIX avx512
#define PZ_LANES 16
#include "train_als_kernels.h"
#undef PZ_SUFFIX
#undef PZ_LANES
#pragma GCC pop_options
#endif

typedef void (*PzSolveRowsFn) (const PzSolveSide *s, int32 begin, int32 end,
							   float *buf, int64 gather_rows);
typedef void (*PzGramFn) (const float *Y, int32 n, int k, int stride,
						  double *acc, double *G);

static PzSolveRowsFn solve_rows = NULL;
static PzGramFn gram_strided = NULL;

/* Pick the widest kernels the CPU runs, once. */
static void
choose_kernels(void)
{
	if (solve_rows != NULL)
		return;
	solve_rows = solve_rows_generic;
	gram_strided = gram_strided_generic;
#ifdef PZ_X86_DISPATCH
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
	{
		solve_rows = solve_rows_avx512;
		gram_strided = gram_strided_avx512;
	}
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		solve_rows = solve_rows_avx2;
		gram_strided = gram_strided_avx2;
	}
#endif
}

/* Scratch for gram_strided; *raw receives the pointer to pfree. */
static double *
alloc_gram_scratch(int k, void **raw)
{
	char	   *p = palloc(sizeof(double) * k * TYPEALIGN(8, k) + PZ_ALIGN);

	*raw = p;
	return (double *) TYPEALIGN(PZ_ALIGN, p);
}

void
pz_als_gram(const float *Y, int32 nitems, int k, double *YtY)
{
	void	   *raw;
	double	   *acc;

	if (k < 1 || k > PZ_MAX_FACTORS)
		elog(ERROR, "factor count %d out of range", k);
	choose_kernels();
	acc = alloc_gram_scratch(k, &raw);
	gram_strided(Y, nitems, k, k, acc, YtY);
	pfree(raw);
}

/* ---- fitting ------------------------------------------------------------- */

/* splitmix64: a small, well-mixed generator; reproducible from the seed. */
static inline uint64
splitmix64(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits, exactly representable as float. */
static inline float
uniform01(uint64 *state)
{
	return (float) (splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

/*
 * Zeroed [rows x kp] float array with 64-byte aligned rows, carved out of a
 * huge allocation; *raw receives the pointer to pfree.
 */
static float *
alloc_factors(int32 rows, int kp, void **raw)
{
	Size		bytes;
	char	   *p;

	if (rows < 0 || (uint64) rows > (SIZE_MAX / 4) / ((Size) kp * sizeof(float)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many factors to train: %d rows of %d", rows, kp)));
	bytes = (Size) rows * kp * sizeof(float);
	p = MemoryContextAllocExtended(CurrentMemoryContext, bytes + PZ_ALIGN,
								   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	*raw = p;
	return (float *) TYPEALIGN(PZ_ALIGN, p);
}

static void
check_params(const PzAlsParams *p)
{
	if (p->factors < 1 || p->factors > PZ_MAX_FACTORS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("factors must be between 1 and %d", PZ_MAX_FACTORS)));
	if (!(p->regularization >= 0.0f) || isinf(p->regularization))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("regularization must be a finite number >= 0")));
	if (!(p->alpha >= 0.0f) || isinf(p->alpha))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alpha must be a finite number >= 0")));
	if (p->iterations < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("iterations must not be negative")));
	if (p->cg_steps < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cg_steps must be at least 1")));
}

/* Gf[kp x kp] = float(G[k x k]) + lambda I, padding zero. */
static void
gram_to_float(const double *G, int k, int kp, float lambda, float *Gf)
{
	memset(Gf, 0, sizeof(float) * kp * kp);
	for (int a = 0; a < k; a++)
	{
		for (int b = 0; b < k; b++)
			Gf[a * kp + b] = (float) G[a * k + b];
		Gf[a * kp + a] += lambda;
	}
}

/* A share of a block of rows, solved by a worker thread. */
typedef struct PzWorker
{
	const PzSolveSide *s;
	int32		begin;
	int32		end;
	float	   *buf;
	int64		gather_rows;
} PzWorker;

/* Thread body: pure computation, no PostgreSQL call of any kind. */
static void *
worker_main(void *arg)
{
	PzWorker   *w = (PzWorker *) arg;

	solve_rows(w->s, w->begin, w->end, w->buf, w->gather_rows);
	return NULL;
}

/* First row r in [b, e] with ptr[r] >= target (ptr is nondecreasing). */
static int32
row_at_entry(const int64 *ptr, int32 b, int32 e, int64 target)
{
	while (b < e)
	{
		int32		mid = b + (e - b) / 2;

		if (ptr[mid] < target)
			b = mid + 1;
		else
			e = mid;
	}
	return b;
}

/*
 * One half-iteration: every row of one side, in blocks of about
 * PZ_BLOCK_ENTRIES entries, interrupts checked between blocks.  With several
 * threads each block is cut into parts of equal entry counts; worker threads
 * take all parts but the first and are joined before the next interrupt
 * check, so no thread outlives a block (an error thrown by
 * CHECK_FOR_INTERRUPTS() cannot leave one running on freed memory).
 * Workers start with every signal blocked, so PostgreSQL's handlers only
 * ever run in the backend's own thread.  A part whose thread cannot be
 * created is solved here.  Rows are independent, so the result does not
 * depend on the thread count.
 */
static void
solve_side(const PzSolveSide *s, int32 nrows, float **bufs, int64 gather_rows,
		   int nthreads)
{
	int32		b = 0;

	while (b < nrows)
	{
		int32		e = row_at_entry(s->ptr, b, nrows, s->ptr[b] + PZ_BLOCK_ENTRIES);
		int32		cut[PZ_MAX_THREADS + 1];
		PzWorker	w[PZ_MAX_THREADS];
		pthread_t	thread[PZ_MAX_THREADS];
		bool		started[PZ_MAX_THREADS];
		int			parts = nthreads;

		e = Min(Max(e, b + 1), b + PZ_BLOCK_ROWS);
		e = Min(e, nrows);
		parts = Min(parts, e - b);

		CHECK_FOR_INTERRUPTS();
		if (parts <= 1)
		{
			solve_rows(s, b, e, bufs[0], gather_rows);
			b = e;
			continue;
		}

		cut[0] = b;
		cut[parts] = e;
		for (int t = 1; t < parts; t++)
		{
			int32		c = row_at_entry(s->ptr, b, e, s->ptr[b] +
										 (s->ptr[e] - s->ptr[b]) * t / parts);

			cut[t] = Min(Max(c, cut[t - 1]), e);
		}

		for (int t = 1; t < parts; t++)
		{
			sigset_t	all,
						old;

			w[t].s = s;
			w[t].begin = cut[t];
			w[t].end = cut[t + 1];
			w[t].buf = bufs[t];
			w[t].gather_rows = gather_rows;
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			started[t] = pthread_create(&thread[t], NULL, worker_main, &w[t]) == 0;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		solve_rows(s, cut[0], cut[1], bufs[0], gather_rows);
		for (int t = 1; t < parts; t++)
		{
			if (started[t])
				pthread_join(thread[t], NULL);
			else
				solve_rows(s, cut[t], cut[t + 1], bufs[0], gather_rows);
		}
		b = e;
	}
}

/* personalize.train_threads; 0: as many as solver_threads() allows. */
static int	train_threads = 0;

void
pz_train_define_gucs(void)
{
	DefineCustomIntVariable("personalize.train_threads",
							"Threads an ALS fit uses (0: one per CPU, at most " CppAsString2(PZ_MAX_THREADS) ").",
							"1 leaves the other cores to the queries served meanwhile.",
							&train_threads, 0, 0, PZ_MAX_THREADS,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * Threads for the row solves: one per CPU, at most PZ_MAX_THREADS (the
 * solves scale well to two cores; more would take more of a shared server
 * than one training job should), or personalize.train_threads.
 */
static int
solver_threads(void)
{
	long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (train_threads > 0)
		return train_threads;
	if (cpus < 1)
		return 1;
	return (int) Min(cpus, PZ_MAX_THREADS);
}

/* Longest row of a CSR/CSC structure. */
static int64
longest_row(const int64 *ptr, int32 nrows)
{
	int64		longest = 0;

	for (int32 u = 0; u < nrows; u++)
		longest = Max(longest, ptr[u + 1] - ptr[u]);
	return longest;
}

void
pz_als_fit(const PzMatrix *m, const PzAlsParams *p, float *X, float *Y)
{
	int			k = p->factors;
	int			kp;
	/* with a reg_exponent every row adds its own ridge (train_als_kernels.h) */
	float		shared_lambda = p->reg_exponent > 0.0f ? 0.0f : p->regularization;
	void	   *xraw,
			   *yraw,
			   *graw;
	float	   *Xp,
			   *Yp,
			   *Gf,
			   *bufs[PZ_MAX_THREADS];
	void	   *braw[PZ_MAX_THREADS];
	int64		gather_rows;
	int			nthreads = solver_threads();
	double	   *G,
			   *gacc;
	void	   *gacc_raw;
	uint64		rng;
	PzSolveSide users,
				items;

	check_params(p);
	choose_kernels();
	kp = TYPEALIGN(PZ_PAD, k);

	Xp = alloc_factors(m->nusers, kp, &xraw);
	Yp = alloc_factors(m->nitems, kp, &yraw);
	Gf = alloc_factors(kp, kp, &graw);
	G = palloc(sizeof(double) * k * k);
	gacc = alloc_gram_scratch(k, &gacc_raw);
	gather_rows = Max(longest_row(m->user_ptr, m->nusers),
					  longest_row(m->item_ptr, m->nitems));
	gather_rows = Min(gather_rows, (int64) (PZ_GATHER_BYTES / (kp * sizeof(float))));
	for (int t = 0; t < nthreads; t++)
		bufs[t] = alloc_factors((int32) gather_rows, kp, &braw[t]);

	/*
	 * Small positive random starts, as implicit does: both sides start
	 * random, so the first user solve already sees distinct item factors.
	 */
	rng = p->seed;
	for (int32 u = 0; u < m->nusers; u++)
		for (int f = 0; f < k; f++)
			Xp[(Size) u * kp + f] = uniform01(&rng) * 0.01f;
	for (int32 i = 0; i < m->nitems; i++)
		for (int f = 0; f < k; f++)
			Yp[(Size) i * kp + f] = uniform01(&rng) * 0.01f;

	users.G = Gf;
	users.Y = Yp;
	users.X = Xp;
	users.ptr = m->user_ptr;
	users.idx = m->user_items;
	users.val = m->user_vals;
	users.k = k;
	users.kp = kp;
	users.alpha = p->alpha;
	users.cg_steps = p->cg_steps;
	users.lambda = p->regularization;
	users.reg_exponent = p->reg_exponent;

	items = users;
	items.Y = Xp;
	items.X = Yp;
	items.ptr = m->item_ptr;
	items.idx = m->item_users;
	items.val = m->item_vals;

	for (int it = 0; it < p->iterations; it++)
	{
		CHECK_FOR_INTERRUPTS();
		gram_strided(Yp, m->nitems, k, kp, gacc, G);
		gram_to_float(G, k, kp, shared_lambda, Gf);
		solve_side(&users, m->nusers, bufs, gather_rows, nthreads);

		CHECK_FOR_INTERRUPTS();
		gram_strided(Xp, m->nusers, k, kp, gacc, G);
		gram_to_float(G, k, kp, shared_lambda, Gf);
		solve_side(&items, m->nitems, bufs, gather_rows, nthreads);
		pz_progress_step(it + 1, p->iterations);
	}

	for (int32 u = 0; u < m->nusers; u++)
		memcpy(X + (Size) u * k, Xp + (Size) u * kp, sizeof(float) * k);
	for (int32 i = 0; i < m->nitems; i++)
		memcpy(Y + (Size) i * k, Yp + (Size) i * kp, sizeof(float) * k);

	for (int t = 0; t < nthreads; t++)
		pfree(braw[t]);
	pfree(gacc_raw);
	pfree(G);
	pfree(graw);
	pfree(yraw);
	pfree(xraw);
}

/* ---- fold-in ------------------------------------------------------------- */

double *
pz_als_fold_in_system(const float *Y, int k, const double *YtY,
					  const int32 *items, const float *values, int n,
					  const PzAlsParams *p, double *b)
{
	double	   *A;
	double		tiny;

	if (k < 1 || k > PZ_MAX_FACTORS)
		elog(ERROR, "factor count %d out of range", k);

	A = palloc(sizeof(double) * k * k);
	memset(b, 0, sizeof(double) * k);
	memcpy(A, YtY, sizeof(double) * k * k);
	{
		int			used = 0;
		double		lambda;

		for (int e = 0; e < n; e++)
			used += items[e] >= 0 && values[e] > 0.0f && !isinf(values[e]);
		lambda = pz_als_row_lambda(p, used);
		for (int a = 0; a < k; a++)
			A[a * k + a] += lambda;
	}

	/*
	 * Lower triangle of A += sum c1 y y^T, b = sum c y.  Items with a
	 * negative index (not in the model) or a value that is not positive are
	 * ignored, as pz_matrix_build would drop them.
	 */
	for (int e = 0; e < n; e++)
	{
		const float *y;
		double		c1;

		if (items[e] < 0 || !(values[e] > 0.0f) || isinf(values[e]))
			continue;
		y = Y + (Size) items[e] * k;
		c1 = (double) p->alpha * values[e];
		for (int a = 0; a < k; a++)
		{
			double		ya = y[a];
			double	   *restrict row = A + (Size) a * k;

			b[a] += (1.0 + c1) * ya;
			for (int c = 0; c <= a; c++)
				row[c] += c1 * ya * y[c];
		}
	}

	/*
	 * Cholesky, A = L L^T in the lower triangle.  A is positive definite
	 * when lambda > 0; with lambda = 0 and too few distinct item factors it
	 * can be singular, and a pivot floored at a tiny fraction of the
	 * diagonal then gives a minimum-norm-like answer instead of failing.
	 */
	tiny = 0.0;
	for (int a = 0; a < k; a++)
		tiny = Max(tiny, A[a * k + a]);
	tiny = Max(tiny * 1e-12, DBL_MIN);
	pz_cholesky(A, k, tiny);
	return A;
}

bool
pz_cholesky(double *A, int k, double floor)
{
	for (int j = 0; j < k; j++)
	{
		double	   *rj = A + (Size) j * k;
		double		d = rj[j];

		for (int c = 0; c < j; c++)
			d -= rj[c] * rj[c];
		if (!(d > floor))
		{
			if (!(floor > 0))
				return false;
			d = floor;
		}
		d = sqrt(d);
		rj[j] = d;
		for (int i = j + 1; i < k; i++)
		{
			double	   *ri = A + (Size) i * k;
			double		s = ri[j];

			for (int c = 0; c < j; c++)
				s -= ri[c] * rj[c];
			ri[j] = s / d;
		}
	}
	return true;
}

/* Solve L L^T x = b in place (L from pz_als_fold_in_system). */
void
pz_cholesky_solve(const double *L, int k, double *b)
{
	for (int i = 0; i < k; i++)
	{
		double		s = b[i];

		for (int c = 0; c < i; c++)
			s -= L[(Size) i * k + c] * b[c];
		b[i] = s / L[(Size) i * k + i];
	}
	for (int i = k - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int c = i + 1; c < k; c++)
			s -= L[(Size) c * k + i] * b[c];
		b[i] = s / L[(Size) i * k + i];
	}
}

void
pz_als_fold_in(const float *Y, int k, const double *YtY,
			   const int32 *items, const float *values, int n,
			   const PzAlsParams *p, float *x)
{
	double	   *b = palloc(sizeof(double) * Max(k, 1));
	double	   *L = pz_als_fold_in_system(Y, k, YtY, items, values, n, p, b);

	pz_cholesky_solve(L, k, b);
	for (int a = 0; a < k; a++)
		x[a] = (float) b[a];
	pfree(b);
	pfree(L);
}
