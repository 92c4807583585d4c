/*
 * protected.c
 *		What this backend knows of the tables personalize protects: which
 *		they are, their subject column, and whether writes to them must stay
 *		on rows the writer can see (personalize.row_writable()).
 *
 * The list is read from personalize.protected_tables and dropped when that
 * table's relcache entry is invalidated (its triggers do so at commit);
 * the per-table write rule is dropped when the table's own entry is (an
 * index created or dropped invalidates it).  No catalog access happens in
 * the callbacks: they run wherever invalidations are processed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_index.h"
#include "executor/spi.h"
#include "personalize.h"
#include "privileged.h"
#include "protected.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

typedef struct ProtectedTable
{
	Oid			relid;
	NameData	subject_column;
	int8		writes_checked;	/* -1 unknown, else bool */
} ProtectedTable;

static ProtectedTable *tables = NULL;
static int	ntables = 0;
static bool tables_valid = false;
static Oid	protected_tables_relid = InvalidOid;

static void
protected_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == protected_tables_relid)
		tables_valid = false;
	else
		for (int i = 0; i < ntables; i++)
			if (tables[i].relid == relid)
				tables[i].writes_checked = -1;
}

void
pz_protected_init(void)
{
	CacheRegisterRelcacheCallback(protected_relcache_callback, (Datum) 0);
}

static void
load_tables(void)
{
	PzPrivileged ctx;
	ProtectedTable *loaded;

	protected_tables_relid = pz_relation_oid("protected_tables");
	pz_privileged_begin(&ctx);
	if (SPI_execute("SELECT relid::oid, subject_column FROM personalize.protected_tables",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: protected table lookup failed");
	loaded = MemoryContextAllocZero(TopMemoryContext,
									sizeof(ProtectedTable) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		loaded[i].relid = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		namestrcpy(&loaded[i].subject_column, SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
		loaded[i].writes_checked = -1;
	}
	if (tables)
		pfree(tables);
	tables = loaded;
	ntables = (int) SPI_processed;
	pz_privileged_end(&ctx);
	tables_valid = true;
}

/*
 * A valid list implies the extension is installed (dropping it drops
 * protected_tables, whose invalidation clears the list), so the catalog is
 * consulted only when the list must be reloaded.
 */
bool
pz_protected_ready(void)
{
	static bool loading = false;

	if (tables_valid)
		return true;
	/* the query that loads the list is planned and run like any other */
	if (loading)
		return false;
	/* two syscache probes; also false while CREATE EXTENSION has not made it yet */
	if (!OidIsValid(pz_relation_oid("protected_tables")))
		return false;
	loading = true;
	PG_TRY();
	{
		load_tables();
	}
	PG_FINALLY();
	{
		loading = false;
	}
	PG_END_TRY();
	return true;
}

static ProtectedTable *
find_table(Oid relid)
{
	if (!pz_protected_ready())
		return NULL;
	for (int i = 0; i < ntables; i++)
		if (tables[i].relid == relid)
			return &tables[i];
	return NULL;
}

/* The protected tables (the list must be ready); valid until the next query. */
const Oid *
pz_protected_relids(int *n)
{
	static Oid *relids = NULL;
	static int	size = 0;

	if (size < ntables)
	{
		relids = relids ? repalloc(relids, sizeof(Oid) * ntables)
			: MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * ntables);
		size = ntables;
	}
	for (int i = 0; i < ntables; i++)
		relids[i] = tables[i].relid;
	*n = ntables;
	return relids;
}

bool
pz_is_protected(Oid relid)
{
	return find_table(relid) != NULL;
}

/*
 * Writes are checked when a unique or exclusion constraint could involve
 * the subject: a conflict then says that the subject has a hidden row.  A
 * key made of other plain columns only (an order number, an identity) says
 * nothing about whose row conflicts, and checking writes would stop the
 * application recording rows for subjects who have not (yet) consented.
 * Such keys remain channels of their own: protection_status lists them.
 */
static bool
compute_writes_checked(Oid relid, const char *subject_column)
{
	AttrNumber	subject = get_attnum(relid, subject_column);
	Relation	rel = RelationIdGetRelation(relid);
	List	   *indexes;
	ListCell   *lc;
	bool		checked = false;

	if (!RelationIsValid(rel))
		return true;			/* fail closed */
	indexes = RelationGetIndexList(rel);
	RelationClose(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		if (index->indisexclusion || (index->indisunique &&
									  (subject == InvalidAttrNumber ||
									   !heap_attisnull(tup, Anum_pg_index_indexprs, NULL))))
			checked = true;
		else if (index->indisunique)
			for (int k = 0; k < index->indnkeyatts; k++)
				checked |= index->indkey.values[k] == subject;
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return checked;
}

PZ_FUNCTION(pz_row_writable)
{
	ProtectedTable *t;
	struct varlena *category;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	t = find_table(PG_GETARG_OID(0));
	/* not (or no longer) listed: the policy is a leftover; fail closed */
	if (t != NULL)
	{
		if (t->writes_checked < 0)
			t->writes_checked = compute_writes_checked(t->relid, NameStr(t->subject_column));
		if (!t->writes_checked)
			PG_RETURN_BOOL(true);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	category = (struct varlena *) PG_GETARG_POINTER(2);
	if (VARATT_IS_COMPRESSED(category) || VARATT_IS_EXTERNAL(category))
		category = pg_detoast_datum_packed(category);
	PG_RETURN_BOOL(pz_row_visible(PG_GETARG_INT64(1), VARDATA_ANY(category),
								  VARSIZE_ANY_EXHDR(category)));
}
