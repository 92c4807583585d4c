/*
 * consent_store_internal.h
 *		Between consent_store.c (the shared store) and consent_changes.c
 *		(a transaction's changes to personalize.consents).
 */
#ifndef PERSONALIZE_CONSENT_STORE_INTERNAL_H
#define PERSONALIZE_CONSENT_STORE_INTERNAL_H

#include "postgres.h"

#include "consent.h"

/* The final state of one (subject, purpose) a committing transaction changed. */
typedef struct PzConsentChange
{
	int64		subject;
	const char *purpose;
	const Consent *consent;		/* NULL: the row is gone */
	uint32		hash;			/* pz_consent_hash(consent) */
} PzConsentChange;

extern uint32 pz_consent_hash(const Consent *c);
extern Oid	pz_consents_relid(void);
extern void pz_consent_store_set_overlay_flag(bool on);
extern void pz_consent_store_commit(const PzConsentChange *changes, int n, bool truncated);

#endif							/* PERSONALIZE_CONSENT_STORE_INTERNAL_H */
