/*
 * purpose.h
 *		The purpose a session declares for reading personal data.
 */
#ifndef PERSONALIZE_PURPOSE_H
#define PERSONALIZE_PURPOSE_H

#include "postgres.h"

typedef struct PurposeInfo
{
	bool		known;
	int			max_tier;		/* a ConsentTier */
	bool		personal_data_allowed;
} PurposeInfo;

extern char *pz_purpose;
extern uint64 pz_purpose_version;

extern void pz_purpose_define_guc(void);
extern bool pz_purpose_name_valid(const char *name);
extern PurposeInfo pz_purpose_lookup(const char *purpose);
extern bool pz_purpose_granted(Oid userid, const char *purpose);
extern void pz_purpose_refuse_ungranted(Oid userid, const char *purpose) pg_attribute_noreturn();

#endif							/* PERSONALIZE_PURPOSE_H */
