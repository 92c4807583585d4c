/*
 * personalize.h
 *		Declarations shared by every file of the extension.
 */
#ifndef PERSONALIZE_H
#define PERSONALIZE_H

#include "postgres.h"
#include "fmgr.h"

/* Every SQL entry point is declared with this so it is exported. */
#define PZ_FUNCTION(name) \
	PGDLLEXPORT Datum name(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS)

/* splitmix64's finaliser: a well-mixed 64-bit hash, for seeded choices. */
static inline uint64
pz_mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

extern void pz_distance_init(void);
extern void pz_visibility_init(void);
/*
 * category must point at a varlena's data (VARDATA_ANY): the per-row path
 * may read up to 7 bytes before it, which are the varlena's own headers.
 */
extern bool pz_row_visible(int64 subject, const char *category, int len);
extern void pz_check_declared_purpose(void);
extern void pz_visibility_recheck(void);
extern void pz_guard_init(void);
extern void pz_estimates_init(void);
extern void pz_job_settings_define_gucs(void);
extern void pz_train_define_gucs(void);

#endif							/* PERSONALIZE_H */
