/*
 * dense.c
 *		A blocked Cholesky factorisation, and the inverse from it, of a Gram
 *		matrix of a few thousand items (EASE, train_ease.c).
 *
 * Only the n^3 work matters.  At n = 5,000 the matrix is 200 MB, far beyond
 * the caches, so every multiply-add must find its operands in cache:
 *
 *	- the factorisation is right-looking by panels of PANEL columns: a panel
 *	  is factored, copied into a packed buffer, and the trailing matrix is
 *	  updated from that buffer, two rows against four at a time, in tiles
 *	  of rows that stay in cache;
 *	- the inverse solves L L^T X = I for RHS columns at a time, the
 *	  right-hand sides side by side in one buffer, so that every step is a
 *	  multiply-add of a scalar and an RHS-wide vector, two rows at a time.
 *
 * At n = 3,000 on the test machine (one core, baseline x86-64 code): 1.0 s
 * for the factorisation, 1.7 s for the inverse.
 *
 * Sums use explicit vector lanes (GCC vector extensions): the compiler maps
 * them to whatever SIMD the target has, without reassociating anything, so
 * the results do not depend on compiler flags.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "dense.h"
#include "matrix.h"

#define PANEL	64				/* columns factored together */
#define JTILE	128				/* packed rows kept in cache by the update */
#define RHS		16				/* right-hand sides solved together */

/* vectors only pass between inlined helpers, where the ABI does not matter */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef double pz_v4d __attribute__((vector_size(4 * sizeof(double))));
typedef double pz_vrhs __attribute__((vector_size(RHS * sizeof(double))));

static inline pz_v4d
load4(const double *p)
{
	pz_v4d		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline double
hsum4(pz_v4d v)
{
	return (v[0] + v[2]) + (v[1] + v[3]);
}

/*
 * Factor columns kb .. kb + kn - 1 of rows kb .. n - 1, the updates of the
 * earlier panels being already applied (Cholesky-Banachiewicz within the
 * panel: a row at a time, so each row's segment stays in cache).
 */
static bool
factor_panel(double *A, int n, int kb, int kn)
{
	for (int i = kb; i < n; i++)
	{
		double	   *ri = A + (Size) i * n;
		int			jmax = Min(i, kb + kn - 1);

		for (int j = kb; j <= jmax; j++)
		{
			const double *rj = A + (Size) j * n;
			double		s = ri[j];

			for (int c = kb; c < j; c++)
				s -= ri[c] * rj[c];
			if (j < i)
				ri[j] = s / rj[j];
			else if (s > 0.0 && isfinite(s))
				ri[i] = sqrt(s);
			else
				return false;
		}
	}
	return true;
}

/*
 * A[r0 + i][r0 + j] -= packed[i] . packed[j] for 0 <= j <= i < rows: the
 * trailing update of one panel.  packed holds rows + 4 rows of PANEL
 * doubles, the last ones zero, so that a group of four may run past the
 * end; what lies past it is never stored.
 */
static void
update_trailing(double *A, int n, int r0, const double *packed, int rows)
{
	for (int jb = 0; jb < rows; jb += JTILE)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = jb; i < rows; i += 2)
		{
			bool		pair = i + 1 < rows;
			const double *p0 = packed + (Size) i * PANEL;
			const double *p1 = packed + (Size) (pair ? i + 1 : i) * PANEL;
			int			jend = Min(jb + JTILE, i + (pair ? 2 : 1));
			double	   *a0 = A + (Size) (r0 + i) * n + r0;
			double	   *a1 = a0 + n;

			for (int j = jb; j < jend; j += 4)
			{
				const double *q = packed + (Size) j * PANEL;
				pz_v4d		s00 = {0},
							s01 = {0},
							s02 = {0},
							s03 = {0},
							s10 = {0},
							s11 = {0},
							s12 = {0},
							s13 = {0};
				double		d0[4],
							d1[4];

				for (int c = 0; c < PANEL; c += 4)
				{
					pz_v4d		x0 = load4(p0 + c);
					pz_v4d		x1 = load4(p1 + c);
					pz_v4d		y0 = load4(q + c);
					pz_v4d		y1 = load4(q + PANEL + c);
					pz_v4d		y2 = load4(q + 2 * PANEL + c);
					pz_v4d		y3 = load4(q + 3 * PANEL + c);

					s00 += x0 * y0;
					s01 += x0 * y1;
					s02 += x0 * y2;
					s03 += x0 * y3;
					s10 += x1 * y0;
					s11 += x1 * y1;
					s12 += x1 * y2;
					s13 += x1 * y3;
				}
				d0[0] = hsum4(s00);
				d0[1] = hsum4(s01);
				d0[2] = hsum4(s02);
				d0[3] = hsum4(s03);
				d1[0] = hsum4(s10);
				d1[1] = hsum4(s11);
				d1[2] = hsum4(s12);
				d1[3] = hsum4(s13);
				for (int t = 0; t < 4 && j + t <= i; t++)
					a0[j + t] -= d0[t];
				if (pair)
					for (int t = 0; t < 4 && j + t <= i + 1; t++)
						a1[j + t] -= d1[t];
			}
		}
	}
}

bool
pz_dense_cholesky(double *A, int n)
{
	double	   *packed = pz_alloc_zeroed((Size) n + 4, sizeof(double) * PANEL);
	bool		ok = true;

	for (int kb = 0; kb < n && ok; kb += PANEL)
	{
		int			kn = Min(PANEL, n - kb);
		int			r0 = kb + kn;

		CHECK_FOR_INTERRUPTS();
		ok = factor_panel(A, n, kb, kn);
		if (!ok || r0 >= n)
			continue;
		for (int i = r0; i < n; i++)
		{
			double	   *dst = packed + (Size) (i - r0) * PANEL;

			memcpy(dst, A + (Size) i * n + kb, sizeof(double) * kn);
			memset(dst + kn, 0, sizeof(double) * (PANEL - kn));
		}
		memset(packed + (Size) (n - r0) * PANEL, 0, sizeof(double) * PANEL * 4);
		update_trailing(A, n, r0, packed, n - r0);
	}
	pfree(packed);
	return ok;
}

static inline pz_vrhs
load_rhs(const double *p)
{
	pz_vrhs		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
store_rhs(double *p, pz_vrhs v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * Columns c0 .. c0 + RHS - 1 of the inverse, rows c0 .. n - 1 (the rows
 * above come from the symmetry of earlier blocks): L Y = E forward (rows of
 * Y above c0 are zero), then L^T X = Y backward, stopping at row c0.  Rows
 * go two at a time, so each row of Y read serves both (at n = 3,000 that
 * took the inverse from 2.65 s to 1.73 s; 16 right-hand sides keep the two
 * accumulators in the baseline's sixteen SSE registers).
 */
static void
inverse_block(const double *A, int n, int c0, double *Y)
{
	int			i;

	for (i = c0; i + 1 < n; i += 2)
	{
		const double *l0 = A + (Size) i * n;
		const double *l1 = l0 + n;
		pz_vrhs		a0 = {0},
					a1 = {0};

		if (i - c0 < RHS)
			a0[i - c0] = 1.0;
		if (i + 1 - c0 < RHS)
			a1[i + 1 - c0] = 1.0;
		for (int k = c0; k < i; k++)
		{
			pz_vrhs		y = load_rhs(Y + (Size) k * RHS);

			a0 -= l0[k] * y;
			a1 -= l1[k] * y;
		}
		a0 = a0 / l0[i];
		store_rhs(Y + (Size) i * RHS, a0);
		a1 -= l1[i] * a0;
		store_rhs(Y + (Size) (i + 1) * RHS, a1 / l1[i + 1]);
	}
	for (; i < n; i++)
	{
		const double *li = A + (Size) i * n;
		pz_vrhs		acc = {0};

		if (i - c0 < RHS)
			acc[i - c0] = 1.0;
		for (int k = c0; k < i; k++)
			acc -= li[k] * load_rhs(Y + (Size) k * RHS);
		store_rhs(Y + (Size) i * RHS, acc / li[i]);
	}
	for (i = n - 1; i - 1 >= c0; i -= 2)
	{
		const double *l0 = A + (Size) i * n;
		const double *l1 = l0 - n;
		pz_vrhs		x0 = load_rhs(Y + (Size) i * RHS) / l0[i];
		pz_vrhs		x1;

		store_rhs(Y + (Size) i * RHS, x0);
		x1 = (load_rhs(Y + (Size) (i - 1) * RHS) - l0[i - 1] * x0) / l1[i - 1];
		store_rhs(Y + (Size) (i - 1) * RHS, x1);
		for (int k = c0; k < i - 1; k++)
		{
			double	   *yk = Y + (Size) k * RHS;

			store_rhs(yk, load_rhs(yk) - l0[k] * x0 - l1[k] * x1);
		}
	}
	if (i == c0)
	{
		const double *li = A + (Size) i * n;

		store_rhs(Y + (Size) i * RHS, load_rhs(Y + (Size) i * RHS) / li[i]);
	}
}

void
pz_dense_inverse_from_cholesky(const double *A, int n, float *P)
{
	double	   *Y = pz_alloc_zeroed(n, sizeof(double) * RHS);

	for (int c0 = 0; c0 < n; c0 += RHS)
	{
		int			cn = Min(RHS, n - c0);

		CHECK_FOR_INTERRUPTS();
		inverse_block(A, n, c0, Y);
		for (int i = c0; i < n; i++)
			for (int r = 0; r < cn; r++)
			{
				float		v = (float) Y[(Size) i * RHS + r];

				P[(Size) i * n + c0 + r] = v;
				P[(Size) (c0 + r) * n + i] = v;
			}
	}
	pfree(Y);
}
