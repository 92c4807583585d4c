/*
 * serving_shmem.c
 *		Sharing serving snapshots between backends.
 *
 * A small fixed control block in shared memory lists the snapshots that
 * exist (database, model, catalogue version, purpose, DSM handle).  A
 * backend that needs one attaches to it; if none exists it builds one,
 * under a lock so that a burst of calls after an activation builds it once.
 * Each segment is pinned, so it outlives the backend that built it; it is
 * unpinned when a newer snapshot for the same purpose replaces it, and its
 * memory goes when the last backend still using it detaches.
 *
 * Two counters per database say when snapshots go stale: the catalogue
 * version, bumped when a transaction that changed personalize.items
 * commits, and the models version, bumped likewise for personalize.models
 * (activations).  They are bumped after the commit is visible, so whoever
 * reads a new value and then takes a fresh snapshot sees the change.  The
 * counters are indexed by database OID modulo VERSION_BUCKETS: two
 * databases share them only when their OIDs collide, which costs a rebuild,
 * never a stale answer.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "privileged.h"
#include "serving.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#define SERVING_SLOTS		16
#define VERSION_BUCKETS		256

/*
 * Snapshot builds are serialized per database on an advisory lock whose
 * last field no SQL function uses (pg_advisory_lock() uses 1 and 2), so no
 * role can take it to stall recommend().
 */
#define BUILD_LOCK_FIELD4	0x707A

typedef struct ServingSlot
{
	bool		used;
	Oid			dboid;
	int64		model_id;
	uint64		catalogue_version;
	char		purpose[PZ_NAME_MAX];
	dsm_handle	handle;
	Size		size;
	int32		nitems;
	uint64		registered;		/* registration order, for eviction */
} ServingSlot;

typedef struct ServingControl
{
	LWLock	   *lock;
	pg_atomic_uint64 catalogue_version[VERSION_BUCKETS];
	pg_atomic_uint64 models_version[VERSION_BUCKETS];
	uint64		registrations;
	ServingSlot slots[SERVING_SLOTS];
} ServingControl;

static ServingControl *control = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

/* This backend's attachments. */
typedef struct Attached
{
	dsm_segment *seg;
	const PzServing *s;
	Oid			dboid;
} Attached;

static Attached attached[SERVING_SLOTS];

/* Changes this transaction made, published at commit. */
static bool catalogue_changed = false;
static bool models_changed = false;

static void
serving_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ServingControl)));
	RequestNamedLWLockTranche("personalize", 1);
}

static void
serving_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	control = ShmemInitStruct("personalize serving", sizeof(ServingControl), &found);
	if (!found)
	{
		memset(control, 0, sizeof(ServingControl));
		control->lock = &(GetNamedLWLockTranche("personalize"))->lock;
		for (int i = 0; i < VERSION_BUCKETS; i++)
		{
			pg_atomic_init_u64(&control->catalogue_version[i], 1);
			pg_atomic_init_u64(&control->models_version[i], 1);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
serving_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (control && catalogue_changed)
				pg_atomic_fetch_add_u64(&control->catalogue_version[MyDatabaseId % VERSION_BUCKETS], 1);
			if (control && models_changed)
				pg_atomic_fetch_add_u64(&control->models_version[MyDatabaseId % VERSION_BUCKETS], 1);
			catalogue_changed = models_changed = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			catalogue_changed = models_changed = false;
			break;
		case XACT_EVENT_PRE_PREPARE:
			/* COMMIT PREPARED runs elsewhere, where nobody would publish it */
			if (catalogue_changed || models_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed personalize.items or personalize.models"),
						 errhint("Commit such changes directly; recommend() must learn of them at commit.")));
			break;
		default:
			break;
	}
}

void
pz_serving_shmem_init(void)
{
	RegisterXactCallback(serving_xact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = serving_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = serving_shmem_startup;
}

bool
pz_serving_available(void)
{
	return control != NULL;
}

static void
require_shared_memory(void)
{
	if (control == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("personalize must be loaded at server start to serve recommendations"),
				 errdetail("Model snapshots are shared between sessions in shared memory."),
				 errhint("Add personalize to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * On a standby the counters never move (replay runs no trigger): the
 * versions come from personalize.serving_versions there.
 */
uint64
pz_catalogue_version(void)
{
	uint64		standby;

	require_shared_memory();
	if (RecoveryInProgress() && (standby = pz_serving_versions_standby(true)) != 0)
		return standby;
	return pg_atomic_read_u64(&control->catalogue_version[MyDatabaseId % VERSION_BUCKETS]);
}

uint64
pz_models_version(void)
{
	uint64		standby;

	require_shared_memory();
	if (RecoveryInProgress() && (standby = pz_serving_versions_standby(false)) != 0)
		return standby;
	return pg_atomic_read_u64(&control->models_version[MyDatabaseId % VERSION_BUCKETS]);
}

/*
 * Trigger on personalize.items and personalize.models (statement triggers,
 * and row triggers for the replication apply worker): note the change so
 * that it is published when the transaction commits.  Any other table is
 * refused, so that nobody can make every session rebuild its snapshot from
 * a trigger on a table of their own.
 */
PZ_FUNCTION(pz_serving_changed)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid;
	bool		items;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("serving_changed() must be called as a trigger")));
	relid = RelationGetRelid(trigdata->tg_relation);
	items = relid == pz_relation_oid("items");
	if (items)
		catalogue_changed = true;
	else if (relid == pz_relation_oid("models"))
		models_changed = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("serving_changed() is a trigger of personalize.items and personalize.models, not of %s",
						RelationGetRelationName(trigdata->tg_relation))));
	/* for standbys, which replay the change but not this trigger */
	pz_serving_versions_bump(items);
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
							   trigdata->tg_newtuple : trigdata->tg_trigtuple);
	return PointerGetDatum(NULL);
}

/* ---- this backend's attachments ----------------------------------------- */

static const PzServing *
find_attached(int64 model_id, uint64 catalogue_version)
{
	for (int i = 0; i < SERVING_SLOTS; i++)
	{
		const PzServing *s = attached[i].s;

		if (s && attached[i].dboid == MyDatabaseId && s->model_id == model_id &&
			s->catalogue_version == catalogue_version)
			return s;
	}
	return NULL;
}

/* Keep seg, dropping older snapshots of the same purpose. */
static const PzServing *
remember(dsm_segment *seg)
{
	const PzServing *s = dsm_segment_address(seg);
	int			free_slot = -1;

	for (int i = 0; i < SERVING_SLOTS; i++)
	{
		if (attached[i].s && attached[i].dboid == MyDatabaseId &&
			strcmp(attached[i].s->purpose, s->purpose) == 0)
		{
			dsm_detach(attached[i].seg);
			attached[i].s = NULL;
		}
		if (attached[i].s == NULL && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
	{
		/* more purposes than slots: drop the first */
		dsm_detach(attached[0].seg);
		free_slot = 0;
	}
	dsm_pin_mapping(seg);
	attached[free_slot].seg = seg;
	attached[free_slot].s = s;
	attached[free_slot].dboid = MyDatabaseId;
	return s;
}

/* ---- the shared list ------------------------------------------------------ */

static bool
find_registered(int64 model_id, uint64 catalogue_version, dsm_handle *handle)
{
	bool		found = false;

	LWLockAcquire(control->lock, LW_SHARED);
	for (int i = 0; i < SERVING_SLOTS && !found; i++)
	{
		ServingSlot *slot = &control->slots[i];

		if (slot->used && slot->dboid == MyDatabaseId && slot->model_id == model_id &&
			slot->catalogue_version == catalogue_version)
		{
			*handle = slot->handle;
			found = true;
		}
	}
	LWLockRelease(control->lock);
	return found;
}

static const PzServing *
attach_registered(int64 model_id, uint64 catalogue_version)
{
	dsm_handle	handle;
	dsm_segment *seg;
	const PzServing *s;

	if (!find_registered(model_id, catalogue_version, &handle))
		return NULL;
	seg = dsm_find_mapping(handle);
	if (seg == NULL)
		seg = dsm_attach(handle);
	/* replaced and freed since we looked */
	if (seg == NULL)
		return NULL;
	s = dsm_segment_address(seg);
	if (s->magic != PZ_SERVING_MAGIC || s->model_id != model_id ||
		s->catalogue_version != catalogue_version)
	{
		dsm_detach(seg);
		return NULL;
	}
	return remember(seg);
}

/*
 * List a new snapshot, unpinning the ones it replaces (same database and
 * purpose) and, when the list is full, the oldest.
 */
static void
register_segment(dsm_segment *seg, const PzServing *s)
{
	ServingSlot *target = NULL;

	LWLockAcquire(control->lock, LW_EXCLUSIVE);
	for (int i = 0; i < SERVING_SLOTS; i++)
	{
		ServingSlot *slot = &control->slots[i];

		if (slot->used && slot->dboid == MyDatabaseId && strcmp(slot->purpose, s->purpose) == 0)
		{
			dsm_unpin_segment(slot->handle);
			slot->used = false;
		}
	}
	for (int i = 0; i < SERVING_SLOTS; i++)
	{
		ServingSlot *slot = &control->slots[i];

		if (!slot->used)
		{
			target = slot;
			break;
		}
		if (target == NULL || slot->registered < target->registered)
			target = slot;
	}
	if (target->used)
		dsm_unpin_segment(target->handle);
	target->used = true;
	target->dboid = MyDatabaseId;
	target->model_id = s->model_id;
	target->catalogue_version = s->catalogue_version;
	strlcpy(target->purpose, s->purpose, sizeof(target->purpose));
	target->handle = dsm_segment_handle(seg);
	target->size = s->total_size;
	target->nitems = s->nitems;
	target->registered = ++control->registrations;
	LWLockRelease(control->lock);
}

/* The snapshot currently serving a purpose in this database, if any. */
const PzServing *
pz_serving_find_purpose(const char *purpose)
{
	int64		model_id = 0;
	uint64		catalogue_version = 0;
	bool		found = false;
	const PzServing *s;

	require_shared_memory();
	LWLockAcquire(control->lock, LW_SHARED);
	for (int i = 0; i < SERVING_SLOTS && !found; i++)
	{
		ServingSlot *slot = &control->slots[i];

		if (slot->used && slot->dboid == MyDatabaseId && strcmp(slot->purpose, purpose) == 0)
		{
			model_id = slot->model_id;
			catalogue_version = slot->catalogue_version;
			found = true;
		}
	}
	LWLockRelease(control->lock);
	if (!found)
		return NULL;
	s = find_attached(model_id, catalogue_version);
	return s ? s : attach_registered(model_id, catalogue_version);
}

static void *
allocate_segment(Size size, void *arg)
{
	dsm_segment **seg = (dsm_segment **) arg;

	*seg = dsm_create(size, 0);
	return dsm_segment_address(*seg);
}

static const PzServing *
build(int64 model_id, uint64 catalogue_version)
{
	dsm_segment *seg = NULL;
	PzServing  *s = pz_serving_build(model_id, catalogue_version, allocate_segment, &seg);

	dsm_pin_segment(seg);
	register_segment(seg, s);
	return remember(seg);
}

/*
 * The snapshot of a model joined with the current catalogue, attached or
 * built.  Builds are serialized per database with a session-level advisory
 * lock (BUILD_LOCK_FIELD4), so concurrent first calls wait for one build instead of each doing
 * their own (the wait is interruptible).
 */
const PzServing *
pz_serving_get(int64 model_id)
{
	uint64		catalogue_version = pz_catalogue_version();
	const PzServing *s;
	LOCKTAG		tag;

	s = find_attached(model_id, catalogue_version);
	if (s)
		return s;
	s = attach_registered(model_id, catalogue_version);
	if (s)
		return s;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0x707A7376, 0, BUILD_LOCK_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	PG_TRY();
	{
		s = attach_registered(model_id, catalogue_version);
		if (s == NULL)
			s = build(model_id, catalogue_version);
	}
	PG_FINALLY();
	{
		LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
	return s;
}

/*
 * serving_snapshots(): the snapshots this database has in shared memory,
 * for administrators watching memory use.
 */
PZ_FUNCTION(pz_serving_snapshots)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ServingSlot copy[SERVING_SLOTS];

	InitMaterializedSRF(fcinfo, 0);
	if (control == NULL)
		return (Datum) 0;
	LWLockAcquire(control->lock, LW_SHARED);
	memcpy(copy, control->slots, sizeof(copy));
	LWLockRelease(control->lock);
	for (int i = 0; i < SERVING_SLOTS; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false};

		if (!copy[i].used || copy[i].dboid != MyDatabaseId)
			continue;
		values[0] = CStringGetTextDatum(copy[i].purpose);
		values[1] = Int64GetDatum(copy[i].model_id);
		values[2] = Int64GetDatum((int64) copy[i].catalogue_version);
		values[3] = Int32GetDatum(copy[i].nitems);
		values[4] = Int64GetDatum((int64) copy[i].size);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
