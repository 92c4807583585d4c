/*
 * distance.h
 *		SIMD distance kernels, chosen once per backend for the running CPU.
 */
#ifndef PERSONALIZE_DISTANCE_H
#define PERSONALIZE_DISTANCE_H

#include "postgres.h"

typedef struct PzKernels
{
	const char *name;
	/* float vectors; sums accumulate in float, as pgvector does */
	float		(*l2sq) (const float *a, const float *b, int n);
	float		(*dot) (const float *a, const float *b, int n);
	float		(*l1) (const float *a, const float *b, int n);
	void		(*cosine_parts) (const float *a, const float *b, int n,
								 float *ab, float *aa, float *bb);
	/* int8 quantized vectors: exact integer dot product, scaled L1 */
	int32		(*dot_i8) (const int8 *a, const int8 *b, int n);
	float		(*l1_i8) (const int8 *a, float sa, const int8 *b, float sb, int n);
} PzKernels;

extern const PzKernels *pz_kernels;

#endif							/* PERSONALIZE_DISTANCE_H */
