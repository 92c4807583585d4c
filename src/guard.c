/*
 * guard.c
 *		An ExecutorStart hook: a query that reads a table protected by
 *		personalize, with row-level security in force for the current role,
 *		has its declared purpose checked before the first row is read.
 *
 * The policies check every row, but a row-level check only runs for rows
 * the query reaches, so "refused" versus "no rows" would tell a role which
 * rows exist.  Checking up front makes the refusal independent of the data.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "personalize.h"
#include "privileged.h"
#include "purpose.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rls.h"

static ExecutorStart_hook_type prev_executor_start = NULL;

/* The protected tables, reloaded after any change to protected_tables. */
static Oid *protected_relids = NULL;
static int	nprotected = 0;
static bool protected_valid = false;
static Oid	protected_tables_relid = InvalidOid;
static bool in_guard = false;

/* No catalog access in here: callbacks run wherever invalidations arrive. */
static void
guard_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == protected_tables_relid)
		protected_valid = false;
}

static void
load_protected(void)
{
	PzPrivileged ctx;

	protected_tables_relid = pz_relation_oid("protected_tables");
	pz_privileged_begin(&ctx);
	if (SPI_execute("SELECT relid::oid FROM personalize.protected_tables",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: protected table lookup failed");
	if (protected_relids)
		pfree(protected_relids);
	protected_relids = MemoryContextAlloc(TopMemoryContext,
										  sizeof(Oid) * Max(SPI_processed, 1));
	nprotected = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		protected_relids[nprotected++] =
			DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	pz_privileged_end(&ctx);
	protected_valid = true;
}

static bool
is_protected(Oid relid)
{
	for (int i = 0; i < nprotected; i++)
		if (protected_relids[i] == relid)
			return true;
	return false;
}

static bool
reads_protected_table(List *rtable)
{
	ListCell   *lc;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

		if (rte->rtekind == RTE_RELATION && is_protected(rte->relid) &&
			check_enable_rls(rte->relid, rte->checkAsUser, true) == RLS_ENABLED)
			return true;
	}
	return false;
}

static void
guard_executor_start(QueryDesc *queryDesc, int eflags)
{
	/*
	 * A valid list implies the extension is installed (dropping it drops
	 * protected_tables, whose invalidation clears the list), so the catalog
	 * is consulted only when the list must be reloaded, not per query.
	 */
	if (!in_guard && pz_purpose != NULL && pz_purpose[0] != '\0' &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		(protected_valid || pz_extension_installed()))
	{
		in_guard = true;
		PG_TRY();
		{
			if (!protected_valid)
				load_protected();
			if (reads_protected_table(queryDesc->plannedstmt->rtable))
				pz_check_declared_purpose();
		}
		PG_FINALLY();
		{
			in_guard = false;
		}
		PG_END_TRY();
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
pz_guard_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = guard_executor_start;
	CacheRegisterRelcacheCallback(guard_relcache_callback, (Datum) 0);
}
