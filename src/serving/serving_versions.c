/*
 * serving_versions.c
 *		When a hot standby's serving snapshot goes stale.
 *
 * On the primary, a commit that changed personalize.items or
 * personalize.models bumps a counter in shared memory (serving_shmem.c),
 * and recommend() rebuilds its snapshot when the counter moves.  A standby
 * replays such commits without running any trigger, so its counters never
 * move: an activation or a new sponsored flag would never reach a session
 * that had already served.  So the same triggers also add 1 to a row of
 * personalize.serving_versions inside the changing transaction; the row
 * commits, and replays, together with the change, and a standby sums the
 * rows instead of reading its counters.
 *
 * The sum only grows, and one snapshot sees a sum that counts exactly the
 * changes it sees, so a key built from it is never reused for other data.
 * The version is read before the snapshot is built, from a snapshot no
 * newer than the build's, so a snapshot can hold newer data than its key
 * (one rebuild too many), never older.  Standby versions carry the top bit
 * so that they never equal a primary counter after a promotion.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "personalize.h"
#include "privileged.h"
#include "serving.h"
#include "storage/backendid.h"
#include "storage/proc.h"

#define VERSION_ROWS		16
#define STANDBY_VERSION_BIT	(UINT64CONST(1) << 63)

/* The (sub)transaction that last bumped each counter. */
static SubTransactionId catalogue_bumped = InvalidSubTransactionId;
static SubTransactionId models_bumped = InvalidSubTransactionId;
static LocalTransactionId bumped_in = InvalidLocalTransactionId;

/*
 * Add 1 to this backend's row, once per subtransaction and table: a
 * subtransaction rolled back takes its bump with it, and the statement
 * that follows bumps again.  A database not yet updated to a version with
 * the table only has the primary's counters.
 */
void
pz_serving_versions_bump(bool catalogue)
{
	SubTransactionId current = GetCurrentSubTransactionId();
	SubTransactionId *bumped = catalogue ? &catalogue_bumped : &models_bumped;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	PzPrivileged ctx;

	if (bumped_in != MyProc->lxid)
	{
		catalogue_bumped = models_bumped = InvalidSubTransactionId;
		bumped_in = MyProc->lxid;
	}
	if (*bumped == current || !OidIsValid(pz_relation_oid("serving_versions")))
		return;
	args[0] = Int32GetDatum(MyBackendId % VERSION_ROWS);
	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args(catalogue ?
							  "UPDATE personalize.serving_versions SET catalogue = catalogue + 1 WHERE slot = $1" :
							  "UPDATE personalize.serving_versions SET models = models + 1 WHERE slot = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "personalize: could not bump the serving version");
	pz_privileged_end(&ctx);
	*bumped = current;
}

/*
 * The version of items (catalogue) or models as a standby sees it now;
 * 0 when the table is missing (then the caller keeps its counter).
 */
uint64
pz_serving_versions_standby(bool catalogue)
{
	PzPrivileged ctx;
	uint64		version = 0;
	bool		isnull;

	if (!OidIsValid(pz_relation_oid("serving_versions")))
		return 0;
	pz_privileged_begin(&ctx);
	if (SPI_execute(catalogue ?
					"SELECT sum(catalogue)::int8 FROM personalize.serving_versions" :
					"SELECT sum(models)::int8 FROM personalize.serving_versions",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "personalize: could not read the serving versions");
	version = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pz_privileged_end(&ctx);
	return isnull ? 0 : version | STANDBY_VERSION_BIT;
}
