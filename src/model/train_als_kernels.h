/*
 * train_als_kernels.h
 *		The ALS row solver and Gram kernel, included by train_als.c once per
 *		instruction set with PZ_SUFFIX and PZ_LANES defined (and a
 *		"#pragma GCC target" in force for the wider ones).
 *
 * PZ_LANES is the width of the target's own float registers: 4 for the
 * baseline (SSE2, NEON), 8 for AVX2, 16 for AVX-512.  Vectors wider than the
 * hardware were tried and are much slower: GCC lowers them through the
 * stack, so a 16-lane build ran eight times slower under AVX2 than under
 * AVX-512.  Rows are padded to a multiple of 16 floats, a whole number of
 * vectors for every width.
 */
#define PZ_CAT2(a, b) a##_##b
#define PZ_CAT(a, b) PZ_CAT2(a, b)
#define PZ_K(name) PZ_CAT(name, PZ_SUFFIX)

#define PZ_VECS_MAX		(PZ_MAX_FACTORS / PZ_LANES)
#define PZ_DLANES		(PZ_LANES / 2)	/* doubles per register */

typedef float PZ_K(vsf) __attribute__((vector_size(PZ_LANES * sizeof(float))));
typedef double PZ_K(vdf) __attribute__((vector_size(PZ_DLANES * sizeof(double))));
typedef float PZ_K(v4sf) __attribute__((vector_size(4 * sizeof(float))));

#if PZ_LANES >= 16
typedef float PZ_K(v8sf) __attribute__((vector_size(8 * sizeof(float))));
#endif

/* Rows are 64-byte aligned (see alloc_factors), so loads never split lines. */
PZ_INLINE	PZ_K(vsf)
PZ_K(vload) (const float *p)
{
	return *(const PZ_K(vsf) *) p;
}

PZ_INLINE void
PZ_K(vstore) (float *p, const PZ_K(vsf) *v)
{
	*(PZ_K(vsf) *) p = *v;
}

/* Horizontal sum by halving down to four lanes, then a tree of scalars. */
PZ_INLINE float
PZ_K(vhsum) (const PZ_K(vsf) *v)
{
	PZ_K(v4sf)	a;

#if PZ_LANES >= 16
	PZ_K(v8sf)	lo,
				hi;

	memcpy(&lo, v, sizeof(lo));
	memcpy(&hi, (const char *) v + sizeof(lo), sizeof(hi));
	lo += hi;
	{
		PZ_K(v4sf)	b;

		memcpy(&a, &lo, sizeof(a));
		memcpy(&b, (const char *) &lo + sizeof(a), sizeof(b));
		a += b;
	}
#elif PZ_LANES == 8
	PZ_K(v4sf)	b;

	memcpy(&a, v, sizeof(a));
	memcpy(&b, (const char *) v + sizeof(a), sizeof(b));
	a += b;
#else
	a = *v;
#endif
	return (a[0] + a[2]) + (a[1] + a[3]);
}

PZ_INLINE float
PZ_K(vdot) (const PZ_K(vsf) *a, const PZ_K(vsf) *b, int nv)
{
	PZ_K(vsf)	s = a[0] * b[0];

	PZ_UNROLL
	for (int q = 1; q < nv; q++)
		s += a[q] * b[q];
	return PZ_K(vhsum) (&s);
}

/*
 * out = G v, G symmetric [kp x kp]: the sum of v[j] times row j.  Two sets of
 * accumulators (even and odd j) halve the chain of dependent adds.
 */
PZ_INLINE void
PZ_K(gram_times) (const float *restrict G, const float *restrict v, int k,
				  int kp, int nv, PZ_K(vsf) *restrict out)
{
	/*
	 * Zeroed whole: only nv are used, but the compiler cannot tell when nv
	 * is not a constant.  Where it is, the unused ones cost nothing.
	 */
	PZ_K(vsf)	a0[PZ_VECS_MAX] = {{0}},
				a1[PZ_VECS_MAX] = {{0}};
	int			j;
	for (j = 0; j + 1 < k; j += 2)
	{
		const float *g0 = G + (Size) j * kp;
		const float *g1 = g0 + kp;
		float		s0 = v[j],
					s1 = v[j + 1];

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
		{
			a0[q] += s0 * PZ_K(vload) (g0 + q * PZ_LANES);
			a1[q] += s1 * PZ_K(vload) (g1 + q * PZ_LANES);
		}
	}
	if (j < k)
	{
		const float *g0 = G + (Size) j * kp;
		float		s0 = v[j];

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			a0[q] += s0 * PZ_K(vload) (g0 + q * PZ_LANES);
	}
	PZ_UNROLL
	for (int q = 0; q < nv; q++)
		out[q] = a0[q] + a1[q];
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
 * Each entry's row is loaded once and used for both the dot product and the
 * update.  For rows of realistic length this loop is bounded by streaming
 * the rows from L2; splitting it into a pass of batched dot products and a
 * pass of updates was faster only while a row's factors fit in L1.
 */
PZ_INLINE void
PZ_K(sparse_times) (const float *restrict Y, bool indirect,
					const int32 *restrict idx, const float *restrict val,
					int64 n, int kp, float alpha,
					const PZ_K(vsf) *restrict v, bool rhs, int nv,
					PZ_K(vsf) *restrict acc, float *restrict gather)
{
	for (int64 e = 0; e < n; e++)
	{
		const float *y = Y + (Size) (indirect ? idx[e] : e) * kp;
		PZ_K(vsf)	d0 = PZ_K(vload) (y) * v[0],
					d1 = {0};
		float		c1 = alpha * val[e];
		float		c;

		/* two partial sums: a shorter chain of dependent adds */
		PZ_UNROLL
		for (int q = 1; q < nv; q++)
		{
			if (q % 2)
				d1 += PZ_K(vload) (y + q * PZ_LANES) * v[q];
			else
				d0 += PZ_K(vload) (y + q * PZ_LANES) * v[q];
		}
		d0 += d1;
		c = c1 * PZ_K(vhsum) (&d0);
		if (rhs)
			c = (1.0f + c1) - c;
		/* the row is in L1 now */
		PZ_UNROLL
		for (int q = 0; q < nv; q++)
		{
			PZ_K(vsf)	yq = PZ_K(vload) (y + q * PZ_LANES);

			acc[q] += c * yq;
			if (gather)
				PZ_K(vstore) (gather + (Size) e * kp + q * PZ_LANES, &yq);
		}
	}
}

/*
 * A few CG steps on each of rows [begin, end), starting from the current
 * x_u.  nv is a constant in every specialised call below, so the loops over
 * a row's vectors unroll and the vectors live in registers.
 *
 * The other side's factors outgrow L2 (1.5 MB for 6,000 rows of 64 floats),
 * and each CG step would re-read the row's entries in random order, so the
 * first pass copies them into buf (room for gather_rows rows) and the CG
 * steps stream from there instead.
 */
PZ_INLINE void
PZ_K(solve_rows_nv) (const PzSolveSide *s, int32 begin, int32 end, int nv,
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
		/* zeroed whole for the compiler's sake, as in gram_times */
		PZ_K(vsf)	x[PZ_VECS_MAX] = {{0}},
					r[PZ_VECS_MAX] = {{0}},
					p[PZ_VECS_MAX] = {{0}},
					ap[PZ_VECS_MAX] = {{0}};
		float		rsold;
		/* G holds the shared ridge; a row-scaled one is added here */
		float		ridge = s->reg_exponent > 0.0f ?
			s->lambda * powf((float) Max(n, 1), s->reg_exponent) : 0.0f;

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			x[q] = PZ_K(vload) (xrow + q * PZ_LANES);

		/* r = b - A x = -(G + ridge I) x + sum (c - c1 (y . x)) y */
		PZ_K(gram_times) (s->G, xrow, k, kp, nv, r);
		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			r[q] = -r[q] - ridge * x[q];
		PZ_K(sparse_times) (s->Y, true, idx, val, n, kp, s->alpha, x, true,
							nv, r, gathered ? buf : NULL);

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			p[q] = r[q];
		rsold = PZ_K(vdot) (r, r, nv);
		if (!(rsold >= PZ_CG_EPS))	/* also stops on NaN */
			continue;

		for (int step = 0; step < s->cg_steps; step++)
		{
			float		pap,
						a,
						rsnew;

			PZ_UNROLL
			for (int q = 0; q < nv; q++)
				PZ_K(vstore) (pbuf + q * PZ_LANES, &p[q]);
			PZ_K(gram_times) (s->G, pbuf, k, kp, nv, ap);
			PZ_UNROLL
			for (int q = 0; q < nv; q++)
				ap[q] += ridge * p[q];
			if (gathered)
				PZ_K(sparse_times) (buf, false, NULL, val, n, kp, s->alpha, p,
									false, nv, ap, NULL);
			else
				PZ_K(sparse_times) (s->Y, true, idx, val, n, kp, s->alpha, p,
									false, nv, ap, NULL);

			pap = PZ_K(vdot) (p, ap, nv);
			if (!(pap > 0.0f))
				break;
			a = rsold / pap;
			PZ_UNROLL
			for (int q = 0; q < nv; q++)
			{
				x[q] += a * p[q];
				r[q] -= a * ap[q];
			}
			rsnew = PZ_K(vdot) (r, r, nv);
			if (rsnew < PZ_CG_EPS)
				break;
			PZ_UNROLL
			for (int q = 0; q < nv; q++)
				p[q] = r[q] + (rsnew / rsold) * p[q];
			rsold = rsnew;
		}

		PZ_UNROLL
		for (int q = 0; q < nv; q++)
			PZ_K(vstore) (xrow + q * PZ_LANES, &x[q]);
	}
}

/*
 * Solve rows [begin, end) of one side.  Calls no PostgreSQL function (it may
 * run in a worker thread).  Up to 64 factors the vector count is a constant
 * in each call, so the row's vectors stay in registers; beyond that they
 * live on the stack.
 */
static void
PZ_K(solve_rows) (const PzSolveSide *s, int32 begin, int32 end, float *buf,
				  int64 gather_rows)
{
	switch (s->kp)
	{
		case 16:
			PZ_K(solve_rows_nv) (s, begin, end, 16 / PZ_LANES, buf, gather_rows);
			break;
		case 32:
			PZ_K(solve_rows_nv) (s, begin, end, 32 / PZ_LANES, buf, gather_rows);
			break;
		case 48:
			PZ_K(solve_rows_nv) (s, begin, end, 48 / PZ_LANES, buf, gather_rows);
			break;
		case 64:
			PZ_K(solve_rows_nv) (s, begin, end, 64 / PZ_LANES, buf, gather_rows);
			break;
		default:
			PZ_K(solve_rows_nv) (s, begin, end, s->kp / PZ_LANES, buf, gather_rows);
			break;
	}
}

/*
 * G[k x k] = sum over the n rows (stride `stride`) of y y^T, accumulated in
 * double.  acc is scratch of k rows of kd = k rounded up to 8 doubles,
 * 64-byte aligned.  Rows go four at a time, so each sweep over acc (which
 * stays in L1 for k = 64) does four rows' work; the whole square is summed,
 * not just a triangle, because full vector rows cost less than the ragged
 * triangle, and each product y_a y_b then meets its mirror image in the same
 * order, which leaves G exactly symmetric.
 */
static void
PZ_K(gram_strided) (const float *Y, int32 n, int k, int stride, double *acc,
					double *G)
{
	int			kd = TYPEALIGN(8, k);
	int			nvd = kd / PZ_DLANES;
	double		yd[PZ_GRAM_ROWS][PZ_MAX_FACTORS] __attribute__((aligned(PZ_ALIGN)));

	memset(acc, 0, sizeof(double) * k * kd);
	memset(yd, 0, sizeof(yd));
	for (int32 i = 0; i < n; i += PZ_GRAM_ROWS)
	{
		int			m = Min(PZ_GRAM_ROWS, n - i);

		for (int r = 0; r < PZ_GRAM_ROWS; r++)
			for (int a = 0; a < k; a++)
				yd[r][a] = r < m ? Y[(Size) (i + r) * stride + a] : 0.0;

		for (int a = 0; a < k; a++)
		{
			PZ_K(vdf)  *g = (PZ_K(vdf) *) (acc + (Size) a * kd);
			double		s0 = yd[0][a],
						s1 = yd[1][a],
						s2 = yd[2][a],
						s3 = yd[3][a];

			for (int c = 0; c < nvd; c++)
				g[c] += s0 * ((const PZ_K(vdf) *) yd[0])[c] +
					s1 * ((const PZ_K(vdf) *) yd[1])[c] +
					s2 * ((const PZ_K(vdf) *) yd[2])[c] +
					s3 * ((const PZ_K(vdf) *) yd[3])[c];
		}
	}
	for (int a = 0; a < k; a++)
		memcpy(G + (Size) a * k, acc + (Size) a * kd, sizeof(double) * k);
}

#undef PZ_VECS_MAX
#undef PZ_DLANES
