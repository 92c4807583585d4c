/*
 * explain.c
 *		personalize.explain(subject, item): the contributions behind the
 *		score recommend() would give an item.
 *
 * For ALS the history items' contributions sum to the score exactly (see
 * pz_request_contributions); for item-kNN and RP3beta each is the item's
 * stored neighbour score from a history item; without a usable history the score is the item's
 * popularity, and that is the one row.
 */
#include "postgres.h"

#include "funcapi.h"
#include "personalize.h"
#include "request.h"
#include "utils/builtins.h"

typedef struct Contribution
{
	int			h;
	float		value;
} Contribution;

static int
larger_first(const void *a, const void *b)
{
	float		x = ((const Contribution *) a)->value;
	float		y = ((const Contribution *) b)->value;

	return x > y ? -1 : x < y ? 1 : ((const Contribution *) a)->h - ((const Contribution *) b)->h;
}

static void
put_row(ReturnSetInfo *rsinfo, const char *source, const PzRequest *r, int h,
		float contribution, float score)
{
	Datum		values[6];
	bool		nulls[6] = {false};

	values[0] = CStringGetTextDatum(source);
	if (h < 0)
		nulls[1] = nulls[2] = nulls[3] = true;
	else
	{
		values[1] = Int64GetDatum(r->history[h].item_id);
		values[2] = CStringGetTextDatum(pz_serving_item_name(r->s, r->history_item[h]));
		values[3] = CStringGetTextDatum(r->history[h].kind);
	}
	values[4] = Float4GetDatum(contribution);
	values[5] = Float4GetDatum(score != 0.0f ? contribution / score : 0.0f);
	nulls[5] = score == 0.0f;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PZ_FUNCTION(pz_explain)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		subject;
	int64		item_id;
	char	   *purpose;
	const PzServing *s;
	PzRequest	r;
	int32		item;
	float		score;
	float	   *contrib;
	Contribution *order;
	int			n = 0;
	PurposeInfo info;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject, item and purpose must not be null")));
	subject = PG_GETARG_INT64(0);
	item_id = PG_GETARG_INT64(1);
	purpose = text_to_cstring(PG_GETARG_TEXT_PP(2));
	InitMaterializedSRF(fcinfo, 0);

	s = pz_serving_for_purpose(purpose, &info);
	item = pz_serving_item_index(s, item_id);
	if (item < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("item " INT64_FORMAT " is not in the catalogue", item_id),
				 errhint("Items are listed in personalize.items.")));
	pz_request_subject(&r, s, purpose, &info, subject);
	score = pz_request_score(&r, item);
	if (!pz_request_uses_model(&r))
	{
		put_row(rsinfo, "popularity", &r, -1, score, score);
		return (Datum) 0;
	}

	contrib = palloc(sizeof(float) * Max(r.nhistory, 1));
	order = palloc(sizeof(Contribution) * Max(r.nhistory, 1));
	pz_request_contributions(&r, item, contrib);
	for (int h = 0; h < r.nhistory; h++)
		if (contrib[h] != 0.0f)
			order[n++] = (Contribution) {h, contrib[h]};
	qsort(order, n, sizeof(Contribution), larger_first);
	for (int i = 0; i < n; i++)
		put_row(rsinfo, "history", &r, order[i].h, order[i].value, score);
	return (Datum) 0;
}
