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
 * itself, then each ancestor for as long as the purpose below it inherits,
 * exactly as personalize.purpose_chain() says in SQL.  The chain is worked
 * out here from the rows the lookup reads anyway, because calling that
 * function plans its recursive query again in every new session, and this
 * lookup is part of the first statement of every session reading personal
 * data.
 */
/*
 * The library and the extension's SQL objects must be of one version: after
 * a new library is installed, a database still at an older version would
 * otherwise fail in some query of the registry with a message that does
 * not say what to do.  Checked once per backend (inside a privileged SPI
 * section), and again while it does not hold.
 */
static void
require_current_schema(void)
{
	static bool current = false;
	const char *version;

	if (current)
		return;
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'personalize'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: extension version lookup failed");
	if (SPI_processed == 0)
		return;
	version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(version, PZ_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the personalize extension in this database is at version %s, its library at version %s",
						version, PZ_EXTVERSION),
				 errhint("Run ALTER EXTENSION personalize UPDATE.")));
	current = true;
}

PurposeInfo
pz_purpose_lookup(const char *purpose)
{
	PurposeInfo info;
	PzPrivileged ctx;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		personal = true;
	int64		at = 0;			/* the row of the next link of the chain */

	memset(&info, 0, sizeof(info));
	args[0] = CStringGetTextDatum(purpose);
	pz_privileged_begin(&ctx);
	require_current_schema();
	/* the purpose and its ancestors, the longest name (the purpose) first */
	if (SPI_execute_with_args("SELECT name, max_tier::text, personal_data_allowed, decides_terms, inherits "
							  "FROM personalize.purposes "
							  "WHERE name = $1 OR starts_with($1, name || '.') "
							  "ORDER BY length(name) DESC",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: purpose lookup failed");
	info.known = SPI_processed > 0 && strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), purpose) == 0;
	info.max_tier = TIER_ENHANCED;
	for (int64 i = 0; info.known && i < (int64) SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);

		info.max_tier = Min(info.max_tier, consent_tier_from_name(SPI_getvalue(tup, desc, 2), false));
		personal &= DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		info.decides_terms |= DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		/* a link of the chain; the next is its parent, if it inherits */
		if (i == at && info.nchain < PZ_PURPOSE_DEPTH)
		{
			char	   *dot = strrchr(name, '.');

			strlcpy(info.chain[info.nchain++], name, PZ_PURPOSE_NAME);
			at = -1;
			if (dot != NULL && DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) &&
				i + 1 < (int64) SPI_processed)
			{
				char	   *next = SPI_getvalue(SPI_tuptable->vals[i + 1], desc, 1);

				if (strlen(next) == (size_t) (dot - name) && strncmp(next, name, dot - name) == 0)
					at = i + 1;
			}
		}
	}
	info.personal_data_allowed = info.known && personal && !info.decides_terms;
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
 * Whether a role holds a purpose whose chain was looked up: a grant of any
 * purpose on the chain (the purpose, and the ancestors it inherits from),
 * to the role or a role whose privileges it has.
 */
bool
pz_purpose_granted_chain(Oid userid, const PurposeInfo *info)
{
	PzPrivileged ctx;
	Oid			argtypes[2] = {TEXTARRAYOID, OIDOID};
	Datum		args[2];
	bool		granted;

	args[0] = pz_purpose_chain_array(info);
	args[1] = ObjectIdGetDatum(userid);
	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT 1 FROM personalize.purpose_grants g "
							  "WHERE g.purpose = ANY ($1) AND pg_has_role($2, g.role, 'USAGE') LIMIT 1",
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
	PurposeInfo info;

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

	info = pz_purpose_lookup(purpose);
	if (!info.known)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("unknown purpose \"%s\"", purpose);
		GUC_check_errhint("Known purposes are listed in personalize.purposes; add one with personalize.create_purpose().");
		return false;
	}
	if (!superuser_arg(userid) && !pz_purpose_granted_chain(userid, &info))
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
}
