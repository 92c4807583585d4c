/*
 * drift.c
 *		Settings of drift monitoring: how long a period is, how much a Gini
 *		coefficient may rise before an alert, who counts as a new subject,
 *		how small a sample is too small to alert on, and whether an alert
 *		may raise the exploration budget (and how far).
 *
 *		All are PGC_SUSET: they decide what a background job writes into
 *		registry tables and whether it alters the database's settings, so
 *		only a superuser sets them (postgresql.conf, ALTER DATABASE ... SET,
 *		or SET in a superuser session); a reload (SIGHUP) applies a changed
 *		postgresql.conf to running workers.
 */
#include "postgres.h"

#include <limits.h>

#include "access/hash.h"
#include "access/htup_details.h"
#include "drift.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#define MINUTES_PER_WEEK	(7 * 24 * 60)

static int	drift_period_min = 24 * 60;
static double gini_alert_delta = 0.05;
static int	new_subject_window_min = MINUTES_PER_WEEK;
static int	drift_min_impressions = 500;
static double drift_noise_z = 3.5;
static bool drift_raise_exploration = false;
static double drift_exploration_ceiling = 0.3;
static double drift_exploration_step = 0.05;

/*
 * A period must tile a week (divide it, or be whole weeks): periods are
 * aligned on Monday 00:00 UTC, and a period is compared with the one a week
 * earlier, which must be a period too.
 */
static bool
check_drift_period(int *newval, void **extra, GucSource source)
{
	if (MINUTES_PER_WEEK % *newval == 0 || *newval % MINUTES_PER_WEEK == 0)
		return true;
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("personalize.drift_period must divide a week or be a whole number of weeks, not %d minutes",
					 *newval);
	GUC_check_errdetail("Periods are aligned on Monday 00:00 UTC and compared with the period a week earlier.");
	GUC_check_errhint("Use for example 1h, 6h, 12h, 1d, 7d or 14d.");
	return false;
}

void
pz_drift_init(void)
{
	DefineCustomIntVariable("personalize.drift_period",
							"Length of a drift monitoring period.",
							"Periods are aligned on Monday 00:00 UTC; the length must divide a week or be whole weeks.",
							&drift_period_min, 24 * 60, 60, 4 * MINUTES_PER_WEEK,
							PGC_SUSET, GUC_UNIT_MIN, check_drift_period, NULL, NULL);
	DefineCustomRealVariable("personalize.gini_alert_delta",
							 "Rise of a Gini coefficient over its baseline that raises a drift alert.",
							 "Baselines: the previous period, and the period a week earlier. 1 turns alerts off.",
							 &gini_alert_delta, 0.05, 0.001, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.drift_new_subject_window",
							"Subjects first shown anything this long before a period's end are new in it.",
							"The others are established; drift is measured for both segments and for all.",
							&new_subject_window_min, MINUTES_PER_WEEK, 0, 366 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.drift_min_impressions",
							"Fewest impressions a segment needs in a period, and in its baseline, to raise a drift alert.",
							"Smaller samples are measured but never alert; above it, personalize.drift_noise_z keeps sampling noise from alerting.",
							&drift_min_impressions, 500, 0, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("personalize.drift_noise_z",
							 "How many standard errors of sampling noise a Gini must rise by, besides personalize.gini_alert_delta, to raise a drift alert.",
							 "The standard error of the difference is taken as 0.55 * sqrt(1/n + 1/m) for periods of n and m impressions; 0 turns the test off.",
							 &drift_noise_z, 3.5, 0.0, 10.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("personalize.drift_raise_exploration",
							 "Whether a drift alert on the latest period raises the exploration rate.",
							 "personalize.exploration (established subjects, or all) or personalize.exploration_new "
							 "(new subjects), by personalize.drift_exploration_step up to "
							 "personalize.drift_exploration_ceiling, with ALTER DATABASE ... SET.",
							 &drift_raise_exploration, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("personalize.drift_exploration_ceiling",
							 "Highest exploration rate a drift alert may raise a setting to.",
							 NULL, &drift_exploration_ceiling, 0.3, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("personalize.drift_exploration_step",
							 "How much a drift alert raises the exploration rate by.",
							 NULL, &drift_exploration_step, 0.05, 0.001, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

/*
 * The settings as typed values for the SQL side, so that it parses no unit
 * strings ("1d", "90min") itself.
 */
PZ_FUNCTION(pz_drift_settings)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false};
	Interval   *period = palloc0(sizeof(Interval));
	Interval   *window = palloc0(sizeof(Interval));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "drift_settings must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (tupdesc->natts != 7)
		elog(ERROR, "drift_settings: expected 7 result columns, not %d", tupdesc->natts);

	period->time = (int64) drift_period_min * USECS_PER_MINUTE;
	window->time = (int64) new_subject_window_min * USECS_PER_MINUTE;
	values[0] = IntervalPGetDatum(period);
	values[1] = Float8GetDatum(gini_alert_delta);
	values[2] = IntervalPGetDatum(window);
	values[3] = Int64GetDatum(drift_min_impressions);
	values[4] = BoolGetDatum(drift_raise_exploration);
	values[5] = Float8GetDatum(drift_exploration_ceiling);
	values[6] = Float8GetDatum(drift_exploration_step);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * Drift runs are serialized per purpose (and raises of one exploration
 * setting per database) on a transaction-level advisory lock whose last
 * field no SQL function uses (pg_advisory_lock() uses 1 and 2): no role can
 * take it to stall the drift job or make it skip a purpose forever.
 */
#define DRIFT_LOCK_FIELD2	0x707A6472	/* "pzdr" */
#define DRIFT_LOCK_FIELD4	0x707A

PZ_FUNCTION(pz_drift_lock)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	bool		wait = PG_GETARG_BOOL(1);
	uint32		h = DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(key),
											VARSIZE_ANY_EXHDR(key)));
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, DRIFT_LOCK_FIELD2, h, DRIFT_LOCK_FIELD4);
	PG_RETURN_BOOL(LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL);
}
