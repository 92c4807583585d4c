/*
 * worker_shmem.c
 *		The control block shared by the launcher, the schedulers and the
 *		backends that must get a scheduler out of the way.
 *
 * One slot per running scheduler (personalize.max_schedulers of them),
 * allocated by the launcher and filled in by the scheduler; the launcher's
 * own status; a list of paused databases (whose schedulers must not run
 * while DROP DATABASE and the like need the database to themselves); and
 * a list of databases whose schedulers the launcher should start at once
 * (CREATE EXTENSION committed there).  Everything is under one LWLock: it
 * is taken a few times per job and per launcher pass, never on a hot path.
 *
 * Crash restart re-creates shared memory, so the block starts empty again
 * along with the launcher.
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "personalize.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "workers.h"

/* how long a statement waits for a scheduler to leave its database */
#define PZ_STOP_GRACE_MS	3000	/* then SIGTERM */
#define PZ_STOP_WAIT_MS		15000	/* then let the statement find out itself */
#define PZ_STOP_POLL_MS		10

PzWorkersControl *pz_workers = NULL;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static Size
workers_shmem_size(void)
{
	return add_size(offsetof(PzWorkersControl, slots),
					mul_size(pz_max_schedulers, sizeof(PzSchedulerSlot)));
}

static void
workers_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(workers_shmem_size()));
	RequestNamedLWLockTranche("personalize workers", 1);
}

static void
workers_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pz_workers = ShmemInitStruct("personalize workers", workers_shmem_size(), &found);
	if (!found)
	{
		memset(pz_workers, 0, workers_shmem_size());
		pz_workers->lock = &(GetNamedLWLockTranche("personalize workers"))->lock;
		pz_workers->nslots = pz_max_schedulers;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pz_workers_shmem_init(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = workers_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = workers_shmem_startup;
}

const char *
pz_worker_state_name(PzWorkerState state)
{
	switch (state)
	{
		case PZ_STATE_FREE:
			return "free";
		case PZ_STATE_STARTING:
			return "starting";
		case PZ_STATE_IDLE:
			return "idle";
		case PZ_STATE_RUNNING:
			return "running job";
		case PZ_STATE_WAITING_UPDATE:
			return "waiting for extension update";
		case PZ_STATE_NOT_COORDINATOR:
			return "not coordinator";
		case PZ_STATE_WAITING_LOCK:
			return "waiting for extension lock";
		case PZ_STATE_STOPPING:
			return "stopping";
		case PZ_STATE_SCANNING:
			return "scanning databases";
	}
	return "unknown";
}

/* Caller holds the lock. */
static PzPause *
find_pause(Oid dboid)
{
	for (int i = 0; i < PZ_PAUSE_MAX; i++)
		if (pz_workers->pauses[i].count > 0 && pz_workers->pauses[i].dboid == dboid)
			return &pz_workers->pauses[i];
	return NULL;
}

/* Caller holds the lock. */
bool
pz_database_paused_locked(Oid dboid)
{
	return find_pause(dboid) != NULL;
}

bool
pz_database_paused(Oid dboid)
{
	bool		paused;

	if (pz_workers == NULL)
		return false;
	LWLockAcquire(pz_workers->lock, LW_SHARED);
	paused = find_pause(dboid) != NULL;
	LWLockRelease(pz_workers->lock);
	return paused;
}

/*
 * Ask the database's schedulers to stop: a job in progress is cancelled
 * (it is one transaction, so nothing of it stays), an idle scheduler is
 * woken and exits quietly.  Caller holds the lock exclusively.
 */
static void
request_stop(Oid dboid)
{
	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];

		if (!s->in_use || s->exited || s->dboid != dboid)
			continue;
		s->stop_requested = true;
		if (s->pid != 0 && s->state == PZ_STATE_RUNNING)
			kill(s->pid, SIGINT);
		else if (s->latch)
			SetLatch(s->latch);
	}
}

/*
 * Whether some scheduler of the database is still there: running,
 * starting, or exited but still listed in the process array (which is
 * what DROP DATABASE counts).  Returns the pid of a live one, or -1 for a
 * scheduler that has not started yet, or 0 if none is left.
 */
static pid_t
scheduler_present(Oid dboid, pid_t *pids)
{
	int			n = 0;
	pid_t		live = 0;

	LWLockAcquire(pz_workers->lock, LW_SHARED);
	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];

		if (!s->in_use || s->dboid != dboid)
			continue;
		if (!s->exited && s->pid == 0)
			live = -1;
		else if (!s->exited)
			live = s->pid;
		else if (s->pid != 0)
			pids[n++] = s->pid;
	}
	LWLockRelease(pz_workers->lock);
	if (live != 0)
		return live;
	for (int i = 0; i < n; i++)
		if (BackendPidGetProc(pids[i]) != NULL)
			return pids[i];
	return 0;
}

/*
 * Hold the database's schedulers stopped until pz_resume_database(), and
 * wait (bounded) until none is connected to it.  The launcher starts no
 * scheduler in a paused database, and a scheduler that starts anyway sees
 * the pause before it connects.
 */
void
pz_pause_database(Oid dboid)
{
	TimestampTz start = GetCurrentTimestamp();
	bool		escalated = false;
	pid_t	   *pids;
	PzPause    *p;

	if (pz_workers == NULL)
		return;
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	p = find_pause(dboid);
	for (int i = 0; p == NULL && i < PZ_PAUSE_MAX; i++)
		if (pz_workers->pauses[i].count == 0)
		{
			p = &pz_workers->pauses[i];
			p->dboid = dboid;
		}
	/* with the list full, the stop below still happens, unprotected */
	if (p != NULL)
		p->count++;
	request_stop(dboid);
	LWLockRelease(pz_workers->lock);

	pids = palloc(sizeof(pid_t) * pz_workers->nslots);
	for (;;)
	{
		pid_t		pid = scheduler_present(dboid, pids);
		long		waited = TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());

		if (pid == 0)
			break;
		/* a job stuck where a cancel does not reach */
		if (pid > 0 && !escalated && waited >= PZ_STOP_GRACE_MS)
		{
			kill(pid, SIGTERM);
			escalated = true;
		}
		if (waited >= PZ_STOP_WAIT_MS)
		{
			ereport(LOG,
					(errmsg("personalize scheduler (PID %d) did not stop within %d ms",
							(int) pid, PZ_STOP_WAIT_MS)));
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PZ_STOP_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(pids);
}

void
pz_resume_database(Oid dboid)
{
	PzPause    *p;

	if (pz_workers == NULL)
		return;
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	p = find_pause(dboid);
	if (p != NULL)
		p->count--;
	LWLockRelease(pz_workers->lock);
	pz_wake_launcher(dboid);
}

/* Ask the launcher to start the database's scheduler now, if it has none. */
void
pz_wake_launcher(Oid dboid)
{
	bool		listed = false;

	if (pz_workers == NULL)
		return;
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	for (int i = 0; i < pz_workers->nwake; i++)
		listed |= pz_workers->wake[i] == dboid;
	if (!listed && pz_workers->nwake < PZ_WAKE_MAX)
		pz_workers->wake[pz_workers->nwake++] = dboid;
	else if (!listed)
		pz_workers->wake_all = true;
	if (pz_workers->launcher_latch)
		SetLatch(pz_workers->launcher_latch);
	LWLockRelease(pz_workers->lock);
}

/* Make the database's scheduler look at its jobs now. */
void
pz_wake_scheduler(Oid dboid)
{
	if (pz_workers == NULL)
		return;
	LWLockAcquire(pz_workers->lock, LW_SHARED);
	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];

		if (s->in_use && !s->exited && s->dboid == dboid && s->latch)
			SetLatch(s->latch);
	}
	LWLockRelease(pz_workers->lock);
}

/*
 * Cancel the job the database's scheduler is running, and keep it from
 * starting another in the transaction it is in, so that DROP EXTENSION or
 * ALTER EXTENSION UPDATE does not wait for a long training to finish.  The
 * scheduler drops the job without recording a failure (the job's tables
 * may be going away); the job stays due.
 */
void
pz_cancel_scheduler_job(Oid dboid)
{
	if (pz_workers == NULL)
		return;
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];

		if (!s->in_use || s->exited || s->dboid != dboid)
			continue;
		s->cancel_requested = true;
		if (s->pid != 0 && s->state == PZ_STATE_RUNNING)
			kill(s->pid, SIGINT);
	}
	LWLockRelease(pz_workers->lock);
}

/* ---- SQL ---- */

#define STATUS_COLS 11

static void
put_timestamp(Datum *values, bool *nulls, int col, TimestampTz t)
{
	values[col] = TimestampTzGetDatum(t);
	nulls[col] = (t == 0);
}

/*
 * personalize.worker_status(): the launcher and the schedulers.  Which job
 * a database's scheduler runs is no personal data, but like the query
 * column of pg_stat_activity it is shown for other databases only to roles
 * with pg_read_all_stats.  Copied under the lock, then formed outside it
 * (database names come from the catalogue).
 */
PZ_FUNCTION(pz_worker_status)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PzSchedulerSlot *copy;
	int			n = 0;
	pid_t		launcher_pid;
	PzWorkerState launcher_state;
	TimestampTz launcher_started,
				launcher_heartbeat;
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

	InitMaterializedSRF(fcinfo, 0);
	if (pz_workers == NULL)
		PG_RETURN_VOID();

	copy = palloc(sizeof(PzSchedulerSlot) * pz_workers->nslots);
	LWLockAcquire(pz_workers->lock, LW_SHARED);
	launcher_pid = pz_workers->launcher_pid;
	launcher_state = pz_workers->launcher_state;
	launcher_started = pz_workers->launcher_started;
	launcher_heartbeat = pz_workers->launcher_heartbeat;
	for (int i = 0; i < pz_workers->nslots; i++)
		if (pz_workers->slots[i].in_use && !pz_workers->slots[i].exited &&
			(all || pz_workers->slots[i].dboid == MyDatabaseId))
			copy[n++] = pz_workers->slots[i];
	LWLockRelease(pz_workers->lock);

	if (launcher_pid != 0)
	{
		Datum		values[STATUS_COLS];
		bool		nulls[STATUS_COLS];

		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum("launcher");
		nulls[0] = false;
		values[3] = Int32GetDatum(launcher_pid);
		nulls[3] = false;
		values[4] = CStringGetTextDatum(pz_worker_state_name(launcher_state));
		nulls[4] = false;
		put_timestamp(values, nulls, 7, launcher_started);
		put_timestamp(values, nulls, 8, launcher_heartbeat);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (int i = 0; i < n; i++)
	{
		PzSchedulerSlot *s = &copy[i];
		Datum		values[STATUS_COLS];
		bool		nulls[STATUS_COLS];
		char	   *datname = get_database_name(s->dboid);

		memset(nulls, false, sizeof(nulls));
		values[0] = CStringGetTextDatum("scheduler");
		values[1] = ObjectIdGetDatum(s->dboid);
		if (datname)
			values[2] = DirectFunctionCall1(namein, CStringGetDatum(datname));
		else
			nulls[2] = true;
		values[3] = Int32GetDatum(s->pid);
		nulls[3] = (s->pid == 0);
		values[4] = CStringGetTextDatum(pz_worker_state_name(s->state));
		s->job[PZ_JOB_NAME_MAX - 1] = '\0';
		values[5] = CStringGetTextDatum(s->job);
		nulls[5] = (s->state != PZ_STATE_RUNNING || s->job[0] == '\0');
		put_timestamp(values, nulls, 6, s->state == PZ_STATE_RUNNING ? s->job_started : 0);
		put_timestamp(values, nulls, 7, s->started_at);
		put_timestamp(values, nulls, 8, s->heartbeat);
		values[9] = Int64GetDatum(s->jobs_run);
		values[10] = Int64GetDatum(s->jobs_failed);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
