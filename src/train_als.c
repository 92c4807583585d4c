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
 * whole number of 16-lane vectors and the kernels need no scalar tails.  The
 * padding stays zero: G's padded rows and columns are zero, so a zero
 * component of x gives zero residual and search direction there.  Gram
 * matrices are accumulated in double (sums of thousands of products).
 *
 * On x86-64 with GCC the row solver and the Gram kernel are compiled for
 * AVX-512, AVX2+FMA and the baseline, and the loader picks the best the CPU
 * has (target_clones).  The row solver calls no PostgreSQL function, so it
 * can run in worker threads; the caller checks for interrupts between
 * blocks of rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "matrix.h"

#define PZ_LANES		16
#define PZ_MAX_FACTORS	256
#define PZ_MAX_VECS		(PZ_MAX_FACTORS / PZ_LANES)
#define PZ_ALIGN		64

/*
 * Rows solved between interrupt checks: about this many entries (a
 * millisecond or so) or this many rows, whichever comes first.
 */
#define PZ_BLOCK_ENTRIES	65536
#define PZ_BLOCK_ROWS		4096

/*
 * Room for gathering one row's other-side factors (see solve_rows_nv); rows
 * with more entries than fit are read in place.
 */
#define PZ_GATHER_BYTES	((Size) 4 * 1024 * 1024)

/* Below this squared residual norm a row is solved (as implicit does). */
#define PZ_CG_EPS		1e-20f

/*
 * 16-lane vectors are passed between always-inlined helpers only; GCC warns
 * that such a type's ABI differs between targets, which matters only across
 * real calls.
 */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float pz_v16sf __attribute__((vector_size(PZ_LANES * sizeof(float))));
typedef int32 pz_v16si __attribute__((vector_size(PZ_LANES * sizeof(int32))));
typedef float pz_v8sf __attribute__((vector_size(8 * sizeof(float))));
typedef float pz_v4sf __attribute__((vector_size(4 * sizeof(float))));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	!defined(PZ_NO_DISPATCH)
#define PZ_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PZ_CLONES
#endif

#define PZ_INLINE static inline __attribute__((always_inline))

/*
 * Loops over a row's vectors run nv times, a constant in each specialisation
 * of the row solver: unrolled, their vectors stay in registers.
 */
#define PZ_UNROLL _Pragma("GCC unroll 16")

/* Rows are 64-byte aligned (see alloc_factors), so loads never split lines. */
PZ_INLINE pz_v16sf
vload(const float *p)
{
	return *(const pz_v16sf *) p;
}

PZ_INLINE void
vstore(float *p, const pz_v16sf *v)
{
	*(pz_v16sf *) p = *v;
}

/*
 * Horizontal sum by halving (16 -> 8 -> 4 lanes, then scalars): a few
 * extract-and-add steps instead of a chain of fifteen adds.
 */
PZ_INLINE float
vhsum(const pz_v16sf *v)
{
	pz_v8sf		lo,
				hi;
	pz_v4sf		a,
				b;

	memcpy(&lo, v, sizeof(lo));
	memcpy(&hi, (const char *) v + sizeof(lo), sizeof(hi));
	lo += hi;
	memcpy(&a, &lo, sizeof(a));
	memcpy(&b, (const char *) &lo + sizeof(a), sizeof(b));
	a += b;
	return (a[0] + a[2]) + (a[1] + a[3]);
}

/* One side's half-iteration: everything the row solver reads and writes. */
typedef struct PzSolveSide
{
	const float *G;				/* [kp x kp] other side's Gram + lambda I */
	const float *Y;				/* other side's factors, row stride kp */
	float	   *X;				/* this side's factors, row stride kp */
	const int64 *ptr;			/* row u's entries are ptr[u] .. ptr[u+1] */
	const int32 *idx;			/* other-side index of each entry */
	const float *val;			/* raw value of each entry */
	int			k;
	int			kp;				/* k rounded up to a multiple of PZ_LANES */
	float		alpha;
	int			cg_steps;
} PzSolveSide;

/*
 * out = G v, G symmetric [kp x kp]: the sum of v[j] times row j.  Two sets of
 * accumulators (even and odd j) halve the chain of dependent adds.
 */
PZ_INLINE void
gram_times(const float *restrict G, const float *restrict v, int k, int kp,
		   int nv, pz_v16sf *restrict out)
{
	pz_v16sf	a0[PZ_MAX_VECS],
				a1[PZ_MAX_VECS];
	int			j;

	PZ_UNROLL
	for (int q = 0; q < nv; q++)
		a0[q] = a1[q] = (pz_v16sf) {0};
	for (j = 0; j + 1 < k; j += 2)
	{
		const float *g0 = G + (Size) j * kp;
		const float *g1 = g0 + kp;
		float		s0 = v[j],
					s1 = v[j + 1];

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
		{
			a0[q] += s0 * vload(g0 + q * PZ_LANES);
			a1[q] += s1 * vload(g1 + q * PZ_LANES);
		}
	}
	if (j < k)
	{
		const float *g0 = G + (Size) j * kp;
		float		s0 = v[j];

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			a0[q] += s0 * vload(g0 + q * PZ_LANES);
	}
	PZ_UNROLL
	for (int q = 0; q < nv; q++)
		out[q] = a0[q] + a1[q];
}

PZ_INLINE float
vdot(const pz_v16sf *a, const pz_v16sf *b, int nv)
{
	pz_v16sf	s = a[0] * b[0];

	PZ_UNROLL
	for (int q = 1; q < nv; q++)
		s += a[q] * b[q];
	return vhsum(&s);
}

/*
 * Sixteen dot-product vectors in, their sixteen horizontal sums out, lane j
 * holding d[j]'s.  Each level adds two vectors' halves (then quarters,
 * eighths, pairs) so that the partial sums of two inputs share one vector:
 * 30 two-source shuffles and 15 adds for all sixteen, against about seven
 * dependent operations per vector summed one at a time.
 */
#ifdef __clang__
#define PZ_SHUFFLE2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define PZ_SHUFFLE2(a, b, ...) __builtin_shuffle(a, b, (pz_v16si) {__VA_ARGS__})
#endif

PZ_INLINE pz_v16sf
fold_halves(pz_v16sf a, pz_v16sf b)
{
	return PZ_SHUFFLE2(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
		PZ_SHUFFLE2(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}

PZ_INLINE pz_v16sf
fold_quarters(pz_v16sf a, pz_v16sf b)
{
	return PZ_SHUFFLE2(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
		PZ_SHUFFLE2(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}

PZ_INLINE pz_v16sf
fold_eighths(pz_v16sf a, pz_v16sf b)
{
	return PZ_SHUFFLE2(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
		PZ_SHUFFLE2(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}

PZ_INLINE pz_v16sf
fold_pairs(pz_v16sf a, pz_v16sf b)
{
	return PZ_SHUFFLE2(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
		PZ_SHUFFLE2(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

PZ_INLINE pz_v16sf
hsum16(const pz_v16sf *d)
{
	pz_v16sf	t[8],
				u[4];

	PZ_UNROLL
	for (int i = 0; i < 8; i++)
		t[i] = fold_halves(d[2 * i], d[2 * i + 1]);
	PZ_UNROLL
	for (int i = 0; i < 4; i++)
		u[i] = fold_quarters(t[2 * i], t[2 * i + 1]);
	return fold_pairs(fold_eighths(u[0], u[1]), fold_eighths(u[2], u[3]));
}

/*
 * The row's sparse part of A v: acc += sum over its n entries of
 * c1_e (y_e . v) y_e, with c1 = alpha * value; when rhs is set, the
 * right-hand side is folded in: acc += sum (c_e - c1_e (y_e . v)) y_e, the
 * sparse part of the initial residual b - A x.
 *
 * Rows y_e are Y[idx[e]] when indirect, else the e-th row of Y.  When gather
 * is given the rows are also copied there, contiguously.
 *
 * Entries go in chunks, in two passes per chunk.  Doing dot product,
 * horizontal sum and update entry by entry chains some fifty cycles of
 * latency per entry, more than out-of-order execution overlaps (that, not
 * arithmetic, bounded the speed: AVX-512 was no faster than SSE2).  Split,
 * the first pass computes the coefficients sixteen entries at a time,
 * independent of each other, and the second only chains the accumulators,
 * in two sets.  The chunk's rows are still in L1 for the second pass.
 */
#define PZ_CHUNK		64

PZ_INLINE void
sparse_times(const float *restrict Y, bool indirect, const int32 *restrict idx,
			 const float *restrict val, int64 n, int kp, float alpha,
			 const pz_v16sf *restrict v, bool rhs, int nv,
			 pz_v16sf *restrict acc, float *restrict gather)
{
	float		coef[PZ_CHUNK] __attribute__((aligned(PZ_ALIGN)));
	pz_v16sf	acc1[PZ_MAX_VECS];

	PZ_UNROLL
	for (int q = 0; q < nv; q++)
		acc1[q] = (pz_v16sf) {0};

	for (int64 e0 = 0; e0 < n; e0 += PZ_CHUNK)
	{
		int			m = (int) Min(n - e0, PZ_CHUNK);
		int			j;

		for (j = 0; j < m; j += PZ_LANES)
		{
			int			mm = Min(m - j, PZ_LANES);
			pz_v16sf	d[PZ_LANES];
			float		cv[PZ_LANES] __attribute__((aligned(PZ_ALIGN)));
			pz_v16sf	c1,
						c;

			PZ_UNROLL
			for (int t = 0; t < PZ_LANES; t++)
			{
				int64		e = e0 + j + t;
				const float *y;
				pz_v16sf	d1 = {0};

				if (t >= mm)
				{
					d[t] = (pz_v16sf) {0};
					cv[t] = 0.0f;
					continue;
				}
				y = Y + (Size) (indirect ? idx[e] : e) * kp;
				cv[t] = val[e];
				/* two partial sums: a shorter chain of dependent adds */
				d[t] = vload(y) * v[0];
				PZ_UNROLL
				for (int q = 1; q < nv; q++)
				{
					if (q % 2)
						d1 += vload(y + q * PZ_LANES) * v[q];
					else
						d[t] += vload(y + q * PZ_LANES) * v[q];
				}
				d[t] += d1;
				if (gather)
				{
					PZ_UNROLL
					for (int q = 0; q < nv; q++)
					{
						pz_v16sf	w = vload(y + q * PZ_LANES);

						vstore(gather + (Size) e * kp + q * PZ_LANES, &w);
					}
				}
			}
			c1 = alpha * vload(cv);
			c = c1 * hsum16(d);
			if (rhs)
				c = (1.0f + c1) - c;
			vstore(coef + j, &c);
		}

		for (j = 0; j + 1 < m; j += 2)
		{
			int64		e = e0 + j;
			const float *y0 = Y + (Size) (indirect ? idx[e] : e) * kp;
			const float *y1 = Y + (Size) (indirect ? idx[e + 1] : e + 1) * kp;
			float		c0 = coef[j],
						c1 = coef[j + 1];

			PZ_UNROLL
			for (int q = 0; q < nv; q++)
			{
				acc[q] += c0 * vload(y0 + q * PZ_LANES);
				acc1[q] += c1 * vload(y1 + q * PZ_LANES);
			}
		}
		if (j < m)
		{
			int64		e = e0 + j;
			const float *y0 = Y + (Size) (indirect ? idx[e] : e) * kp;
			float		c0 = coef[j];

			PZ_UNROLL
			for (int q = 0; q < nv; q++)
				acc[q] += c0 * vload(y0 + q * PZ_LANES);
		}
	}

	PZ_UNROLL
	for (int q = 0; q < nv; q++)
		acc[q] += acc1[q];
}

/*
 * A few CG steps on each of rows [begin, end), starting from the current
 * x_u.  nv is a constant in every specialised call below, so the k-length
 * loops unroll and the vectors live in registers.
 *
 * The other side's factors are too big for L2 (1.5 MB for 6,000 rows of 64
 * floats), and each CG step re-reads the row's items in random order, so the
 * first pass copies them into buf (room for gather_rows rows) and the CG
 * steps stream from there, out of L1 or L2, instead.
 */
PZ_INLINE void
solve_rows_nv(const PzSolveSide *s, int32 begin, int32 end, int nv,
			  float *buf, int64 gather_rows)
{
	int			k = s->k;
	int			kp = s->kp;
	float		pbuf[PZ_MAX_FACTORS] __attribute__((aligned(PZ_ALIGN)));

	for (int32 u = begin; u < end; u++)
	{
		float	   *xrow = s->X + (Size) u * kp;
		int64		rb = s->ptr[u];
		int64		n = s->ptr[u + 1] - rb;
		const int32 *idx = s->idx + rb;
		const float *val = s->val + rb;
		bool		gathered = n <= gather_rows;
		pz_v16sf	x[PZ_MAX_VECS],
					r[PZ_MAX_VECS],
					p[PZ_MAX_VECS],
					ap[PZ_MAX_VECS];
		float		rsold;

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			x[q] = vload(xrow + q * PZ_LANES);

		/* r = b - A x = -G x + sum (c - c1 (y . x)) y */
		gram_times(s->G, xrow, k, kp, nv, r);
		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			r[q] = -r[q];
		sparse_times(s->Y, true, idx, val, n, kp, s->alpha, x, true, nv, r,
					 gathered ? buf : NULL);

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			p[q] = r[q];
		rsold = vdot(r, r, nv);
		if (!(rsold >= PZ_CG_EPS))	/* also stops on NaN */
			continue;

		for (int step = 0; step < s->cg_steps; step++)
		{
			float		pap,
						a,
						rsnew;

			PZ_UNROLL
			for (int q = 0; q < nv; q++)
				vstore(pbuf + q * PZ_LANES, &p[q]);
			gram_times(s->G, pbuf, k, kp, nv, ap);
			if (gathered)
				sparse_times(buf, false, NULL, val, n, kp, s->alpha, p, false,
							 nv, ap, NULL);
			else
				sparse_times(s->Y, true, idx, val, n, kp, s->alpha, p, false,
							 nv, ap, NULL);

			pap = vdot(p, ap, nv);
			if (!(pap > 0.0f))
				break;
			a = rsold / pap;
			PZ_UNROLL
			for (int q = 0; q < nv; q++)
			{
				x[q] += a * p[q];
				r[q] -= a * ap[q];
			}
			rsnew = vdot(r, r, nv);
			if (rsnew < PZ_CG_EPS)
				break;
			PZ_UNROLL
			for (int q = 0; q < nv; q++)
				p[q] = r[q] + (rsnew / rsold) * p[q];
			rsold = rsnew;
		}

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			vstore(xrow + q * PZ_LANES, &x[q]);
	}
}

/*
 * Solve rows [begin, end) of one side.  Calls no PostgreSQL function (it may
 * run in a worker thread).
 */
PZ_CLONES static void
solve_rows(const PzSolveSide *s, int32 begin, int32 end, float *buf,
		   int64 gather_rows)
{
	switch (s->kp / PZ_LANES)
	{
		case 1:
			solve_rows_nv(s, begin, end, 1, buf, gather_rows);
			break;
		case 2:
			solve_rows_nv(s, begin, end, 2, buf, gather_rows);
			break;
		case 3:
			solve_rows_nv(s, begin, end, 3, buf, gather_rows);
			break;
		case 4:
			solve_rows_nv(s, begin, end, 4, buf, gather_rows);
			break;
		default:
			solve_rows_nv(s, begin, end, s->kp / PZ_LANES, buf, gather_rows);
			break;
	}
}

/*
 * G[k x k] = sum over rows of y y^T, rows of stride `stride`, in double.
 * Only the upper triangle is accumulated, then mirrored.  Rows are taken
 * four at a time so each pass over G (which stays in L1) does four rows'
 * work.
 */
PZ_CLONES static void
gram_strided(const float *Y, int32 n, int k, int stride, double *G)
{
	double		y0[PZ_MAX_FACTORS],
				y1[PZ_MAX_FACTORS],
				y2[PZ_MAX_FACTORS],
				y3[PZ_MAX_FACTORS];
	int32		i;

	memset(G, 0, sizeof(double) * k * k);
	for (i = 0; i < n; i += 4)
	{
		int			m = Min(4, n - i);

		for (int a = 0; a < k; a++)
		{
			y0[a] = Y[(Size) i * stride + a];
			y1[a] = m > 1 ? Y[(Size) (i + 1) * stride + a] : 0.0;
			y2[a] = m > 2 ? Y[(Size) (i + 2) * stride + a] : 0.0;
			y3[a] = m > 3 ? Y[(Size) (i + 3) * stride + a] : 0.0;
		}
		for (int a = 0; a < k; a++)
		{
			double	   *restrict g = G + (Size) a * k;
			double		s0 = y0[a],
						s1 = y1[a],
						s2 = y2[a],
						s3 = y3[a];

			for (int b = a; b < k; b++)
				g[b] += s0 * y0[b] + s1 * y1[b] + s2 * y2[b] + s3 * y3[b];
		}
	}
	for (int a = 0; a < k; a++)
		for (int b = 0; b < a; b++)
			G[(Size) a * k + b] = G[(Size) b * k + a];
}

void
pz_als_gram(const float *Y, int32 nitems, int k, double *YtY)
{
	if (k < 1 || k > PZ_MAX_FACTORS)
		elog(ERROR, "factor count %d out of range", k);
	gram_strided(Y, nitems, k, k, YtY);
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
 * PZ_BLOCK_ENTRIES entries, interrupts checked between blocks.  With two
 * threads a block is split where its entries are halved, a worker thread
 * takes the second part and joins before the next interrupt check, so no
 * thread outlives a block (an error thrown by CHECK_FOR_INTERRUPTS() cannot
 * leave one running on freed memory).  The worker starts with every signal
 * blocked, so PostgreSQL's handlers only ever run in the backend's own
 * thread.  If the thread cannot be created the block is solved here.
 */
static void
solve_side(const PzSolveSide *s, int32 nrows, float **bufs, int64 gather_rows,
		   int nthreads)
{
	int32		b = 0;

	while (b < nrows)
	{
		int32		e = row_at_entry(s->ptr, b, nrows, s->ptr[b] + PZ_BLOCK_ENTRIES);

		e = Min(Max(e, b + 1), b + PZ_BLOCK_ROWS);
		e = Min(e, nrows);

		CHECK_FOR_INTERRUPTS();
		if (nthreads > 1 && e - b >= 2)
		{
			int32		mid = row_at_entry(s->ptr, b, e,
										   s->ptr[b] + (s->ptr[e] - s->ptr[b]) / 2);
			PzWorker	w;
			pthread_t	thread;
			sigset_t	all,
						old;
			bool		started;

			mid = Min(Max(mid, b + 1), e - 1);
			w.s = s;
			w.begin = mid;
			w.end = e;
			w.buf = bufs[1];
			w.gather_rows = gather_rows;
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			started = pthread_create(&thread, NULL, worker_main, &w) == 0;
			pthread_sigmask(SIG_SETMASK, &old, NULL);

			solve_rows(s, b, mid, bufs[0], gather_rows);
			if (started)
				pthread_join(thread, NULL);
			else
				solve_rows(s, mid, e, bufs[0], gather_rows);
		}
		else
			solve_rows(s, b, e, bufs[0], gather_rows);
		b = e;
	}
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
	void	   *xraw,
			   *yraw,
			   *graw;
	float	   *Xp,
			   *Yp,
			   *Gf,
			   *bufs[2];
	void	   *braw[2];
	int64		gather_rows;
	int			nthreads = getenv("PZ_THREADS") ? atoi(getenv("PZ_THREADS")) : 1;
	double	   *G;
	uint64		rng;
	PzSolveSide users,
				items;

	check_params(p);
	kp = TYPEALIGN(PZ_LANES, k);

	Xp = alloc_factors(m->nusers, kp, &xraw);
	Yp = alloc_factors(m->nitems, kp, &yraw);
	Gf = alloc_factors(kp, kp, &graw);
	G = palloc(sizeof(double) * k * k);
	gather_rows = Max(longest_row(m->user_ptr, m->nusers),
					  longest_row(m->item_ptr, m->nitems));
	gather_rows = Min(gather_rows, (int64) (PZ_GATHER_BYTES / (kp * sizeof(float))));
	bufs[0] = alloc_factors((int32) gather_rows, kp, &braw[0]);
	bufs[1] = nthreads > 1 ? alloc_factors((int32) gather_rows, kp, &braw[1]) : NULL;

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

	items = users;
	items.Y = Xp;
	items.X = Yp;
	items.ptr = m->item_ptr;
	items.idx = m->item_users;
	items.val = m->item_vals;

	for (int it = 0; it < p->iterations; it++)
	{
		CHECK_FOR_INTERRUPTS();
		gram_strided(Yp, m->nitems, k, kp, G);
		gram_to_float(G, k, kp, p->regularization, Gf);
		solve_side(&users, m->nusers, bufs, gather_rows, nthreads);

		CHECK_FOR_INTERRUPTS();
		gram_strided(Xp, m->nusers, k, kp, G);
		gram_to_float(G, k, kp, p->regularization, Gf);
		solve_side(&items, m->nitems, bufs, gather_rows, nthreads);
	}

	for (int32 u = 0; u < m->nusers; u++)
		memcpy(X + (Size) u * k, Xp + (Size) u * kp, sizeof(float) * k);
	for (int32 i = 0; i < m->nitems; i++)
		memcpy(Y + (Size) i * k, Yp + (Size) i * kp, sizeof(float) * k);

	pfree(braw[0]);
	if (bufs[1])
		pfree(braw[1]);
	pfree(G);
	pfree(graw);
	pfree(yraw);
	pfree(xraw);
}

/* ---- fold-in ------------------------------------------------------------- */

void
pz_als_fold_in(const float *Y, int k, const double *YtY,
			   const int32 *items, const float *values, int n,
			   const PzAlsParams *p, float *x)
{
	double	   *A;
	double	   *b;
	double		tiny;

	if (k < 1 || k > PZ_MAX_FACTORS)
		elog(ERROR, "factor count %d out of range", k);

	A = palloc(sizeof(double) * k * k);
	b = palloc0(sizeof(double) * k);
	memcpy(A, YtY, sizeof(double) * k * k);
	for (int a = 0; a < k; a++)
		A[a * k + a] += p->regularization;

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
	for (int j = 0; j < k; j++)
	{
		double	   *rj = A + (Size) j * k;
		double		d = rj[j];

		for (int c = 0; c < j; c++)
			d -= rj[c] * rj[c];
		d = sqrt(Max(d, tiny));
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

	/* L z = b, then L^T x = z, both in b. */
	for (int i = 0; i < k; i++)
	{
		double		s = b[i];

		for (int c = 0; c < i; c++)
			s -= A[(Size) i * k + c] * b[c];
		b[i] = s / A[(Size) i * k + i];
	}
	for (int i = k - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int c = i + 1; c < k; c++)
			s -= A[(Size) c * k + i] * b[c];
		b[i] = s / A[(Size) i * k + i];
	}

	for (int a = 0; a < k; a++)
		x[a] = (float) b[a];
	pfree(b);
	pfree(A);
}
