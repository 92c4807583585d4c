/*
 * embedding8.h
 *		int8 scalar-quantized embeddings: one float scale per vector, each
 *		element stored as round(x / scale) in [-127, 127].
 */
#ifndef PERSONALIZE_EMBEDDING8_H
#define PERSONALIZE_EMBEDDING8_H

#include "postgres.h"
#include "fmgr.h"

typedef struct Embedding8
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		dim;
	int16		unused;			/* reserved, always zero */
	float		scale;			/* value of one quantization step */
	int32		sumsq;			/* sum of x[i]^2, cached for L2 and cosine */
	int8		x[FLEXIBLE_ARRAY_MEMBER];
} Embedding8;

#define EMBEDDING8_SIZE(dim)	(offsetof(Embedding8, x) + (dim))
#define PG_GETARG_EMBEDDING8_P(n) ((Embedding8 *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)))

extern float pz_quantize_i8(const float *x, int dim, int8 *q);

#endif							/* PERSONALIZE_EMBEDDING8_H */
