/*
 * drift.h
 *		Drift monitoring settings (personalize.drift_*, gini_alert_delta).
 *		The computation itself is SQL (sql/install/120_drift.sql) over the
 *		gini(value, population) aggregate of src/model/metrics.c; the drift
 *		job handler reads these settings through personalize.drift_settings().
 */
#ifndef PERSONALIZE_DRIFT_H
#define PERSONALIZE_DRIFT_H

#include "postgres.h"

/* Define the settings; called once from _PG_init. */
extern void pz_drift_init(void);

#endif							/* PERSONALIZE_DRIFT_H */
