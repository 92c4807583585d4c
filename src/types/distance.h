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
	float		(*dot_i8_f32) (const int8 *a, const float *b, int n);
	float		(*l1_i8) (const int8 *a, float sa, const int8 *b, float sb, int n);
} PzKernels;

extern const PzKernels *pz_kernels;

/*
 * Argument n of a distance function, detoasted.  Scans call distances once
 * per row, and a row's value usually needs no detoasting (uncompressed,
 * inline, 4-byte header), so test for that here rather than always paying
 * the call into pg_detoast_datum().
 */
#define PZ_GETARG_DETOASTED(n) \
	(VARATT_IS_EXTENDED(DatumGetPointer(PG_GETARG_DATUM(n))) ? \
	 (void *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)) : \
	 (void *) DatumGetPointer(PG_GETARG_DATUM(n)))

/*
 * Prefetching for sequential scans.  A heap page stores its tuples from the
 * end of the page towards its start, in line-pointer order, so the rows a
 * sequential scan reads next usually lie just below the current one in
 * memory.  The hardware prefetchers do not pick up that descending pattern
 * of short ascending runs, and without help a scan of 128-dimensional rows
 * spends about half its time waiting for the first cache line of each row
 * (measured with test/bench/scan.sh: prefetching halves the time per row).
 *
 * pz_prefetch_next_rows() therefore prefetches the cache lines that hold
 * the row PZ_PREFETCH_ROWS rows further on, assuming rows as wide as this
 * datum plus PZ_ROW_OVERHEAD (tuple header, alignment, a key column or two);
 * the rows in between were asked for by the calls for the rows before.
 * When the datum lies anywhere else (a query constant, a palloc'd copy) the
 * prefetches are wasted but harmless: a prefetch never faults, and the
 * address is computed as an integer, not by pointer arithmetic outside the
 * object.  The datum must be detoasted (4-byte header).
 */
#define PZ_CACHE_LINE		64
#define PZ_PREFETCH_ROWS	2
#define PZ_ROW_OVERHEAD		64

static inline void
pz_prefetch_next_rows(const void *datum)
{
#if defined(__GNUC__)
	uintptr_t	end = (uintptr_t) datum;
	uintptr_t	row = (uintptr_t) VARSIZE(datum) + PZ_ROW_OVERHEAD;
	uintptr_t	line = (end - row * PZ_PREFETCH_ROWS) & ~(uintptr_t) (PZ_CACHE_LINE - 1);
	uintptr_t	stop = end - row * (PZ_PREFETCH_ROWS - 1);

	for (; line < stop; line += PZ_CACHE_LINE)
		__builtin_prefetch((const void *) line);
#endif
}

#endif							/* PERSONALIZE_DISTANCE_H */
