/*
 * distance.c
 *		Distance kernels for embedding and embedding8, compiled for a portable
 *		baseline and, on x86-64, for AVX2+FMA and AVX-512; the best one the
 *		CPU supports is picked once when the library loads.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "distance.h"
#include "personalize.h"

#define PZ_LANES 16
typedef float pz_v16sf __attribute__((vector_size(PZ_LANES * sizeof(float))));
typedef int32 pz_v16si __attribute__((vector_size(PZ_LANES * sizeof(int32))));

#define PZ_SUFFIX generic
#define PZ_NAME "generic"
#include "distance_kernels.h"
#undef PZ_SUFFIX
#undef PZ_NAME

#if defined(__x86_64__) && defined(__GNUC__) && !defined(PZ_NO_DISPATCH)
#define PZ_X86_DISPATCH 1

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define PZ_SUFFIX avx2
#define PZ_NAME "avx2+fma"
#include "distance_kernels.h"
#undef PZ_SUFFIX
#undef PZ_NAME
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
#define PZ_SUFFIX avx512
#define PZ_NAME "avx512"
#include "distance_kernels.h"
#undef PZ_SUFFIX
#undef PZ_NAME
#pragma GCC pop_options
#endif

const PzKernels *pz_kernels = &kernels_generic;

void
pz_distance_init(void)
{
#ifdef PZ_X86_DISPATCH
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
		pz_kernels = &kernels_avx512;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		pz_kernels = &kernels_avx2;
#endif
}
