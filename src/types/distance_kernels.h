/*
 * distance_kernels.h
 *		Kernel bodies, included once per instruction set by distance.c with
 *		PZ_SUFFIX defined and a "#pragma GCC target" in force.
 *
 * Sums run over two 16-lane accumulators so the adds of consecutive blocks do
 * not wait on each other; the compiler splits the 16-lane GCC vectors into
 * whatever registers the target has (1 zmm, 2 ymm or 4 xmm).  Inputs shorter
 * than one block fall through to the scalar tail, which adds in index order.
 */
#define PZ_CAT2(a, b) a##_##b
#define PZ_CAT(a, b) PZ_CAT2(a, b)
#define PZ_K(name) PZ_CAT(name, PZ_SUFFIX)

/* Unaligned load: tuples give no alignment guarantee beyond 4 bytes. */
static inline pz_v16sf
PZ_K(load) (const float *p)
{
	pz_v16sf	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline pz_v16sf
PZ_K(abs) (pz_v16sf v)
{
	pz_v16si	bits;

	memcpy(&bits, &v, sizeof(v));
	bits &= 0x7fffffff;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static inline float
PZ_K(hsum) (pz_v16sf v)
{
	float		s = 0.0f;

	for (int i = 0; i < PZ_LANES; i++)
		s += v[i];
	return s;
}

static float
PZ_K(l2sq) (const float *a, const float *b, int n)
{
	pz_v16sf	s0 = {0},
				s1 = {0};
	int			i = 0;
	float		tail = 0.0f;

	for (; i + 2 * PZ_LANES <= n; i += 2 * PZ_LANES)
	{
		pz_v16sf	d0 = PZ_K(load) (a + i) - PZ_K(load) (b + i);
		pz_v16sf	d1 = PZ_K(load) (a + i + PZ_LANES) - PZ_K(load) (b + i + PZ_LANES);

		s0 += d0 * d0;
		s1 += d1 * d1;
	}
	for (; i + PZ_LANES <= n; i += PZ_LANES)
	{
		pz_v16sf	d0 = PZ_K(load) (a + i) - PZ_K(load) (b + i);

		s0 += d0 * d0;
	}
	for (; i < n; i++)
	{
		float		d = a[i] - b[i];

		tail += d * d;
	}
	return PZ_K(hsum) (s0 + s1) + tail;
}

static float
PZ_K(dot) (const float *a, const float *b, int n)
{
	pz_v16sf	s0 = {0},
				s1 = {0};
	int			i = 0;
	float		tail = 0.0f;

	for (; i + 2 * PZ_LANES <= n; i += 2 * PZ_LANES)
	{
		s0 += PZ_K(load) (a + i) * PZ_K(load) (b + i);
		s1 += PZ_K(load) (a + i + PZ_LANES) * PZ_K(load) (b + i + PZ_LANES);
	}
	for (; i + PZ_LANES <= n; i += PZ_LANES)
		s0 += PZ_K(load) (a + i) * PZ_K(load) (b + i);
	for (; i < n; i++)
		tail += a[i] * b[i];
	return PZ_K(hsum) (s0 + s1) + tail;
}

static float
PZ_K(l1) (const float *a, const float *b, int n)
{
	pz_v16sf	s0 = {0},
				s1 = {0};
	int			i = 0;
	float		tail = 0.0f;

	for (; i + 2 * PZ_LANES <= n; i += 2 * PZ_LANES)
	{
		s0 += PZ_K(abs) (PZ_K(load) (a + i) - PZ_K(load) (b + i));
		s1 += PZ_K(abs) (PZ_K(load) (a + i + PZ_LANES) - PZ_K(load) (b + i + PZ_LANES));
	}
	for (; i + PZ_LANES <= n; i += PZ_LANES)
		s0 += PZ_K(abs) (PZ_K(load) (a + i) - PZ_K(load) (b + i));
	for (; i < n; i++)
		tail += fabsf(a[i] - b[i]);
	return PZ_K(hsum) (s0 + s1) + tail;
}

static void
PZ_K(cosine_parts) (const float *a, const float *b, int n,
					float *ab, float *aa, float *bb)
{
	pz_v16sf	sab = {0},
				saa = {0},
				sbb = {0};
	int			i = 0;
	float		tab = 0.0f,
				taa = 0.0f,
				tbb = 0.0f;

	for (; i + PZ_LANES <= n; i += PZ_LANES)
	{
		pz_v16sf	va = PZ_K(load) (a + i);
		pz_v16sf	vb = PZ_K(load) (b + i);

		sab += va * vb;
		saa += va * va;
		sbb += vb * vb;
	}
	for (; i < n; i++)
	{
		tab += a[i] * b[i];
		taa += a[i] * a[i];
		tbb += b[i] * b[i];
	}
	*ab = PZ_K(hsum) (sab) + tab;
	*aa = PZ_K(hsum) (saa) + taa;
	*bb = PZ_K(hsum) (sbb) + tbb;
}

/* Products of two int8 fit int16; their sum over 16,000 dims fits int32. */
static int32
PZ_K(dot_i8) (const int8 *a, const int8 *b, int n)
{
	int32		s = 0;

	for (int i = 0; i < n; i++)
		s += (int16) a[i] * (int16) b[i];
	return s;
}

/* int8 factors against a float query: only the stored side is quantized. */
static float
PZ_K(dot_i8_f32) (const int8 *a, const float *b, int n)
{
	float		s = 0.0f;

	for (int i = 0; i < n; i++)
		s += (float) a[i] * b[i];
	return s;
}

static float
PZ_K(l1_i8) (const int8 *a, float sa, const int8 *b, float sb, int n)
{
	float		s = 0.0f;

	for (int i = 0; i < n; i++)
		s += fabsf((float) a[i] * sa - (float) b[i] * sb);
	return s;
}

static const PzKernels PZ_K(kernels) = {
	.name = PZ_NAME,
	.l2sq = PZ_K(l2sq),
	.dot = PZ_K(dot),
	.l1 = PZ_K(l1),
	.cosine_parts = PZ_K(cosine_parts),
	.dot_i8 = PZ_K(dot_i8),
	.dot_i8_f32 = PZ_K(dot_i8_f32),
	.l1_i8 = PZ_K(l1_i8),
};

#undef PZ_K
#undef PZ_CAT
#undef PZ_CAT2
