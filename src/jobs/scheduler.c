/*
 * scheduler.c
 *		One scheduler per database: runs the database's due jobs, one
 *		transaction per job, and sleeps until the next one is due.
 *
 * It connects by OID as the bootstrap superuser.  Every transaction first
 * takes a share lock on the extension object without waiting
 * (ConditionalLockDatabaseObject) and checks the extension is still there:
 * DROP EXTENSION and ALTER EXTENSION UPDATE hold that lock exclusively, so
 * while they run the scheduler steps aside instead of failing on objects
 * that are going away, and a job in progress makes them wait (the
 * ProcessUtility hook cancels it first, see worker_hooks.c).  A database
 * without the extension makes the scheduler exit with code 0, which the
 * postmaster logs only at DEBUG1.
 *
 * A job that fails is reported in the log, its transaction aborted, and the
 * failure recorded by personalize.record_job_failure() in a new
 * transaction; then the next job runs.  Training is one transaction, so a
 * job stopped half-way (SIGTERM, a cancel, a crash) leaves no half-activated
 * model.
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "personalize.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "workers.h"

/* sleep while the extension is locked (being dropped or updated) */
#define BUSY_RETRY_MS	1000
/* shortest sleep while a job stays due (another session is running it) */
#define MIN_PASS_MS		1000
/* wake this much after a job's due time, so that now() has passed it */
#define DUE_MARGIN_MS	10

typedef enum PassStatus
{
	PASS_READY,					/* transaction open, extension locked, SPI connected */
	PASS_NO_EXTENSION,
	PASS_BUSY,					/* extension locked by DDL */
	PASS_OTHER_VERSION,
	PASS_NOT_COORDINATOR
} PassStatus;

static PzSchedulerSlot *slot = NULL;
static MemoryContext pass_context = NULL;
static bool spi_open = false;
/* the version mismatch already logged, so it is logged once */
static char *reported_version = NULL;

static long
naptime_ms(void)
{
	return (long) pz_scheduler_naptime * 1000;
}

static void
set_state(PzWorkerState state)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	slot->state = state;
	if (state != PZ_STATE_RUNNING)
		slot->job[0] = '\0';
	slot->heartbeat = GetCurrentTimestamp();
	LWLockRelease(pz_workers->lock);
}

static void
scheduler_exit(int code, Datum arg)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	slot->exited = true;
	slot->state = PZ_STATE_STOPPING;
	slot->latch = NULL;
	/* an adopted scheduler's exit sends the launcher no signal */
	if (pz_workers->launcher_latch)
		SetLatch(pz_workers->launcher_latch);
	LWLockRelease(pz_workers->lock);
}

static void
exit_quietly(PzExitReason reason)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	slot->exit_reason = reason;
	LWLockRelease(pz_workers->lock);
	proc_exit(0);
}

/*
 * Take the slot the launcher allocated, unless it has been given to
 * another scheduler since (then this start is stale) or the database is
 * paused (then leave before connecting to it).
 */
static bool
claim_slot(int idx, Oid dboid, uint32 generation)
{
	PzSchedulerSlot *s;
	bool		ok;
	bool		stop = false;

	if (pz_workers == NULL || idx < 0 || idx >= pz_workers->nslots)
		return false;
	s = &pz_workers->slots[idx];
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	ok = s->in_use && !s->exited && s->pid == 0 &&
		s->generation == generation && s->dboid == dboid;
	if (ok)
	{
		s->pid = MyProcPid;
		s->latch = MyLatch;
		s->started_at = s->heartbeat = GetCurrentTimestamp();
		stop = s->stop_requested || pz_database_paused_locked(dboid);
	}
	LWLockRelease(pz_workers->lock);
	if (!ok)
		return false;
	slot = s;
	on_shmem_exit(scheduler_exit, (Datum) 0);
	if (stop)
		exit_quietly(PZ_EXIT_STOPPED);
	return true;
}

static void
stop_if_asked(void)
{
	bool		stop;

	LWLockAcquire(pz_workers->lock, LW_SHARED);
	stop = slot->stop_requested;
	LWLockRelease(pz_workers->lock);
	if (stop)
		exit_quietly(PZ_EXIT_STOPPED);
}

/* ---- one transaction of a pass ---- */

static bool
version_current(Oid extoid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(extoid)};
	char	   *version;

	if (SPI_execute_with_args("SELECT extversion FROM pg_catalog.pg_extension WHERE oid = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "personalize scheduler: extension version lookup failed");
	version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(version, PZ_EXTVERSION) == 0)
	{
		reported_version = NULL;
		return true;
	}
	if (reported_version == NULL || strcmp(reported_version, version) != 0)
	{
		ereport(LOG,
				(errmsg("personalize scheduler: the personalize extension in database \"%s\" is at version %s, its library at version %s; no jobs run until it is updated",
						get_database_name(MyDatabaseId), version, PZ_EXTVERSION),
				 errhint("Run ALTER EXTENSION personalize UPDATE in that database.")));
		reported_version = MemoryContextStrdup(TopMemoryContext, version);
	}
	return false;
}

/* Whether this node may run jobs under personalize.coordinator_only. */
static bool
coordinator_here(void)
{
	bool		isnull;
	Datum		d;

	if (!pz_coordinator_only)
		return true;
	if (SPI_execute("SELECT pg_catalog.to_regprocedure('pg_catalog.citus_is_coordinator()') IS NOT NULL",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "personalize scheduler: Citus lookup failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!DatumGetBool(d))
		return true;			/* not a Citus database */
	if (SPI_execute("SELECT pg_catalog.citus_is_coordinator()", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "personalize scheduler: citus_is_coordinator() failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/*
 * Start a transaction in which the extension is present, at the library's
 * version, not being changed, and jobs may run on this node.  The
 * transaction is open whatever the answer; close_pass() ends it.
 */
static PassStatus
open_pass(void)
{
	Oid			extoid;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	extoid = get_extension_oid("personalize", true);
	if (!OidIsValid(extoid))
		return PASS_NO_EXTENSION;
	if (!ConditionalLockDatabaseObject(ExtensionRelationId, extoid, 0, AccessShareLock))
		return PASS_BUSY;
	/* dropped (and maybe created again) before we got the lock? */
	AcceptInvalidationMessages();
	if (get_extension_oid("personalize", true) != extoid)
		return PASS_BUSY;
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "personalize scheduler: SPI_connect failed");
	spi_open = true;
	if (!version_current(extoid))
		return PASS_OTHER_VERSION;
	if (!coordinator_here())
		return PASS_NOT_COORDINATOR;
	return PASS_READY;
}

static void
close_pass(void)
{
	if (spi_open)
	{
		SPI_finish();
		PopActiveSnapshot();
		spi_open = false;
	}
	CommitTransactionCommand();
	MemoryContextSwitchTo(pass_context);
}

/*
 * Error recovery outside a job's own work.  A cancel that arrives there
 * was aimed at a job that has ended (see pz_cancel_scheduler_job()): it is
 * not worth a log line.
 */
static void
recover_from_error(bool report)
{
	MemoryContextSwitchTo(pass_context);
	HOLD_INTERRUPTS();
	if (report && geterrcode() != ERRCODE_QUERY_CANCELED)
		EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	spi_open = false;
	RESUME_INTERRUPTS();
	MemoryContextSwitchTo(pass_context);
	pgstat_report_activity(STATE_IDLE, NULL);
}

static List *
list_due_jobs(void)
{
	List	   *jobs = NIL;

	if (SPI_execute("SELECT job FROM personalize.due_jobs() AS job", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize scheduler: due_jobs() failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *job = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old;

		if (job == NULL)
			continue;
		old = MemoryContextSwitchTo(pass_context);
		jobs = lappend(jobs, pstrdup(job));
		MemoryContextSwitchTo(old);
	}
	return jobs;
}

/* ---- one job ---- */

/*
 * Announce the job, unless the scheduler has been asked to stop or to stay
 * out of the way of DROP/ALTER EXTENSION.  Under the lock that the hook
 * takes to decide whether to send a cancel, so that a request either stops
 * the job here or finds it running and cancels it.
 */
static bool
begin_job(const char *job)
{
	bool		ok;

	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	ok = !slot->stop_requested && !slot->cancel_requested;
	slot->cancel_requested = false;
	if (ok)
	{
		slot->state = PZ_STATE_RUNNING;
		strlcpy(slot->job, job, PZ_JOB_NAME_MAX);
		slot->job_started = slot->heartbeat = GetCurrentTimestamp();
	}
	LWLockRelease(pz_workers->lock);
	if (ok)
	{
		char		activity[PZ_JOB_NAME_MAX + 32];

		snprintf(activity, sizeof(activity), "personalize job: %s", job);
		pgstat_report_activity(STATE_RUNNING, activity);
	}
	return ok;
}

static void
end_job(bool ran, bool failed)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	slot->state = PZ_STATE_IDLE;
	slot->job[0] = '\0';
	slot->heartbeat = GetCurrentTimestamp();
	if (ran)
		slot->jobs_run++;
	if (failed)
		slot->jobs_failed++;
	LWLockRelease(pz_workers->lock);
	pgstat_report_activity(STATE_IDLE, NULL);
}

static void
record_failure(const char *job, const ErrorData *edata, TimestampTz started)
{
	PG_TRY();
	{
		if (open_pass() == PASS_READY)
		{
			Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
			Datum		args[4];

			args[0] = CStringGetTextDatum(job);
			args[1] = CStringGetTextDatum(edata->message ? edata->message : "");
			args[2] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
			args[3] = TimestampTzGetDatum(started);
			if (SPI_execute_with_args("SELECT personalize.record_job_failure($1, 'worker', $2, $3, $4)",
									  4, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "personalize scheduler: record_job_failure() failed");
		}
		close_pass();
	}
	PG_CATCH();
	{
		recover_from_error(true);
		ereport(LOG,
				(errmsg("personalize scheduler could not record the failure of job \"%s\"", job)));
	}
	PG_END_TRY();
}

/*
 * After a job's transaction failed: report and record it, unless the job
 * was cancelled on purpose (its database or extension is going away or
 * being updated: nothing to record, and its tables may be locked).
 * Returns whether the pass may go on with the next job.
 */
static bool
job_failed(const char *job)
{
	ErrorData  *edata;
	bool		stop;
	bool		cancel;
	bool		deliberate;
	TimestampTz started;

	MemoryContextSwitchTo(pass_context);
	HOLD_INTERRUPTS();
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	started = slot->job_started;
	stop = slot->stop_requested;
	cancel = slot->cancel_requested;
	slot->cancel_requested = false;
	LWLockRelease(pz_workers->lock);
	edata = CopyErrorData();
	deliberate = (stop || cancel) && edata->sqlerrcode == ERRCODE_QUERY_CANCELED;
	if (!deliberate)
		EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	spi_open = false;
	RESUME_INTERRUPTS();
	MemoryContextSwitchTo(pass_context);
	end_job(false, !deliberate);

	if (deliberate)
		ereport(LOG,
				(errmsg("personalize job \"%s\" cancelled: %s", job,
						stop ? "the scheduler was asked to stop (DROP, ALTER or CREATE DATABASE)"
						: "the extension is being dropped or updated")));
	else if (!stop && !cancel)
		record_failure(job, edata, started);
	FreeErrorData(edata);
	return !stop && !cancel;
}

/* Returns whether the pass may go on with the next job. */
static bool
run_job(const char *job)
{
	volatile bool started = false;
	volatile bool go_on = true;

	PG_TRY();
	{
		bool		ran = false;

		if (open_pass() != PASS_READY || !begin_job(job))
			go_on = false;
		else
		{
			Oid			argtypes[1] = {TEXTOID};
			Datum		args[1];
			bool		isnull = true;

			started = true;
			args[0] = CStringGetTextDatum(job);
			if (SPI_execute_with_args("SELECT personalize.execute_job($1, 'worker')",
									  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "personalize scheduler: execute_job() failed");
			if (SPI_processed == 1)
				(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			/* NULL: another session is running it, or it is no longer due */
			ran = !isnull;
		}
		close_pass();
		if (started)
			end_job(ran, false);
	}
	PG_CATCH();
	{
		if (started)
			go_on = job_failed(job);
		else
		{
			recover_from_error(true);
			go_on = false;
		}
	}
	PG_END_TRY();
	return go_on;
}

/* ---- a pass ---- */

/* How long until the next job is due, within the naptime. */
static long
plan_sleep(void)
{
	volatile long sleep_ms = naptime_ms();

	PG_TRY();
	{
		if (open_pass() == PASS_READY)
		{
			bool		isnull;
			Datum		due;

			if (SPI_execute("SELECT personalize.next_job_due()", false, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "personalize scheduler: next_job_due() failed");
			due = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
			{
				long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																 DatumGetTimestampTz(due));

				sleep_ms = Min(sleep_ms, ms > 0 ? ms + DUE_MARGIN_MS : MIN_PASS_MS);
			}
		}
		close_pass();
	}
	PG_CATCH();
	{
		recover_from_error(true);
	}
	PG_END_TRY();
	return sleep_ms;
}

/* Run what is due; returns how long to sleep. */
static long
scheduler_pass(void)
{
	volatile PassStatus status = PASS_READY;
	List	   *volatile due = NIL;
	volatile bool failed = false;
	List	   *jobs;
	ListCell   *lc;

	PG_TRY();
	{
		status = open_pass();
		if (status == PASS_READY)
			due = list_due_jobs();
		close_pass();
	}
	PG_CATCH();
	{
		recover_from_error(true);
		failed = true;
	}
	PG_END_TRY();
	if (failed)
	{
		set_state(PZ_STATE_IDLE);
		return naptime_ms();
	}

	switch (status)
	{
		case PASS_NO_EXTENSION:
			exit_quietly(PZ_EXIT_NO_EXTENSION);
			break;
		case PASS_BUSY:
			set_state(PZ_STATE_WAITING_LOCK);
			return Min(BUSY_RETRY_MS, naptime_ms());
		case PASS_OTHER_VERSION:
			set_state(PZ_STATE_WAITING_UPDATE);
			return naptime_ms();
		case PASS_NOT_COORDINATOR:
			set_state(PZ_STATE_NOT_COORDINATOR);
			return naptime_ms();
		case PASS_READY:
			break;
	}

	set_state(PZ_STATE_IDLE);
	jobs = due;
	foreach(lc, jobs)
	{
		if (!run_job(lfirst(lc)))
			return Min(BUSY_RETRY_MS, naptime_ms());
	}
	return plan_sleep();
}

/*
 * Jobs yield the CPU to queries: training and drift are throughput work,
 * serving is latency work.  Threads an ALS fit starts inherit the value.  A
 * process may raise its own nice value but not lower it, so a lower setting
 * waits for the scheduler's next start.
 */
static void
apply_nice(void)
{
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) < pz_scheduler_nice && errno == 0)
		(void) setpriority(PRIO_PROCESS, 0, pz_scheduler_nice);
}

static void
wait_for(long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	/* a cancel aimed at a job that has ended has nothing left to cancel */
	QueryCancelPending = false;
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		apply_nice();
	}
}

void
pz_scheduler_main(Datum arg)
{
	Oid			dboid;
	uint32		generation;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&generation, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(uint32));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	/* SIGINT keeps the standard handler: it cancels the job in progress */
	BackgroundWorkerUnblockSignals();
	apply_nice();

	if (!claim_slot(DatumGetInt32(arg), dboid, generation))
		proc_exit(0);
	BackgroundWorkerInitializeConnectionByOid(dboid, BOOTSTRAP_SUPERUSERID, 0);
	SetConfigOption("application_name", "personalize scheduler", PGC_USERSET, PGC_S_SESSION);
	/* jobs are schema-qualified; nothing on a search_path can stand in */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	pass_context = AllocSetContextCreate(TopMemoryContext, "personalize scheduler pass",
										 ALLOCSET_DEFAULT_SIZES);
	set_state(PZ_STATE_IDLE);

	for (;;)
	{
		long		sleep_ms;

		stop_if_asked();
		MemoryContextReset(pass_context);
		MemoryContextSwitchTo(pass_context);
		sleep_ms = scheduler_pass();
		pgstat_report_stat(true);
		/* a stop that cancelled the job has set and consumed our latch */
		stop_if_asked();
		wait_for(sleep_ms);
	}
}
