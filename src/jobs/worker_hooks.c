/*
 * worker_hooks.c
 *		Keeping the schedulers out of the way of DDL, and telling them about
 *		it.
 *
 * PostgreSQL 15 does not stop background workers for DROP DATABASE: it
 * waits five seconds for the database's other sessions to go, then fails
 * with "database is being accessed by other users".  CREATE DATABASE ...
 * TEMPLATE, ALTER DATABASE ... RENAME and ALTER DATABASE ... SET TABLESPACE
 * do the same.  So a ProcessUtility hook, before such a statement runs and
 * only for a caller who may run it (so nobody can stop someone else's
 * scheduler by trying), pauses the database: the launcher starts no
 * scheduler there, the running one is asked to stop (a job in progress is
 * cancelled; it is one transaction, so nothing of it remains) and the hook
 * waits, bounded, until it has left.  The pause ends at the end of the
 * transaction, once the statement's outcome is visible, or at once if the
 * statement fails.
 *
 * DROP EXTENSION personalize and ALTER EXTENSION personalize UPDATE cancel
 * the job the database's scheduler is running, so they do not wait for a
 * long training; the scheduler then finds the extension locked or gone and
 * steps aside or exits quietly.
 *
 * When CREATE EXTENSION personalize commits, the launcher is woken so that
 * the database gets its scheduler at once rather than at the launcher's
 * next look; likewise after CREATE/ALTER DATABASE, whose outcome may change
 * which databases should have one.
 *
 * Every other statement costs one switch on its node tag.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "personalize.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "workers.h"

#define MAX_PENDING 8

static ProcessUtility_hook_type prev_process_utility = NULL;

/* what this transaction has done, acted on when it ends */
static Oid	pending_resume[MAX_PENDING];
static int	npending_resume = 0;
static Oid	pending_wake[MAX_PENDING];
static int	npending_wake = 0;
static bool wake_own_scheduler = false;

/*
 * The database a statement needs to itself, if the caller may run it:
 * InvalidOid otherwise, or when the statement will fail before it looks
 * (inside a transaction block where it is not allowed, or on the caller's
 * own database, except for copying it).
 */
static Oid
database_to_pause(Node *stmt, bool top_level)
{
	bool		standalone = top_level && !IsTransactionBlock();
	const char *dbname = NULL;
	bool		need_createdb = false;
	Oid			dboid;
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			if (standalone)
				dbname = ((DropdbStmt *) stmt)->dbname;
			break;
		case T_CreatedbStmt:
			if (!standalone)
				break;
			dbname = "template1";
			need_createdb = true;
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *opt = lfirst(lc);

				if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
					dbname = defGetString(opt);
			}
			break;
		case T_RenameStmt:
			/* allowed in a transaction block: the pause lasts until it ends */
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
			{
				dbname = ((RenameStmt *) stmt)->subname;
				need_createdb = true;
			}
			break;
		case T_AlterDatabaseStmt:
			if (!standalone)
				break;
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			{
				DefElem    *opt = lfirst(lc);

				if (strcmp(opt->defname, "tablespace") == 0)
					dbname = ((AlterDatabaseStmt *) stmt)->dbname;
			}
			break;
		default:
			break;
	}
	if (dbname == NULL)
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	/* the others refuse the caller's own database; copying it is allowed */
	if (!OidIsValid(dboid) || (dboid == MyDatabaseId && !IsA(stmt, CreatedbStmt)))
		return InvalidOid;
	if (!pg_database_ownercheck(dboid, GetUserId()) ||
		(need_createdb && !have_createdb_privilege()))
		return InvalidOid;
	return dboid;
}

/* The personalize extension, if the statement changes it and the caller owns it. */
static Oid
extension_to_cancel(Node *stmt)
{
	bool		named = false;
	Oid			extoid;

	if (IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_EXTENSION)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) stmt)->objects)
			named |= strcmp(strVal(lfirst(lc)), "personalize") == 0;
	}
	else if (IsA(stmt, AlterExtensionStmt))
		named = strcmp(((AlterExtensionStmt *) stmt)->extname, "personalize") == 0;
	if (!named)
		return InvalidOid;
	extoid = get_extension_oid("personalize", true);
	if (!OidIsValid(extoid) || !pg_extension_ownercheck(extoid, GetUserId()))
		return InvalidOid;
	return extoid;
}

static void
add_pending(Oid *list, int *n, Oid dboid)
{
	for (int i = 0; i < *n; i++)
		if (list[i] == dboid)
			return;
	if (*n < MAX_PENDING)
		list[(*n)++] = dboid;
}

static void
call_next(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		  ProcessUtilityContext context, ParamListInfo params,
		  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

static void
workers_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	Oid			pause = InvalidOid;
	Oid			extoid;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
		case T_CreatedbStmt:
		case T_RenameStmt:
		case T_AlterDatabaseStmt:
			pause = database_to_pause(stmt, context == PROCESS_UTILITY_TOPLEVEL);
			/* with no room to remember the pause, do without it */
			if (OidIsValid(pause) && npending_resume >= MAX_PENDING)
				pause = InvalidOid;
			break;
		case T_DropStmt:
		case T_AlterExtensionStmt:
			extoid = extension_to_cancel(stmt);
			if (OidIsValid(extoid))
			{
				pz_cancel_scheduler_job(MyDatabaseId);
				/* the update takes no lock of its own on the extension */
				if (IsA(stmt, AlterExtensionStmt))
					LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessExclusiveLock);
				wake_own_scheduler = true;
			}
			break;
		case T_CreateExtensionStmt:
			break;
		default:
			call_next(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
			return;
	}

	if (!OidIsValid(pause))
		call_next(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
	{
		PG_TRY();
		{
			pz_pause_database(pause);
			call_next(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		}
		PG_CATCH();
		{
			pz_resume_database(pause);
			PG_RE_THROW();
		}
		PG_END_TRY();
		add_pending(pending_resume, &npending_resume, pause);
	}

	/* done: what should the launcher look at when this commits? */
	if (IsA(stmt, CreateExtensionStmt) && OidIsValid(get_extension_oid("personalize", true)))
		add_pending(pending_wake, &npending_wake, MyDatabaseId);
	else if (IsA(stmt, CreatedbStmt))
	{
		Oid			created = get_database_oid(((CreatedbStmt *) stmt)->dbname, true);

		if (OidIsValid(created))
			add_pending(pending_wake, &npending_wake, created);
	}
	else if (IsA(stmt, AlterDatabaseStmt))
	{
		Oid			altered = get_database_oid(((AlterDatabaseStmt *) stmt)->dbname, true);

		if (OidIsValid(altered))
			add_pending(pending_wake, &npending_wake, altered);
	}
}

static void
workers_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			for (int i = 0; i < npending_wake; i++)
				pz_wake_launcher(pending_wake[i]);
			if (wake_own_scheduler)
				pz_wake_scheduler(MyDatabaseId);
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			for (int i = 0; i < npending_resume; i++)
				pz_resume_database(pending_resume[i]);
			npending_resume = 0;
			npending_wake = 0;
			wake_own_scheduler = false;
			break;
		default:
			break;
	}
}

/*
 * personalize.wake_scheduler(): make this database's scheduler look at its
 * jobs when the calling transaction commits (for functions that change a
 * job's schedule).
 */
PZ_FUNCTION(pz_wake_scheduler_sql)
{
	wake_own_scheduler = true;
	PG_RETURN_VOID();
}

void
pz_worker_hooks_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = workers_process_utility;
	RegisterXactCallback(workers_xact_callback, NULL);
}
