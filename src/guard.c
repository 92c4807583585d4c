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
#include "protected.h"
#include "purpose.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rls.h"

static ExecutorStart_hook_type prev_executor_start = NULL;
static bool in_guard = false;

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
guard_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (!in_guard && pz_purpose != NULL && pz_purpose[0] != '\0' &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
	{
		in_guard = true;
		PG_TRY();
		{
			if (pz_protected_ready() &&
				reads_protected_table(queryDesc->plannedstmt->rtable))
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
}
