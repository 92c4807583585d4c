/*
 * purpose.h
 *		The purpose a session declares for reading personal data.
 */
#ifndef PERSONALIZE_PURPOSE_H
#define PERSONALIZE_PURPOSE_H

#include "postgres.h"

/* Purpose names are at most 64 bytes, so at most 32 dotted levels. */
#define PZ_PURPOSE_NAME		(64 + 1)
#define PZ_PURPOSE_DEPTH	32

typedef struct PurposeInfo
{
	bool		known;
	int			max_tier;		/* a ConsentTier: the lowest along the ancestors */
	bool		personal_data_allowed;	/* by it and every ancestor, none deciding terms */
	bool		decides_terms;	/* it or an ancestor decides prices or terms */
	/* whose grants and consents cover it: itself, then inherited-from ancestors */
	int			nchain;
	char		chain[PZ_PURPOSE_DEPTH][PZ_PURPOSE_NAME];
} PurposeInfo;

extern char *pz_purpose;
extern uint64 pz_purpose_version;

extern void pz_purpose_define_guc(void);
extern bool pz_purpose_name_valid(const char *name);
extern PurposeInfo pz_purpose_lookup(const char *purpose);
extern bool pz_purpose_granted_chain(Oid userid, const PurposeInfo *info);
extern void pz_purpose_refuse_ungranted(Oid userid, const char *purpose) pg_attribute_noreturn();
extern void pz_purpose_refuse_personal_data(const char *purpose, const PurposeInfo *info,
											const char *action) pg_attribute_noreturn();
extern Datum pz_purpose_chain_array(const PurposeInfo *info);

/*
 * One wording for each purpose error, here and in SQL (check_purpose_exists
 * in sql/install/050_ledger.sql): an unknown purpose is 42704, a malformed
 * name 42602, wherever it is named.
 */
#define PZ_PURPOSE_UNKNOWN_MSG	"purpose \"%s\" does not exist"
#define PZ_PURPOSE_UNKNOWN_HINT	"Known purposes are listed in personalize.purposes; personalize.create_purpose() adds one."
#define PZ_PURPOSE_NAME_MSG		"invalid purpose name \"%s\""
#define PZ_PURPOSE_NAME_HINT	"Purposes are dotted lower-case names such as \"recommendation\" or \"marketing.email\"."

#endif							/* PERSONALIZE_PURPOSE_H */
