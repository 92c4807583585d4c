/*
 * consent.h
 *		The consent type: a subject's consent for one purpose, as a tier plus
 *		explicitly granted and denied signal categories.
 */
#ifndef PERSONALIZE_CONSENT_H
#define PERSONALIZE_CONSENT_H

#include "postgres.h"
#include "fmgr.h"

/* Ordinals of consent_tier; the SQL enum lists its labels in this order. */
typedef enum ConsentTier
{
	TIER_NONE = 0,
	TIER_FUNCTIONAL = 1,
	TIER_PERSONALIZATION = 2,
	TIER_ENHANCED = 3
} ConsentTier;

#define CONSENT_MAX_CATEGORIES	64
#define CATEGORY_NAME_MAX		63

/*
 * names holds ngrant then ndeny NUL-terminated category names; each list is
 * sorted and free of duplicates, and no name is in both (a deny wins).
 */
typedef struct Consent
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		tier;			/* a ConsentTier */
	uint8		ngrant;
	uint8		ndeny;
	uint8		reserved;		/* always zero */
	char		names[FLEXIBLE_ARRAY_MEMBER];
} Consent;

#define PG_GETARG_CONSENT_P(n) ((Consent *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)))

extern const char *const consent_tier_names[];
extern int	consent_tier_from_name(const char *name, bool missing_ok);
extern bool consent_allows(const Consent *c, const char *category, int len,
						   int category_tier);
extern bool consent_denies(const Consent *c, const char *category, int len);
extern bool category_name_is_valid(const char *name, int len);

#endif							/* PERSONALIZE_CONSENT_H */
