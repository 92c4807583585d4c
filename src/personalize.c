/*
 * personalize.c
 *		Module entry point: library initialisation.
 */
#include "personalize.h"

#include "consent_store.h"
#include "distance.h"
#include "drift.h"
#include "mia.h"
#include "protected.h"
#include "purpose.h"
#include "recommend.h"
#include "serving.h"
#include "train_progress.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "workers.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	pz_distance_init();
	pz_purpose_define_guc();
	pz_visibility_init();
	pz_consent_store_init();
	pz_consent_changes_init();
	pz_protected_init();
	pz_guard_init();
	pz_estimates_init();
	pz_serving_shmem_init();
	pz_recommend_define_gucs();
	pz_train_progress_init();
	pz_job_settings_define_gucs();
	pz_train_define_gucs();
	pz_mia_define_gucs();
	pz_workers_init();
	pz_drift_init();

	/*
	 * Last: reserving the prefix removes the placeholders postgresql.conf
	 * made for settings not defined yet, so every setting is defined first
	 * (or its configured value is lost until the next reload).
	 */
	MarkGUCPrefixReserved("personalize");
}

/* Which distance kernels this server chose at load time (for diagnostics). */
PZ_FUNCTION(pz_simd_level)
{
	PG_RETURN_TEXT_P(cstring_to_text(pz_kernels->name));
}
