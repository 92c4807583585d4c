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
#include "utils/syscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/rel.h"

typedef struct SubjectEntry
{
	int64		subject_id;
	uint64		allowed;		/* bit i: category i allowed */
	int32		specificity;	/* length of the purpose the consent is for */
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
	uint64		head;			/* first 8 bytes, zero padded: a cheap filter */
} CategoryInfo;

/* What a read under the cached purpose by the checked role amounts to. */
typedef enum Verdict
{
	VERDICT_CHECK_ROWS,			/* look each row up */
	VERDICT_NOTHING,			/* unknown purpose: nothing is visible */
	VERDICT_NOT_GRANTED,		/* error: the role does not hold the purpose */
	VERDICT_NO_PERSONAL_DATA	/* error: the purpose may not use personal data */
} Verdict;

/*
 * Subjects are usually numbered densely, so the common layout is one byte
 * per subject id in [base, base + span) indexing a table of the few distinct
 * masks there are (one per distinct consent): 100 KB for 100,000 subjects,
 * small enough to stay in cache while a scan runs.  Sparse ids or too many
 * distinct masks fall back to the hash table.
 */
#define DENSE_MAX_MASKS		256
#define CATEGORY_SLOTS		256

static inline int
category_slot_of(uint64 head, int len)
{
	return (int) (((head ^ (uint64) len) * UINT64CONST(0x9E3779B97F4A7C15)) >> 56);
}
#define DENSE_SLACK			8

typedef struct VisibilityCache
{
	/* what the cached data was loaded for */
	bool		loaded;
	char		purpose[NAMEDATALEN + 1];
	uint64		purpose_version;
	PurposeInfo info;
	int			ncategories;
	CategoryInfo categories[CONSENT_MAX_CATEGORIES];
	int8		category_slot[CATEGORY_SLOTS];	/* hash of (len, head) -> index */
	MemoryContext cxt;

	/* subject -> allowed categories */
	bool		dense;
	int64		base;
	uint64		span;
	uint8	   *mask_index;
	uint64		masks[DENSE_MAX_MASKS];
	subjects_hash *subjects;

	/* the role last checked, and the verdict for it */
	Oid			checked_userid;
	Verdict		verdict;

	/* loaded under a snapshot older than the next statement's (RR, parallel) */
	bool		snapshot_scoped;

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

/* Role membership or attributes changed: grants must be checked again. */
static void
role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	cache.checked_userid = InvalidOid;
}

/*
 * A cache filled in a parallel worker reflects the statement's snapshot; it
 * must not outlive the transaction.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT) &&
		cache.snapshot_scoped)
	{
		invalidate_cache();
		cache.snapshot_scoped = false;
	}
}

void
pz_visibility_init(void)
{
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, role_callback, (Datum) 0);
	RegisterXactCallback(xact_callback, NULL);
}

static void
load_categories(void)
{
	cache.ncategories = 0;
	memset(cache.category_slot, -1, sizeof(cache.category_slot));
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
		c->head = 0;
		memcpy(&c->head, c->name, Min(c->len, 8));
		/* a collision leaves the slot to the first; others are found by scanning */
		if (cache.category_slot[category_slot_of(c->head, c->len)] < 0)
			cache.category_slot[category_slot_of(c->head, c->len)] = cache.ncategories - 1;
	}
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

/*
 * Most subjects share one of a handful of consents, so masks are memoized
 * by the consent's bytes while loading.
 */
#define MEMO_SIZE 32

typedef struct MaskMemo
{
	int			n;
	int			next;
	Consent    *consent[MEMO_SIZE];
	uint64		mask[MEMO_SIZE];
} MaskMemo;

static uint64
memoized_mask(MaskMemo *memo, Consent *c)
{
	Size		size = VARSIZE(c);
	int			slot;

	for (int i = 0; i < memo->n; i++)
		if (VARSIZE(memo->consent[i]) == size && memcmp(memo->consent[i], c, size) == 0)
			return memo->mask[i];
	slot = memo->n < MEMO_SIZE ? memo->n++ : (memo->next++ % MEMO_SIZE);
	memo->consent[slot] = (Consent *) palloc(size);
	memcpy(memo->consent[slot], c, size);
	memo->mask[slot] = allowed_mask(c);
	return memo->mask[slot];
}

/* The most specific consent on the purpose chain decides for a subject. */
static void
load_subjects(void)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];
	MaskMemo	memo = {0};

	args[0] = pz_purpose_chain_array(&cache.info);
	if (SPI_execute_with_args("SELECT subject_id, consent, length(purpose) "
							  "FROM personalize.consents WHERE purpose = ANY ($1)",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
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
			e->allowed = memoized_mask(&memo, c);
			e->specificity = specificity;
		}
	}
}

static int
mask_slot(uint64 mask, int *nmasks)
{
	for (int i = 0; i < *nmasks; i++)
		if (cache.masks[i] == mask)
			return i;
	if (*nmasks == DENSE_MAX_MASKS)
		return -1;
	cache.masks[*nmasks] = mask;
	return (*nmasks)++;
}

/* Switch to the dense layout when the subject ids allow it. */
static void
densify(void)
{
	subjects_iterator it;
	SubjectEntry *e;
	int64		lo = PG_INT64_MAX,
				hi = PG_INT64_MIN;
	int			nmasks = 1;
	uint64		count = cache.subjects->members;

	cache.dense = false;
	if (count == 0)
		return;
	subjects_start_iterate(cache.subjects, &it);
	while ((e = subjects_iterate(cache.subjects, &it)) != NULL)
	{
		lo = Min(lo, e->subject_id);
		hi = Max(hi, e->subject_id);
	}
	/* hi - lo may not fit int64; compare as unsigned */
	if ((uint64) hi - (uint64) lo >= count * DENSE_SLACK + 4096)
		return;

	cache.masks[0] = 0;			/* index 0: no consent, nothing allowed */
	cache.base = lo;
	cache.span = (uint64) hi - (uint64) lo + 1;
	cache.mask_index = MemoryContextAllocZero(cache.cxt, cache.span);
	subjects_start_iterate(cache.subjects, &it);
	while ((e = subjects_iterate(cache.subjects, &it)) != NULL)
	{
		int			slot = mask_slot(e->allowed, &nmasks);

		if (slot < 0)
			return;				/* too many distinct consents: keep the hash */
		cache.mask_index[(uint64) e->subject_id - (uint64) lo] = slot;
	}
	cache.dense = true;
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
	cache.dense = false;
	cache.loaded = false;
	cache.consents_relid = pz_relation_oid("consents");

	cache.info = pz_purpose_lookup(purpose);
	pz_privileged_begin(&ctx);
	load_categories();
	if (cache.info.known && cache.info.personal_data_allowed)
	{
		load_subjects();
		densify();
	}
	pz_privileged_end(&ctx);

	strlcpy(cache.purpose, purpose, sizeof(cache.purpose));
	cache.purpose_version = pz_purpose_version;
	/* an invalidation that arrived while loading means the data may be stale */
	cache.loaded = (cache.invalidations == invalidations_before);
	cache.snapshot_scoped = IsInParallelMode();
	cache.checked_userid = InvalidOid;
}

static Verdict
verdict_for(Oid userid, const char *purpose)
{
	if (!cache.info.known)
		return VERDICT_NOTHING;
	/* superusers bypass policies anyway; they reach here when training */
	if (!superuser_arg(userid) && !pz_purpose_granted(userid, purpose))
		return VERDICT_NOT_GRANTED;
	if (!cache.info.personal_data_allowed)
		return VERDICT_NO_PERSONAL_DATA;
	return VERDICT_CHECK_ROWS;
}

/*
 * Bring the cache in line with the declared purpose and the current role:
 * pending invalidations once per statement, a reload when the purpose
 * changed or an invalidation arrived, a grant check when the role changed.
 */
static void
refresh_cache(const char *purpose, Oid userid, TimestampTz stmt)
{
	if (stmt != cache.last_statement)
	{
		AcceptInvalidationMessages();
		cache.last_statement = stmt;
	}
	if (!cache.loaded || cache.purpose_version != pz_purpose_version)
	{
		if (!cache.loaded || strcmp(cache.purpose, purpose) != 0)
			load_cache(purpose);
		cache.purpose_version = pz_purpose_version;
	}
	if (cache.checked_userid != userid)
	{
		cache.verdict = verdict_for(userid, purpose);
		cache.checked_userid = userid;
	}
}

static inline int
category_index(const char *name, int len)
{
	uint64		head = 0;
	int			slot;

	memcpy(&head, name, Min(len, 8));
	slot = cache.category_slot[category_slot_of(head, len)];
	if (slot >= 0)
	{
		const CategoryInfo *c = &cache.categories[slot];

		if (c->len == len && c->head == head &&
			(len <= 8 || memcmp(c->name + 8, name + 8, len - 8) == 0))
			return slot;
	}
	for (int i = 0; i < cache.ncategories; i++)
	{
		const CategoryInfo *c = &cache.categories[i];

		if (c->len == len && c->head == head &&
			(len <= 8 || memcmp(c->name + 8, name + 8, len - 8) == 0))
			return i;
	}
	return -1;
}

static inline uint64
subject_mask(int64 subject)
{
	if (cache.dense)
	{
		uint64		off = (uint64) subject - (uint64) cache.base;

		return off < cache.span ? cache.masks[cache.mask_index[off]] : 0;
	}
	else
	{
		SubjectEntry *e = subjects_lookup(cache.subjects, subject);

		return e ? e->allowed : 0;
	}
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
	Oid			userid;
	TimestampTz stmt;
	int			ci;

	if (purpose == NULL || purpose[0] == '\0')
		return false;

	userid = GetUserId();
	stmt = GetCurrentStatementStartTimestamp();
	if (unlikely(!cache.loaded || stmt != cache.last_statement ||
				 cache.purpose_version != pz_purpose_version ||
				 cache.checked_userid != userid))
		refresh_cache(purpose, userid, stmt);

	switch (cache.verdict)
	{
		case VERDICT_CHECK_ROWS:
			break;
		case VERDICT_NOTHING:
			return false;
		case VERDICT_NOT_GRANTED:
			pz_purpose_refuse_ungranted(userid, purpose);
		case VERDICT_NO_PERSONAL_DATA:
			pz_purpose_refuse_personal_data(purpose, &cache.info, "read personal data");
	}

	ci = category_index(category, len);
	return ci >= 0 && (subject_mask(subject) & (UINT64CONST(1) << ci)) != 0;
}

/*
 * The row-independent half of the check, run by the ExecutorStart hook for
 * every query that reads a protected table under row-level security, before
 * any row is read: a refusal must not depend on which rows a query touches,
 * or error-or-not would reveal them.
 */
void
pz_check_declared_purpose(void)
{
	const char *purpose = pz_purpose;
	Oid			userid = GetUserId();

	if (purpose == NULL || purpose[0] == '\0')
		return;
	refresh_cache(purpose, userid, GetCurrentStatementStartTimestamp());
	if (cache.verdict == VERDICT_NOT_GRANTED)
		pz_purpose_refuse_ungranted(userid, purpose);
	if (cache.verdict == VERDICT_NO_PERSONAL_DATA)
		pz_purpose_refuse_personal_data(purpose, &cache.info, "read personal data");
}

PZ_FUNCTION(pz_row_visible_sql)
{
	struct varlena *category = (struct varlena *) PG_GETARG_POINTER(1);

	/* the common short inline value needs no call to detoast */
	if (VARATT_IS_COMPRESSED(category) || VARATT_IS_EXTERNAL(category))
		category = pg_detoast_datum_packed(category);

	PG_RETURN_BOOL(pz_row_visible(PG_GETARG_INT64(0), VARDATA_ANY(category),
								  VARSIZE_ANY_EXHDR(category)));
}

/* The tables whose changes every session must see at its next statement. */
static const char *const registry_tables[] = {
	"consents", "purposes", "purpose_grants", "signal_categories", "protected_tables"
};

/*
 * Trigger on the registry and consent tables (statement triggers, and row
 * triggers for the replication apply worker): tell every backend, at
 * commit, to drop its cache.  It refuses any other table, so that nobody
 * can make every session reload from a trigger on a table of their own.
 */
PZ_FUNCTION(pz_invalidate_visibility)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid;
	bool		ours = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalidate_visibility() must be called as a trigger")));
	relid = RelationGetRelid(trigdata->tg_relation);
	for (int i = 0; i < lengthof(registry_tables); i++)
		ours |= relid == pz_relation_oid(registry_tables[i]);
	if (!ours)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalidate_visibility() is a trigger of personalize's own registry tables, not of %s",
						RelationGetRelationName(trigdata->tg_relation))));
	relid = pz_relation_oid("consents");
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	relid = pz_relation_oid("protected_tables");
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
							   trigdata->tg_newtuple : trigdata->tg_trigtuple);
	return PointerGetDatum(NULL);
}
