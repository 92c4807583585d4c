/*
 * launcher.c
 *		The settings of the background workers, and the launcher: one static
 *		worker per cluster that starts a scheduler in each database.
 *
 * The launcher connects to no database; it reads pg_database (shared) and
 * starts one dynamic scheduler worker per database that allows connections,
 * is not a template (a connection to a template would make CREATE DATABASE
 * fail) and is listed in personalize.databases.  Schedulers never restart
 * by themselves (BGW_NEVER_RESTART); the launcher restarts them, and when
 * depends on why they stopped:
 *
 *	- the database has no personalize extension (exit code 0, silently):
 *	  checked again only after ten launcher naptimes, or as soon as a
 *	  backend there commits CREATE EXTENSION personalize (it wakes us);
 *	- asked to stop (the database is paused for DROP DATABASE, or no longer
 *	  listed): started again when the pause ends, if still wanted;
 *	- anything else (an error, SIGTERM): after a delay that doubles with
 *	  each failure in a row, from one second up to about four minutes, so a
 *	  scheduler that cannot start does not fill the log.
 *
 * The launcher itself is restarted by the postmaster (10 seconds after an
 * error, at once after a crash restart).  A new launcher adopts the
 * schedulers its predecessor started, from their shared-memory slots.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "personalize.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "workers.h"

char	   *pz_worker_databases = NULL;
int			pz_launcher_naptime = 60;
int			pz_scheduler_naptime = 60;
bool		pz_coordinator_only = false;
int			pz_scheduler_nice = 10;
int			pz_max_schedulers = 8;

/* a database without the extension is tried again after this many naptimes */
#define NO_EXTENSION_NAPTIMES	10
/* restart delay after failures in a row: 1 s << (failures - 1), at most */
#define MAX_BACKOFF_SHIFT		8
/* a scheduler that ran this long before failing restarts after 1 s */
#define HEALTHY_RUN_MS			60000
/* how long an adopted slot may wait for its scheduler to show up */
#define ADOPTED_START_MS		60000

typedef struct LauncherDb
{
	Oid			dboid;			/* hash key */
	char		name[NAMEDATALEN];
	bool		seen;			/* wanted in the latest scan */
	int			slot;			/* its scheduler's slot, or -1 */
	TimestampTz next_start;		/* not before */
	int			failures;		/* in a row */
	bool		warned;			/* logged that it could not be started */
	bool		rewake;			/* woken while its scheduler ran: restart at once */
} LauncherDb;

static HTAB *databases = NULL;
static BackgroundWorkerHandle **handles = NULL;	/* per slot; NULL = adopted */
static TimestampTz *adopted_at = NULL;
static MemoryContext scan_context = NULL;

/* ---- settings ---- */

static bool
check_databases(char **newval, void **extra, GucSource source)
{
	char	   *raw;
	List	   *names;
	bool		ok;

	if (*newval == NULL)
		return true;
	raw = pstrdup(*newval);
	ok = SplitGUCList(raw, ',', &names);
	if (!ok)
		GUC_check_errdetail("List syntax is invalid: give '*', '' or database names separated by commas.");
	list_free(names);
	pfree(raw);
	return ok;
}

/* '*' = every database, '' = none, else the names listed. */
bool
pz_database_wanted(const char *datname)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		wanted = false;

	if (pz_worker_databases == NULL)
		return false;
	raw = pstrdup(pz_worker_databases);
	if (SplitGUCList(raw, ',', &names))
	{
		foreach(lc, names)
		{
			const char *name = lfirst(lc);

			if (strcmp(name, "*") == 0 || strcmp(name, datname) == 0)
				wanted = true;
		}
	}
	list_free(names);
	pfree(raw);
	return wanted;
}

static void
define_settings(void)
{
	DefineCustomStringVariable("personalize.databases",
							   "Databases in which the personalize scheduler runs jobs.",
							   "'*' for every database that allows connections, '' for none, "
							   "or a comma-separated list of database names.",
							   &pz_worker_databases, "*", PGC_SIGHUP, 0,
							   check_databases, NULL, NULL);
	DefineCustomIntVariable("personalize.launcher_naptime",
							"How often the personalize launcher looks for new databases.",
							"A database found without the extension is looked at again after ten times this, "
							"or at once when CREATE EXTENSION personalize commits there.",
							&pz_launcher_naptime, 60, 1, 3600, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.scheduler_naptime",
							"Longest sleep of a personalize scheduler between looks at its jobs.",
							"A scheduler wakes earlier when a job falls due.",
							&pz_scheduler_naptime, 60, 1, 3600, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.scheduler_nice",
							"Nice value of the personalize schedulers (0-19): jobs yield the CPU to queries.",
							"Raised on reload; lowered only when a scheduler starts again.",
							&pz_scheduler_nice, 10, 0, 19, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("personalize.coordinator_only",
							 "In a Citus cluster, run jobs on the coordinator only.",
							 "Takes effect in databases where citus_is_coordinator() exists.",
							 &pz_coordinator_only, false, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	/* a server-start setting cannot be defined by a library loaded later */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("personalize.max_schedulers",
								"Most personalize schedulers running at once (one per database).",
								"Each running scheduler also takes one of max_worker_processes.",
								&pz_max_schedulers, 8, 1, 1024, PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
}

/* ---- registration ---- */

void
pz_workers_init(void)
{
	BackgroundWorker worker;

	define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;
	pz_workers_shmem_init();
	pz_worker_hooks_init();
	/* pg_upgrade's server must not run jobs in half-restored databases */
	if (IsBinaryUpgrade)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* never in recovery, hence never on a standby */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "personalize", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pz_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "personalize launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "personalize launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ---- the launcher ---- */

static void
set_launcher_state(PzWorkerState state)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	pz_workers->launcher_state = state;
	pz_workers->launcher_heartbeat = GetCurrentTimestamp();
	LWLockRelease(pz_workers->lock);
}

static void
launcher_exit(int code, Datum arg)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	pz_workers->launcher_pid = 0;
	pz_workers->launcher_latch = NULL;
	LWLockRelease(pz_workers->lock);
}

static LauncherDb *
database_entry(Oid dboid)
{
	bool		found;
	LauncherDb *db = hash_search(databases, &dboid, HASH_ENTER, &found);

	if (!found)
	{
		db->name[0] = '\0';
		db->seen = false;
		db->slot = -1;
		db->next_start = 0;
		db->failures = 0;
		db->warned = false;
		db->rewake = false;
	}
	return db;
}

/*
 * Schedulers a previous launcher started keep running: take over their
 * slots (without handles: their exit is seen in the slot instead).
 */
static void
adopt_schedulers(void)
{
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(pz_workers->lock, LW_SHARED);
	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];

		if (s->in_use)
		{
			database_entry(s->dboid)->slot = i;
			adopted_at[i] = now;
		}
	}
	LWLockRelease(pz_workers->lock);
}

/* When to start a database's scheduler again, from why it stopped. */
static void
plan_restart(LauncherDb *db, PzExitReason reason, TimestampTz started_at, TimestampTz now)
{
	switch (reason)
	{
		case PZ_EXIT_NO_EXTENSION:
			db->failures = 0;
			db->next_start = TimestampTzPlusMilliseconds(now,
														 (int64) pz_launcher_naptime * 1000 * NO_EXTENSION_NAPTIMES);
			break;
		case PZ_EXIT_STOPPED:
			db->failures = 0;
			db->next_start = now;
			break;
		case PZ_EXIT_UNKNOWN:
			if (started_at != 0 &&
				TimestampDifferenceMilliseconds(started_at, now) >= HEALTHY_RUN_MS)
				db->failures = 0;
			db->failures++;
			db->next_start = TimestampTzPlusMilliseconds(now,
														 INT64CONST(1000) << Min(db->failures - 1, MAX_BACKOFF_SHIFT));
			break;
	}
}

/* Free the slots of schedulers that have stopped. */
static void
reap_schedulers(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];
		bool		stopped = false;
		PzExitReason reason;
		TimestampTz started_at;
		Oid			dboid;
		LauncherDb *db;

		if (handles[i] != NULL)
		{
			pid_t		pid;

			stopped = GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED;
		}
		else if (adopted_at[i] != 0)
		{
			LWLockAcquire(pz_workers->lock, LW_SHARED);
			stopped = s->exited ||
				(s->pid == 0 && TimestampDifferenceMilliseconds(adopted_at[i], now) >= ADOPTED_START_MS);
			LWLockRelease(pz_workers->lock);
		}
		if (!stopped)
			continue;

		LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
		reason = s->exit_reason;
		started_at = s->started_at;
		dboid = s->dboid;
		s->in_use = false;
		s->exited = false;
		s->state = PZ_STATE_FREE;
		s->pid = 0;
		s->latch = NULL;
		LWLockRelease(pz_workers->lock);

		if (handles[i] != NULL)
			pfree(handles[i]);
		handles[i] = NULL;
		adopted_at[i] = 0;
		db = hash_search(databases, &dboid, HASH_FIND, NULL);
		if (db != NULL)
		{
			db->slot = -1;
			plan_restart(db, reason, started_at, now);
			/* it may have looked for the extension just before it came */
			if (db->rewake)
				db->next_start = now;
			db->rewake = false;
		}
	}
}

static void
wake_database(LauncherDb *db)
{
	db->next_start = 0;
	db->rewake = db->slot >= 0;
}

/* Databases whose CREATE EXTENSION (or the end of a pause) was announced. */
static void
take_wake_requests(void)
{
	Oid			wake[PZ_WAKE_MAX];
	int			nwake;
	bool		all;

	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	nwake = pz_workers->nwake;
	memcpy(wake, pz_workers->wake, sizeof(Oid) * nwake);
	all = pz_workers->wake_all;
	pz_workers->nwake = 0;
	pz_workers->wake_all = false;
	LWLockRelease(pz_workers->lock);

	if (all)
	{
		HASH_SEQ_STATUS it;
		LauncherDb *db;

		hash_seq_init(&it, databases);
		while ((db = hash_seq_search(&it)) != NULL)
			wake_database(db);
	}
	for (int i = 0; i < nwake; i++)
		wake_database(database_entry(wake[i]));
}

static bool
database_usable(Form_pg_database form)
{
	if (form->datistemplate || !form->datallowconn)
		return false;
#ifdef DATCONNLIMIT_INVALID_DB
	/* half-dropped by an interrupted DROP DATABASE */
	if (form->datconnlimit == DATCONNLIMIT_INVALID_DB)
		return false;
#endif
	return pz_database_wanted(NameStr(form->datname));
}

/* Mark the databases that should have a scheduler now. */
static void
scan_databases(void)
{
	HASH_SEQ_STATUS it;
	LauncherDb *db;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	hash_seq_init(&it, databases);
	while ((db = hash_seq_search(&it)) != NULL)
		db->seen = false;

	set_launcher_state(PZ_STATE_SCANNING);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);

		if (!database_usable(form))
			continue;
		db = database_entry(form->oid);
		strlcpy(db->name, NameStr(form->datname), NAMEDATALEN);
		db->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	set_launcher_state(PZ_STATE_IDLE);
}

/* Caller holds the lock exclusively. */
static int
allocate_slot(Oid dboid, uint32 *generation)
{
	for (int i = 0; i < pz_workers->nslots; i++)
	{
		PzSchedulerSlot *s = &pz_workers->slots[i];
		uint32		next = s->generation + 1;

		if (s->in_use)
			continue;
		memset(s, 0, sizeof(*s));
		s->in_use = true;
		s->generation = *generation = next;
		s->dboid = dboid;
		s->state = PZ_STATE_STARTING;
		s->started_at = s->heartbeat = GetCurrentTimestamp();
		return i;
	}
	return -1;
}

static void
free_slot(int i)
{
	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	pz_workers->slots[i].in_use = false;
	pz_workers->slots[i].state = PZ_STATE_FREE;
	LWLockRelease(pz_workers->lock);
}

static void
start_scheduler(LauncherDb *db)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	uint32		generation = 0;
	int			i = -1;
	bool		paused;
	bool		registered;
	MemoryContext old;

	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	paused = pz_database_paused_locked(db->dboid);
	if (!paused)
		i = allocate_slot(db->dboid, &generation);
	LWLockRelease(pz_workers->lock);
	if (paused)
		return;
	if (i < 0)
	{
		if (!db->warned)
			ereport(LOG,
					(errmsg("personalize launcher: no free scheduler slot for database \"%s\"", db->name),
					 errhint("Raise personalize.max_schedulers (now %d), or narrow personalize.databases.",
							 pz_max_schedulers)));
		db->warned = true;
		db->next_start = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) pz_launcher_naptime * 1000);
		return;
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "personalize", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pz_scheduler_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "personalize scheduler for database %s", db->name);
	strlcpy(worker.bgw_type, "personalize scheduler", BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(i);
	memcpy(worker.bgw_extra, &db->dboid, sizeof(Oid));
	memcpy(worker.bgw_extra + sizeof(Oid), &generation, sizeof(uint32));
	worker.bgw_notify_pid = MyProcPid;

	/* the handle outlives this pass */
	old = MemoryContextSwitchTo(TopMemoryContext);
	registered = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	if (!registered)
	{
		free_slot(i);
		if (!db->warned)
			ereport(LOG,
					(errmsg("personalize launcher: could not start a scheduler for database \"%s\"", db->name),
					 errhint("Raise max_worker_processes: each personalize scheduler takes one.")));
		db->warned = true;
		db->next_start = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) pz_launcher_naptime * 1000);
		return;
	}
	handles[i] = handle;
	adopted_at[i] = 0;
	db->slot = i;
	db->warned = false;
}

/* Ask a scheduler whose database is no longer wanted to stop when idle. */
static void
retire_scheduler(LauncherDb *db)
{
	PzSchedulerSlot *s = &pz_workers->slots[db->slot];

	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	if (!s->stop_requested)
	{
		s->stop_requested = true;
		if (s->latch)
			SetLatch(s->latch);
	}
	LWLockRelease(pz_workers->lock);
}

/* Start what should run, stop what should not; returns how long to sleep. */
static long
reconcile(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = (long) pz_launcher_naptime * 1000;
	HASH_SEQ_STATUS it;
	LauncherDb *db;

	hash_seq_init(&it, databases);
	while ((db = hash_seq_search(&it)) != NULL)
	{
		if (!db->seen)
		{
			if (db->slot >= 0)
				retire_scheduler(db);
			else
				(void) hash_search(databases, &db->dboid, HASH_REMOVE, NULL);
			continue;
		}
		if (db->slot >= 0 || pz_database_paused(db->dboid))
			continue;
		if (db->next_start <= now)
			start_scheduler(db);
		if (db->slot < 0)
			sleep_ms = Min(sleep_ms, Max(TimestampDifferenceMilliseconds(now, db->next_start), 10));
	}
	/* adopted slots are watched by polling: their exits send no signal */
	for (int i = 0; i < pz_workers->nslots; i++)
		if (adopted_at[i] != 0)
			sleep_ms = Min(sleep_ms, 1000);
	return sleep_ms;
}

void
pz_launcher_main(Datum arg)
{
	HASHCTL		ctl;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("personalize launcher");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LauncherDb);
	databases = hash_create("personalize launcher databases", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	handles = MemoryContextAllocZero(TopMemoryContext, sizeof(*handles) * pz_workers->nslots);
	adopted_at = MemoryContextAllocZero(TopMemoryContext, sizeof(*adopted_at) * pz_workers->nslots);
	scan_context = AllocSetContextCreate(TopMemoryContext, "personalize launcher scan",
										 ALLOCSET_DEFAULT_SIZES);

	LWLockAcquire(pz_workers->lock, LW_EXCLUSIVE);
	pz_workers->launcher_pid = MyProcPid;
	pz_workers->launcher_latch = MyLatch;
	pz_workers->launcher_started = pz_workers->launcher_heartbeat = GetCurrentTimestamp();
	pz_workers->launcher_state = PZ_STATE_IDLE;
	LWLockRelease(pz_workers->lock);
	on_shmem_exit(launcher_exit, (Datum) 0);
	adopt_schedulers();

	for (;;)
	{
		MemoryContext old;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(scan_context);
		old = MemoryContextSwitchTo(scan_context);
		take_wake_requests();
		reap_schedulers();
		scan_databases();
		MemoryContextSwitchTo(scan_context);
		sleep_ms = reconcile();
		MemoryContextSwitchTo(old);
		set_launcher_state(PZ_STATE_IDLE);
		pgstat_report_stat(true);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
