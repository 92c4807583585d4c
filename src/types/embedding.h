/*
 * embedding.h
 *		The embedding type: a float4 vector laid out like pgvector's vector,
 *		so binary COPY data moves between the two types unchanged.
 */
#ifndef PERSONALIZE_EMBEDDING_H
#define PERSONALIZE_EMBEDDING_H

#include "postgres.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#define EMBEDDING_MAX_DIM 16000

typedef struct Embedding
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always zero */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Embedding;

#define EMBEDDING_SIZE(dim)		(offsetof(Embedding, x) + sizeof(float) * (dim))
#define DatumGetEmbeddingP(d)	((Embedding *) PG_DETOAST_DATUM(d))
#define PG_GETARG_EMBEDDING_P(n) DatumGetEmbeddingP(PG_GETARG_DATUM(n))
#define PG_RETURN_EMBEDDING_P(e) PG_RETURN_POINTER(e)

extern Embedding *embedding_alloc(int dim);
extern void embedding_check_dim(int dim, const char *type_name);
extern void embedding_check_typmod(int32 typmod, int dim);
extern void embedding_check_element(float value, const char *type_name);
extern void embedding_check_same_dims(int a, int b, const char *type_name);
extern float *embedding_parse(const char *lit, const char *type_name, int *dim);
extern char *embedding_format(const float *x, int dim);
extern int32 embedding_parse_typmod(ArrayType *ta, const char *type_name);
extern Datum embedding_recv_bytea(PGFunction recv, bytea *data);
extern void embedding_recv_need(StringInfo buf, Size bytes, const char *type_name, int dim);
extern void embedding_recv_unused(int unused);

#endif							/* PERSONALIZE_EMBEDDING_H */
