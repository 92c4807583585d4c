/*
 * drift_measure.c
 *		personalize.drift_measure(): the drift figures of one purpose over one
 *		period, for all subjects and for the new and established ones apart,
 *		in one pass over the period's impressions.
 *
 * The period's rows stream from the executor (a BRIN-bounded scan) into a
 * DestReceiver that counts, per segment, the impressions of each item, and
 * per subject the impressions of each category; nothing is materialized
 * per row.  A subject's segment is settled the first time the subject is
 * met, by one probe of the (subject_id, shown_at) index for an earlier
 * impression under the purpose.  Items and categories never shown stay
 * zeros of the Gini coefficient's population (pz_gini_padded), never rows.
 *
 * Memory is the catalogue (about 40 bytes an item), the subjects (about 40
 * bytes each) and 8 bytes per subject and category shown to them, in a
 * context of its own that is freed before returning.
 *
 * Everything runs with the caller's rights, and refuses to run for a role
 * that row-level security would show no impression: impressions force it
 * and have no policy, so such a role would measure an empty feed and report
 * calm.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "metrics.h"
#include "miscadmin.h"
#include "personalize.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* segments counted apart: impressions without a subject, new, established */
#define SEG_ANON		0
#define SEG_NEW			1
#define SEG_ESTABLISHED	2
#define NSEGS			3

static inline uint32
hash_int64(int64 key)
{
	return hash_bytes_uint32((uint32) key) ^ murmurhash32((uint32) ((uint64) key >> 32));
}

/* item_id -> dense item index */
typedef struct ItemEntry
{
	int64		key;
	int32		index;
	char		status;
} ItemEntry;

#define SH_PREFIX itemtab
#define SH_ELEMENT_TYPE ItemEntry
#define SH_KEY_TYPE int64
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_int64(k)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* subject_id -> index of the subject's feed (an index stays valid as the table grows) */
typedef struct SubjectEntry
{
	int64		key;
	int32		feed;
	char		status;
} SubjectEntry;

#define SH_PREFIX subjtab
#define SH_ELEMENT_TYPE SubjectEntry
#define SH_KEY_TYPE int64
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_int64(k)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* A subject's feed: impressions per category, (category << 32 | count). */
typedef struct Feed
{
	uint64	   *pairs;
	int32		n;
	int32		cap;
	int32		seg;
} Feed;

/*
 * Rows are counted in batches: the subjects' hash buckets, then their feeds,
 * then the feeds' pairs are fetched ahead for the whole batch, so the cache
 * misses of a batch overlap instead of queueing row after row.
 */
#define BATCH_ROWS	512

#if defined(__GNUC__) || defined(__clang__)
#define prefetch(p) __builtin_prefetch(p)
#else
#define prefetch(p) ((void) 0)
#endif

typedef struct PendingRow
{
	int64		subject;
	int64		item_id;
	uint32		hash;
	int32		feed;			/* -1: no subject */
	bool		explored;
} PendingRow;

typedef struct DriftScan
{
	MemoryContext cxt;

	/*
	 * Every item of the catalogue, then unknown ones as they are shown.  The
	 * Gini populations are the items created before the period's end plus
	 * any other item shown in it (a catalogue loaded after the impressions
	 * it explains keeps its categories), and the categories of those.
	 */
	itemtab_hash *items;
	int32		nitems;
	int32		ncatalogue;
	int32		items_cap;
	int32	   *item_category;	/* by item index */
	bool	   *item_listed;	/* created before the period's end */
	int32		ncategories;
	int32		population;		/* items in the Gini population */
	int32		category_population;
	int32		null_category;	/* the "no category" bucket, -1 until needed */
	text	   *last_category;	/* while loading, sorted by category */
	bool		last_was_null;

	/* counts by segment */
	int64	   *item_counts[NSEGS];
	int64		impressions[NSEGS];
	int64		explored[NSEGS];

	/* the subjects met, and their feeds */
	subjtab_hash *subjects;
	Feed	   *feeds;
	int32		nfeeds;
	int32		feeds_cap;

	PendingRow	batch[BATCH_ROWS];
	int			nbatch;

	/* item ids dense enough: item_id - dense_base indexes dense (-1: none) */
	int32	   *dense;
	int64		dense_base;
	int64		dense_len;

	/* settling a subject's segment */
	Relation	heap;
	Relation	index;
	IndexScanDesc probe;
	TupleTableSlot *probe_slot;
	AttrNumber	purpose_attno;
	text	   *purpose;
	TimestampTz new_since;
} DriftScan;

typedef struct DriftReceiver
{
	DestReceiver pub;
	DriftScan  *ds;
} DriftReceiver;

/* ---- the catalogue ---------------------------------------------------------- */

static int32
new_category(DriftScan *ds)
{
	if (ds->ncategories == PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("drift cannot measure more than %d categories", PG_INT32_MAX)));
	return ds->ncategories++;
}

/* Room for one more item in the per-item arrays. */
static void
reserve_item(DriftScan *ds)
{
	int32		cap;

	if (ds->nitems < ds->items_cap)
		return;
	if (ds->items_cap >= PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("drift cannot measure more than %d items", PG_INT32_MAX / 2)));
	cap = Max(ds->items_cap * 2, 1024);
	ds->item_category = repalloc_huge(ds->item_category, sizeof(int32) * cap);
	ds->item_listed = repalloc_huge(ds->item_listed, sizeof(bool) * cap);
	for (int s = 0; s < NSEGS; s++)
	{
		ds->item_counts[s] = repalloc_huge(ds->item_counts[s], sizeof(int64) * cap);
		memset(ds->item_counts[s] + ds->items_cap, 0, sizeof(int64) * (cap - ds->items_cap));
	}
	ds->items_cap = cap;
}

static int32
add_item(DriftScan *ds, int64 item_id, int32 category, bool listed)
{
	bool		found;
	ItemEntry  *e = itemtab_insert(ds->items, item_id, &found);

	if (found)
		return e->index;		/* listed twice: cannot happen, item_id is a key */
	reserve_item(ds);
	e->index = ds->nitems++;
	ds->item_category[e->index] = category;
	ds->item_listed[e->index] = listed;
	return e->index;
}

/* Catalogue rows arrive sorted by category, so equal categories are adjacent. */
static bool
receive_catalogue_row(TupleTableSlot *slot, DestReceiver *self)
{
	DriftScan  *ds = ((DriftReceiver *) self)->ds;
	MemoryContext old = MemoryContextSwitchTo(ds->cxt);
	int64		item_id;
	int32		category;

	slot_getsomeattrs(slot, 3);
	item_id = DatumGetInt64(slot->tts_values[0]);
	if (slot->tts_isnull[1])
	{
		if (ds->null_category < 0)
			ds->null_category = new_category(ds);
		category = ds->null_category;
	}
	else
	{
		text	   *t = DatumGetTextPP(slot->tts_values[1]);

		if (ds->last_category == NULL
			|| VARSIZE_ANY_EXHDR(t) != VARSIZE_ANY_EXHDR(ds->last_category)
			|| memcmp(VARDATA_ANY(t), VARDATA_ANY(ds->last_category), VARSIZE_ANY_EXHDR(t)) != 0)
		{
			ds->last_category = (text *) cstring_to_text_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			new_category(ds);
		}
		category = ds->ncategories - 1;
	}
	add_item(ds, item_id, category, DatumGetBool(slot->tts_values[2]));
	MemoryContextSwitchTo(old);
	return true;
}

/* ---- a subject's segment -------------------------------------------------- */

/*
 * The (subject_id, shown_at) btree on impressions (created with the table):
 * looked up by its columns, not its name.
 */
static Relation
open_subject_index(Relation heap, AttrNumber subject_attno, AttrNumber shown_attno)
{
	List	   *indexes = RelationGetIndexList(heap);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (index->rd_rel->relam == BTREE_AM_OID && form->indisvalid && form->indnkeyatts >= 2
			&& form->indkey.values[0] == subject_attno && form->indkey.values[1] == shown_attno
			&& heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
			return index;
		index_close(index, AccessShareLock);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("personalize.impressions has no index on (subject_id, shown_at)"),
			 errdetail("Drift monitoring uses it to tell new subjects from established ones."),
			 errhint("Recreate it: CREATE INDEX ON personalize.impressions (subject_id, shown_at).")));
	pg_unreachable();
}

/* Was the subject shown anything under the purpose before new_since? */
static bool
shown_before(DriftScan *ds, int64 subject)
{
	ScanKeyData keys[2];
	size_t		plen = VARSIZE_ANY_EXHDR(ds->purpose);

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(subject));
	ScanKeyInit(&keys[1], 2, BTLessStrategyNumber, F_TIMESTAMPTZ_LT, TimestampTzGetDatum(ds->new_since));
	index_rescan(ds->probe, keys, 2, NULL, 0);
	while (index_getnext_slot(ds->probe, ForwardScanDirection, ds->probe_slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(ds->probe_slot, ds->purpose_attno, &isnull);
		text	   *p;

		if (isnull)
			continue;
		p = DatumGetTextPP(d);
		if (VARSIZE_ANY_EXHDR(p) == plen && memcmp(VARDATA_ANY(p), VARDATA_ANY(ds->purpose), plen) == 0)
			return true;
	}
	return false;
}

static int32
subject_feed(DriftScan *ds, int64 subject, uint32 hash)
{
	bool		found;
	SubjectEntry *e = subjtab_insert_hash(ds->subjects, subject, hash, &found);
	Feed	   *f;

	if (found)
		return e->feed;
	if (ds->nfeeds == ds->feeds_cap)
	{
		int32		cap = Max(ds->feeds_cap * 2, 1024);

		if (ds->feeds_cap >= PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("drift cannot measure more than %d subjects in one period", PG_INT32_MAX / 2),
					 errhint("Use a shorter personalize.drift_period.")));
		ds->feeds = repalloc_huge(ds->feeds, sizeof(Feed) * cap);
		ds->feeds_cap = cap;
	}
	e->feed = ds->nfeeds++;
	f = &ds->feeds[e->feed];
	f->pairs = NULL;
	f->n = 0;
	f->cap = 0;
	f->seg = shown_before(ds, subject) ? SEG_ESTABLISHED : SEG_NEW;
	return e->feed;
}

/* One more impression of a category in a feed (feeds hold few categories). */
static void
feed_add(DriftScan *ds, Feed *f, int32 category)
{
	uint64		key = (uint64) (uint32) category << 32;

	for (int32 i = 0; i < f->n; i++)
	{
		if ((f->pairs[i] & UINT64CONST(0xFFFFFFFF00000000)) == key)
		{
			if ((f->pairs[i] & 0xFFFFFFFF) == 0xFFFFFFFF)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("a subject was shown one category more than %u times in one drift period", 0xFFFFFFFFU - 1),
						 errhint("Use a shorter personalize.drift_period.")));
			f->pairs[i]++;
			return;
		}
	}
	if (f->n == f->cap)
	{
		f->cap = f->cap == 0 ? 4 : f->cap * 2;
		f->pairs = f->pairs == NULL
			? MemoryContextAlloc(ds->cxt, sizeof(uint64) * f->cap)
			: repalloc(f->pairs, sizeof(uint64) * f->cap);
	}
	f->pairs[f->n++] = key | 1;
}

/* ---- the period's impressions --------------------------------------------- */

/* Dense item index of an item id, or -1 if it is not in the catalogue. */
static inline int32
item_index(DriftScan *ds, int64 item_id)
{
	ItemEntry  *e;

	if (ds->dense != NULL)
	{
		uint64		off = (uint64) item_id - (uint64) ds->dense_base;

		return off < (uint64) ds->dense_len ? ds->dense[off] : -1;
	}
	e = itemtab_lookup(ds->items, item_id);
	return e != NULL ? e->index : -1;
}

static int32
shown_item(DriftScan *ds, int64 item_id)
{
	int32		item = item_index(ds, item_id);
	ItemEntry  *e;
	MemoryContext old;

	if (item >= 0)
		return item;
	e = itemtab_lookup(ds->items, item_id);
	if (e != NULL)
		return e->index;		/* met before, outside the dense range */
	/* shown, but not (or no longer) in the catalogue: a member too */
	old = MemoryContextSwitchTo(ds->cxt);
	if (ds->null_category < 0)
		ds->null_category = new_category(ds);
	item = add_item(ds, item_id, ds->null_category, false);
	MemoryContextSwitchTo(old);
	return item;
}

static void
count_batch(DriftScan *ds)
{
	PendingRow *rows = ds->batch;
	int			n = ds->nbatch;

	for (int i = 0; i < n; i++)
	{
		if (rows[i].feed < 0)
			continue;
		rows[i].hash = hash_int64(rows[i].subject);
		prefetch(&ds->subjects->data[rows[i].hash & ds->subjects->sizemask]);
	}
	for (int i = 0; i < n; i++)
	{
		if (rows[i].feed < 0)
			continue;
		rows[i].feed = subject_feed(ds, rows[i].subject, rows[i].hash);
		prefetch(&ds->feeds[rows[i].feed]);
	}
	for (int i = 0; i < n; i++)
		if (rows[i].feed >= 0)
			prefetch(ds->feeds[rows[i].feed].pairs);
	for (int i = 0; i < n; i++)
	{
		int32		item = shown_item(ds, rows[i].item_id);
		int			seg = SEG_ANON;

		if (rows[i].feed >= 0)
		{
			Feed	   *f = &ds->feeds[rows[i].feed];

			seg = f->seg;
			feed_add(ds, f, ds->item_category[item]);
		}
		ds->item_counts[seg][item]++;
		ds->impressions[seg]++;
		if (rows[i].explored)
			ds->explored[seg]++;
	}
	ds->nbatch = 0;
}

static bool
receive_impression(TupleTableSlot *slot, DestReceiver *self)
{
	DriftScan  *ds = ((DriftReceiver *) self)->ds;
	PendingRow *row = &ds->batch[ds->nbatch++];

	slot_getsomeattrs(slot, 3);
	row->feed = slot->tts_isnull[0] ? -1 : 0;
	row->subject = slot->tts_isnull[0] ? 0 : DatumGetInt64(slot->tts_values[0]);
	row->item_id = DatumGetInt64(slot->tts_values[1]);
	row->explored = !slot->tts_isnull[2] && DatumGetBool(slot->tts_values[2]);
	if (ds->nbatch == BATCH_ROWS)
		count_batch(ds);
	return true;
}

/*
 * Catalogues usually number their items densely: then an array indexed by
 * item_id - min replaces the hash lookup per row (4 bytes an id in range).
 */
static void
build_dense_index(DriftScan *ds)
{
	int64		lo = PG_INT64_MAX,
				hi = PG_INT64_MIN;
	itemtab_iterator it;
	ItemEntry  *e;

	if (ds->nitems == 0)
		return;
	itemtab_start_iterate(ds->items, &it);
	while ((e = itemtab_iterate(ds->items, &it)) != NULL)
	{
		lo = Min(lo, e->key);
		hi = Max(hi, e->key);
	}
	if ((uint64) hi - (uint64) lo >= (uint64) ds->nitems * 4 + 1024)
		return;
	ds->dense_base = lo;
	ds->dense_len = (int64) ((uint64) hi - (uint64) lo) + 1;
	ds->dense = MemoryContextAllocHuge(ds->cxt, sizeof(int32) * ds->dense_len);
	memset(ds->dense, 0xFF, sizeof(int32) * ds->dense_len);		/* -1 */
	itemtab_start_iterate(ds->items, &it);
	while ((e = itemtab_iterate(ds->items, &it)) != NULL)
		ds->dense[e->key - lo] = e->index;
}

static void
receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
receiver_noop(DestReceiver *self)
{
}

/* Runs sql with params, every row into receive. */
static void
stream_query(DriftScan *ds, const char *sql, int nargs, Oid *argtypes, Datum *args,
			 bool (*receive) (TupleTableSlot *, DestReceiver *))
{
	DriftReceiver rcv;
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(nargs);
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "drift_measure: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	for (int i = 0; i < nargs; i++)
	{
		params->params[i].value = args[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = argtypes[i];
	}
	memset(&rcv, 0, sizeof(rcv));
	rcv.pub.receiveSlot = receive;
	rcv.pub.rStartup = receiver_startup;
	rcv.pub.rShutdown = receiver_noop;
	rcv.pub.rDestroy = receiver_noop;
	rcv.pub.mydest = DestNone;
	rcv.ds = ds;
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = &rcv.pub;
	rc = SPI_execute_plan_extended(plan, &options);
	/* SPI_OK_UTILITY: a SELECT whose rows went to a DestNone receiver */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "drift_measure: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	SPI_freeplan(plan);
}

/* ---- figures ---------------------------------------------------------------- */

typedef struct SegmentFigures
{
	int64		impressions;
	int64		explored;
	int64		subjects;
	int64		items_shown;
	double		item_gini;
	double		category_gini;
	double		feed_sum;
} SegmentFigures;

/* The members of the Gini populations: listed items, and any item shown. */
static void
settle_population(DriftScan *ds)
{
	bool	   *member_category = palloc0(sizeof(bool) * Max(ds->ncategories, 1));

	ds->population = ds->category_population = 0;
	for (int32 i = 0; i < ds->nitems; i++)
	{
		bool		member = ds->item_listed[i];

		for (int s = 0; s < NSEGS && !member; s++)
			member = ds->item_counts[s][i] > 0;
		if (!member)
			continue;
		ds->population++;
		if (!member_category[ds->item_category[i]])
		{
			member_category[ds->item_category[i]] = true;
			ds->category_population++;
		}
	}
	pfree(member_category);
}

/* segs: which counted segments make up the reported one */
static void
segment_figures(DriftScan *ds, const bool *segs, double *buf, double *cat, SegmentFigures *out)
{
	int32		m = 0;

	memset(out, 0, sizeof(*out));
	memset(cat, 0, sizeof(double) * Max(ds->ncategories, 1));
	for (int s = 0; s < NSEGS; s++)
	{
		if (!segs[s])
			continue;
		out->impressions += ds->impressions[s];
		out->explored += ds->explored[s];
	}
	for (int32 i = 0; i < ds->nitems; i++)
	{
		int64		n = 0;

		for (int s = 0; s < NSEGS; s++)
			if (segs[s])
				n += ds->item_counts[s][i];
		if (n == 0)
			continue;
		buf[m++] = (double) n;
		cat[ds->item_category[i]] += (double) n;
	}
	out->items_shown = m;
	out->item_gini = pz_gini_padded(buf, m, ds->population);
	m = 0;
	for (int32 c = 0; c < ds->ncategories; c++)
		if (cat[c] > 0)
			buf[m++] = cat[c];
	out->category_gini = pz_gini_padded(buf, m, ds->category_population);

	for (int32 i = 0; i < ds->nfeeds; i++)
	{
		Feed	   *f = &ds->feeds[i];

		if (!segs[f->seg])
			continue;
		for (int32 k = 0; k < f->n; k++)
			buf[k] = (double) (f->pairs[k] & 0xFFFFFFFF);
		out->feed_sum += pz_gini_padded(buf, f->n, ds->category_population);
		out->subjects++;
	}
}

static void
put_row(ReturnSetInfo *rsinfo, const char *segment, const SegmentFigures *f, DriftScan *ds)
{
	Datum		values[11];
	bool		nulls[11] = {false};

	values[0] = CStringGetTextDatum(segment);
	values[1] = Int64GetDatum(f->impressions);
	values[2] = Int64GetDatum(f->subjects);
	values[3] = Int64GetDatum(f->items_shown);
	values[4] = Int64GetDatum(ds->population);
	values[5] = Int64GetDatum(ds->category_population);
	values[6] = Float8GetDatum(f->item_gini);
	values[7] = Float8GetDatum(f->category_gini);
	values[8] = Float8GetDatum(f->subjects > 0 ? f->feed_sum / (double) f->subjects : 0);
	values[9] = Float8GetDatum(ds->population > 0 ? (double) f->items_shown / (double) ds->population : 0);
	values[10] = Float8GetDatum(f->impressions > 0 ? (double) f->explored / (double) f->impressions : 0);
	nulls[6] = nulls[7] = nulls[10] = f->impressions == 0;
	nulls[8] = f->subjects == 0;
	nulls[9] = ds->population == 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* ---- the SQL function ------------------------------------------------------- */

static Oid
impressions_relid(void)
{
	Oid			nsp = get_namespace_oid("personalize", false);
	Oid			relid = get_relname_relid("impressions", nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "personalize.impressions does not exist");
	return relid;
}

static void
check_readable(Oid relid)
{
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table impressions")));
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot read personalize.impressions, so drift cannot be measured",
						GetUserNameFromId(GetUserId(), false)),
				 errdetail("personalize.impressions forces row-level security and has no policy: only a superuser or a BYPASSRLS role reads it."),
				 errhint("The drift functions must be owned by the superuser that created the extension.")));
}

PZ_FUNCTION(pz_drift_measure)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *purpose = PG_GETARG_TEXT_PP(0);
	TimestampTz start = PG_GETARG_TIMESTAMPTZ(1);
	TimestampTz end = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz new_since = PG_GETARG_TIMESTAMPTZ(3);
	Oid			relid = impressions_relid();
	DriftScan	ds;
	MemoryContext old;
	Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[3];
	double	   *buf;
	double	   *cat;
	SegmentFigures f;
	static const bool all[NSEGS] = {true, true, true};
	static const bool new_only[NSEGS] = {false, true, false};
	static const bool established_only[NSEGS] = {false, false, true};
	TimestampTz t0 = GetCurrentTimestamp(),
				t_catalogue,
				t_scan;

	if (end <= start)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a drift period must end after it starts")));
	InitMaterializedSRF(fcinfo, 0);
	check_readable(relid);

	memset(&ds, 0, sizeof(ds));
	ds.cxt = AllocSetContextCreate(CurrentMemoryContext, "drift measure", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ds.cxt);
	ds.items = itemtab_create(ds.cxt, 1024, NULL);
	ds.subjects = subjtab_create(ds.cxt, 1024, NULL);
	ds.item_category = palloc(sizeof(int32));
	ds.item_listed = palloc(sizeof(bool));
	for (int s = 0; s < NSEGS; s++)
		ds.item_counts[s] = palloc(sizeof(int64));
	ds.feeds = palloc(sizeof(Feed));
	ds.null_category = -1;
	ds.purpose = purpose;
	ds.new_since = new_since;

	ds.heap = table_open(relid, AccessShareLock);
	ds.purpose_attno = get_attnum(relid, "purpose");
	ds.index = open_subject_index(ds.heap, get_attnum(relid, "subject_id"), get_attnum(relid, "shown_at"));
	ds.probe_slot = table_slot_create(ds.heap, NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drift_measure: SPI_connect failed");
	ds.probe = index_beginscan(ds.heap, ds.index, GetActiveSnapshot(), 2, 0);

	args[0] = TimestampTzGetDatum(end);
	stream_query(&ds, "SELECT item_id, category, created_at < $1 FROM personalize.items "
				 "ORDER BY category, item_id", 1, &types[1], args, receive_catalogue_row);
	ds.ncatalogue = ds.nitems;
	build_dense_index(&ds);
	t_catalogue = GetCurrentTimestamp();
	args[0] = PointerGetDatum(purpose);
	args[1] = TimestampTzGetDatum(start);
	args[2] = TimestampTzGetDatum(end);
	stream_query(&ds, "SELECT subject_id, item_id, explored FROM personalize.impressions "
				 "WHERE purpose = $1 AND shown_at >= $2 AND shown_at < $3", 3, types, args,
				 receive_impression);
	count_batch(&ds);			/* the last rows */

	t_scan = GetCurrentTimestamp();
	index_endscan(ds.probe);
	SPI_finish();
	ExecDropSingleTupleTableSlot(ds.probe_slot);
	index_close(ds.index, AccessShareLock);
	table_close(ds.heap, AccessShareLock);

	settle_population(&ds);

	/* scratch for the largest distribution: all items, or one feed */
	buf = palloc_extended(sizeof(double) * Max(Max(ds.nitems, ds.ncategories), 1), MCXT_ALLOC_HUGE);
	cat = palloc_extended(sizeof(double) * Max(ds.ncategories, 1), MCXT_ALLOC_HUGE);
	MemoryContextSwitchTo(old);

	segment_figures(&ds, all, buf, cat, &f);
	put_row(rsinfo, "all", &f, &ds);
	segment_figures(&ds, new_only, buf, cat, &f);
	put_row(rsinfo, "new", &f, &ds);
	segment_figures(&ds, established_only, buf, cat, &f);
	put_row(rsinfo, "established", &f, &ds);

	elog(DEBUG1, "drift_measure: catalogue %ld ms, scan %ld ms (" INT64_FORMAT " impressions, %d subjects), figures %ld ms, %.1f MB",
		 (long) ((t_catalogue - t0) / 1000), (long) ((t_scan - t_catalogue) / 1000),
		 ds.impressions[SEG_ANON] + ds.impressions[SEG_NEW] + ds.impressions[SEG_ESTABLISHED], ds.nfeeds,
		 (long) ((GetCurrentTimestamp() - t_scan) / 1000),
		 (double) MemoryContextMemAllocated(ds.cxt, true) / (1024.0 * 1024.0));
	MemoryContextDelete(ds.cxt);
	return (Datum) 0;
}
