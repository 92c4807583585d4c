/*
 * visibility.c
 *		personalize.row_visible(subject, category): the check inside every
 *		row-level security policy on personal data.
 *
 * It is called once per row.  Per backend it keeps what depends on the
 * reader: the declared purpose's tier cap and chain, the signal categories,
 * the reading role's verdict, and a table consent class -> allowed-category
 * bitmask.  Which consent each subject gave comes from the database's
 * shared consent store (consent_store.c), read without locks; the rows a
 * transaction changed itself come from its overlay (consent_changes.c)
 * until it commits.  Where no store can be used (a standby, the library not
 * preloaded, a parallel worker whose leader has uncommitted consent
 * changes, or none built yet inside parallel mode) the backend loads the
 * subjects of its purpose itself, as before the store existed.
 *
 * With a row's time (the three-argument form), a row older than its
 * category's retention is not visible either: each category's cutoff,
 * the statement's start minus the retention, is computed once per
 * statement, so a retention holds at every statement and a changed one
 * applies from the next (src/rights/ purges such rows; until then no
 * purpose sees them).
 *
 * Registry changes (purposes, grants, categories, protected tables) send a
 * relcache invalidation of personalize.purposes at commit; every backend
 * drops its caches when it arrives.  Pending invalidations are accepted at
 * the start of each statement, so a change takes effect at the next one,
 * even for a cursor opened before it.  Consent changes reach store readers
 * through the store itself, at once; backends with their own copy reload
 * on the invalidation the consent triggers send (consent_changes.c).
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "consent.h"
#include "consent_store.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "port/pg_bitutils.h"
#include "privileged.h"
#include "purpose.h"
#include "storage/sinval.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/datetime.h"
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

/*
 * A category is matched by its length and its first and last 8 bytes
 * (which are the whole name up to 16 bytes), hashed into a table that is
 * collision-free for the registered categories whenever a seed allows.
 */
typedef struct CategoryInfo
{
	char		name[CATEGORY_NAME_MAX + 1];
	int			len;
	int			tier;
	uint64		head;
	uint64		tail;
	uint64		bit;			/* 1 << its index */
	bool		has_retention;
	Interval	retention;		/* rows older than this are not visible */
} CategoryInfo;

#define CATEGORY_SLOTS_LOG2	12
#define CATEGORY_SLOTS		(1 << CATEGORY_SLOTS_LOG2)
#define CATEGORY_SEEDS		64

/*
 * The per-row path's own category table: the categories themselves in a
 * small collision-free hash (8 kB, so it stays in L1d), each with the set of
 * consent classes (the first 64) that allow it, so that a row's answer is
 * one bit of that set rather than a second lookup by class.
 */
#define HOT_SLOTS_LOG2		8
#define HOT_SLOTS			(1 << HOT_SLOTS_LOG2)
#define HOT_CLASSES			64

typedef struct HotCategory
{
	uint64		head;
	uint64		tail;
	int32		len;			/* -1: a free slot */
	uint32		index;			/* into categories */
	uint64		classes;		/* bit k: class k allows the category */
} HotCategory;					/* 32 bytes: a slot's address is one shift */

/* What a read under the cached purpose by the checked role amounts to. */
typedef enum Verdict
{
	VERDICT_CHECK_ROWS,			/* look each row up */
	VERDICT_NOTHING,			/* unknown purpose: nothing is visible */
	VERDICT_NOT_GRANTED,		/* error: the role does not hold the purpose */
	VERDICT_NO_PERSONAL_DATA	/* error: the purpose may not use personal data */
} Verdict;

/* Where subjects' consents come from. */
typedef enum SubjectSource
{
	SOURCE_NONE,				/* nothing to read (no personal data) */
	SOURCE_STORE,				/* the shared store (and the overlay) */
	SOURCE_LOCAL				/* this backend's own copy */
} SubjectSource;

/* How the fast path finds a subject's mask. */
typedef enum RowMode
{
	ROW_NARROW,					/* the store, one dense map of one-byte classes */
	ROW_STORE,					/* the store, any chain of maps */
	ROW_LOCAL					/* the backend's own copy */
} RowMode;

/*
 * The backend's own copy: subjects are usually numbered densely, so the
 * common layout is one byte per subject id in [base, base + span) indexing
 * a table of the few distinct masks there are.  Sparse ids or too many
 * distinct masks fall back to the hash table.
 */
#define DENSE_MAX_MASKS		256
#define DENSE_SLACK			8

typedef struct VisibilityCache
{
	/* what the cached data was loaded for */
	bool		loaded;
	char		purpose[NAMEDATALEN + 1];
	uint64		purpose_version;
	PurposeInfo info;
	int			ncategories;
	CategoryInfo categories[CONSENT_MAX_CATEGORIES + 1];	/* + one matching nothing */
	uint64		category_seed;
	bool		category_perfect;
	uint64		hot_seed;
	bool		hot_perfect;	/* every category has a hot slot of its own */
	HotCategory hot[HOT_SLOTS] pg_attribute_aligned(64);
	uint8		category_slot[CATEGORY_SLOTS];	/* into categories */
	MemoryContext cxt;

	/* retention: the oldest visible time per category, for one statement */
	bool		cutoffs_valid;
	TimestampTz cutoffs_statement;
	TimestampTz cutoff[CONSENT_MAX_CATEGORIES + 1];	/* by category index */
	TimestampTz hot_cutoff[HOT_SLOTS];	/* by hot slot */

	/* the per-row fast path applies: rows checked, source ready, no overlay */
	bool		fast;
	RowMode		row_mode;
	int64		narrow_base;	/* ROW_NARROW: the one map */
	uint64		narrow_span;
	const uint8 *narrow_classes;
	int			narrow_byte_shift;
	uint64		narrow_half_mask;
	PzClass		narrow_value_mask;

	/* subjects */
	SubjectSource source;
	bool		subjects_valid;

	/* ... from the store: the chain's maps, most specific first */
	PzStoreRef	store;
	int			nmaps;
	PzMapView	maps[PZ_PURPOSE_DEPTH];
	int			chain_map[PZ_PURPOSE_DEPTH];	/* into maps, -1: none */
	uint64	   *class_masks;	/* [0, nclass_masks) computed; [0] = 0 */
	uint32		nclass_masks;
	uint32		class_masks_cap;
	uint32		hot_classes;	/* Min(nclass_masks, HOT_CLASSES): in hot[].classes */

	/* ... and this transaction's own changes */
	uint64		overlay_epoch;	/* the overlay's, when last resolved */
	uint64		overlay_generation;
	int			overlay_purpose[PZ_PURPOSE_DEPTH];
	uint64	   *overlay_masks;
	bool	   *overlay_known;
	int			overlay_cap;

	/* ... or the backend's own copy */
	bool		dense;
	int64		base;
	uint64		span;
	uint8	   *mask_index;
	uint64		masks[DENSE_MAX_MASKS];
	subjects_hash *subjects;
	bool		snapshot_scoped;	/* loaded under the statement's snapshot */

	/* the role last checked, and the verdict for it */
	Oid			checked_userid;
	Verdict		verdict;

	/* invalidation */
	Oid			registry_relid;
	Oid			ledger_relid;
	Oid			consents_relid;
	uint64		invalidations;
	TimestampTz last_statement;
} VisibilityCache;

static VisibilityCache cache;

static void
invalidate_cache(void)
{
	cache.loaded = false;
	cache.subjects_valid = false;
	cache.checked_userid = InvalidOid;
	cache.fast = false;
	cache.invalidations++;
}

static void
invalidate_subjects(void)
{
	cache.subjects_valid = false;
	cache.fast = false;
	cache.invalidations++;
}

/*
 * personalize.purposes stands for the whole registry.  Consent changes
 * (signalled on the ledger) and DDL on personalize.consents matter only to
 * a backend holding its own copy of the subjects.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.registry_relid)
		invalidate_cache();
	else if ((relid == cache.ledger_relid || relid == cache.consents_relid) &&
			 cache.source != SOURCE_STORE)
		invalidate_subjects();
}

/* Role membership or attributes changed: grants must be checked again. */
static void
role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	cache.checked_userid = InvalidOid;
	cache.fast = false;
}

/*
 * A copy loaded in a parallel worker reflects the statement's snapshot; it
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

/*
 * Leave the per-row fast path until the next refresh: the declared purpose
 * changed, or this transaction changed consents or its changes ended.
 */
void
pz_visibility_recheck(void)
{
	cache.fast = false;
}

/* ---- categories ------------------------------------------------------------ */

/*
 * A category is matched by its length and its first and last 8 bytes,
 * which are the whole name up to 16 bytes; names shorter than 8 bytes are
 * zero-padded.  This is the plain way to compute that key.
 */
static void
category_key_plain(const char *name, int len, uint64 *head, uint64 *tail)
{
	uint64		v = 0;

	if (len >= 8)
	{
		memcpy(head, name, 8);
		memcpy(tail, name + len - 8, 8);
		return;
	}
	memcpy(&v, name, len);
	*head = *tail = v;
}

/*
 * The same in the per-row path, without branches that depend on the data
 * (category lengths vary at random from row to row, and mispredictions
 * cost more than the rest of the check).  A name shorter than 8 bytes is
 * read with one 8-byte load ending at its last byte, and the bytes before
 * it are shifted out: the bytes before a varlena's data are PostgreSQL's
 * own (the varlena header, then the tuple or allocation header), so that
 * load stays in mapped memory.  Big-endian machines and valgrind builds
 * use the plain way.
 */
#if defined(WORDS_BIGENDIAN) || defined(USE_VALGRIND)
#define category_key category_key_plain
#else
static pg_attribute_always_inline void
category_key(const char *name, int len, uint64 *head, uint64 *tail)
{
	int			d = 8 - len;
	int			lead = d & ~(d >> 31);	/* bytes read before the name: max(0, 8 - len) */
	uint64		h,
				t;

	memcpy(&h, name - lead, 8);
	memcpy(&t, name + len - 8, 8);
	/* an empty name gets a key of garbage, which its length never matches */
	*head = h >> ((8 * lead) & 63);
	*tail = t >> ((8 * lead) & 63);
}
#endif

static pg_attribute_always_inline int
category_slot_of(uint64 head, uint64 tail, int len, uint64 seed)
{
	return (int) (((head + tail + (uint64) len) * seed) >> (64 - CATEGORY_SLOTS_LOG2));
}

static pg_attribute_always_inline bool
category_matches(const CategoryInfo *c, const char *name, int len, uint64 head, uint64 tail)
{
	return c->len == len && c->head == head && c->tail == tail &&
		(len <= 16 || memcmp(c->name + 8, name + 8, len - 16) == 0);
}

/*
 * A seed for which no two categories share a slot, if one is found.  Free
 * slots name the entry past the last category, which matches nothing.
 */
static void
place_categories(void)
{
	CategoryInfo *none = &cache.categories[CONSENT_MAX_CATEGORIES];

	memset(none, 0, sizeof(*none));
	none->len = -1;
	for (int s = 0; s < CATEGORY_SEEDS; s++)
	{
		uint64		seed = (UINT64CONST(0x9E3779B97F4A7C15) + s * UINT64CONST(0x632BE59BD9B4E019)) | 1;
		bool		collision = false;

		memset(cache.category_slot, CONSENT_MAX_CATEGORIES, sizeof(cache.category_slot));
		for (int i = 0; i < cache.ncategories && !collision; i++)
		{
			CategoryInfo *c = &cache.categories[i];
			int			slot = category_slot_of(c->head, c->tail, c->len, seed);

			if (cache.category_slot[slot] != CONSENT_MAX_CATEGORIES)
				collision = true;
			else
				cache.category_slot[slot] = i;
		}
		cache.category_seed = seed;
		cache.category_perfect = !collision;
		if (!collision)
			return;
	}
	/* the last seed's table, first come first served; misses scan */
	memset(cache.category_slot, CONSENT_MAX_CATEGORIES, sizeof(cache.category_slot));
	for (int i = 0; i < cache.ncategories; i++)
	{
		CategoryInfo *c = &cache.categories[i];
		int			slot = category_slot_of(c->head, c->tail, c->len, cache.category_seed);

		if (cache.category_slot[slot] == CONSENT_MAX_CATEGORIES)
			cache.category_slot[slot] = i;
	}
}

static pg_attribute_always_inline int
hot_slot_of(uint64 head, uint64 tail, int len, uint64 seed)
{
	return (int) (((head + tail + (uint64) len) * seed) >> (64 - HOT_SLOTS_LOG2));
}

/* The hot table, if a seed places every category in a slot of its own. */
static void
place_hot_categories(void)
{
	cache.hot_perfect = false;
	for (int s = 0; s < CATEGORY_SEEDS && !cache.hot_perfect; s++)
	{
		uint64		seed = (UINT64CONST(0xD6E8FEB86659FD93) + s * UINT64CONST(0x9E3779B97F4A7C15)) | 1;

		for (int i = 0; i < HOT_SLOTS; i++)
			cache.hot[i].len = -1;
		cache.hot_perfect = true;
		for (int i = 0; i < cache.ncategories && cache.hot_perfect; i++)
		{
			CategoryInfo *c = &cache.categories[i];
			HotCategory *h = &cache.hot[hot_slot_of(c->head, c->tail, c->len, seed)];

			if (h->len >= 0)
				cache.hot_perfect = false;
			h->head = c->head;
			h->tail = c->tail;
			h->len = c->len;
			h->index = i;
			h->classes = 0;
		}
		cache.hot_seed = seed;
	}
}

/* Class masks computed: the hot table learns which classes allow what. */
static void
hot_classes_from_masks(void)
{
	uint32		n = Min(cache.nclass_masks, HOT_CLASSES);

	for (int i = 0; i < HOT_SLOTS; i++)
	{
		HotCategory *h = &cache.hot[i];

		if (h->len < 0)
			continue;
		h->classes = 0;
		for (uint32 k = 1; k < n; k++)
			if (cache.class_masks[k] & cache.categories[h->index].bit)
				h->classes |= UINT64CONST(1) << k;
	}
	cache.hot_classes = n;
}

static void
load_categories(void)
{
	cache.ncategories = 0;
	/* in any order: bits are this backend's own (a sort costs a new session more) */
	if (SPI_execute("SELECT name, tier, retention FROM personalize.signal_categories",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: signal category lookup failed");
	for (uint64 i = 0; i < SPI_processed && i < CONSENT_MAX_CATEGORIES; i++)
	{
		CategoryInfo *c = &cache.categories[cache.ncategories];
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		strlcpy(c->name, SPI_getvalue(tup, SPI_tuptable->tupdesc, 1), sizeof(c->name));
		c->len = strlen(c->name);
		c->tier = DatumGetInt16(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		{
			Datum		retention = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);

			c->has_retention = !isnull;
			if (!isnull)
				c->retention = *DatumGetIntervalP(retention);
		}
		c->bit = UINT64CONST(1) << cache.ncategories++;
		category_key_plain(c->name, c->len, &c->head, &c->tail);
	}
	place_categories();
	place_hot_categories();
	cache.cutoffs_valid = false;
}

static pg_noinline uint64
category_bit_scan(const char *name, int len, uint64 head, uint64 tail)
{
	for (int i = 0; i < cache.ncategories; i++)
		if (category_matches(&cache.categories[i], name, len, head, tail))
			return cache.categories[i].bit;
	return 0;
}

/*
 * The category's bit in allowed-category masks; 0 for no category.  No
 * branch depends on the name unless it is longer than 16 bytes.
 */
static pg_attribute_always_inline uint64
category_bit(const char *name, int len)
{
	uint64		head,
				tail;
	const CategoryInfo *c;
	uint64		same;
	uint64		bit;

	category_key(name, len, &head, &tail);
	c = &cache.categories[cache.category_slot[category_slot_of(head, tail, len, cache.category_seed)]];
	same = (c->head ^ head) | (c->tail ^ tail) | (uint64) (uint32) (c->len ^ len);
	bit = c->bit & -(uint64) (same == 0);
	if (unlikely(len > 16) && bit != 0 && memcmp(c->name + 8, name + 8, len - 16) != 0)
		bit = 0;
	if (unlikely(!cache.category_perfect) && bit == 0)
		return category_bit_scan(name, len, head, tail);
	return bit;
}

/* ---- retention --------------------------------------------------------------- */

/*
 * A retention of 4000 years or more keeps everything (timestamps begin in
 * 4713 BC, and the subtraction could overflow).  Years are counted as
 * SQL's extract(epoch FROM interval) counts seconds, which is what
 * retention_cutoffs() compares, so both sides agree on the boundary.
 */
static bool
retention_unbounded(const Interval *r)
{
	double		seconds = r->time / (double) USECS_PER_SEC +
		(double) (int64) (DAYS_PER_YEAR * SECS_PER_DAY) * (r->month / MONTHS_PER_YEAR) +
		(double) DAYS_PER_MONTH * SECS_PER_DAY * (r->month % MONTHS_PER_YEAR) +
		(double) SECS_PER_DAY * r->day;

	return seconds >= 4000 * DAYS_PER_YEAR * SECS_PER_DAY;
}

/*
 * The oldest time still visible in each category for a statement: its
 * start minus the retention, computed as SQL's timestamptz - interval
 * (months and days in the session's time zone), so that a row the policy
 * hides is one purge_expired() deletes, and the reverse.
 */
static void
compute_cutoffs(TimestampTz stmt)
{
	for (int i = 0; i <= CONSENT_MAX_CATEGORIES; i++)
		cache.cutoff[i] = DT_NOBEGIN;
	for (int i = 0; i < cache.ncategories; i++)
	{
		CategoryInfo *c = &cache.categories[i];

		if (c->has_retention && !retention_unbounded(&c->retention))
			cache.cutoff[i] = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																	  TimestampTzGetDatum(stmt),
																	  IntervalPGetDatum(&c->retention)));
	}
	for (int i = 0; i < HOT_SLOTS; i++)
		cache.hot_cutoff[i] = cache.hot[i].len >= 0 ? cache.cutoff[cache.hot[i].index] : DT_NOBEGIN;
	cache.cutoffs_statement = stmt;
	cache.cutoffs_valid = true;
}

/* The oldest visible time of a category (any name; none: no limit). */
static TimestampTz
category_cutoff(const char *name, int len)
{
	uint64		bit = category_bit(name, len);

	if (bit == 0)
		return DT_NOBEGIN;
	return cache.cutoff[pg_rightmost_one_pos64(bit)];
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

/* ---- subjects from the store ------------------------------------------------ */

/*
 * Masks of classes this backend has not seen yet: classes are appended
 * concurrently, and one is published before any map entry refers to it.
 */
static pg_noinline uint64
new_class_mask(PzClass c)
{
	uint32		n;

	/* the map entry naming c was read before the count that covers it */
	pg_read_barrier();
	n = pz_consent_store_nclasses(cache.store.store);

	if (n > cache.class_masks_cap)
		n = cache.class_masks_cap;	/* cannot happen: capacity is fixed per store */
	for (uint32 k = Max(cache.nclass_masks, 1); k < n; k++)
		cache.class_masks[k] = allowed_mask(pz_consent_store_class(cache.store.store, k));
	cache.nclass_masks = Max(cache.nclass_masks, n);
	hot_classes_from_masks();
	return c < cache.nclass_masks ? cache.class_masks[c] : 0;
}

static pg_attribute_always_inline uint64
class_mask(PzClass c)
{
	if (likely(c < cache.nclass_masks))
		return cache.class_masks[c];
	return new_class_mask(c);
}

/* The most specific purpose of the chain with a consent decides. */
static pg_attribute_always_inline uint64
store_mask(int64 subject)
{
	for (int i = 0; i < cache.nmaps; i++)
	{
		PzClass		c = pz_map_lookup(&cache.maps[i], subject);

		if (c != 0)
			return class_mask(c);
	}
	return 0;
}

static uint64
overlay_consent_mask(int id, const Consent *c)
{
	if (id >= cache.overlay_cap)
	{
		int			cap = Max(64, id * 2);

		cache.overlay_masks = cache.overlay_masks == NULL ?
			MemoryContextAlloc(cache.cxt, cap * sizeof(uint64)) :
			repalloc(cache.overlay_masks, cap * sizeof(uint64));
		cache.overlay_known = cache.overlay_known == NULL ?
			MemoryContextAllocZero(cache.cxt, cap * sizeof(bool)) :
			repalloc(cache.overlay_known, cap * sizeof(bool));
		memset(cache.overlay_known + cache.overlay_cap, 0, (cap - cache.overlay_cap) * sizeof(bool));
		cache.overlay_cap = cap;
	}
	if (!cache.overlay_known[id])
	{
		cache.overlay_masks[id] = allowed_mask(c);
		cache.overlay_known[id] = true;
	}
	return cache.overlay_masks[id];
}

/* The same, with this transaction's uncommitted changes first. */
static pg_noinline uint64
overlay_mask(int64 subject)
{
	for (int i = 0; i < cache.info.nchain; i++)
	{
		const Consent *c = NULL;
		int			id = 0;
		PzClass		k;

		switch (pz_overlay_lookup(subject, cache.overlay_purpose[i], &c, &id))
		{
			case PZ_OVERLAY_SET:
				return overlay_consent_mask(id, c);
			case PZ_OVERLAY_DELETED:
				break;
			case PZ_OVERLAY_ABSENT:
				if (cache.chain_map[i] < 0)
					break;
				k = pz_map_lookup(&cache.maps[cache.chain_map[i]], subject);
				if (k != 0)
					return class_mask(k);
				break;
		}
	}
	return 0;
}

static void
resolve_overlay(void)
{
	if (cache.overlay_epoch == pz_overlay_epoch)
		return;
	cache.overlay_epoch = pz_overlay_epoch;
	if (cache.overlay_generation != pz_overlay_generation)
	{
		cache.overlay_generation = pz_overlay_generation;
		if (cache.overlay_known != NULL)
			memset(cache.overlay_known, 0, cache.overlay_cap * sizeof(bool));
	}
	for (int i = 0; i < cache.info.nchain; i++)
		cache.overlay_purpose[i] = pz_overlay_purpose_id(cache.info.chain[i]);
}

/*
 * Use the store: attach (or build: not in parallel mode, where no fresh
 * snapshot can be taken, and not while this transaction has consent
 * changes of its own, which a build would publish uncommitted).
 */
static bool
use_store(void)
{
	const PzStore *s;
	uint32		cap;

	if (!pz_consent_store_acquire(&cache.store, !IsInParallelMode() && !pz_overlay_active))
		return false;
	s = cache.store.store;
	cache.nmaps = 0;
	for (int i = 0; i < cache.info.nchain; i++)
	{
		cache.chain_map[i] = -1;
		if (pz_consent_store_map(s, cache.info.chain[i], &cache.maps[cache.nmaps]))
			cache.chain_map[i] = cache.nmaps++;
	}
	cap = s->class_capacity;
	if (cache.class_masks_cap < cap)
	{
		if (cache.class_masks != NULL)
			pfree(cache.class_masks);
		cache.class_masks = MemoryContextAlloc(cache.cxt, cap * sizeof(uint64));
		cache.class_masks_cap = cap;
	}
	cache.class_masks[0] = 0;
	cache.nclass_masks = 1;
	hot_classes_from_masks();
	cache.source = SOURCE_STORE;
	cache.subjects_valid = true;
	cache.overlay_epoch = 0;
	return true;
}

/* ---- subjects loaded by this backend --------------------------------------- */

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

/*
 * Read the subjects of the chain as of now (parallel workers: as of the
 * statement's snapshot, so the copy dies with the transaction).  An
 * invalidation that arrives while loading means the copy may be stale.
 */
static void
use_local(void)
{
	PzPrivileged ctx;
	uint64		invalidations_before = cache.invalidations;

	cache.subjects = NULL;
	cache.mask_index = NULL;
	cache.dense = false;
	cache.store.store = NULL;
	cache.source = SOURCE_LOCAL;
	pz_privileged_begin(&ctx);
	load_subjects();
	densify();
	pz_privileged_end(&ctx);
	cache.snapshot_scoped |= IsInParallelMode();
	cache.subjects_valid = (cache.invalidations == invalidations_before);
}

static pg_attribute_always_inline uint64
local_mask(int64 subject)
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

/* ---- refreshing ---------------------------------------------------------- */

/* The purpose, the categories; the subjects are resolved afterwards. */
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
	cache.mask_index = NULL;
	cache.class_masks = NULL;
	cache.class_masks_cap = 0;
	cache.nclass_masks = 0;
	cache.hot_classes = 0;
	cache.overlay_masks = NULL;
	cache.overlay_known = NULL;
	cache.overlay_cap = 0;
	cache.overlay_epoch = 0;
	cache.store.store = NULL;
	cache.source = SOURCE_NONE;
	cache.subjects_valid = false;
	cache.loaded = false;
	cache.registry_relid = pz_relation_oid("purposes");
	cache.ledger_relid = pz_relation_oid("consent_ledger");
	cache.consents_relid = pz_relation_oid("consents");

	cache.info = pz_purpose_lookup(purpose);
	pz_privileged_begin(&ctx);
	load_categories();
	pz_privileged_end(&ctx);

	strlcpy(cache.purpose, purpose, sizeof(cache.purpose));
	cache.purpose_version = pz_purpose_version;
	cache.loaded = (cache.invalidations == invalidations_before);
	cache.checked_userid = InvalidOid;
}

/*
 * At a new statement a store reader checks that its store is still
 * current, and a backend with its own copy whether a store can be used
 * now.
 */
static void
resolve_subjects(bool new_statement)
{
	if (!cache.info.known || !cache.info.personal_data_allowed)
	{
		cache.source = SOURCE_NONE;
		return;
	}
	if (new_statement && cache.subjects_valid && cache.source == SOURCE_STORE)
	{
		pz_consent_store_check();
		cache.subjects_valid = pz_consent_store_valid(&cache.store);
	}
	if (new_statement && cache.subjects_valid && cache.source == SOURCE_LOCAL &&
		pz_consent_store_enabled() && use_store())
		return;
	if (!cache.subjects_valid && !use_store())
		use_local();
}

static Verdict
verdict_for(Oid userid, const char *purpose)
{
	if (!cache.info.known)
		return VERDICT_NOTHING;
	/* superusers bypass policies anyway; they reach here when training */
	if (!superuser_arg(userid) && !pz_purpose_granted_chain(userid, &cache.info))
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
	bool		new_statement = stmt != cache.last_statement;

	if (new_statement)
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
	resolve_subjects(new_statement);
	if (cache.source == SOURCE_STORE && pz_overlay_active)
		resolve_overlay();
	if (cache.checked_userid != userid)
	{
		cache.verdict = verdict_for(userid, purpose);
		cache.checked_userid = userid;
	}
	cache.fast = cache.loaded && cache.purpose_version == pz_purpose_version &&
		cache.subjects_valid && cache.verdict == VERDICT_CHECK_ROWS &&
		(cache.source == SOURCE_LOCAL || (cache.source == SOURCE_STORE && !pz_overlay_active));
	if (!cache.cutoffs_valid || cache.cutoffs_statement != stmt)
		compute_cutoffs(stmt);
	cache.fast = cache.fast && cache.cutoffs_valid;
	cache.row_mode = cache.source == SOURCE_LOCAL ? ROW_LOCAL : ROW_STORE;
	if (cache.source == SOURCE_STORE && cache.nmaps == 1 && cache.maps[0].classes8 != NULL &&
		cache.hot_perfect)
	{
		cache.row_mode = ROW_NARROW;
		cache.narrow_base = cache.maps[0].base;
		cache.narrow_span = cache.maps[0].span;
		cache.narrow_classes = cache.maps[0].classes8;
		cache.narrow_byte_shift = cache.maps[0].byte_shift;
		cache.narrow_half_mask = cache.maps[0].half_mask;
		cache.narrow_value_mask = cache.maps[0].value_mask;
	}
}

/* ---- the check ------------------------------------------------------------- */

/* The class of a subject in the common layout: one dense map of 4 or 8 bits. */
static pg_attribute_always_inline PzClass
narrow_class(int64 subject)
{
	uint64		off = (uint64) subject - (uint64) cache.narrow_base;

	return pz_map_small_entry(cache.narrow_classes, cache.narrow_byte_shift, cache.narrow_half_mask,
							  cache.narrow_value_mask, off < cache.narrow_span ? off : cache.narrow_span);
}

static pg_attribute_always_inline uint64
narrow_mask(int64 subject)
{
	return class_mask(narrow_class(subject));
}

/*
 * Everything but the common case: no purpose declared, a new statement or
 * role, a purpose that is refused, this transaction's own consent changes.
 * Fail closed: no purpose, an unknown purpose, an unknown category or a
 * subject without consent all mean "not visible".  A purpose the reading
 * role does not hold, or one that may not use personal data at all, is an
 * error rather than an empty result, so the mistake is seen.
 */
static pg_noinline bool
row_visible_slow(int64 subject, const char *category, int len)
{
	const char *purpose = pz_purpose;
	Oid			userid = GetUserId();
	uint64		bit;
	uint64		mask = 0;

	if (purpose == NULL || purpose[0] == '\0')
		return false;
	refresh_cache(purpose, userid, GetCurrentStatementStartTimestamp());
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
	bit = category_bit(category, len);
	if (bit == 0)
		return false;
	if (cache.source == SOURCE_STORE)
		mask = pz_overlay_active ? overlay_mask(subject) : store_mask(subject);
	else if (cache.source == SOURCE_LOCAL)
		mask = local_mask(subject);
	return (mask & bit) != 0;
}

static pg_attribute_always_inline bool
row_visible_fast(int64 subject, const char *category, int len)
{
	uint64		mask;

	if (likely(cache.row_mode == ROW_NARROW))
		mask = narrow_mask(subject);
	else if (cache.row_mode == ROW_STORE)
		mask = store_mask(subject);
	else
		mask = local_mask(subject);
	return (mask & category_bit(category, len)) != 0;
}

/* The statement and the role are those last checked. */
static pg_attribute_always_inline bool
checked(Oid userid, TimestampTz stmt)
{
	return cache.fast && stmt == cache.last_statement && userid == cache.checked_userid;
}

bool
pz_row_visible(int64 subject, const char *category, int len)
{
	if (likely(checked(GetUserId(), GetCurrentStatementStartTimestamp())))
		return row_visible_fast(subject, category, len);
	return row_visible_slow(subject, category, len);
}

/* Any layout, any name, once the statement and the role are checked. */
static pg_noinline Datum
row_visible_any(int64 subject, const char *category, int len)
{
	return BoolGetDatum(row_visible_fast(subject, category, len));
}

/*
 * The common case alone, in a function that calls nothing (everything
 * else is a tail call), so that it saves no registers: one dense map of
 * 4- or 8-bit classes, a class already seen and among the first 64, a
 * category name of at most 16 bytes, all categories in the hot table.  The
 * map and the category chains of loads run side by side and meet in one
 * shift.
 */
static pg_noinline Datum
row_visible_common(int64 subject, const char *category, int len)
{
	PzClass		cls;
	uint64		head,
				tail;
	const HotCategory *c;
	uint64		same;

	if (unlikely(cache.row_mode != ROW_NARROW || len > 16))
		return row_visible_any(subject, category, len);
	cls = narrow_class(subject);
	if (unlikely(cls >= cache.hot_classes))
		return row_visible_any(subject, category, len);
	category_key(category, len, &head, &tail);
	c = &cache.hot[hot_slot_of(head, tail, len, cache.hot_seed)];
	same = (c->head ^ head) | (c->tail ^ tail) | (uint64) (uint32) (c->len ^ len);
	return BoolGetDatum(((c->classes >> cls) & (same == 0)) != 0);
}

static pg_noinline Datum
row_visible_sql_slow(FunctionCallInfo fcinfo)
{
	struct varlena *category = pg_detoast_datum_packed((struct varlena *) PG_GETARG_POINTER(1));

	PG_RETURN_BOOL(row_visible_slow(PG_GETARG_INT64(0), VARDATA_ANY(category),
									VARSIZE_ANY_EXHDR(category)));
}

/*
 * Per row: the statement start and the user id (both needed: a cursor's
 * FETCH is a new statement, and a SECURITY DEFINER function changes the
 * role inside one; cache.fast also means a purpose is declared and
 * unchanged, since its assign hook clears it), then the lookup.  Inline
 * category values (one-byte or four-byte headers) need no detoasting.
 */
PZ_FUNCTION(pz_row_visible_sql)
{
	Oid			userid = GetUserId();
	TimestampTz stmt = GetCurrentStatementStartTimestamp();
	const char *category = DatumGetPointer(PG_GETARG_DATUM(1));

	if (likely(checked(userid, stmt)))
	{
		if (likely(VARATT_IS_SHORT(category)))
			return row_visible_common(PG_GETARG_INT64(0), VARDATA_SHORT(category),
									  VARSIZE_SHORT(category) - VARHDRSZ_SHORT);
		if (VARATT_IS_4B_U(category))
			return row_visible_common(PG_GETARG_INT64(0), VARDATA(category),
									  VARSIZE(category) - VARHDRSZ);
	}
	return row_visible_sql_slow(fcinfo);
}

/*
 * personalize.row_visible(subject, category, at): the same, and the row is
 * within its category's retention.  NULL subject or category: not visible;
 * NULL time: no retention applies (a row whose time is unknown cannot be
 * said to be old).  The common case adds one load and one compare to the
 * two-argument form; everything else goes through the slow path, which
 * also brings the cutoffs up to date for the statement.
 */
static pg_noinline Datum
row_visible_at_any(int64 subject, const char *category, int len, TimestampTz at)
{
	return BoolGetDatum(row_visible_fast(subject, category, len) &&
						at >= category_cutoff(category, len));
}

static pg_noinline Datum
row_visible_at_common(int64 subject, const char *category, int len, TimestampTz at)
{
	PzClass		cls;
	uint64		head,
				tail;
	int			slot;
	const HotCategory *c;
	uint64		same;

	if (unlikely(cache.row_mode != ROW_NARROW || len > 16))
		return row_visible_at_any(subject, category, len, at);
	cls = narrow_class(subject);
	if (unlikely(cls >= cache.hot_classes))
		return row_visible_at_any(subject, category, len, at);
	category_key(category, len, &head, &tail);
	slot = hot_slot_of(head, tail, len, cache.hot_seed);
	c = &cache.hot[slot];
	same = (c->head ^ head) | (c->tail ^ tail) | (uint64) (uint32) (c->len ^ len);
	return BoolGetDatum((((c->classes >> cls) & (same == 0)) &
						 (at >= cache.hot_cutoff[slot])) != 0);
}

static pg_noinline Datum
row_visible_at_sql_slow(FunctionCallInfo fcinfo)
{
	struct varlena *category;
	const char *name;
	int			len;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	category = pg_detoast_datum_packed((struct varlena *) PG_GETARG_POINTER(1));
	name = VARDATA_ANY(category);
	len = VARSIZE_ANY_EXHDR(category);
	if (!row_visible_slow(PG_GETARG_INT64(0), name, len))
		PG_RETURN_BOOL(false);
	/* visible rows imply a refreshed cache, cutoffs included */
	PG_RETURN_BOOL(PG_ARGISNULL(2) || PG_GETARG_TIMESTAMPTZ(2) >= category_cutoff(name, len));
}

PZ_FUNCTION(pz_row_visible_at_sql)
{
	Oid			userid = GetUserId();
	TimestampTz stmt = GetCurrentStatementStartTimestamp();

	if (likely(checked(userid, stmt) && !PG_ARGISNULL(0) && !PG_ARGISNULL(1) && !PG_ARGISNULL(2)))
	{
		const char *category = DatumGetPointer(PG_GETARG_DATUM(1));

		if (likely(VARATT_IS_SHORT(category)))
			return row_visible_at_common(PG_GETARG_INT64(0), VARDATA_SHORT(category),
										 VARSIZE_SHORT(category) - VARHDRSZ_SHORT,
										 PG_GETARG_TIMESTAMPTZ(2));
		if (VARATT_IS_4B_U(category))
			return row_visible_at_common(PG_GETARG_INT64(0), VARDATA(category),
										 VARSIZE(category) - VARHDRSZ,
										 PG_GETARG_TIMESTAMPTZ(2));
	}
	return row_visible_at_sql_slow(fcinfo);
}

/*
 * The row-independent half of the check, run by the ExecutorStart hook for
 * every query that reads a protected table under row-level security, before
 * any row is read: a refusal must not depend on which rows a query touches,
 * or error-or-not would reveal them.  It also attaches or builds the
 * consent store before the query enters parallel mode, so that parallel
 * workers find it.
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

/*
 * The tables whose changes every session must see at its next statement.
 * consents is listed for installations still on the 0.1.0 triggers, which
 * call this function for consent changes too.
 */
static const char *const registry_tables[] = {
	"consents", "purposes", "purpose_grants", "signal_categories", "protected_tables"
};

/*
 * Trigger on the registry tables (statement triggers, and row triggers for
 * the replication apply worker): tell every backend, at commit, to drop its
 * caches; personalize.purposes stands for the registry, protected_tables
 * for the list of protected tables.  It refuses any other table, so that
 * nobody can make every session reload from a trigger on a table of their
 * own.
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
	relid = pz_relation_oid("purposes");
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
