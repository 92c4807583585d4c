/*
 * train_categories.c
 *		What training read of each signal category: how many rows and how
 *		many distinct subjects.  The model card lists a category as used only
 *		when rows of it were read; one that was allowed but had no visible
 *		rows was not used, whatever its justification says.
 *
 * Subjects are counted exactly: each category keeps the subject ids of its
 * rows (8 bytes a row while training reads) and counts the distinct ones by
 * sorting once reading is done.
 */
#include "postgres.h"

#include "consent.h"
#include "train.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

typedef struct CategoryCount
{
	char		name[CATEGORY_NAME_MAX + 1];
	int			len;
	int64		rows;
	int64		distinct_subjects;
	int64	   *subjects;		/* one per row, until counted */
	int64		cap;
} CategoryCount;

struct PzCategoryCounts
{
	int			n;
	int			last;			/* rows come in runs of one category */
	bool		counted;
	CategoryCount c[CONSENT_MAX_CATEGORIES];
};

PzCategoryCounts *
pz_category_counts_create(void)
{
	return palloc0(sizeof(PzCategoryCounts));
}

static CategoryCount *
find_category(PzCategoryCounts *counts, const char *name, int len)
{
	CategoryCount *c = &counts->c[counts->last];

	if (counts->n > 0 && c->len == len && memcmp(c->name, name, len) == 0)
		return c;
	for (int i = 0; i < counts->n; i++)
	{
		c = &counts->c[i];
		if (c->len == len && memcmp(c->name, name, len) == 0)
		{
			counts->last = i;
			return c;
		}
	}
	/* a registered category: never more than the registry holds */
	if (counts->n == CONSENT_MAX_CATEGORIES || len > CATEGORY_NAME_MAX)
		elog(ERROR, "personalize: more signal categories read than can be registered");
	c = &counts->c[counts->n];
	memcpy(c->name, name, len);
	c->name[len] = '\0';
	c->len = len;
	c->cap = 1024;
	c->subjects = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * c->cap);
	counts->last = counts->n++;
	return c;
}

void
pz_category_counts_add(PzCategoryCounts *counts, const char *name, int len, int64 subject)
{
	CategoryCount *c = find_category(counts, name, len);

	if (c->rows == c->cap)
	{
		c->cap *= 2;
		c->subjects = repalloc_huge(c->subjects, sizeof(int64) * c->cap);
	}
	c->subjects[c->rows++] = subject;
}

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static void
count_subjects(PzCategoryCounts *counts)
{
	if (counts->counted)
		return;
	for (int i = 0; i < counts->n; i++)
	{
		CategoryCount *c = &counts->c[i];
		int64		distinct = 0;

		qsort(c->subjects, c->rows, sizeof(int64), int64_cmp);
		for (int64 r = 0; r < c->rows; r++)
			distinct += (r == 0 || c->subjects[r] != c->subjects[r - 1]);
		c->distinct_subjects = distinct;
		pfree(c->subjects);
		c->subjects = NULL;
	}
	counts->counted = true;
}

static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &v);
}

static void
push_int64(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* [{"category": name, "rows": n, "subjects": n}, ...] for the categories read */
Datum
pz_category_counts_jsonb(PzCategoryCounts *counts)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	count_subjects(counts);
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < counts->n; i++)
	{
		CategoryCount *c = &counts->c[i];
		JsonbValue	v;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_key(&state, "category");
		v.type = jbvString;
		v.val.string.val = c->name;
		v.val.string.len = c->len;
		pushJsonbValue(&state, WJB_VALUE, &v);
		push_int64(&state, "rows", c->rows);
		push_int64(&state, "subjects", c->distinct_subjects);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	result = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}
