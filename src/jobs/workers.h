/*
 * workers.h
 *		Background workers: one launcher per cluster, one scheduler per
 *		database that has the extension.
 *
 * The launcher (a static worker, connected to no database) lists the
 * databases, starts a dynamic scheduler worker in each and restarts it when
 * it stops.  A scheduler runs the jobs of its database that are due
 * (personalize.due_jobs(), personalize.execute_job()), one transaction per
 * job, and sleeps until the next one is due.  Both publish what they are
 * doing in a small control block in shared memory, read by
 * personalize.worker_status(); a ProcessUtility hook uses the same block to
 * stop a database's scheduler before DROP DATABASE and the like, and to
 * cancel its job before DROP EXTENSION personalize.
 */
#ifndef PERSONALIZE_WORKERS_H
#define PERSONALIZE_WORKERS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define PZ_JOB_NAME_MAX		NAMEDATALEN
/* databases whose schedulers may be held stopped at once (DROP DATABASE...) */
#define PZ_PAUSE_MAX		64
/* databases whose CREATE EXTENSION the launcher has yet to act on */
#define PZ_WAKE_MAX			16

typedef enum PzWorkerState
{
	PZ_STATE_FREE = 0,			/* slot unused */
	PZ_STATE_STARTING,			/* registered, not yet connected */
	PZ_STATE_IDLE,				/* sleeping until a job is due */
	PZ_STATE_RUNNING,			/* running a job */
	PZ_STATE_WAITING_UPDATE,	/* extension at another version than the library */
	PZ_STATE_NOT_COORDINATOR,	/* coordinator_only and this is a Citus worker */
	PZ_STATE_WAITING_LOCK,		/* the extension is being dropped or updated */
	PZ_STATE_STOPPING,			/* asked to stop, or exiting */
	PZ_STATE_SCANNING			/* launcher: reading pg_database */
} PzWorkerState;

/* Why a scheduler exited, read by the launcher to decide when to restart it. */
typedef enum PzExitReason
{
	PZ_EXIT_UNKNOWN = 0,		/* an error, a signal, or it never started */
	PZ_EXIT_NO_EXTENSION,		/* the database has no personalize extension */
	PZ_EXIT_STOPPED				/* asked to stop (database paused, or unwanted) */
} PzExitReason;

typedef struct PzSchedulerSlot
{
	bool		in_use;			/* owned by a scheduler until the launcher reaps it */
	uint32		generation;		/* bumped at every allocation */
	Oid			dboid;
	pid_t		pid;			/* kept after exit, to wait for the process to go */
	Latch	   *latch;
	PzWorkerState state;
	bool		exited;
	PzExitReason exit_reason;
	bool		stop_requested; /* exit quietly; no new job */
	bool		cancel_requested;	/* drop the current job quietly (DROP EXTENSION) */
	char		job[PZ_JOB_NAME_MAX];
	TimestampTz job_started;
	TimestampTz started_at;
	TimestampTz heartbeat;
	int64		jobs_run;
	int64		jobs_failed;
} PzSchedulerSlot;

typedef struct PzPause
{
	Oid			dboid;
	int			count;			/* statements holding the pause */
} PzPause;

typedef struct PzWorkersControl
{
	LWLock	   *lock;
	/* the launcher */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	PzWorkerState launcher_state;
	TimestampTz launcher_started;
	TimestampTz launcher_heartbeat;
	/* requests to the launcher: start these databases' schedulers now */
	bool		wake_all;
	int			nwake;
	Oid			wake[PZ_WAKE_MAX];
	/* databases whose schedulers must not run (DROP DATABASE in progress...) */
	PzPause		pauses[PZ_PAUSE_MAX];
	int			nslots;
	PzSchedulerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} PzWorkersControl;

/* settings */
extern char *pz_worker_databases;
extern int	pz_launcher_naptime;
extern int	pz_scheduler_naptime;
extern bool pz_coordinator_only;
extern int	pz_scheduler_nice;
extern int	pz_max_schedulers;

/* worker_shmem.c */
extern PzWorkersControl *pz_workers;
extern void pz_workers_shmem_init(void);
extern bool pz_database_paused(Oid dboid);
extern bool pz_database_paused_locked(Oid dboid);
extern void pz_pause_database(Oid dboid);
extern void pz_resume_database(Oid dboid);
extern void pz_wake_launcher(Oid dboid);
extern void pz_wake_scheduler(Oid dboid);
extern void pz_cancel_scheduler_job(Oid dboid);
extern const char *pz_worker_state_name(PzWorkerState state);

/* launcher.c */
extern void pz_workers_init(void);
extern bool pz_database_wanted(const char *datname);
PGDLLEXPORT void pz_launcher_main(Datum arg);

/* scheduler.c */
PGDLLEXPORT void pz_scheduler_main(Datum arg);

/* worker_hooks.c */
extern void pz_worker_hooks_init(void);

#endif							/* PERSONALIZE_WORKERS_H */
