/*
 * privileged.h
 *		Reading the extension's own registry tables from inside policies and
 *		GUC hooks, whatever the calling role may read or has on its path.
 */
#ifndef PERSONALIZE_PRIVILEGED_H
#define PERSONALIZE_PRIVILEGED_H

#include "postgres.h"

typedef struct PzPrivileged
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		pushed_snapshot;
} PzPrivileged;

extern void pz_privileged_begin(PzPrivileged *ctx);
extern void pz_privileged_end(PzPrivileged *ctx);
extern bool pz_extension_installed(void);
extern Oid	pz_relation_oid(const char *relname);

#endif							/* PERSONALIZE_PRIVILEGED_H */
