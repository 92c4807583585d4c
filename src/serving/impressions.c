/*
 * impressions.c
 *		What recommend() showed, and what people did with it: the bandit
 *		counters in the shared snapshot and the impressions log.
 *
 * Counting is a handful of atomic increments.  Logging is one INSERT of
 * the whole list through a kept plan, so a call stays a read with one small
 * append, never an update of shared rows that concurrent calls would queue
 * on.  The subject's id is logged only when they have at least a
 * functional consent for the purpose; otherwise the row is anonymous and
 * serves the item counters alone.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "personalize.h"
#include "privileged.h"
#include "recommend.h"
#include "utils/array.h"
#include "utils/builtins.h"

static SPIPlanPtr insert_plan = NULL;

static void
prepare_insert(void)
{
	Oid			argtypes[8] = {INT8OID, TEXTOID, INT8OID, INT8ARRAYOID, INT4ARRAYOID,
	FLOAT4ARRAYOID, BOOLARRAYOID, BOOLARRAYOID};
	SPIPlanPtr	plan;

	if (insert_plan)
		return;
	plan = SPI_prepare("INSERT INTO personalize.impressions "
					   "(subject_id, purpose, model_id, item_id, rank, score, explored, sponsored) "
					   "SELECT $1, $2, $3, u.i, u.r, u.s, u.e, u.p "
					   "FROM unnest($4, $5, $6, $7, $8) AS u(i, r, s, e, p)",
					   8, argtypes);
	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "personalize: could not prepare the impressions insert");
	insert_plan = plan;
}

static void
log_impressions(const PzRequest *r, const PzCandidate *list, int n)
{
	const PzServing *s = r->s;
	Datum	   *item = palloc(sizeof(Datum) * n);
	Datum	   *rank = palloc(sizeof(Datum) * n);
	Datum	   *score = palloc(sizeof(Datum) * n);
	Datum	   *explored = palloc(sizeof(Datum) * n);
	Datum	   *sponsored = palloc(sizeof(Datum) * n);
	Datum		args[8];
	char		nulls[8] = "        ";
	PzPrivileged ctx;

	for (int i = 0; i < n; i++)
	{
		item[i] = Int64GetDatum(pz_item_ids(s)[list[i].item]);
		rank[i] = Int32GetDatum(i + 1);
		score[i] = Float4GetDatum(list[i].score);
		explored[i] = BoolGetDatum(list[i].source == PZ_SOURCE_EXPLORE);
		sponsored[i] = BoolGetDatum((pz_item_flags(s)[list[i].item] & PZ_ITEM_SPONSORED) != 0);
	}
	args[0] = Int64GetDatum(r->subject);
	nulls[0] = r->tier >= TIER_FUNCTIONAL ? ' ' : 'n';
	args[1] = CStringGetTextDatum(r->purpose);
	args[2] = Int64GetDatum(s->model_id);
	args[3] = PointerGetDatum(construct_array(item, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = PointerGetDatum(construct_array(rank, n, INT4OID, 4, true, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_array(score, n, FLOAT4OID, 4, true, TYPALIGN_INT));
	args[6] = PointerGetDatum(construct_array(explored, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	args[7] = PointerGetDatum(construct_array(sponsored, n, BOOLOID, 1, true, TYPALIGN_CHAR));

	pz_privileged_begin(&ctx);
	prepare_insert();
	if (SPI_execute_plan(insert_plan, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "personalize: could not log impressions");
	pz_privileged_end(&ctx);
}

void
pz_record_impressions(const PzRequest *r, const PzCandidate *list, int n)
{
	for (int i = 0; i < n; i++)
		pg_atomic_fetch_add_u64(&pz_shown(r->s)[list[i].item], 1);
	/* a standby or a read-only transaction still serves, unlogged */
	if (pz_log_impressions && n > 0 && !XactReadOnly && !RecoveryInProgress())
		log_impressions(r, list, n);
}

/*
 * bandit_reward(purpose, item, reward): add a reward to the item's counter
 * in the snapshot serving the purpose or its nearest ancestor (called by
 * feedback(), which records the row).
 */
PZ_FUNCTION(pz_bandit_reward)
{
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		item_id = PG_GETARG_INT64(1);
	float4		reward = PG_GETARG_FLOAT4(2);

	if (!(reward >= 0.0f && reward <= 1.0f))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reward must be between 0 and 1, not %g", reward)));
	if (!pz_serving_available())
		PG_RETURN_VOID();
	for (;;)
	{
		const PzServing *s = pz_serving_find_purpose(purpose);
		char	   *dot;

		if (s)
		{
			int32		i = pz_serving_item_index(s, item_id);

			if (i >= 0)
				pg_atomic_fetch_add_u64(&pz_reward(s)[i], (uint64) rint(reward * PZ_REWARD_SCALE));
			break;
		}
		dot = strrchr(purpose, '.');
		if (dot == NULL)
			break;
		*dot = '\0';
	}
	PG_RETURN_VOID();
}

/*
 * bandit_arms(purpose): the exploration posteriors of the items that were
 * shown or rewarded, Beta(1 + rewards, 1 + shown - rewards).
 */
PZ_FUNCTION(pz_bandit_arms)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const PzServing *s;

	InitMaterializedSRF(fcinfo, 0);
	s = pz_serving_for_purpose(text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL);
	for (int32 i = 0; i < s->nitems; i++)
	{
		uint64		shown = pg_atomic_read_u64(&pz_shown(s)[i]);
		double		reward = (double) pg_atomic_read_u64(&pz_reward(s)[i]) / PZ_REWARD_SCALE;
		Datum		values[4];
		bool		nulls[4] = {false};

		if (shown == 0 && reward == 0)
			continue;
		values[0] = Int64GetDatum(pz_item_ids(s)[i]);
		values[1] = Int64GetDatum((int64) shown);
		values[2] = Float4GetDatum((float) reward);
		values[3] = Float4GetDatum((float) ((1.0 + reward) / (2.0 + Max((double) shown, reward))));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
