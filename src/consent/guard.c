/*
 * guard.c
 *		An ExecutorStart hook for queries that read a table protected by
 *		personalize as a role its policy applies to.  Such a query
 *		- has its declared purpose checked before the first row is read,
 *		- may not run instrumented (EXPLAIN ANALYZE, auto_explain with
 *		  log_analyze), and
 *		- leaves no trace in the statistics counters of protected tables
 *		  and their indexes, nor in function call counts (track_functions
 *		  = all would count every call of the policy's row_visible()).
 *
 * A policy filters rows after an index has found them, so everything that
 * counts rows or pages on the way, rather than the rows a query returns,
 * counts hidden rows: "Rows Removed by Filter", pg_stat_*_tables and
 * pg_statio_*, pg_stat_*_indexes.  With index conditions that select one
 * (subject, item) pair, any of them answers whether a hidden row exists.
 * The planner's use of column statistics is handled in estimates.c.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "personalize.h"
#include "pgstat.h"
#include "protected.h"
#include "purpose.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"

static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorEnd_hook_type prev_executor_end = NULL;
static bool in_guard = false;

/*
 * Executions that must not be counted and are still running.  Opening a
 * relation turns counting back on for it (pgstat_init_relation()), so a
 * query nested inside one of them (a function running SQL) may do so; the
 * relations are silenced again whenever a nested execution starts or ends.
 */
static List *silenced_executions = NIL;	/* of QueryDesc *, in TopMemoryContext */

static bool
reads_protected_table(List *rtable)
{
	ListCell   *lc;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

		if (rte->rtekind == RTE_RELATION && pz_is_protected(rte->relid) &&
			check_enable_rls(rte->relid, rte->checkAsUser, true) == RLS_ENABLED)
			return true;
	}
	return false;
}

static void
refuse_instrumentation(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("instrumented execution of a query that reads a table protected by personalize is not allowed for this role"),
			 errdetail("Row counts of an instrumented plan (EXPLAIN ANALYZE, auto_explain.log_analyze) include rows the consent policy hides."),
			 errhint("Use EXPLAIN without ANALYZE, turn auto_explain.log_analyze off for this role, or analyze as a role with BYPASSRLS.")));
}

/* Stop counting for one relation, as if track_counts were off for it. */
static void
silence_relation(Relation rel)
{
	if (rel->pgstat_info != NULL)
		pgstat_unlink_relation(rel);
	rel->pgstat_enabled = false;
}

/*
 * Every protected table and index this backend has open.  Only relations
 * already in the relation cache matter: what is not open is not counted.
 */
static void
silence_protected_relations(void)
{
	int			n;
	const Oid  *relids = pz_protected_relids(&n);

	for (int i = 0; i < n; i++)
	{
		Relation	rel = RelationIdGetRelation(relids[i]);
		List	   *indexes;
		ListCell   *lc;

		if (!RelationIsValid(rel))
			continue;
		silence_relation(rel);
		indexes = RelationGetIndexList(rel);
		RelationClose(rel);
		foreach(lc, indexes)
		{
			Relation	index = RelationIdGetRelation(lfirst_oid(lc));

			if (RelationIsValid(index))
			{
				silence_relation(index);
				RelationClose(index);
			}
		}
		list_free(indexes);
	}
}

static void
guard_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		list_free(silenced_executions);
		silenced_executions = NIL;
	}
}

static void
guard_executor_start(QueryDesc *queryDesc, int eflags)
{
	bool		guarded = false;

	if (!in_guard && !(eflags & EXEC_FLAG_EXPLAIN_ONLY))
	{
		in_guard = true;
		PG_TRY();
		{
			guarded = pz_protected_ready() &&
				reads_protected_table(queryDesc->plannedstmt->rtable);
			if (guarded && pz_purpose != NULL && pz_purpose[0] != '\0')
				pz_check_declared_purpose();
		}
		PG_FINALLY();
		{
			in_guard = false;
		}
		PG_END_TRY();
	}

	/*
	 * Whether a function call is counted is decided when its expression is
	 * compiled, here: compile this execution's expressions uncounted.
	 */
	{
		int			track_functions = pgstat_track_functions;

		if (guarded)
			pgstat_track_functions = TRACK_FUNC_OFF;
		PG_TRY();
		{
			if (prev_executor_start)
				prev_executor_start(queryDesc, eflags);
			else
				standard_ExecutorStart(queryDesc, eflags);
		}
		PG_FINALLY();
		{
			pgstat_track_functions = track_functions;
		}
		PG_END_TRY();
	}

	/* after the other hooks: auto_explain asks for instrumentation in its own */
	if (guarded)
	{
		MemoryContext old;

		if (queryDesc->instrument_options != 0)
			refuse_instrumentation();
		old = MemoryContextSwitchTo(TopMemoryContext);
		silenced_executions = lappend(silenced_executions, queryDesc);
		MemoryContextSwitchTo(old);
	}
	if (silenced_executions != NIL)
		silence_protected_relations();
}

static void
guard_executor_end(QueryDesc *queryDesc)
{
	if (prev_executor_end)
		prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	silenced_executions = list_delete_ptr(silenced_executions, queryDesc);
	if (silenced_executions != NIL)
		silence_protected_relations();
}

void
pz_guard_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = guard_executor_start;
	prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = guard_executor_end;
	RegisterXactCallback(guard_xact_callback, NULL);
}
