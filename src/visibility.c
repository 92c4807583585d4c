/*
 * visibility.c
 *		personalize.row_visible(subject, category): the check inside every
 *		row-level security policy on personal data.
 *
 * It is called once per row, so everything it needs is cached per backend:
 * the declared purpose's tier cap, the signal categories and, for every
 * subject with a consent for that purpose (or a parent purpose), a bitmask
 * of the categories that consent allows.  Any change to consents, purposes,
 * grants or categories invalidates the relcache entry of
 * personalize.consents at commit; every backend drops its cache when that
 * invalidation arrives, which is checked at the start of each statement, so
 * a withdrawal takes effect at once, even for a cursor opened before it.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "consent.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "privileged.h"
#include "purpose.h"
#include "storage/sinval.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

typedef struct SubjectEntry
{
	int64		subject_id;
	uint64		allowed;		/* bit i: category i allowed */
	int			specificity;	/* length of the purpose the consent is for */
	char		status;			/* simplehash bookkeeping */
} SubjectEntry;

#define SH_PREFIX		subjects
#define SH_ELEMENT_TYPE	SubjectEntry
#define SH_KEY_TYPE		int64
#define SH_KEY			subject_id
#define SH_HASH_KEY(tb, key) \
	hash_combine(murmurhash32((uint32) (key)), murmurhash32((uint32) ((uint64) (key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct CategoryInfo
{
	char		name[CATEGORY_NAME_MAX + 1];
	int			len;
	int			tier;
} CategoryInfo;

typedef struct VisibilityCache
{
	/* what the cached data was loaded for */
	bool		loaded;
	char		purpose[NAMEDATALEN + 1];
	uint64		purpose_version;
	PurposeInfo info;
	int			ncategories;
	CategoryInfo categories[CONSENT_MAX_CATEGORIES];
	subjects_hash *subjects;
	MemoryContext cxt;

	/* the role last checked for a grant of that purpose */
	Oid			checked_userid;
	bool		user_granted;

	/* invalidation */
	Oid			consents_relid;
	uint64		invalidations;
	TimestampTz last_statement;
} VisibilityCache;

static VisibilityCache cache;

static void
invalidate_cache(void)
{
	cache.loaded = false;
	cache.checked_userid = InvalidOid;
	cache.invalidations++;
}

static void
relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.consents_relid)
		invalidate_cache();
}

void
pz_visibility_init(void)
{
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
}

static void
load_categories(void)
{
	cache.ncategories = 0;
	if (SPI_execute("SELECT name, tier FROM personalize.signal_categories ORDER BY name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: signal category lookup failed");
	for (uint64 i = 0; i < SPI_processed && i < CONSENT_MAX_CATEGORIES; i++)
	{
		CategoryInfo *c = &cache.categories[cache.ncategories++];
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		strlcpy(c->name, SPI_getvalue(tup, SPI_tuptable->tupdesc, 1), sizeof(c->name));
		c->len = strlen(c->name);
		c->tier = DatumGetInt16(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	}
}

/* The purpose and its ancestors: "a.b.c", "a.b", "a". */
static Datum
purpose_chain(const char *purpose)
{
	Datum		elems[NAMEDATALEN];
	int			n = 0;
	char	   *p = pstrdup(purpose);

	for (;;)
	{
		char	   *dot = strrchr(p, '.');

		elems[n++] = CStringGetTextDatum(p);
		if (dot == NULL || n == NAMEDATALEN)
			break;
		*dot = '\0';
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static uint64
allowed_mask(const Consent *c)
{
	uint64		mask = 0;

	for (int i = 0; i < cache.ncategories; i++)
	{
		CategoryInfo *cat = &cache.categories[i];

		if (cat->tier <= cache.info.max_tier &&
			consent_allows(c, cat->name, cat->len, cat->tier))
			mask |= UINT64CONST(1) << i;
	}
	return mask;
}

/* The most specific consent on the purpose chain decides for a subject. */
static void
load_subjects(const char *purpose)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];

	args[0] = purpose_chain(purpose);
	if (SPI_execute_with_args("SELECT subject_id, consent, length(purpose) "
							  "FROM personalize.consents WHERE purpose = ANY ($1)",
							  1, argtypes, args, NULL, IsInParallelMode(), 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: consent lookup failed");

	cache.subjects = subjects_create(cache.cxt, Max(SPI_processed, 16), NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull,
					found;
		int64		subject = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		Consent    *c = (Consent *) PG_DETOAST_DATUM(SPI_getbinval(tup, desc, 2, &isnull));
		int			specificity = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		SubjectEntry *e = subjects_insert(cache.subjects, subject, &found);

		if (!found || specificity > e->specificity)
		{
			e->allowed = allowed_mask(c);
			e->specificity = specificity;
		}
	}
}

static void
load_cache(const char *purpose)
{
	PzPrivileged ctx;
	uint64		invalidations_before = cache.invalidations;

	if (cache.cxt == NULL)
		cache.cxt = AllocSetContextCreate(TopMemoryContext, "personalize visibility",
										  ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(cache.cxt);
	cache.subjects = NULL;
	cache.loaded = false;
	cache.consents_relid = pz_relation_oid("consents");

	cache.info = pz_purpose_lookup(purpose);
	pz_privileged_begin(&ctx);
	load_categories();
	if (cache.info.known && cache.info.personal_data_allowed)
		load_subjects(purpose);
	pz_privileged_end(&ctx);

	strlcpy(cache.purpose, purpose, sizeof(cache.purpose));
	cache.purpose_version = pz_purpose_version;
	/* an invalidation that arrived while loading means the data may be stale */
	cache.loaded = (cache.invalidations == invalidations_before);
	cache.checked_userid = InvalidOid;
}

static void
refuse_personal_data(const char *purpose) pg_attribute_noreturn();

static void
refuse_personal_data(const char *purpose)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("purpose \"%s\" may not read personal data", purpose),
			 errdetail("Personal data is never used for this purpose%s.",
					   strncmp(purpose, "pricing", 7) == 0 ? ": personalized pricing is refused" : ""),
			 errhint("Declare a purpose that allows personal data, such as \"recommendation\".")));
}

/* Make sure the cache matches the declared purpose and the current role. */
static void
ensure_cache(const char *purpose)
{
	Oid			userid = GetUserId();
	TimestampTz stmt = GetCurrentStatementStartTimestamp();

	if (stmt != cache.last_statement)
	{
		AcceptInvalidationMessages();
		cache.last_statement = stmt;
	}
	if (!cache.loaded || cache.purpose_version != pz_purpose_version ||
		strcmp(cache.purpose, purpose) != 0)
		load_cache(purpose);

	if (cache.checked_userid != userid)
	{
		cache.user_granted = cache.info.known && pz_purpose_granted(userid, purpose);
		cache.checked_userid = userid;
	}
}

static inline int
category_index(const char *name, int len)
{
	for (int i = 0; i < cache.ncategories; i++)
		if (cache.categories[i].len == len && memcmp(cache.categories[i].name, name, len) == 0)
			return i;
	return -1;
}

/*
 * Fail closed: no purpose, an unknown purpose, an unknown category or a
 * subject without consent all mean "not visible".  A purpose the reading
 * role does not hold, or one that may not use personal data at all, is an
 * error rather than an empty result, so the mistake is seen.
 */
bool
pz_row_visible(int64 subject, const char *category, int len)
{
	const char *purpose = pz_purpose;
	SubjectEntry *e;
	int			ci;

	if (purpose == NULL || purpose[0] == '\0')
		return false;
	ensure_cache(purpose);
	if (!cache.info.known)
		return false;
	if (!cache.user_granted)
		pz_purpose_refuse_ungranted(GetUserId(), purpose);
	if (!cache.info.personal_data_allowed)
		refuse_personal_data(purpose);

	ci = category_index(category, len);
	if (ci < 0)
		return false;
	e = subjects_lookup(cache.subjects, subject);
	return e != NULL && (e->allowed & (UINT64CONST(1) << ci)) != 0;
}

PZ_FUNCTION(pz_row_visible_sql)
{
	text	   *category = PG_GETARG_TEXT_PP(1);

	PG_RETURN_BOOL(pz_row_visible(PG_GETARG_INT64(0), VARDATA_ANY(category),
								  VARSIZE_ANY_EXHDR(category)));
}

/*
 * Statement trigger on the registry and consent tables: tell every backend,
 * at commit, to drop its cache.
 */
PZ_FUNCTION(pz_invalidate_visibility)
{
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalidate_visibility() must be called as a trigger")));
	relid = pz_relation_oid("consents");
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}
