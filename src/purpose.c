/*
 * purpose.c
 *		personalize.purpose: the purpose a session reads personal data for.
 *
 * Any role can SET a custom setting, so the check hook refuses a purpose
 * that is unknown or not granted to the current role.  That check alone is
 * not enough (SET ROLE afterwards, a setting from postgresql.conf), so the
 * row-visibility check re-verifies the grant for the role reading the data.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "consent.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "privileged.h"
#include "purpose.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/acl.h"
#include "utils/array.h"

char	   *pz_purpose = NULL;
uint64		pz_purpose_version = 0;

/* Dotted lower-case names: "marketing", "marketing.email". */
bool
pz_purpose_name_valid(const char *name)
{
	bool		segment_start = true;
	int			len = strlen(name);

	if (len == 0 || len > NAMEDATALEN)
		return false;
	for (const char *p = name; *p; p++)
	{
		if (*p == '.')
		{
			if (segment_start)
				return false;
			segment_start = true;
		}
		else if ((*p >= 'a' && *p <= 'z') || *p == '_' ||
				 (!segment_start && *p >= '0' && *p <= '9'))
			segment_start = false;
		else
			return false;
	}
	return !segment_start;
}

/*
 * A purpose is as narrow as its narrowest ancestor: the tier cap is the
 * lowest along the chain, and personal data is allowed only if every
 * ancestor allows it and none decides prices or terms.  Whose grants and
 * consents cover it is a separate, explicit choice (purposes.inherits):
 * personalize.purpose_chain().
 */
PurposeInfo
pz_purpose_lookup(const char *purpose)
{
	PurposeInfo info;
	PzPrivileged ctx;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	memset(&info, 0, sizeof(info));
	args[0] = CStringGetTextDatum(purpose);
	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT bool_or(name = $1), min(max_tier)::text, "
							  "bool_and(personal_data_allowed), bool_or(decides_terms), "
							  "personalize.purpose_chain($1) "
							  "FROM personalize.purposes "
							  "WHERE name = $1 OR starts_with($1, name || '.')",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: purpose lookup failed");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		known = SPI_getbinval(tup, desc, 1, &isnull);

		if (!isnull && DatumGetBool(known))
		{
			Datum		chain = SPI_getbinval(tup, desc, 5, &isnull);
			Datum	   *names;
			int			n;

			info.known = true;
			info.max_tier = consent_tier_from_name(SPI_getvalue(tup, desc, 2), false);
			info.decides_terms = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)) && !isnull;
			info.personal_data_allowed = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) &&
				!isnull && !info.decides_terms;
			deconstruct_array(DatumGetArrayTypeP(chain), TEXTOID, -1, false, TYPALIGN_INT,
							  &names, NULL, &n);
			for (int i = 0; i < n && i < PZ_PURPOSE_DEPTH; i++)
				text_to_cstring_buffer(DatumGetTextPP(names[i]), info.chain[info.nchain++],
									   PZ_PURPOSE_NAME);
		}
	}
	pz_privileged_end(&ctx);
	return info;
}

/* The chain as a text[], for queries on consents or grants. */
Datum
pz_purpose_chain_array(const PurposeInfo *info)
{
	Datum		elems[PZ_PURPOSE_DEPTH];

	for (int i = 0; i < info->nchain; i++)
		elems[i] = CStringGetTextDatum(info->chain[i]);
	return PointerGetDatum(construct_array(elems, info->nchain, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A grant of a purpose covers the sub-purposes that inherit from it, for
 * the grantee and every role that has its privileges.
 */
bool
pz_purpose_granted(Oid userid, const char *purpose)
{
	PzPrivileged ctx;
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2];
	bool		granted;

	args[0] = CStringGetTextDatum(purpose);
	args[1] = ObjectIdGetDatum(userid);
	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT 1 FROM personalize.purpose_grants g "
							  "WHERE g.purpose = ANY (personalize.purpose_chain($1)) "
							  "AND pg_has_role($2, g.role, 'USAGE') LIMIT 1",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: purpose grant lookup failed");
	granted = SPI_processed > 0;
	pz_privileged_end(&ctx);
	return granted;
}

void
pz_purpose_refuse_ungranted(Oid userid, const char *purpose)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not read personal data for purpose \"%s\"",
					GetUserNameFromId(userid, false), purpose),
			 errhint("Declare a purpose granted to this role, or have an administrator run "
					 "SELECT personalize.grant_purpose('%s', '%s').",
					 GetUserNameFromId(userid, false), purpose)));
}

/* One refusal for every path that would use personal data under such a purpose. */
void
pz_purpose_refuse_personal_data(const char *purpose, const PurposeInfo *info, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("purpose \"%s\" may not %s", purpose, action),
			 info->decides_terms ?
			 errdetail("The purpose decides prices or terms: personalized pricing is refused.") :
			 errdetail("The purpose, or one of its ancestors, is registered with personal_data_allowed = false."),
			 errhint("Use a purpose that allows personal data, such as \"recommendation\".")));
}

static bool
check_purpose(char **newval, void **extra, GucSource source)
{
	const char *purpose = *newval;
	Oid			userid = GetUserId();

	if (purpose == NULL || purpose[0] == '\0')
		return true;
	if (!pz_purpose_name_valid(purpose))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("invalid purpose name \"%s\"", purpose);
		GUC_check_errhint("Purposes are dotted lower-case names such as \"recommendation\" or \"marketing.email\".");
		return false;
	}

	/*
	 * Outside a transaction (server start, configuration reload) or in a
	 * parallel worker the registry cannot be read; reads re-check anyway.
	 */
	if (!IsTransactionState() || IsParallelWorker() || !pz_extension_installed())
		return true;

	if (!pz_purpose_lookup(purpose).known)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("unknown purpose \"%s\"", purpose);
		GUC_check_errhint("Known purposes are listed in personalize.purposes; add one with personalize.create_purpose().");
		return false;
	}
	if (!superuser_arg(userid) && !pz_purpose_granted(userid, purpose))
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("role \"%s\" may not declare purpose \"%s\"",
						 GetUserNameFromId(userid, false), purpose);
		GUC_check_errhint("An administrator can allow it with SELECT personalize.grant_purpose('%s', '%s').",
						  GetUserNameFromId(userid, false), purpose);
		return false;
	}
	return true;
}

static void
assign_purpose(const char *newval, void *extra)
{
	pz_purpose_version++;
	pz_visibility_recheck();
}

void
pz_purpose_define_guc(void)
{
	DefineCustomStringVariable("personalize.purpose",
							   "Purpose for which this session reads personal data.",
							   "Only purposes granted to the current role can be declared; "
							   "without one, no personal rows are visible.",
							   &pz_purpose,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_purpose,
							   assign_purpose,
							   NULL);
	MarkGUCPrefixReserved("personalize");
}
