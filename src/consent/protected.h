/*
 * protected.h
 *		The tables personalize protects, as this backend knows them.
 */
#ifndef PERSONALIZE_PROTECTED_H
#define PERSONALIZE_PROTECTED_H

#include "postgres.h"

extern void pz_protected_init(void);
extern bool pz_protected_ready(void);
extern bool pz_is_protected(Oid relid);
extern const Oid *pz_protected_relids(int *n);

#endif							/* PERSONALIZE_PROTECTED_H */
