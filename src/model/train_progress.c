/*
 * train_progress.c
 *		Progress of running training, visible from other sessions.
 *
 * Each backend owns one slot of a shared array (indexed by its backend id),
 * so reporting never waits for another backend; a spinlock per slot keeps
 * a reader from seeing half an update.  The slot is cleared when training
 * ends and, should it fail or be cancelled, when the transaction (or the
 * subtransaction running it) aborts.  Without shared_preload_libraries
 * there is no array and nothing is reported.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "train_progress.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define PROGRESS_NAME_MAX	(NAMEDATALEN + 1)

typedef struct TrainProgress
{
	slock_t		mutex;
	int			pid;			/* 0: no training in this backend */
	Oid			dboid;
	Oid			roleid;			/* who called, SET ROLE counting */
	int64		model_id;
	char		purpose[PROGRESS_NAME_MAX];
	char		algorithm[16];
	PzTrainPhase phase;
	int			step;
	int			steps;
	int64		rows_read;
	TimestampTz started;
	TimestampTz phase_started;
} TrainProgress;

static const char *const phase_names[] = {
	[PZ_PHASE_READING] = "reading interactions",
	[PZ_PHASE_SPLITTING] = "splitting off the hold-out",
	[PZ_PHASE_TUNING] = "tuning",
	[PZ_PHASE_FITTING_HELDOUT] = "fitting on the training part",
	[PZ_PHASE_EVALUATING] = "evaluating on the hold-out",
	[PZ_PHASE_FITTING_FINAL] = "fitting on all data",
	[PZ_PHASE_CHECKING_PRIVACY] = "checking privacy",
	[PZ_PHASE_STORING] = "storing",
};

static TrainProgress *slots = NULL;
static TrainProgress *mine = NULL;	/* set while this backend trains */
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static bool callbacks_registered = false;

static Size
progress_size(void)
{
	return mul_size(MaxBackends, sizeof(TrainProgress));
}

static void
progress_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(progress_size()));
}

static void
progress_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	slots = ShmemInitStruct("personalize training progress", progress_size(), &found);
	if (!found)
	{
		memset(slots, 0, progress_size());
		for (int i = 0; i < MaxBackends; i++)
			SpinLockInit(&slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pz_train_progress_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = progress_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = progress_shmem_startup;
}

static void
clear_mine(void)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->pid = 0;
	SpinLockRelease(&mine->mutex);
	mine = NULL;
}

static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		clear_mine();
}

/* Training does not open subtransactions: an abort here is of its caller. */
static void
progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		clear_mine();
}

void
pz_progress_begin(int64 model_id, const char *purpose, const char *algorithm)
{
	TimestampTz now = GetCurrentTimestamp();

	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(progress_xact_callback, NULL);
		RegisterSubXactCallback(progress_subxact_callback, NULL);
		callbacks_registered = true;
	}
	mine = &slots[MyBackendId - 1];
	SpinLockAcquire(&mine->mutex);
	mine->pid = MyProcPid;
	mine->dboid = MyDatabaseId;
	mine->roleid = GetOuterUserId();
	mine->model_id = model_id;
	strlcpy(mine->purpose, purpose, sizeof(mine->purpose));
	strlcpy(mine->algorithm, algorithm, sizeof(mine->algorithm));
	mine->phase = PZ_PHASE_READING;
	mine->step = mine->steps = 0;
	mine->rows_read = 0;
	mine->started = mine->phase_started = now;
	SpinLockRelease(&mine->mutex);
}

void
pz_progress_phase(PzTrainPhase phase)
{
	TimestampTz now = GetCurrentTimestamp();

	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->phase = phase;
	mine->step = mine->steps = 0;
	mine->phase_started = now;
	SpinLockRelease(&mine->mutex);
}

void
pz_progress_rows(int64 rows_read)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->rows_read = rows_read;
	SpinLockRelease(&mine->mutex);
}

/*
 * Called between iterations, where a long fit can also be cancelled: the
 * ALS solver's threads have joined, so the backend can take the interrupt.
 */
void
pz_progress_step(int step, int steps)
{
	CHECK_FOR_INTERRUPTS();
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->step = step;
	mine->steps = steps;
	SpinLockRelease(&mine->mutex);
}

void
pz_progress_end(void)
{
	clear_mine();
}

/*
 * Like pg_stat_progress_*: other roles' training shows its pid and
 * database only, unless the caller has pg_read_all_stats.
 */
PZ_FUNCTION(pz_training_progress)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all_stats = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	if (slots == NULL)
		return (Datum) 0;
	for (int i = 0; i < MaxBackends; i++)
	{
		TrainProgress p;
		Datum		values[11];
		bool		nulls[11] = {0};

		SpinLockAcquire(&slots[i].mutex);
		p = slots[i];
		SpinLockRelease(&slots[i].mutex);
		if (p.pid == 0 || p.dboid != MyDatabaseId)
			continue;
		values[0] = Int32GetDatum(p.pid);
		if (all_stats || has_privs_of_role(GetUserId(), p.roleid))
		{
			values[1] = CStringGetTextDatum(p.purpose);
			values[2] = CStringGetTextDatum(p.algorithm);
			values[3] = Int64GetDatum(p.model_id);
			values[4] = CStringGetTextDatum(phase_names[p.phase]);
			values[5] = Int32GetDatum(p.step);
			values[6] = Int32GetDatum(p.steps);
			nulls[5] = nulls[6] = (p.steps == 0);
			values[7] = Int64GetDatum(p.rows_read);
			values[8] = TimestampTzGetDatum(p.started);
			values[9] = IntervalPGetDatum(DatumGetIntervalP(
											DirectFunctionCall2(timestamp_mi,
																TimestampTzGetDatum(now),
																TimestampTzGetDatum(p.started))));
			values[10] = IntervalPGetDatum(DatumGetIntervalP(
											 DirectFunctionCall2(timestamp_mi,
																 TimestampTzGetDatum(now),
																 TimestampTzGetDatum(p.phase_started))));
		}
		else
			for (int c = 1; c < 11; c++)
				nulls[c] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
