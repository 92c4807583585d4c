/*
 * estimates.c
 *		Planner statistics of protected tables are not used for roles their
 *		policy applies to.
 *
 * PostgreSQL keeps the most common values and a histogram of every column,
 * computed over all rows, hidden ones included.  It already withholds them
 * from pg_stats for such roles, and uses them for a query under row-level
 * security only with leakproof operators, but "=" on a subject id is
 * leakproof: EXPLAIN of "WHERE subject_id = 42" estimates how many rows
 * subject 42 has, consented or not.  These hooks make the planner treat the
 * columns of a protected table as having no statistics when the reading
 * role is subject to the policy, so estimates fall back to defaults that
 * depend only on the table's size.  Superusers, BYPASSRLS roles and the
 * extension's own training queries keep exact statistics.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "nodes/pathnodes.h"
#include "parser/parsetree.h"
#include "personalize.h"
#include "protected.h"
#include "utils/rls.h"
#include "utils/selfuncs.h"

static get_relation_stats_hook_type prev_relation_stats_hook = NULL;
static get_index_stats_hook_type prev_index_stats_hook = NULL;

static bool
statistics_hidden(Oid relid, Oid checkAsUser)
{
	return pz_protected_ready() && pz_is_protected(relid) &&
		check_enable_rls(relid, checkAsUser, true) == RLS_ENABLED;
}

static bool
relation_stats_hook(PlannerInfo *root, RangeTblEntry *rte, AttrNumber attnum,
					VariableStatData *vardata)
{
	if (statistics_hidden(rte->relid, rte->checkAsUser))
	{
		vardata->statsTuple = NULL;
		return true;
	}
	return prev_relation_stats_hook &&
		prev_relation_stats_hook(root, rte, attnum, vardata);
}

/* Statistics of an expression index on a protected table count hidden rows too. */
static bool
index_stats_hook(PlannerInfo *root, Oid indexOid, AttrNumber indexattnum,
				 VariableStatData *vardata)
{
	if (vardata->rel != NULL && vardata->rel->relid > 0 &&
		vardata->rel->relid < (Index) root->simple_rel_array_size)
	{
		RangeTblEntry *rte = planner_rt_fetch(vardata->rel->relid, root);

		if (rte->rtekind == RTE_RELATION && statistics_hidden(rte->relid, rte->checkAsUser))
		{
			vardata->statsTuple = NULL;
			return true;
		}
	}
	return prev_index_stats_hook &&
		prev_index_stats_hook(root, indexOid, indexattnum, vardata);
}

void
pz_estimates_init(void)
{
	prev_relation_stats_hook = get_relation_stats_hook;
	get_relation_stats_hook = relation_stats_hook;
	prev_index_stats_hook = get_index_stats_hook;
	get_index_stats_hook = index_stats_hook;
}
