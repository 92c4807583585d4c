/*
 * request.c
 *		The checks every serving call starts with, and what it learns about
 *		the subject.
 *
 * A call is refused unless the purpose exists, may use personal data (so
 * pricing is always refused) and is granted to the calling role (SET ROLE
 * counts).  The subject's history is read as the caller through the
 * row-level security policy, under the purpose, so serving can never see
 * more than a query of the caller's could.  Only a consent of tier
 * personalization or above (capped by the purpose) makes a call personal;
 * anything less gets the non-personalized ranking.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "distance.h"
#include "executor/spi.h"
#include "matrix.h"
#include "miscadmin.h"
#include "personalize.h"
#include "privileged.h"
#include "purpose.h"
#include "request.h"
#include "utils/builtins.h"
#include "utils/guc.h"

int			pz_history_limit = 500;

/* ---- purpose and model ---------------------------------------------------- */

static PurposeInfo
check_purpose(const char *purpose)
{
	PurposeInfo info;
	Oid			userid = GetUserId();

	if (!pz_purpose_name_valid(purpose))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg(PZ_PURPOSE_NAME_MSG, purpose),
				 errhint(PZ_PURPOSE_NAME_HINT)));
	info = pz_purpose_lookup(purpose);
	if (!info.known)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg(PZ_PURPOSE_UNKNOWN_MSG, purpose),
				 errhint(PZ_PURPOSE_UNKNOWN_HINT)));
	if (!info.personal_data_allowed)
		pz_purpose_refuse_personal_data(purpose, &info,
										"use personal data, so nothing can be personalized for it");
	if (!superuser_arg(userid) && !pz_purpose_granted_chain(userid, &info))
		pz_purpose_refuse_ungranted(userid, purpose);
	return info;
}

/*
 * The active model of the purpose or of the nearest ancestor it inherits
 * from, cached per version.
 */
static int64
active_model(const char *purpose)
{
	static char cached_purpose[PZ_NAME_MAX];
	static uint64 cached_version = 0;
	static int64 cached_model = 0;
	uint64		version = pz_models_version();
	PzPrivileged ctx;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	int64		model = 0;

	if (version == cached_version && strcmp(cached_purpose, purpose) == 0)
		return cached_model;

	args[0] = CStringGetTextDatum(purpose);
	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT model_id FROM personalize.models WHERE status = 'active' "
							  "AND purpose = ANY (personalize.purpose_chain($1)) "
							  "ORDER BY length(purpose) DESC LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: active model lookup failed");
	if (SPI_processed == 1)
		model = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pz_privileged_end(&ctx);

	if (model == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no active model for purpose \"%s\"", purpose),
				 errhint("Train one, e.g. SELECT personalize.train('popularity', purpose => '%s').", purpose)));
	strlcpy(cached_purpose, purpose, sizeof(cached_purpose));
	cached_version = version;
	cached_model = model;
	return model;
}

const PzServing *
pz_serving_for_purpose(const char *purpose, PurposeInfo *info)
{
	PurposeInfo checked = check_purpose(purpose);

	if (info)
		*info = checked;
	return pz_serving_get(active_model(purpose));
}

/* ---- the subject ---------------------------------------------------------- */

/*
 * The most specific consent on the purpose chain; NULL without any.  The
 * chain comes from the purpose lookup the call began with.
 */
static Consent *
subject_consent(const PurposeInfo *info, int64 subject)
{
	PzPrivileged ctx;
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	Datum		args[2] = {Int64GetDatum(subject), pz_purpose_chain_array(info)};
	Consent    *c = NULL;

	pz_privileged_begin(&ctx);
	if (SPI_execute_with_args("SELECT consent FROM personalize.consents "
							  "WHERE subject_id = $1 AND purpose = ANY ($2) "
							  "ORDER BY length(purpose) DESC LIMIT 1",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: consent lookup failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		/* copied out of SPI's memory into the caller's */
		c = (Consent *) SPI_datumTransfer(d, false, -1);
	}
	pz_privileged_end(&ctx);
	return c ? (Consent *) PG_DETOAST_DATUM(PointerGetDatum(c)) : NULL;
}

int
pz_visible_history(const char *purpose, int64 subject, int limit, PzHistoryRow **rows)
{
	int			nest = NewGUCNestLevel();
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(subject), Int32GetDatum(limit)};
	char		nulls[2] = {' ', limit > 0 ? ' ' : 'n'};
	MemoryContext caller = CurrentMemoryContext;
	int			n;

	(void) set_config_option("personalize.purpose", purpose, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "personalize: SPI_connect failed");
	if (SPI_execute_with_args("SELECT i.item_id, sum(i.weight * coalesce(k.weight, 1))::real, "
							  "(array_agg(i.kind ORDER BY i.weight * coalesce(k.weight, 1) DESC, i.occurred_at DESC))[1] "
							  "FROM personalize.interactions i "
							  "LEFT JOIN personalize.interaction_kinds k ON k.kind = i.kind "
							  "JOIN personalize.signal_categories c ON c.name = i.category "
							  "WHERE i.subject_id = $1 AND c.justification IS NOT NULL "
							  "AND personalize.row_visible(i.subject_id, i.category, i.occurred_at) "
							  "GROUP BY i.item_id "
							  "ORDER BY max(i.occurred_at) DESC, sum(i.weight * coalesce(k.weight, 1)) DESC, i.item_id "
							  "LIMIT $2",
							  2, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: history lookup failed");
	n = (int) SPI_processed;
	*rows = MemoryContextAllocZero(caller, sizeof(PzHistoryRow) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		(*rows)[r].item_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		(*rows)[r].value = DatumGetFloat4(SPI_getbinval(t, d, 2, &isnull));
		strlcpy((*rows)[r].kind, SPI_getvalue(t, d, 3), PZ_KIND_MAX);
	}
	SPI_finish();
	AtEOXact_GUC(true, nest);
	return n;
}

/*
 * Every item of the subject's visible history, as catalogue indices (items
 * no longer in the catalogue are left out): what "seen" means for
 * exclusion, whatever the history's length.  One index-only pass over the
 * subject's rows, read as the caller like the history itself.
 */
static int
visible_items(const char *purpose, const PzServing *s, int64 subject, int32 **items)
{
	int			nest = NewGUCNestLevel();
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(subject)};
	MemoryContext caller = CurrentMemoryContext;
	int			n = 0;

	(void) set_config_option("personalize.purpose", purpose, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "personalize: SPI_connect failed");
	if (SPI_execute_with_args("SELECT DISTINCT i.item_id "
							  "FROM personalize.interactions i "
							  "JOIN personalize.signal_categories c ON c.name = i.category "
							  "WHERE i.subject_id = $1 AND c.justification IS NOT NULL "
							  "AND personalize.row_visible(i.subject_id, i.category, i.occurred_at)",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "personalize: history lookup failed");
	*items = MemoryContextAlloc(caller, sizeof(int32) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int32		i = pz_serving_item_index(s, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
																			  SPI_tuptable->tupdesc, 1, &isnull)));

		if (i >= 0)
			(*items)[n++] = i;
	}
	SPI_finish();
	AtEOXact_GUC(true, nest);
	return n;
}

static void
fold_in(PzRequest *r)
{
	const PzServing *s = r->s;
	int32	   *items = palloc(sizeof(int32) * Max(r->nhistory, 1));
	float	   *values = palloc(sizeof(float) * Max(r->nhistory, 1));
	double	   *b = palloc(sizeof(double) * s->k);
	PzAlsParams p = {.factors = s->k, .regularization = s->regularization,
	.reg_exponent = s->reg_exponent, .alpha = s->alpha};
	int			n = 0;

	for (int h = 0; h < r->nhistory; h++)
	{
		int32		i = r->history_item[h];

		if (i >= 0 && (pz_item_flags(s)[i] & PZ_ITEM_FACTORS) && r->history[h].value > 0)
		{
			/* weighted as the model was trained */
			items[n] = i;
			values[n] = pz_weigh_value((PzWeighting) s->weighting, r->history[h].value, pz_idf(s)[i]);
			n++;
		}
	}
	if (n == 0)
		return;
	r->L = pz_als_fold_in_system(pz_Y(s), s->k, pz_YtY(s), items, values, n, &p, b);
	pz_cholesky_solve(r->L, s->k, b);
	r->u = palloc(sizeof(float) * s->k);
	for (int a = 0; a < s->k; a++)
		r->u[a] = (float) b[a];
}

void
pz_request_subject(PzRequest *r, const PzServing *s, const char *purpose,
				   const PurposeInfo *info, int64 subject)
{
	memset(r, 0, sizeof(*r));
	r->purpose = purpose;
	r->s = s;
	r->subject = subject;
	r->consent = subject_consent(info, subject);
	r->tier = r->consent ? Min((int) r->consent->tier, info->max_tier) : TIER_NONE;
	r->personalized = r->tier >= TIER_PERSONALIZATION;
	if (!r->personalized)
		return;

	r->nhistory = pz_visible_history(purpose, subject, pz_history_limit, &r->history);
	r->history_item = palloc(sizeof(int32) * Max(r->nhistory, 1));
	for (int h = 0; h < r->nhistory; h++)
		r->history_item[h] = pz_serving_item_index(s, r->history[h].item_id);

	/*
	 * A history cut at the limit is not everything the subject has seen:
	 * the rest is read too (ids only), so that exclusion holds whatever the
	 * history's length.  Scoring and fold-in keep to the limited history.
	 */
	if (r->nhistory >= pz_history_limit)
		r->nseen = visible_items(purpose, s, subject, &r->seen_item);
	if (s->algorithm == PZ_SERVE_ALS)
		fold_in(r);
}

bool
pz_request_uses_model(const PzRequest *r)
{
	switch (r->s->algorithm)
	{
		case PZ_SERVE_ALS:
			return r->u != NULL;
		case PZ_SERVE_ITEMKNN:
			return r->personalized && r->nhistory > 0;
		case PZ_SERVE_POPULARITY:
			return false;
	}
	return false;
}

float
pz_request_score(const PzRequest *r, int32 item)
{
	const PzServing *s = r->s;
	float		sum = 0.0f;

	if (!pz_request_uses_model(r))
		return pz_popularity(s)[item];
	if (s->algorithm == PZ_SERVE_ALS)
		return (pz_item_flags(s)[item] & PZ_ITEM_FACTORS) ?
			pz_kernels->dot(pz_Y(s) + (Size) item * s->k, r->u, s->k) : 0.0f;
	for (int h = 0; h < r->nhistory; h++)
		if (r->history_item[h] >= 0)
			sum += pz_serving_neighbor_similarity(s, r->history_item[h], item);
	return sum;
}

/*
 * ALS: the score is y_i . x with x = A^-1 sum_j c_j y_j, so history item j
 * contributes c_j (A^-1 y_i) . y_j, with c_j = 1 + alpha w(r_j), w the
 * model's weighting (as in the "explain" of the implicit library).  kNN and
 * RP3beta: the item's stored neighbour score from the history item.
 */
void
pz_request_contributions(const PzRequest *r, int32 item, float *contrib)
{
	const PzServing *s = r->s;
	int			k = s->k;

	memset(contrib, 0, sizeof(float) * Max(r->nhistory, 1));
	if (!pz_request_uses_model(r))
		return;
	if (s->algorithm == PZ_SERVE_ITEMKNN)
	{
		for (int h = 0; h < r->nhistory; h++)
			if (r->history_item[h] >= 0)
				contrib[h] = pz_serving_neighbor_similarity(s, r->history_item[h], item);
		return;
	}
	if (!(pz_item_flags(s)[item] & PZ_ITEM_FACTORS))
		return;
	{
		double	   *v = palloc(sizeof(double) * k);
		const float *yi = pz_Y(s) + (Size) item * k;

		for (int a = 0; a < k; a++)
			v[a] = yi[a];
		pz_cholesky_solve(r->L, k, v);
		for (int h = 0; h < r->nhistory; h++)
		{
			int32		j = r->history_item[h];
			const float *yj;
			double		dot = 0.0;

			if (j < 0 || !(pz_item_flags(s)[j] & PZ_ITEM_FACTORS) || !(r->history[h].value > 0))
				continue;
			yj = pz_Y(s) + (Size) j * k;
			for (int a = 0; a < k; a++)
				dot += v[a] * yj[a];
			contrib[h] = (float) ((1.0 + (double) s->alpha *
								   pz_weigh_value((PzWeighting) s->weighting, r->history[h].value,
												  pz_idf(s)[j])) * dot);
		}
		pfree(v);
	}
}
