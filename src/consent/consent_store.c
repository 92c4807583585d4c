/*
 * consent_store.c
 *		The per-database consent store in shared memory: where it is listed,
 *		how a backend attaches to it, how it is built and how committed
 *		changes are applied to it.
 *
 * A small control block in the main shared memory has one slot per
 * database (LRU eviction when all are taken).  A slot names the database's
 * current store, a pinned DSM segment, by handle and generation; the
 * generation is also the readers' per-statement validity check.  A store
 * that cannot take a committed change (a map or the class table is full, a
 * subject id falls outside a dense span, a purpose has no map yet, a
 * TRUNCATE) is marked stale instead, and the next reader that may build
 * one does so, with headroom so that rebuilds amortize.
 *
 * Builds are serialized per database on an advisory lock whose last field
 * no SQL function uses (pg_advisory_lock() uses 1 and 2), so no role can
 * take it to stall readers.  A build must not lose a change committed while
 * it reads: it registers itself in the slot before taking its snapshot, and
 * from then on committers also log the subjects they changed into a ring in
 * the slot.  After the bulk read the builder re-reads the logged subjects
 * with a fresh snapshot, and publishes only when, under the lock, the ring
 * is empty; a ring that overflowed (or a TRUNCATE) restarts the build.
 *
 * The store is used only while the triggers that feed it are in place and
 * enabled ALWAYS on personalize.consents: the builder checks them, and a
 * relcache invalidation of personalize.consents (DDL on it) makes readers
 * check them again.  Standbys never use it (replayed changes fire no
 * triggers); they, parallel workers without a store, and servers without
 * the library preloaded use the per-backend load in visibility.c.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "consent_store.h"
#include "consent_store_internal.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "personalize.h"
#include "port/pg_bitutils.h"
#include "portability/instr_time.h"
#include "privileged.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#define STORE_SLOTS			16
#define RING_SIZE			4096
#define BUILD_ATTEMPTS		3
#define MAX_MAPPINGS		4
#define FETCH_BATCH			20000
#define BUILD_LOCK_FIELD2	0x707A6373	/* "pzcs" */
#define BUILD_LOCK_FIELD4	0x707A	/* not 1 or 2: see serving_shmem.c */

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_EMPTY,					/* a database with no store yet */
	SLOT_READY,
	SLOT_STALE,					/* a change could not be applied: rebuild */
	SLOT_UNUSABLE				/* cannot be built now; see reason */
} SlotState;

static const char *const slot_state_names[] = {
	"free", "empty", "ready", "stale", "unusable"
};

typedef struct StoreSlot
{
	SlotState	state;
	Oid			dboid;
	pg_atomic_uint64 generation;	/* of the ready store; 0 otherwise */
	bool		has_segment;	/* pinned: ready or stale */
	dsm_handle	handle;
	uint32		trigger_fingerprint;	/* of consents' triggers at the last build */
	int64		retry_budget;	/* unusable: committed changes before retrying */
	char		reason[128];	/* why unusable */

	/* figures for consent_store() */
	TimestampTz built_at;
	double		build_ms;
	uint64		builds;
	uint64		changes_applied;
	uint64		stale_marks;
	int			npurposes;
	uint64		consents;
	uint32		classes;
	Size		bytes;
	TimestampTz last_used;

	/* a build in progress: committers log the subjects they changed */
	uint64		build_token;
	bool		ring_overflow;
	uint32		ring_count;
	int64		ring[RING_SIZE];
} StoreSlot;

typedef struct StoreControl
{
	LWLock	   *lock;
	uint64		next_generation;
	uint64		next_build_token;
	StoreSlot	slots[STORE_SLOTS];
	int			nbackends;
	bool		overlay[FLEXIBLE_ARRAY_MEMBER]; /* by backend id */
} StoreControl;

static StoreControl *control = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

/* This backend's mappings; the one readers use is never detached under them. */
typedef struct Mapping
{
	dsm_segment *seg;
	PzStore    *store;
	uint64		generation;
} Mapping;

static Mapping mappings[MAX_MAPPINGS];
static uint64 in_use_generation = 0;

/* The slot of the store in use, and when this backend last said so (LRU). */
static StoreSlot *in_use_slot = NULL;
static TimestampTz in_use_touched = 0;

/* DDL on personalize.consents: check its triggers before trusting the store. */
static bool recheck_triggers = true;
static Oid	consents_relid = InvalidOid;

/* ---- shared memory -------------------------------------------------------- */

static Size
control_size(void)
{
	return add_size(offsetof(StoreControl, overlay), mul_size(MaxBackends + 1, sizeof(bool)));
}

static void
store_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(control_size()));
	RequestNamedLWLockTranche("personalize consent store", 1);
}

static void
store_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	control = ShmemInitStruct("personalize consent store", control_size(), &found);
	if (!found)
	{
		memset(control, 0, control_size());
		control->lock = &(GetNamedLWLockTranche("personalize consent store"))->lock;
		control->nbackends = MaxBackends;
		for (int i = 0; i < STORE_SLOTS; i++)
			pg_atomic_init_u64(&control->slots[i].generation, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
store_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == consents_relid)
	{
		recheck_triggers = true;
		consents_relid = InvalidOid;
	}
}

void
pz_consent_store_init(void)
{
	CacheRegisterRelcacheCallback(store_relcache_callback, (Datum) 0);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = store_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = store_shmem_startup;
}

bool
pz_consent_store_enabled(void)
{
	return control != NULL;
}

/* The OID of personalize.consents, looked up again after any DDL on it. */
Oid
pz_consents_relid(void)
{
	if (!OidIsValid(consents_relid))
		consents_relid = pz_relation_oid("consents");
	return consents_relid;
}

void
pz_consent_store_set_overlay_flag(bool on)
{
	if (control != NULL && MyBackendId > 0 && MyBackendId <= control->nbackends)
		control->overlay[MyBackendId] = on;
}

/*
 * In a parallel worker: the leader's transaction changed consents that the
 * store does not have yet, so the worker must read them from the table.
 */
bool
pz_leader_has_overlay(void)
{
	BackendId	leader = ParallelLeaderBackendId;

	return control != NULL && leader > 0 && leader <= control->nbackends &&
		((volatile bool *) control->overlay)[leader];
}

/* ---- slots (the caller holds control->lock) ------------------------------ */

static StoreSlot *
find_slot(Oid dboid)
{
	for (int i = 0; i < STORE_SLOTS; i++)
		if (control->slots[i].state != SLOT_FREE && control->slots[i].dboid == dboid)
			return &control->slots[i];
	return NULL;
}

static void
release_segment(StoreSlot *slot)
{
	if (slot->has_segment)
		dsm_unpin_segment(slot->handle);
	slot->has_segment = false;
	pg_atomic_write_u64(&slot->generation, 0);
}

static void
mark_stale(StoreSlot *slot)
{
	pg_atomic_write_u64(&slot->generation, 0);
	if (slot->state == SLOT_READY)
	{
		slot->state = SLOT_STALE;
		slot->stale_marks++;
	}
}

/* The database's slot, taking a free one or the least recently used. */
static StoreSlot *
claim_slot(Oid dboid)
{
	StoreSlot  *slot = find_slot(dboid);

	if (slot != NULL)
		return slot;
	for (int i = 0; i < STORE_SLOTS; i++)
	{
		StoreSlot  *s = &control->slots[i];

		if (s->state == SLOT_FREE)
		{
			slot = s;
			break;
		}
		if (slot == NULL || s->last_used < slot->last_used)
			slot = s;
	}
	release_segment(slot);
	memset((char *) slot + offsetof(StoreSlot, has_segment), 0,
		   offsetof(StoreSlot, ring) - offsetof(StoreSlot, has_segment));
	slot->state = SLOT_EMPTY;
	slot->dboid = dboid;
	slot->last_used = GetCurrentTimestamp();
	return slot;
}

/* ---- this backend's mappings ---------------------------------------------- */

static PzStore *
mapped(uint64 generation)
{
	for (int i = 0; i < MAX_MAPPINGS; i++)
		if (mappings[i].seg != NULL && mappings[i].generation == generation)
			return mappings[i].store;
	return NULL;
}

static void
forget_mapping(int i)
{
	dsm_detach(mappings[i].seg);
	mappings[i].seg = NULL;
	mappings[i].store = NULL;
	mappings[i].generation = 0;
}

/* Keep seg mapped for the session, dropping the oldest mapping not in use. */
static PzStore *
remember(dsm_segment *seg, uint64 generation)
{
	int			victim = -1;

	for (int i = 0; i < MAX_MAPPINGS; i++)
	{
		if (mappings[i].seg == NULL)
		{
			victim = i;
			break;
		}
		if (mappings[i].generation != in_use_generation &&
			(victim < 0 || mappings[i].generation < mappings[victim].generation))
			victim = i;
	}
	if (mappings[victim].seg != NULL)
		forget_mapping(victim);
	dsm_pin_mapping(seg);
	mappings[victim].seg = seg;
	mappings[victim].store = dsm_segment_address(seg);
	mappings[victim].generation = generation;
	return mappings[victim].store;
}

/* Map a listed store; NULL when it was replaced and freed meanwhile. */
static PzStore *
map_store(dsm_handle handle, uint64 generation)
{
	PzStore    *s = mapped(generation);
	dsm_segment *seg;

	if (s != NULL)
		return s;
	seg = dsm_find_mapping(handle);
	if (seg == NULL)
		seg = dsm_attach(handle);
	if (seg == NULL)
		return NULL;
	s = dsm_segment_address(seg);
	if (s->magic != PZ_STORE_MAGIC || s->generation != generation || s->dboid != MyDatabaseId)
	{
		dsm_detach(seg);
		return NULL;
	}
	return remember(seg, generation);
}

/*
 * The same, where an error must not escape (a commit callback): a failure
 * to map leaves the caller to mark the store stale.
 */
static PzStore *
map_store_quietly(dsm_handle handle, uint64 generation)
{
	MemoryContext cxt = CurrentMemoryContext;
	PzStore    *volatile s = NULL;

	PG_TRY();
	{
		s = map_store(handle, generation);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		s = NULL;
	}
	PG_END_TRY();
	return s;
}

/* Readers moved to generation: older mappings can go. */
static void
use_generation(uint64 generation)
{
	in_use_generation = generation;
	for (int i = 0; i < MAX_MAPPINGS; i++)
		if (mappings[i].seg != NULL && mappings[i].generation < generation)
			forget_mapping(i);
}

/* ---- the triggers that feed the store ------------------------------------- */

static Oid
trigger_function_oid(void)
{
	List	   *name = list_make2(makeString("personalize"), makeString("consents_changed"));

	return LookupFuncName(name, 0, NULL, true);
}

/*
 * A fingerprint of the triggers on personalize.consents that call
 * consents_changed() (each row's OID, xmin, type and enabled state, so
 * that disabling and enabling one again changes it too), and whether they
 * cover every change: a row trigger after INSERT, UPDATE and DELETE and a
 * statement trigger after TRUNCATE, both enabled ALWAYS (replica sessions
 * and the apply worker fire them too), with no WHEN clause or column list.
 */
static uint32
trigger_fingerprint(bool *complete)
{
	Oid			relid = pz_consents_relid();
	Oid			fn = trigger_function_oid();
	Relation	tgrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	uint32		fp = 1;
	bool		row = false,
				truncate = false;

	*complete = false;
	if (!OidIsValid(relid) || !OidIsValid(fn))
		return 0;
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);
		bool		plain;

		if (t->tgfoid != fn)
			continue;
		fp = hash_combine(fp, murmurhash32(t->oid));
		fp = hash_combine(fp, murmurhash32(HeapTupleHeaderGetXmin(tup->t_data)));
		fp = hash_combine(fp, murmurhash32(((uint32) (uint16) t->tgtype << 8) | (uint8) t->tgenabled));
		plain = t->tgenabled == TRIGGER_FIRES_ALWAYS && TRIGGER_FOR_AFTER(t->tgtype) &&
			t->tgattr.dim1 == 0 && heap_attisnull(tup, Anum_pg_trigger_tgqual, NULL);
		if (plain && TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_INSERT(t->tgtype) &&
			TRIGGER_FOR_UPDATE(t->tgtype) && TRIGGER_FOR_DELETE(t->tgtype))
			row = true;
		if (plain && !TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_TRUNCATE(t->tgtype))
			truncate = true;
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	*complete = row && truncate;
	return fp;
}

/*
 * After DDL on personalize.consents, compare its triggers with those the
 * store was built under: any difference makes it stale (a disabled trigger
 * may have let changes through unseen), and an unusable state is retried.
 */
static void
check_triggers(void)
{
	uint32		fp;
	bool		complete;
	StoreSlot  *slot;

	if (!recheck_triggers || !IsTransactionState())
		return;
	recheck_triggers = false;
	fp = trigger_fingerprint(&complete);
	LWLockAcquire(control->lock, LW_SHARED);
	slot = find_slot(MyDatabaseId);
	if (slot == NULL || slot->trigger_fingerprint == fp ||
		(slot->state != SLOT_READY && slot->state != SLOT_UNUSABLE))
	{
		LWLockRelease(control->lock);
		return;
	}
	LWLockRelease(control->lock);
	LWLockAcquire(control->lock, LW_EXCLUSIVE);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL && slot->trigger_fingerprint != fp)
	{
		if (slot->state == SLOT_READY)
			mark_stale(slot);
		else if (slot->state == SLOT_UNUSABLE)
			slot->state = SLOT_EMPTY;
	}
	LWLockRelease(control->lock);
}

/* ---- layout ---------------------------------------------------------------- */

static inline PzClass *
map_classes(PzStore *s, PzStoreMap *m)
{
	return PZ_STORE_AT(s, m->off_classes, PzClass *);
}

static inline int64 *
map_keys(PzStore *s, PzStoreMap *m)
{
	return PZ_STORE_AT(s, m->off_keys, int64 *);
}

static inline uint32 *
class_at(PzStore *s)
{
	return PZ_STORE_AT(s, s->off_class_at, uint32 *);
}

static inline PzClass *
class_hash(PzStore *s)
{
	return PZ_STORE_AT(s, s->off_class_hash, PzClass *);
}

uint32
pz_consent_hash(const Consent *c)
{
	return hash_bytes((const unsigned char *) c, VARSIZE(c));
}

static PzStoreMap *
find_map(PzStore *s, const char *purpose)
{
	for (int i = 0; i < s->npurposes; i++)
		if (strcmp(s->maps[i].purpose, purpose) == 0)
			return &s->maps[i];
	return NULL;
}

/*
 * The class of a consent, added if new.  0 when the class table or its
 * arena is full.  The bytes and their offset are in place before the count
 * that makes them readable.
 */
static PzClass
class_intern(PzStore *s, const Consent *c, uint32 hash)
{
	uint32		mask = s->class_hash_size - 1;
	uint32		n = pg_atomic_read_u32(&s->nclasses);
	PzClass    *index = class_hash(s);
	Size		size = VARSIZE(c);
	uint32		i;
	Size		at;

	for (i = hash & mask; index[i] != 0; i = (i + 1) & mask)
	{
		const Consent *known = pz_consent_store_class(s, index[i]);

		if (VARSIZE(known) == size && memcmp(known, c, size) == 0)
			return index[i];
	}
	at = MAXALIGN(s->arena_used);
	if (n >= s->class_capacity || at + size > s->arena_size)
		return 0;
	memcpy(PZ_STORE_AT(s, s->off_arena + at, char *), c, size);
	s->arena_used = at + size;
	class_at(s)[n] = (uint32) at;
	pg_write_barrier();
	pg_atomic_write_u32(&s->nclasses, n + 1);
	index[i] = (PzClass) n;
	return (PzClass) n;
}

/*
 * Set a subject's class in a map.  false when it does not fit (outside a
 * dense span, a full hash); setting 0 where nothing is stored always fits.
 * The class is published before the id that refers to it (the barrier), and
 * in a hashed map before the key that makes the slot visible.
 */
static bool
map_set(PzStore *s, PzStoreMap *m, int64 subject, PzClass cls)
{
	PzClass    *classes = map_classes(s, m);
	PzClass		old;
	uint64		i;

	if (m->dense)
	{
		uint64		off = (uint64) subject - (uint64) m->base;

		if (off >= m->span)
			return cls == 0;
		if (m->bits == 4)
		{
			uint8	   *bytes = (uint8 *) classes;
			int			shift = (off & 1) << 2;
			uint8		byte = bytes[off >> 1];

			if (cls >= PZ_NIBBLE_LIMIT)
				return false;
			old = (byte >> shift) & 15;
			pg_write_barrier();
			/* one byte store: a reader sees the other half unchanged */
			bytes[off >> 1] = (uint8) ((byte & ~(15 << shift)) | (cls << shift));
		}
		else if (m->bits == 8)
		{
			uint8	   *bytes = (uint8 *) classes;

			if (cls >= PZ_NARROW_LIMIT)
				return false;
			old = bytes[off];
			pg_write_barrier();
			bytes[off] = (uint8) cls;
		}
		else
		{
			old = classes[off];
			pg_write_barrier();
			classes[off] = cls;
		}
	}
	else if (subject == PZ_EMPTY_KEY)
	{
		old = m->empty_key_class;
		pg_write_barrier();
		m->empty_key_class = cls;
	}
	else
	{
		int64	   *keys = map_keys(s, m);

		for (i = pz_subject_slot(subject, m->shift); keys[i] != subject; i = (i + 1) & (m->capacity - 1))
			if (keys[i] == PZ_EMPTY_KEY)
				break;
		if (keys[i] == subject)
		{
			old = classes[i];
			pg_write_barrier();
			classes[i] = cls;
		}
		else
		{
			if (cls == 0)
				return true;
			if (m->used >= m->max_used)
				return false;
			old = 0;
			pg_write_barrier();
			classes[i] = cls;
			pg_write_barrier();
			keys[i] = subject;
			m->used++;
		}
	}
	m->consents += (cls != 0) - (old != 0);
	return true;
}

/* One change; false when the store cannot take it (it must go stale). */
static bool
store_apply(PzStore *s, const PzConsentChange *ch)
{
	PzStoreMap *m = find_map(s, ch->purpose);
	PzClass		cls = 0;

	if (ch->consent != NULL)
	{
		cls = class_intern(s, ch->consent, ch->hash);
		if (cls == 0)
			return false;
	}
	if (m == NULL)
		return cls == 0;
	return map_set(s, m, ch->subject, cls);
}

/* ---- reading personalize.consents for a build ------------------------------ */

typedef struct BuildPurpose
{
	char		name[PZ_PURPOSE_NAME];
	uint64		count;
	int64		min;
	int64		max;
} BuildPurpose;

typedef struct BuildData
{
	/* where it lives: reading runs inside SPI, whose context is gone after */
	MemoryContext cxt;

	int			npurposes;
	int			purposes_cap;
	BuildPurpose *purposes;
	bool		too_many_purposes;	/* more than a uint16 row field indexes */

	/* rows: subject, purpose index, class */
	uint64		nrows;
	uint64		cap;
	int64	   *subject;
	uint16	   *purpose;
	PzClass    *cls;

	/* classes: [1, nclasses) with their bytes, and an index by content */
	uint32		nclasses;
	Consent   **classes;
	uint32	   *class_hash_of;
	uint32		index_size;
	PzClass    *index;
	Size		bytes;
	bool		too_many_classes;
} BuildData;

static int
build_purpose(BuildData *bd, const char *name, int len)
{
	for (int i = 0; i < bd->npurposes; i++)
		if (strncmp(bd->purposes[i].name, name, len) == 0 && bd->purposes[i].name[len] == '\0')
			return i;
	if (bd->npurposes == PG_UINT16_MAX || len >= PZ_PURPOSE_NAME)
	{
		bd->too_many_purposes = true;
		return -1;
	}
	if (bd->npurposes == bd->purposes_cap)
	{
		bd->purposes_cap *= 2;
		bd->purposes = repalloc(bd->purposes, bd->purposes_cap * sizeof(BuildPurpose));
	}
	memcpy(bd->purposes[bd->npurposes].name, name, len);
	bd->purposes[bd->npurposes].name[len] = '\0';
	bd->purposes[bd->npurposes].count = 0;
	return bd->npurposes++;
}

static PzClass
build_class(BuildData *bd, const char *payload, int len)
{
	Size		size = VARHDRSZ + len;
	uint32		hash;
	uint32		i;
	Consent    *c;

	c = MemoryContextAlloc(bd->cxt, size);
	SET_VARSIZE(c, size);
	memcpy(VARDATA(c), payload, len);
	hash = pz_consent_hash(c);
	for (i = hash & (bd->index_size - 1); bd->index[i] != 0; i = (i + 1) & (bd->index_size - 1))
	{
		Consent    *known = bd->classes[bd->index[i]];

		if (VARSIZE(known) == size && memcmp(known, c, size) == 0)
		{
			pfree(c);
			return bd->index[i];
		}
	}
	if (bd->nclasses >= PZ_CLASS_LIMIT - 1)
	{
		bd->too_many_classes = true;
		pfree(c);
		return 0;
	}
	bd->classes[bd->nclasses] = c;
	bd->class_hash_of[bd->nclasses] = hash;
	bd->bytes += MAXALIGN(size);
	bd->index[i] = (PzClass) bd->nclasses;
	return (PzClass) bd->nclasses++;
}

static void
build_row(BuildData *bd, int64 subject, int p, PzClass cls)
{
	BuildPurpose *bp = &bd->purposes[p];

	if (bd->nrows == bd->cap)
	{
		bd->cap *= 2;
		bd->subject = repalloc_huge(bd->subject, bd->cap * sizeof(int64));
		bd->purpose = repalloc_huge(bd->purpose, bd->cap * sizeof(uint16));
		bd->cls = repalloc_huge(bd->cls, bd->cap * sizeof(PzClass));
	}
	bd->subject[bd->nrows] = subject;
	bd->purpose[bd->nrows] = (uint16) p;
	bd->cls[bd->nrows] = cls;
	bd->nrows++;
	if (bp->count == 0 || subject < bp->min)
		bp->min = subject;
	if (bp->count == 0 || subject > bp->max)
		bp->max = subject;
	bp->count++;
}

static void
build_data_init(BuildData *bd)
{
	memset(bd, 0, sizeof(*bd));
	bd->cxt = CurrentMemoryContext;
	bd->cap = 1024;
	bd->subject = palloc(bd->cap * sizeof(int64));
	bd->purpose = palloc(bd->cap * sizeof(uint16));
	bd->cls = palloc(bd->cap * sizeof(PzClass));
	bd->purposes_cap = 16;
	bd->purposes = palloc(bd->purposes_cap * sizeof(BuildPurpose));
	bd->classes = palloc0(PZ_CLASS_LIMIT * sizeof(Consent *));
	bd->class_hash_of = palloc0(PZ_CLASS_LIMIT * sizeof(uint32));
	bd->index_size = PZ_CLASS_LIMIT * 2;
	bd->index = palloc0(bd->index_size * sizeof(PzClass));
	bd->nclasses = 1;			/* class 0: no consent */
}

/* One row of personalize.consents (purpose, subject_id, consent). */
static void
read_row(BuildData *bd, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	struct varlena *purpose = (struct varlena *) DatumGetPointer(SPI_getbinval(tup, desc, 1, &isnull));
	int64		subject = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	struct varlena *consent = (struct varlena *) DatumGetPointer(SPI_getbinval(tup, desc, 3, &isnull));
	int			p;
	PzClass		cls;

	purpose = pg_detoast_datum_packed(purpose);
	consent = pg_detoast_datum_packed(consent);
	p = build_purpose(bd, VARDATA_ANY(purpose), VARSIZE_ANY_EXHDR(purpose));
	cls = build_class(bd, VARDATA_ANY(consent), VARSIZE_ANY_EXHDR(consent));
	if (p >= 0 && cls != 0)
		build_row(bd, subject, p, cls);
}

/* Every consent, through a cursor (a million rows would not fit as tuples). */
static void
read_consents(BuildData *bd)
{
	SPIPlanPtr	plan;
	Portal		portal;

	plan = SPI_prepare("SELECT purpose, subject_id, consent FROM personalize.consents", 0, NULL);
	if (plan == NULL)
		elog(ERROR, "personalize: could not plan the consent store read");
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && !bd->too_many_classes && !bd->too_many_purposes; i++)
			read_row(bd, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/* ---- laying a store out ---------------------------------------------------- */

static uint64
next_pow2(uint64 n)
{
	uint64		p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/*
 * Dense when the ids span at most 8 slots per consent (2 bytes each, as
 * little as a hash entry needs), with headroom above for new subjects and a
 * little below; hashed otherwise, at most three quarters full.
 */
static Size
dense_bytes(const PzStoreMap *m)
{
	return ((m->span + 1) * m->bits + 7) / 8;
}

static Size
plan_map(PzStoreMap *m, const BuildPurpose *bp, int bits)
{
	uint64		range = (uint64) bp->max - (uint64) bp->min;	/* ids - 1 */

	memset(m, 0, sizeof(*m));
	strlcpy(m->purpose, bp->name, sizeof(m->purpose));
	if (range < bp->count * 8 + 4096)
	{
		uint64		low = Min(1024, (range + 1) / 16);
		uint64		high = Max(1024, (range + 1) / 4);

		m->dense = true;
		m->bits = bits;
		m->base = (int64) ((uint64) bp->min - low);
		m->span = range + 1 + low + high;
		return MAXALIGN(dense_bytes(m));
	}
	m->capacity = next_pow2(Max(1024, bp->count * 2));
	m->shift = 64 - pg_leftmost_one_pos64(m->capacity);
	m->max_used = m->capacity / 4 * 3;
	return MAXALIGN(m->capacity * sizeof(int64)) + MAXALIGN(m->capacity * sizeof(PzClass));
}

static Size
plan_store(PzStore *h, const BuildData *bd)
{
	Size		off;

	memset(h, 0, offsetof(PzStore, maps));
	h->magic = PZ_STORE_MAGIC;
	h->dboid = MyDatabaseId;
	h->npurposes = bd->npurposes;
	/*
	 * Room for new classes, and dense entries as small as that allows: up
	 * to 8 classes half a byte (room for 16), up to 96 a byte (256).
	 */
	if (bd->nclasses <= PZ_NIBBLE_LIMIT / 2)
		h->class_capacity = PZ_NIBBLE_LIMIT;
	else
		h->class_capacity = Min(PZ_CLASS_LIMIT, Max(PZ_NARROW_LIMIT, bd->nclasses * 2 + 64));
	h->class_hash_size = (uint32) next_pow2(h->class_capacity * 2);
	h->arena_size = MAXALIGN(Max(16384, bd->bytes * 2 + 4096));
	off = MAXALIGN(offsetof(PzStore, maps) + bd->npurposes * sizeof(PzStoreMap));
	h->off_class_at = off;
	off += MAXALIGN(h->class_capacity * sizeof(uint32));
	h->off_class_hash = off;
	off += MAXALIGN(h->class_hash_size * sizeof(PzClass));
	h->off_arena = off;
	off += h->arena_size;
	return off;
}

/* Lay bd out in s (header already planned); sizes were chosen so all fits. */
static void
fill_store(PzStore *s, PzStoreMap *maps, const BuildData *bd, Size off)
{
	pg_atomic_init_u32(&s->nclasses, 1);
	memset(class_hash(s), 0, s->class_hash_size * sizeof(PzClass));
	for (uint32 c = 1; c < bd->nclasses; c++)
		if (class_intern(s, bd->classes[c], bd->class_hash_of[c]) != c)
			elog(ERROR, "personalize: consent store class layout mismatch");

	for (int p = 0; p < bd->npurposes; p++)
	{
		PzStoreMap *m = &s->maps[p];

		*m = maps[p];
		m->off_classes = off;
		if (m->dense)
		{
			Size		bytes = dense_bytes(m);

			memset(map_classes(s, m), 0, bytes);
			off += MAXALIGN(bytes);
		}
		else
		{
			int64	   *keys;

			off += MAXALIGN(m->capacity * sizeof(PzClass));
			m->off_keys = off;
			off += MAXALIGN(m->capacity * sizeof(int64));
			memset(map_classes(s, m), 0, m->capacity * sizeof(PzClass));
			keys = map_keys(s, m);
			for (uint64 i = 0; i < m->capacity; i++)
				keys[i] = PZ_EMPTY_KEY;
		}
	}
	for (uint64 r = 0; r < bd->nrows; r++)
		if (!map_set(s, &s->maps[bd->purpose[r]], bd->subject[r], bd->cls[r]))
			elog(ERROR, "personalize: consent store map layout mismatch");
}

/* ---- building ------------------------------------------------------------- */

typedef enum BuildResult
{
	BUILD_PUBLISHED,
	BUILD_RESTART,				/* changes could not be caught up: read again */
	BUILD_GIVE_UP				/* readers fall back to the per-backend load */
} BuildResult;

/*
 * Free the slots of databases dropped since their store was built, rather
 * than leave the memory to eviction.
 */
static void
forget_dropped_databases(void)
{
	Oid			dboids[STORE_SLOTS];
	bool		gone[STORE_SLOTS];

	LWLockAcquire(control->lock, LW_SHARED);
	for (int i = 0; i < STORE_SLOTS; i++)
		dboids[i] = control->slots[i].state == SLOT_FREE ? InvalidOid : control->slots[i].dboid;
	LWLockRelease(control->lock);
	for (int i = 0; i < STORE_SLOTS; i++)
		gone[i] = OidIsValid(dboids[i]) && dboids[i] != MyDatabaseId &&
			!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dboids[i]));
	LWLockAcquire(control->lock, LW_EXCLUSIVE);
	for (int i = 0; i < STORE_SLOTS; i++)
	{
		StoreSlot  *slot = &control->slots[i];

		if (gone[i] && slot->state != SLOT_FREE && slot->dboid == dboids[i] && slot->build_token == 0)
		{
			release_segment(slot);
			slot->state = SLOT_FREE;
		}
	}
	LWLockRelease(control->lock);
}

/* Register a build in the database's slot; committers log from now on. */
static uint64
register_build(void)
{
	StoreSlot  *slot;
	uint64		token;

	forget_dropped_databases();
	LWLockAcquire(control->lock, LW_EXCLUSIVE);
	slot = claim_slot(MyDatabaseId);
	token = ++control->next_build_token;
	slot->build_token = token;
	slot->ring_count = 0;
	slot->ring_overflow = false;
	LWLockRelease(control->lock);
	return token;
}

static void
end_build(uint64 token, const char *unusable, int64 retry_budget, uint32 fingerprint)
{
	StoreSlot  *slot;

	LWLockAcquire(control->lock, LW_EXCLUSIVE);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL && slot->build_token == token)
	{
		slot->build_token = 0;
		if (unusable != NULL)
		{
			release_segment(slot);
			slot->state = SLOT_UNUSABLE;
			strlcpy(slot->reason, unusable, sizeof(slot->reason));
			slot->retry_budget = retry_budget;
			slot->trigger_fingerprint = fingerprint;
		}
	}
	LWLockRelease(control->lock);
}

/*
 * Re-read the consents of subjects changed while the build ran, with a
 * fresh snapshot, into the unpublished store.  false: something does not
 * fit (a new purpose, say), so read everything again.
 */
static bool
catch_up(PzStore *s, const int64 *subjects, int n)
{
	PzPrivileged ctx;
	Datum	   *elems = palloc(n * sizeof(Datum));
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		args[1];
	bool		ok = true;

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(subjects[i]);
	args[0] = PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/* first no consent at all, then what the table holds now */
	for (int i = 0; i < n; i++)
		for (int p = 0; p < s->npurposes; p++)
			(void) map_set(s, &s->maps[p], subjects[i], 0);

	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT subject_id, purpose, consent FROM personalize.consents "
							  "WHERE subject_id = ANY ($1)",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: consent store catch-up failed");
	for (uint64 r = 0; r < SPI_processed && ok; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		PzConsentChange ch;

		ch.subject = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		ch.purpose = SPI_getvalue(tup, desc, 2);
		ch.consent = (const Consent *) PG_DETOAST_DATUM(SPI_getbinval(tup, desc, 3, &isnull));
		ch.hash = pz_consent_hash(ch.consent);
		ok = store_apply(s, &ch);
	}
	pz_privileged_end(&ctx);
	return ok;
}

/* Make seg the database's store; the caller holds the lock. */
static void
publish(StoreSlot *slot, dsm_segment *seg, PzStore *s, uint32 fingerprint, double ms)
{
	s->generation = ++control->next_generation;
	dsm_pin_segment(seg);
	release_segment(slot);
	slot->handle = dsm_segment_handle(seg);
	slot->has_segment = true;
	slot->trigger_fingerprint = fingerprint;
	slot->state = SLOT_READY;
	slot->build_token = 0;
	slot->built_at = GetCurrentTimestamp();
	slot->build_ms = ms;
	slot->builds++;
	slot->npurposes = s->npurposes;
	slot->consents = 0;
	for (int p = 0; p < s->npurposes; p++)
		slot->consents += s->maps[p].consents;
	slot->classes = pg_atomic_read_u32(&s->nclasses);
	slot->bytes = s->total_size;
	slot->last_used = slot->built_at;
	pg_atomic_write_u64(&slot->generation, s->generation);
}

/*
 * Lay the data out in a new segment, then catch up with the changes
 * committed meanwhile until, under the lock, none is pending; publish then.
 */
static BuildResult
lay_out_and_publish(uint64 token, BuildData *bd, uint32 fingerprint, instr_time start,
					PzStoreRef *ref)
{
	PzStoreMap *maps = palloc(Max(bd->npurposes, 1) * sizeof(PzStoreMap));
	PzStore		header;
	Size		size = plan_store(&header, bd);
	Size		maps_at = size;
	dsm_segment *seg;
	PzStore    *s;

	for (int p = 0; p < bd->npurposes; p++)
		size += plan_map(&maps[p], &bd->purposes[p],
						 header.class_capacity <= PZ_NIBBLE_LIMIT ? 4 :
						 header.class_capacity <= PZ_NARROW_LIMIT ? 8 : 16);
	seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
	{
		/* no segment to be had: readers load their own until a tenth changed */
		end_build(token, "no dynamic shared memory segment available (max_connections bounds them)",
				  (int64) (bd->nrows / 10 + 1), fingerprint);
		return BUILD_GIVE_UP;
	}
	s = dsm_segment_address(seg);
	memcpy(s, &header, offsetof(PzStore, maps));
	s->total_size = size;
	fill_store(s, maps, bd, maps_at);

	for (;;)
	{
		StoreSlot  *slot;
		int64	   *pending;
		int			n;
		instr_time	now;

		LWLockAcquire(control->lock, LW_EXCLUSIVE);
		slot = find_slot(MyDatabaseId);
		if (slot == NULL || slot->build_token != token || slot->ring_overflow)
		{
			bool		evicted = slot == NULL || slot->build_token != token;

			if (!evicted)
				slot->ring_overflow = false, slot->ring_count = 0;
			LWLockRelease(control->lock);
			dsm_detach(seg);
			return evicted ? BUILD_GIVE_UP : BUILD_RESTART;
		}
		if (slot->ring_count == 0)
		{
			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			publish(slot, seg, s, fingerprint, INSTR_TIME_GET_MILLISEC(now));
			ref->current = &slot->generation;
			in_use_slot = slot;
			LWLockRelease(control->lock);
			ref->store = remember(seg, s->generation);
			ref->generation = s->generation;
			return BUILD_PUBLISHED;
		}
		n = slot->ring_count;
		pending = palloc(n * sizeof(int64));
		memcpy(pending, slot->ring, n * sizeof(int64));
		slot->ring_count = 0;
		LWLockRelease(control->lock);
		if (!catch_up(s, pending, n))
		{
			dsm_detach(seg);
			return BUILD_RESTART;
		}
	}
}

static BuildResult
build_once(uint64 token, PzStoreRef *ref)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize consent store build",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	PzPrivileged ctx;
	BuildData  *bd = palloc(sizeof(BuildData));
	uint32		fingerprint;
	bool		complete;
	instr_time	start;
	BuildResult result;

	INSTR_TIME_SET_CURRENT(start);
	build_data_init(bd);
	pz_privileged_begin(&ctx);	/* a fresh snapshot, taken after registering */
	fingerprint = trigger_fingerprint(&complete);
	if (complete)
		read_consents(bd);
	pz_privileged_end(&ctx);

	if (!complete)
	{
		end_build(token, "the triggers that keep it current are missing or disabled on personalize.consents",
				  0, fingerprint);
		result = BUILD_GIVE_UP;
	}
	else if (bd->too_many_classes || bd->too_many_purposes)
	{
		/* try again once a tenth of the table has changed */
		end_build(token, bd->too_many_classes ? "more than 65535 distinct consents" :
				  "consents for more than 65535 purposes, or a purpose name too long",
				  (int64) (bd->nrows / 10 + 1), fingerprint);
		result = BUILD_GIVE_UP;
	}
	else
		result = lay_out_and_publish(token, bd, fingerprint, start, ref);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return result;
}

static bool
build(PzStoreRef *ref)
{
	uint64		token = register_build();

	for (int attempt = 0; attempt < BUILD_ATTEMPTS; attempt++)
	{
		switch (build_once(token, ref))
		{
			case BUILD_PUBLISHED:
				use_generation(ref->generation);
				return true;
			case BUILD_GIVE_UP:
				end_build(token, NULL, 0, 0);
				return false;
			case BUILD_RESTART:
				break;
		}
	}
	end_build(token, NULL, 0, 0);
	return false;
}

/* ---- readers --------------------------------------------------------------- */

typedef enum AttachResult
{
	ATTACHED,
	NOT_BUILT,					/* none, or stale: a build is due */
	NOT_USABLE					/* do not build now */
} AttachResult;

static AttachResult
attach_current(PzStoreRef *ref)
{
	StoreSlot  *slot;
	uint64		generation = 0;
	dsm_handle	handle = 0;
	AttachResult result = NOT_BUILT;
	PzStore    *s;

	LWLockAcquire(control->lock, LW_SHARED);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL && slot->state == SLOT_READY)
	{
		generation = pg_atomic_read_u64(&slot->generation);
		handle = slot->handle;
	}
	else if (slot != NULL && slot->state == SLOT_UNUSABLE)
		result = NOT_USABLE;
	LWLockRelease(control->lock);
	if (generation == 0)
		return result;
	s = map_store(handle, generation);
	if (s == NULL)
		return NOT_BUILT;
	ref->store = s;
	ref->generation = generation;
	ref->current = &slot->generation;
	use_generation(generation);
	in_use_slot = slot;
	in_use_touched = 0;
	return ATTACHED;
}

/*
 * The current store of this database, attached, or built when may_build
 * (not in parallel mode, nothing of this transaction's own in consents).
 * false: none to use; read consents per backend.
 */
bool
pz_consent_store_acquire(PzStoreRef *ref, bool may_build)
{
	LOCKTAG		tag;
	AttachResult result;
	bool		ok = false;

	ref->store = NULL;
	if (control == NULL || RecoveryInProgress())
		return false;
	if (IsParallelWorker() && pz_leader_has_overlay())
		return false;
	check_triggers();
	result = attach_current(ref);
	if (result != NOT_BUILT || !may_build)
		return result == ATTACHED;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, BUILD_LOCK_FIELD2, 0, BUILD_LOCK_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	PG_TRY();
	{
		result = attach_current(ref);
		if (result == ATTACHED)
			ok = true;
		else if (result == NOT_BUILT)
			ok = build(ref);
	}
	PG_FINALLY();
	{
		LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
	return ok;
}

/*
 * Per statement: DDL on consents may have made the store untrustworthy.
 * Also tell eviction that the store is in use, at most once a second (an
 * unlocked store of a timestamp: only a hint).
 */
void
pz_consent_store_check(void)
{
	TimestampTz now;

	if (control == NULL)
		return;
	if (recheck_triggers)
		check_triggers();
	now = GetCurrentStatementStartTimestamp();
	if (in_use_slot != NULL && now - in_use_touched > USECS_PER_SEC)
	{
		in_use_slot->last_used = now;
		in_use_touched = now;
	}
}

bool
pz_consent_store_map(const PzStore *s, const char *purpose, PzMapView *view)
{
	PzStoreMap *m = find_map((PzStore *) s, purpose);

	if (m == NULL)
		return false;
	view->classes = map_classes((PzStore *) s, m);
	view->classes8 = m->dense && m->bits < 16 ? (const uint8 *) view->classes : NULL;
	view->byte_shift = m->bits == 4 ? 1 : 0;
	view->half_mask = m->bits == 4 ? 1 : 0;
	view->value_mask = m->bits == 4 ? 15 : 255;
	view->base = m->base;
	view->span = m->span;
	view->keys = m->dense ? NULL : map_keys((PzStore *) s, m);
	view->shift = m->shift;
	view->mask = m->capacity - 1;
	view->empty_key_class = &m->empty_key_class;
	return true;
}

uint32
pz_consent_store_nclasses(const PzStore *s)
{
	uint32		n = pg_atomic_read_u32((pg_atomic_uint32 *) &s->nclasses);

	pg_read_barrier();
	return n;
}

const Consent *
pz_consent_store_class(const PzStore *s, PzClass c)
{
	return (const Consent *) ((const char *) s + s->off_arena +
							  PZ_STORE_AT(s, s->off_class_at, const uint32 *)[c]);
}

/* ---- committers ------------------------------------------------------------ */

static void
log_changes(StoreSlot *slot, const PzConsentChange *changes, int n, bool truncated)
{
	if (truncated)
		slot->ring_overflow = true;
	for (int i = 0; i < n && !slot->ring_overflow; i++)
	{
		if (slot->ring_count > 0 && slot->ring[slot->ring_count - 1] == changes[i].subject)
			continue;
		if (slot->ring_count == RING_SIZE)
			slot->ring_overflow = true;
		else
			slot->ring[slot->ring_count++] = changes[i].subject;
	}
}

static void
apply_changes(StoreSlot *slot, PzStore *s, const PzConsentChange *changes, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (!store_apply(s, &changes[i]))
		{
			mark_stale(slot);
			return;
		}
		slot->changes_applied++;
	}
	slot->consents = 0;
	for (int p = 0; p < s->npurposes; p++)
		slot->consents += s->maps[p].consents;
	slot->classes = pg_atomic_read_u32(&s->nclasses);
}

/*
 * Called at XACT_EVENT_COMMIT: the transaction is visible and still holds
 * its row locks, so two transactions that changed the same consent apply
 * here in commit order.  Nothing here may fail: whatever cannot be applied
 * makes the store stale, and a reader rebuilds it.
 */
void
pz_consent_store_commit(const PzConsentChange *changes, int n, bool truncated)
{
	StoreSlot  *slot;
	uint64		generation = 0;
	dsm_handle	handle = 0;
	PzStore    *s = NULL;

	if (control == NULL)
		return;

	/* map the current store first: that may fail, but not under the lock */
	LWLockAcquire(control->lock, LW_SHARED);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL && slot->state == SLOT_READY)
	{
		generation = pg_atomic_read_u64(&slot->generation);
		handle = slot->handle;
	}
	LWLockRelease(control->lock);
	if (generation != 0 && !truncated)
		s = map_store_quietly(handle, generation);

	LWLockAcquire(control->lock, LW_EXCLUSIVE);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL)
	{
		if (slot->build_token != 0)
			log_changes(slot, changes, n, truncated);
		if (slot->state == SLOT_READY)
		{
			generation = pg_atomic_read_u64(&slot->generation);
			s = truncated ? NULL : mapped(generation);
			if (s == NULL)
				mark_stale(slot);
			else
				apply_changes(slot, s, changes, n);
		}
		else if (slot->state == SLOT_UNUSABLE && slot->retry_budget > 0)
		{
			slot->retry_budget -= n;
			if (slot->retry_budget <= 0 || truncated)
				slot->state = SLOT_EMPTY;
		}
	}
	LWLockRelease(control->lock);
}

/* ---- consent_store() -------------------------------------------------------- */

PZ_FUNCTION(pz_consent_store_sql)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StoreSlot  *copy;

	InitMaterializedSRF(fcinfo, 0);
	if (control == NULL)
		return (Datum) 0;
	copy = palloc(sizeof(StoreSlot) * STORE_SLOTS);
	LWLockAcquire(control->lock, LW_SHARED);
	for (int i = 0; i < STORE_SLOTS; i++)
	{
		memcpy(&copy[i], &control->slots[i], offsetof(StoreSlot, ring));
		pg_atomic_init_u64(&copy[i].generation, pg_atomic_read_u64(&control->slots[i].generation));
	}
	LWLockRelease(control->lock);

	for (int i = 0; i < STORE_SLOTS; i++)
	{
		StoreSlot  *slot = &copy[i];
		Datum		values[12];
		bool		nulls[12] = {false};
		char	   *dbname;

		if (slot->state == SLOT_FREE)
			continue;
		dbname = get_database_name(slot->dboid);
		values[0] = dbname ? DirectFunctionCall1(namein, CStringGetDatum(dbname)) : (Datum) 0;
		nulls[0] = dbname == NULL;
		values[1] = CStringGetTextDatum(slot->build_token != 0 && slot->state != SLOT_READY ?
										"building" : slot_state_names[slot->state]);
		values[2] = BoolGetDatum(slot->state == SLOT_STALE);
		values[3] = Int32GetDatum(slot->npurposes);
		values[4] = Int64GetDatum((int64) slot->consents);
		values[5] = Int32GetDatum((int32) slot->classes);
		values[6] = Int64GetDatum(slot->has_segment ? (int64) slot->bytes : 0);
		values[7] = TimestampTzGetDatum(slot->built_at);
		nulls[7] = slot->builds == 0;
		values[8] = Float8GetDatum(slot->build_ms);
		nulls[8] = slot->builds == 0;
		values[9] = Int64GetDatum((int64) slot->builds);
		values[10] = Int64GetDatum((int64) slot->changes_applied);
		values[11] = CStringGetTextDatum(slot->reason);
		nulls[11] = slot->state != SLOT_UNUSABLE;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
