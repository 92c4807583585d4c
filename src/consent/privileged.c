/*
 * privileged.c
 *		SPI sections that run as the bootstrap superuser with a pinned
 *		search_path, so the registry is read the same way whoever asks and
 *		no function or operator on the caller's search_path can intervene.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "privileged.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

void
pz_privileged_begin(PzPrivileged *ctx)
{
	GetUserIdAndSecContext(&ctx->save_userid, &ctx->save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   ctx->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ctx->save_nestlevel = NewGUCNestLevel();
	/* GUC_ACTION_SAVE is the one form allowed in parallel workers too */
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	/*
	 * Read the registry as of now, not as of the caller's snapshot: inside a
	 * cursor opened earlier, a REPEATABLE READ transaction or while a session
	 * starts (no snapshot at all), a withdrawal or revocation that has
	 * committed must already count.  Parallel workers cannot take snapshots
	 * and use the statement's.
	 */
	ctx->pushed_snapshot = !IsInParallelMode();
	if (ctx->pushed_snapshot)
		PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "personalize: SPI_connect failed");
}

void
pz_privileged_end(PzPrivileged *ctx)
{
	SPI_finish();
	if (ctx->pushed_snapshot)
		PopActiveSnapshot();
	AtEOXact_GUC(true, ctx->save_nestlevel);
	SetUserIdAndSecContext(ctx->save_userid, ctx->save_sec_context);
}

bool
pz_extension_installed(void)
{
	return OidIsValid(get_extension_oid("personalize", true));
}

Oid
pz_relation_oid(const char *relname)
{
	Oid			nsp = get_namespace_oid("personalize", true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}
