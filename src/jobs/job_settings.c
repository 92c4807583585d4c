/*
 * job_settings.c
 *		Settings of the built-in jobs: when retraining is due, and how much
 *		run history is kept.  The job handlers are SQL (sql/install/110_jobs.sql,
 *		140_builtin_jobs.sql) and read these with current_setting().
 *
 * They are PGC_SUSET: postgresql.conf sets them for the schedulers (and a
 * reload reaches them), and a superuser can set them per database.
 */
#include "personalize.h"

#include <limits.h>

#include "utils/guc.h"

static int	retrain_interval_s = 86400;
static int	retrain_min_interactions = 10000;
static int	job_history_size = 100;

void
pz_job_settings_define_gucs(void)
{
	DefineCustomIntVariable("personalize.retrain_interval",
							"Time after a purpose's newest model when the retrain job trains a new one.",
							"The retrain job also trains earlier once personalize.retrain_min_interactions new interactions are visible.",
							&retrain_interval_s, 86400, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.retrain_min_interactions",
							"New interactions visible under the purpose that make the retrain job train before its interval.",
							NULL, &retrain_min_interactions, 10000, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.job_history_size",
							"Runs of each job kept in personalize.job_runs.",
							NULL, &job_history_size, 100, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
}
