/*
 * consent_changes.c
 *		What a transaction changes in personalize.consents.
 *
 * The consents_changed() triggers (a row trigger after INSERT, UPDATE and
 * DELETE, a statement trigger after TRUNCATE, both enabled ALWAYS so that
 * replica sessions and the logical replication apply worker fire them)
 * append every change to a log in backend memory, tagged with the
 * subtransaction level that made it.  The log serves three purposes:
 *
 *	- the overlay: the transaction's own later statements see its changes
 *	  before the shared store does (visibility.c consults it first while it
 *	  is not empty);
 *	- subtransactions: changes of an aborted subtransaction are dropped;
 *	- commit: at XACT_EVENT_COMMIT the final state of every changed
 *	  (subject, purpose) is applied to the shared store.
 *
 * Every change also sends a relcache invalidation of personalize.
 * consent_ledger at commit (once per command): backends that read consents
 * themselves (standbys, where replayed changes fire no trigger; servers
 * without the library preloaded; parallel workers without a store) reload
 * on it.  Backends using the store ignore it.  It is the ledger's relation
 * rather than the consents' because DDL on personalize.consents sends the
 * latter, and store readers must tell the two apart.
 *
 * A transaction that changed consents cannot be prepared: COMMIT PREPARED
 * runs where nobody would apply its changes to the store.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "consent_store.h"
#include "consent_store_internal.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "privileged.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct LogEntry
{
	int64		subject;
	int32		purpose;		/* into purposes; -1: a TRUNCATE */
	int32		consent;		/* into consents; -1: the row is gone */
	int			level;			/* the transaction nesting level that made it */
} LogEntry;

typedef struct OverlayKey
{
	int64		subject;
	int32		purpose;
} OverlayKey;

typedef struct OverlayEntry
{
	OverlayKey	key;
	int32		at;				/* the latest log entry for the key */
	char		status;			/* simplehash bookkeeping */
} OverlayEntry;

#define SH_PREFIX		overlay
#define SH_ELEMENT_TYPE	OverlayEntry
#define SH_KEY_TYPE		OverlayKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k) \
	hash_combine(murmurhash32((uint32) (k).subject), \
				 murmurhash32((uint32) ((uint64) (k).subject >> 32) ^ (uint32) (k).purpose))
#define SH_EQUAL(tb, a, b) ((a).subject == (b).subject && (a).purpose == (b).purpose)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

bool		pz_overlay_active = false;
uint64		pz_overlay_generation = 1;	/* consent ids are per generation */
uint64		pz_overlay_epoch = 1;	/* bumped at every change of the overlay */

/* All of it lives in cxt, reset when the transaction ends. */
static MemoryContext cxt = NULL;
static LogEntry *entries = NULL;
static int	nentries = 0;
static int	entries_cap = 0;
static char **purposes = NULL;
static int	npurposes = 0;
static int	purposes_cap = 0;
static Consent **consents = NULL;
static uint32 *consent_hashes = NULL;
static int	nconsents = 0;
static int	consents_cap = 0;
static int32 *consent_index = NULL;	/* by content hash; -1: free */
static uint32 consent_index_size = 0;
static overlay_hash *overlay = NULL;
static int	truncated_at = -1;

/* prepared at PRE_COMMIT, applied at COMMIT */
static PzConsentChange *pending = NULL;
static int	npending = 0;
static bool pending_ready = false;

/* the last (subtransaction, command) that sent the invalidation */
static SubTransactionId signalled_subxid = InvalidSubTransactionId;
static CommandId signalled_cid = InvalidCommandId;

static bool started = false;

static void
reset_changes(void)
{
	if (!started)
		return;
	started = false;
	MemoryContextReset(cxt);
	pz_overlay_generation++;
	pz_overlay_epoch++;
	entries = NULL;
	nentries = entries_cap = 0;
	purposes = NULL;
	npurposes = purposes_cap = 0;
	consents = NULL;
	consent_hashes = NULL;
	nconsents = consents_cap = 0;
	consent_index = NULL;
	consent_index_size = 0;
	overlay = NULL;
	truncated_at = -1;
	pending = NULL;
	npending = 0;
	pending_ready = false;
	signalled_subxid = InvalidSubTransactionId;
	if (pz_overlay_active)
	{
		pz_overlay_active = false;
		pz_consent_store_set_overlay_flag(false);
		pz_visibility_recheck();
	}
}

static void *
grow(void *array, int *cap, Size elem)
{
	int			newcap = *cap == 0 ? 64 : *cap * 2;

	array = array == NULL ? MemoryContextAlloc(cxt, newcap * elem) :
		repalloc_huge(array, (Size) newcap * elem);
	*cap = newcap;
	return array;
}

static void
ensure_started(void)
{
	if (cxt == NULL)
		cxt = AllocSetContextCreate(TopMemoryContext, "personalize consent changes",
									ALLOCSET_DEFAULT_SIZES);
	if (overlay == NULL)
		overlay = overlay_create(cxt, 64, NULL);
	started = true;
}

static int
purpose_id(const char *name, int len, bool add)
{
	for (int i = 0; i < npurposes; i++)
		if (strncmp(purposes[i], name, len) == 0 && purposes[i][len] == '\0')
			return i;
	if (!add)
		return -1;
	if (npurposes == purposes_cap)
		purposes = grow(purposes, &purposes_cap, sizeof(char *));
	purposes[npurposes] = MemoryContextAlloc(cxt, len + 1);
	memcpy(purposes[npurposes], name, len);
	purposes[npurposes][len] = '\0';
	return npurposes++;
}

/* The distinct consent values this transaction wrote, each stored once. */
static int
consent_id(const char *payload, int len)
{
	Size		size = VARHDRSZ + len;
	Consent    *c = MemoryContextAlloc(cxt, size);
	uint32		hash;
	uint32		i;

	SET_VARSIZE(c, size);
	memcpy(VARDATA(c), payload, len);
	hash = pz_consent_hash(c);
	if (nconsents * 2 >= (int) consent_index_size)
	{
		consent_index_size = consent_index_size == 0 ? 64 : consent_index_size * 2;
		consent_index = MemoryContextAlloc(cxt, consent_index_size * sizeof(int32));
		memset(consent_index, -1, consent_index_size * sizeof(int32));
		for (int k = 0; k < nconsents; k++)
		{
			for (i = consent_hashes[k] & (consent_index_size - 1); consent_index[i] >= 0;
				 i = (i + 1) & (consent_index_size - 1))
				;
			consent_index[i] = k;
		}
	}
	for (i = hash & (consent_index_size - 1); consent_index[i] >= 0; i = (i + 1) & (consent_index_size - 1))
	{
		Consent    *known = consents[consent_index[i]];

		if (VARSIZE(known) == size && memcmp(known, c, size) == 0)
		{
			pfree(c);
			return consent_index[i];
		}
	}
	if (nconsents == consents_cap)
	{
		int			cap = consents_cap;

		consents = grow(consents, &cap, sizeof(Consent *));
		consent_hashes = grow(consent_hashes, &consents_cap, sizeof(uint32));
	}
	consents[nconsents] = c;
	consent_hashes[nconsents] = hash;
	consent_index[i] = nconsents;
	return nconsents++;
}

static void
overlay_put(int at)
{
	const LogEntry *e = &entries[at];
	bool		found;

	if (e->purpose < 0)
	{
		overlay_reset(overlay);
		truncated_at = at;
	}
	else
	{
		OverlayKey	key = {e->subject, e->purpose};

		overlay_insert(overlay, key, &found)->at = at;
	}
}

static void
append(int64 subject, int32 purpose, int32 consent)
{
	LogEntry   *e;

	if (nentries == entries_cap)
		entries = grow(entries, &entries_cap, sizeof(LogEntry));
	e = &entries[nentries];
	e->subject = subject;
	e->purpose = purpose;
	e->consent = consent;
	e->level = GetCurrentTransactionNestLevel();
	overlay_put(nentries++);
	pz_overlay_epoch++;
	if (!pz_overlay_active)
	{
		pz_overlay_active = true;
		pz_consent_store_set_overlay_flag(true);
	}
	pending_ready = false;
}

static void
rebuild_overlay(void)
{
	overlay_reset(overlay);
	truncated_at = -1;
	for (int i = 0; i < nentries; i++)
		overlay_put(i);
	pz_overlay_epoch++;
}

/* ---- the trigger ---------------------------------------------------------- */

typedef struct ConsentColumns
{
	int			subject;
	int			purpose;
	int			consent;
} ConsentColumns;

static void
log_tuple(HeapTuple tup, TupleDesc desc, const ConsentColumns *col, bool gone)
{
	bool		isnull;
	int64		subject = DatumGetInt64(heap_getattr(tup, col->subject, desc, &isnull));
	struct varlena *purpose = (struct varlena *) DatumGetPointer(heap_getattr(tup, col->purpose, desc, &isnull));
	int32		consent = -1;

	purpose = pg_detoast_datum_packed(purpose);
	if (!gone)
	{
		struct varlena *c = (struct varlena *) DatumGetPointer(heap_getattr(tup, col->consent, desc, &isnull));

		c = pg_detoast_datum_packed(c);
		consent = consent_id(VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c));
	}
	append(subject, purpose_id(VARDATA_ANY(purpose), VARSIZE_ANY_EXHDR(purpose), true), consent);
}

static bool
same_key(HeapTuple a, HeapTuple b, TupleDesc desc, const ConsentColumns *col)
{
	bool		isnull;
	struct varlena *pa = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(heap_getattr(a, col->purpose, desc, &isnull)));
	struct varlena *pb = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(heap_getattr(b, col->purpose, desc, &isnull)));

	return DatumGetInt64(heap_getattr(a, col->subject, desc, &isnull)) ==
		DatumGetInt64(heap_getattr(b, col->subject, desc, &isnull)) &&
		VARSIZE_ANY_EXHDR(pa) == VARSIZE_ANY_EXHDR(pb) &&
		memcmp(VARDATA_ANY(pa), VARDATA_ANY(pb), VARSIZE_ANY_EXHDR(pa)) == 0;
}

static void
log_row_event(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	ConsentColumns col;

	col.subject = SPI_fnumber(desc, "subject_id");
	col.purpose = SPI_fnumber(desc, "purpose");
	col.consent = SPI_fnumber(desc, "consent");
	if (col.subject <= 0 || col.purpose <= 0 || col.consent <= 0)
		elog(ERROR, "personalize.consents lacks subject_id, purpose or consent");

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		log_tuple(td->tg_trigtuple, desc, &col, false);
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		log_tuple(td->tg_trigtuple, desc, &col, true);
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		if (!same_key(td->tg_trigtuple, td->tg_newtuple, desc, &col))
			log_tuple(td->tg_trigtuple, desc, &col, true);
		log_tuple(td->tg_newtuple, desc, &col, false);
	}
}

/* Tell backends that read consents themselves, once per command. */
static void
signal_change(void)
{
	SubTransactionId subxid = GetCurrentSubTransactionId();
	CommandId	cid = GetCurrentCommandId(false);
	Oid			ledger;

	if (subxid == signalled_subxid && cid == signalled_cid)
		return;
	ledger = pz_relation_oid("consent_ledger");
	if (OidIsValid(ledger))
		CacheInvalidateRelcacheByRelid(ledger);
	signalled_subxid = subxid;
	signalled_cid = cid;
}

/*
 * consents_changed(): the triggers of personalize.consents.  Any other
 * table is refused (by OID), so nobody can feed the store from a table of
 * their own; so is a BEFORE trigger, which would record rows that a later
 * trigger or ON CONFLICT may still change or discard.
 */
PZ_FUNCTION(pz_consents_changed)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("consents_changed() must be called as a trigger")));
	if (RelationGetRelid(td->tg_relation) != pz_consents_relid())
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("consents_changed() is a trigger of personalize.consents, not of %s",
						quote_qualified_identifier(get_namespace_name(RelationGetNamespace(td->tg_relation)),
												   RelationGetRelationName(td->tg_relation)))));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) ||
		(TRIGGER_FIRED_FOR_ROW(td->tg_event) == TRIGGER_FIRED_BY_TRUNCATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("consents_changed() must fire AFTER each row inserted, updated or deleted, or AFTER a TRUNCATE statement")));

	ensure_started();
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		append(0, -1, -1);
	else
		log_row_event(td);
	signal_change();
	pz_visibility_recheck();
	return PointerGetDatum(NULL);
}

/* ---- the overlay, for visibility.c ---------------------------------------- */

bool
pz_overlay_truncated(void)
{
	return truncated_at >= 0;
}

int
pz_overlay_purpose_id(const char *purpose)
{
	return purpose_id(purpose, strlen(purpose), false);
}

int
pz_overlay_nconsents(void)
{
	return nconsents;
}

PzOverlayState
pz_overlay_lookup(int64 subject, int purpose_id, const Consent **consent, int *id)
{
	if (purpose_id >= 0 && overlay != NULL)
	{
		OverlayKey	key = {subject, purpose_id};
		OverlayEntry *e = overlay_lookup(overlay, key);

		if (e != NULL)
		{
			const LogEntry *le = &entries[e->at];

			if (le->consent < 0)
				return PZ_OVERLAY_DELETED;
			*consent = consents[le->consent];
			*id = le->consent;
			return PZ_OVERLAY_SET;
		}
	}
	return truncated_at >= 0 ? PZ_OVERLAY_DELETED : PZ_OVERLAY_ABSENT;
}

/* ---- transaction ends ------------------------------------------------------ */

/* The final state of each changed (subject, purpose), for the commit. */
static void
prepare_commit(void)
{
	overlay_iterator it;
	OverlayEntry *e;
	int			n = 0;

	pending = MemoryContextAlloc(cxt, sizeof(PzConsentChange) * Max(overlay->members, 1));
	overlay_start_iterate(overlay, &it);
	while ((e = overlay_iterate(overlay, &it)) != NULL)
	{
		const LogEntry *le = &entries[e->at];
		PzConsentChange *ch = &pending[n++];

		ch->subject = le->subject;
		ch->purpose = purposes[le->purpose];
		ch->consent = le->consent >= 0 ? consents[le->consent] : NULL;
		ch->hash = le->consent >= 0 ? consent_hashes[le->consent] : 0;
	}
	npending = n;
	pending_ready = true;
}

static void
changes_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (nentries > 0)
				prepare_commit();
			break;
		case XACT_EVENT_COMMIT:
			/* without a prepared list (cannot happen), the store goes stale */
			if (nentries > 0)
				pz_consent_store_commit(pending, pending_ready ? npending : 0,
										!pending_ready || truncated_at >= 0);
			reset_changes();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (nentries > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed personalize.consents"),
						 errdetail("The shared consent store learns of consent changes when their transaction commits, which COMMIT PREPARED would bypass."),
						 errhint("Commit consent changes directly, outside two-phase commit.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			reset_changes();
			break;
		default:
			break;
	}
}

/*
 * A committed subtransaction's changes become its parent's; an aborted
 * one's are dropped.  The changes made since a subtransaction began are
 * always the tail of the log.
 */
static void
changes_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			level;
	int			keep;

	if (nentries == 0)
		return;
	level = GetCurrentTransactionNestLevel();
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = nentries - 1; i >= 0 && entries[i].level >= level; i--)
			entries[i].level = level - 1;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (keep = nentries; keep > 0 && entries[keep - 1].level >= level; keep--)
			;
		if (keep == nentries)
			return;
		nentries = keep;
		pending_ready = false;
		if (nentries == 0)
			reset_changes();
		else
			rebuild_overlay();
		pz_visibility_recheck();
	}
}

void
pz_consent_changes_init(void)
{
	RegisterXactCallback(changes_xact_callback, NULL);
	RegisterSubXactCallback(changes_subxact_callback, NULL);
}
