/*
 * serving_build.c
 *		Lay out a serving snapshot: the catalogue (ids, categories, names,
 *		sponsorship), the model's item-side parameters aligned with it, and
 *		the bandit counters.
 *
 * Everything is read as the bootstrap superuser under a fresh snapshot: the
 * catalogue and model tables are not personal data, and the snapshot is
 * shared by every role.  Large tables are read through cursors in batches
 * so the build never holds a whole result set besides the snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "embedding.h"
#include "embedding8.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "matrix.h"
#include "privileged.h"
#include "serving.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#define FETCH_BATCH		10000
#define SECTION_ALIGN	64

typedef struct Catalogue
{
	int32		nitems;
	int32		capacity;
	int64	   *ids;
	int32	   *category;
	uint8	   *flags;
	uint32	   *name_at;
	StringInfoData names;
	int32		ncategories;
	HTAB	   *category_index;
	char	  **category_names;
} Catalogue;

typedef struct CategoryEntry
{
	char		name[PZ_CATEGORY_MAX];
	int32		index;
} CategoryEntry;

typedef struct ModelInfo
{
	int64		model_id;
	char		purpose[PZ_NAME_MAX];
	PzServingAlgorithm algorithm;
	int32		k;
	int32		nn;
	float		regularization;
	float		reg_exponent;
	float		alpha;
	int32		weighting;
} ModelInfo;

static void
read_model(int64 model_id, ModelInfo *info)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	const char *algorithm;

	if (SPI_execute_with_args("SELECT algorithm, purpose, "
							  "coalesce((params->>'factors')::int, 0), "
							  "coalesce((params->>'neighbors')::int, 0), "
							  "coalesce((params->>'regularization')::real, 0), "
							  "coalesce((params->>'alpha')::real, 0), "
							  "coalesce(params->>'weighting', 'none'), "
							  "coalesce((params->>'reg_exponent')::real, 0) "
							  "FROM personalize.models WHERE model_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "personalize: model lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model " INT64_FORMAT " does not exist", model_id),
				 errhint("Models are listed in personalize.models.")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	algorithm = SPI_getvalue(t, d, 1);
	info->model_id = model_id;
	strlcpy(info->purpose, SPI_getvalue(t, d, 2), sizeof(info->purpose));
	/* RP3beta and EASE are served like item-kNN: stored neighbour scores summed */
	info->algorithm = strcmp(algorithm, "als") == 0 ? PZ_SERVE_ALS :
		(strcmp(algorithm, "itemknn") == 0 || strcmp(algorithm, "rp3beta") == 0 ||
		 strcmp(algorithm, "ease") == 0) ?
		PZ_SERVE_ITEMKNN : PZ_SERVE_POPULARITY;
	info->k = info->algorithm == PZ_SERVE_ALS ? DatumGetInt32(SPI_getbinval(t, d, 3, &isnull)) : 0;
	info->nn = info->algorithm == PZ_SERVE_ITEMKNN ? DatumGetInt32(SPI_getbinval(t, d, 4, &isnull)) : 0;
	info->regularization = DatumGetFloat4(SPI_getbinval(t, d, 5, &isnull));
	info->alpha = DatumGetFloat4(SPI_getbinval(t, d, 6, &isnull));
	info->reg_exponent = DatumGetFloat4(SPI_getbinval(t, d, 8, &isnull));
	info->weighting = pz_weighting_parse(SPI_getvalue(t, d, 7));
	/* models of 0.2.0 have no weighting (the values as they are); kNN's was "cosine" */
	if (info->weighting < 0)
		info->weighting = PZ_WEIGHT_NONE;
	if (info->k < 0 || info->k > 1024 || info->nn < 0 || info->nn > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model " INT64_FORMAT " has out-of-range parameters (factors %d, neighbors %d)",
						model_id, info->k, info->nn)));
}

typedef void (*RowFunction) (HeapTuple t, TupleDesc d, void *arg);

/* Call fn for each row of sql (one parameter), read through a cursor in batches. */
static void
for_each_row(const char *sql, Oid argtype, Datum param, RowFunction fn, void *arg)
{
	Portal		portal = SPI_cursor_open_with_args(NULL, sql, 1, &argtype, &param, NULL, true, 0);

	if (portal == NULL)
		elog(ERROR, "personalize: could not open cursor for \"%s\"", sql);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
			fn(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, arg);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/* The catalogue index of the item id in the given column of a row, or -1. */
static int32
row_item(const PzServing *s, HeapTuple t, TupleDesc d, int column)
{
	bool		isnull;

	return pz_serving_item_index(s, DatumGetInt64(SPI_getbinval(t, d, column, &isnull)));
}

static int32
category_of(Catalogue *c, const char *name)
{
	CategoryEntry *e;
	char		key[PZ_CATEGORY_MAX] = {0};
	bool		found;

	strlcpy(key, name, sizeof(key));
	e = hash_search(c->category_index, key, HASH_ENTER, &found);
	if (!found)
	{
		e->index = c->ncategories++;
		c->category_names = repalloc(c->category_names, sizeof(char *) * c->ncategories);
		c->category_names[e->index] = pstrdup(key);
	}
	return e->index;
}

static void
catalogue_grow(Catalogue *c)
{
	if (c->nitems < c->capacity)
		return;
	if (c->capacity >= PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the catalogue has too many items to serve")));
	c->capacity *= 2;
	c->ids = repalloc_huge(c->ids, sizeof(int64) * c->capacity);
	c->category = repalloc_huge(c->category, sizeof(int32) * c->capacity);
	c->flags = repalloc_huge(c->flags, sizeof(uint8) * c->capacity);
	c->name_at = repalloc_huge(c->name_at, sizeof(uint32) * (c->capacity + 1));
}

static void
catalogue_row(HeapTuple t, TupleDesc d, void *arg)
{
	Catalogue  *c = (Catalogue *) arg;
	bool		isnull;
	char	   *category = SPI_getvalue(t, d, 2);
	char	   *name = SPI_getvalue(t, d, 4);

	catalogue_grow(c);
	c->ids[c->nitems] = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
	c->category[c->nitems] = category ? category_of(c, category) : -1;
	c->flags[c->nitems] = DatumGetBool(SPI_getbinval(t, d, 3, &isnull)) ? PZ_ITEM_SPONSORED : 0;
	c->name_at[c->nitems] = c->names.len;
	if (name)
		appendStringInfoString(&c->names, name);
	c->nitems++;
}

static void
read_catalogue(Catalogue *c)
{
	HASHCTL		ctl = {.keysize = PZ_CATEGORY_MAX, .entrysize = sizeof(CategoryEntry),
	.hcxt = CurrentMemoryContext};

	memset(c, 0, sizeof(*c));
	c->capacity = 1024;
	c->ids = palloc(sizeof(int64) * c->capacity);
	c->category = palloc(sizeof(int32) * c->capacity);
	c->flags = palloc(sizeof(uint8) * c->capacity);
	c->name_at = palloc(sizeof(uint32) * (c->capacity + 1));
	c->category_names = palloc(sizeof(char *));
	c->category_index = hash_create("personalize categories", 64, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	initStringInfo(&c->names);

	for_each_row("SELECT item_id, category, sponsored, "
				 "left(coalesce(attributes->>'name', attributes->>'title'), 120) "
				 "FROM personalize.items WHERE $1 ORDER BY item_id",
				 BOOLOID, BoolGetDatum(true), catalogue_row, c);
	c->name_at[c->nitems] = c->names.len;
}

/* ---- layout -------------------------------------------------------------- */

static Size
section(Size *at, Size bytes)
{
	Size		start = TYPEALIGN(SECTION_ALIGN, *at);

	*at = add_size(start, bytes);
	return start;
}

static Size
layout(PzServing *h, const Catalogue *c, const ModelInfo *m)
{
	Size		n = (Size) c->nitems;
	Size		at = sizeof(PzServing);

	h->off_item_ids = section(&at, mul_size(n, sizeof(int64)));
	h->off_category = section(&at, mul_size(n, sizeof(int32)));
	h->off_flags = section(&at, n);
	h->off_popularity = section(&at, mul_size(n, sizeof(float)));
	h->off_name_at = section(&at, mul_size(n + 1, sizeof(uint32)));
	h->off_names = section(&at, c->names.len);
	h->off_categories = section(&at, mul_size(c->ncategories, PZ_CATEGORY_MAX));
	h->off_Y = section(&at, mul_size(mul_size(n, m->k), sizeof(float)));
	h->off_Y8 = section(&at, mul_size(n, m->k));
	h->off_Y8_scale = section(&at, mul_size(n, sizeof(float)));
	h->off_YtY = section(&at, mul_size(mul_size(m->k, m->k), sizeof(double)));
	h->off_idf = section(&at, mul_size(n, sizeof(float)));
	h->off_nbr = section(&at, mul_size(mul_size(n, m->nn), sizeof(int32)));
	h->off_nbr_score = section(&at, mul_size(mul_size(n, m->nn), sizeof(float)));
	h->off_shown = section(&at, mul_size(n, sizeof(pg_atomic_uint64)));
	h->off_reward = section(&at, mul_size(n, sizeof(pg_atomic_uint64)));
	return TYPEALIGN(SECTION_ALIGN, at);
}

static void
copy_catalogue(PzServing *s, const Catalogue *c)
{
	Size		n = (Size) c->nitems;

	memcpy(PZ_AT(s, off_item_ids, int64 *), c->ids, n * sizeof(int64));
	memcpy(PZ_AT(s, off_category, int32 *), c->category, n * sizeof(int32));
	memcpy(PZ_AT(s, off_flags, uint8 *), c->flags, n);
	memcpy(PZ_AT(s, off_name_at, uint32 *), c->name_at, (n + 1) * sizeof(uint32));
	memcpy(PZ_AT(s, off_names, char *), c->names.data, c->names.len);
	for (int32 i = 0; i < c->ncategories; i++)
		strlcpy(PZ_AT(s, off_categories, char *) + (Size) i * PZ_CATEGORY_MAX,
				c->category_names[i], PZ_CATEGORY_MAX);
}

/* ---- model parameters ---------------------------------------------------- */

/*
 * Item factors of the items still in the catalogue, with an int8 copy.  The
 * Gram matrix is taken over these, so items deleted since training no
 * longer pull subjects' fold-in factors.
 */
static void
factor_row(HeapTuple t, TupleDesc d, void *arg)
{
	PzServing  *s = (PzServing *) arg;
	int32		i = row_item(s, t, d, 1);
	int			k = s->k;
	bool		isnull;
	Embedding  *e;

	if (i < 0)
		return;
	e = DatumGetEmbeddingP(SPI_getbinval(t, d, 2, &isnull));
	if (e->dim != k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model " INT64_FORMAT " has factors of %d dimensions for item " INT64_FORMAT ", expected %d",
						s->model_id, e->dim, pz_item_ids(s)[i], k)));
	memcpy(PZ_AT(s, off_Y, float *) + (Size) i * k, e->x, sizeof(float) * k);
	if (!heap_attisnull(t, 3, d))
	{
		float		idf = DatumGetFloat4(SPI_getbinval(t, d, 3, &isnull));

		/* fold-in would turn a broken weight into NaN scores for everyone */
		if (!(idf > 0.0f) || isinf(idf))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model " INT64_FORMAT " has idf %g for item " INT64_FORMAT ", expected a positive number",
							s->model_id, idf, pz_item_ids(s)[i])));
		PZ_AT(s, off_idf, float *)[i] = idf;
	}
	PZ_AT(s, off_Y8_scale, float *)[i] = pz_quantize_i8(e->x, k, PZ_AT(s, off_Y8, int8 *) + (Size) i * k);
	PZ_AT(s, off_flags, uint8 *)[i] |= PZ_ITEM_FACTORS;
}

static void
read_factors(PzServing *s)
{
	for_each_row("SELECT item_id, factors, idf FROM personalize.model_item_factors "
				 "WHERE model_id = $1 ORDER BY item_id",
				 INT8OID, Int64GetDatum(s->model_id), factor_row, s);
	pz_als_gram(pz_Y(s), s->nitems, s->k, PZ_AT(s, off_YtY, double *));
}

/* Rows come best first per item; the first nn of each item are kept. */
typedef struct NeighborReader
{
	PzServing  *s;
	int32		current;
	int			used;
} NeighborReader;

static void
neighbor_row(HeapTuple t, TupleDesc d, void *arg)
{
	NeighborReader *nr = (NeighborReader *) arg;
	PzServing  *s = nr->s;
	int32		i = row_item(s, t, d, 1);
	int32		nb = row_item(s, t, d, 2);
	bool		isnull;

	if (i < 0 || nb < 0)
		return;
	if (i != nr->current)
	{
		nr->current = i;
		nr->used = 0;
	}
	if (nr->used < s->nn)
	{
		PZ_AT(s, off_nbr, int32 *)[(Size) i * s->nn + nr->used] = nb;
		PZ_AT(s, off_nbr_score, float *)[(Size) i * s->nn + nr->used] =
			DatumGetFloat4(SPI_getbinval(t, d, 3, &isnull));
		nr->used++;
	}
}

static void
read_neighbors(PzServing *s)
{
	NeighborReader nr = {s, -1, 0};
	int32	   *nbr = PZ_AT(s, off_nbr, int32 *);

	for (Size j = 0; j < (Size) s->nitems * s->nn; j++)
		nbr[j] = -1;
	for_each_row("SELECT item_id, neighbor_id, score FROM personalize.model_neighbors "
				 "WHERE model_id = $1 ORDER BY item_id, score DESC, neighbor_id",
				 INT8OID, Int64GetDatum(s->model_id), neighbor_row, &nr);
}

static void
popularity_row(HeapTuple t, TupleDesc d, void *arg)
{
	PzServing  *s = (PzServing *) arg;
	int32		i = row_item(s, t, d, 1);
	bool		isnull;

	if (i >= 0)
		PZ_AT(s, off_popularity, float *)[i] = DatumGetFloat4(SPI_getbinval(t, d, 2, &isnull));
}

/* Popularity is stored with every model, for fallback and cold start. */
static void
read_popularity(PzServing *s)
{
	for_each_row("SELECT item_id, score FROM personalize.model_popularity WHERE model_id = $1",
				 INT8OID, Int64GetDatum(s->model_id), popularity_row, s);
}

/* ---- bandit counters ----------------------------------------------------- */

static void
copy_counters(PzServing *s, const PzServing *from)
{
	const int64 *ids = pz_item_ids(s);
	const int64 *from_ids = pz_item_ids(from);
	int32		j = 0;

	for (int32 i = 0; i < s->nitems; i++)
	{
		while (j < from->nitems && from_ids[j] < ids[i])
			j++;
		if (j < from->nitems && from_ids[j] == ids[i])
		{
			pg_atomic_write_u64(&pz_shown(s)[i], pg_atomic_read_u64(&pz_shown(from)[j]));
			pg_atomic_write_u64(&pz_reward(s)[i], pg_atomic_read_u64(&pz_reward(from)[j]));
		}
	}
}

typedef struct CounterReader
{
	const PzServing *s;
	pg_atomic_uint64 *counters;
	double		scale;
} CounterReader;

static void
counter_row(HeapTuple t, TupleDesc d, void *arg)
{
	CounterReader *cr = (CounterReader *) arg;
	int32		i = row_item(cr->s, t, d, 1);
	bool		isnull;
	double		v = DatumGetFloat8(SPI_getbinval(t, d, 2, &isnull));

	if (i >= 0 && v > 0)
		pg_atomic_write_u64(&cr->counters[i], (uint64) (v * cr->scale));
}

static void
sum_counters(PzServing *s, const char *sql, pg_atomic_uint64 *counters, double scale)
{
	CounterReader cr = {s, counters, scale};

	for_each_row(sql, TEXTOID, CStringGetTextDatum(s->purpose), counter_row, &cr);
}

static void
init_counters(PzServing *s)
{
	const PzServing *current = pz_serving_find_purpose(s->purpose);

	for (int32 i = 0; i < s->nitems; i++)
	{
		pg_atomic_init_u64(&pz_shown(s)[i], 0);
		pg_atomic_init_u64(&pz_reward(s)[i], 0);
	}
	if (current)
	{
		copy_counters(s, current);
		return;
	}
	sum_counters(s, "SELECT item_id, count(*)::float8 FROM personalize.impressions "
				 "WHERE purpose = $1 GROUP BY item_id", pz_shown(s), 1.0);
	sum_counters(s, "SELECT item_id, sum(reward)::float8 FROM personalize.feedback "
				 "WHERE purpose = $1 GROUP BY item_id", pz_reward(s), PZ_REWARD_SCALE);
}

PzServing *
pz_serving_build(int64 model_id, uint64 catalogue_version,
				 PzServingAllocate allocate, void *arg)
{
	PzPrivileged ctx;
	ModelInfo	m;
	Catalogue	c;
	PzServing	h;
	PzServing  *s;

	pz_privileged_begin(&ctx);
	read_model(model_id, &m);
	read_catalogue(&c);

	memset(&h, 0, sizeof(h));
	h.magic = PZ_SERVING_MAGIC;
	h.model_id = model_id;
	h.catalogue_version = catalogue_version;
	strlcpy(h.purpose, m.purpose, sizeof(h.purpose));
	h.algorithm = m.algorithm;
	h.nitems = c.nitems;
	h.ncategories = c.ncategories;
	h.k = m.k;
	h.nn = m.nn;
	h.regularization = m.regularization;
	h.reg_exponent = m.reg_exponent;
	h.alpha = m.alpha;
	h.weighting = m.weighting;
	h.total_size = layout(&h, &c, &m);

	s = allocate(h.total_size, arg);
	memset(s, 0, h.total_size);
	memcpy(s, &h, sizeof(h));
	copy_catalogue(s, &c);
	for (int32 i = 0; i < s->nitems; i++)
		PZ_AT(s, off_idf, float *)[i] = 1.0f;
	if (s->k > 0)
		read_factors(s);
	if (s->nn > 0)
		read_neighbors(s);
	read_popularity(s);
	init_counters(s);
	pz_privileged_end(&ctx);
	return s;
}

/* ---- lookups ------------------------------------------------------------- */

int32
pz_serving_item_index(const PzServing *s, int64 item_id)
{
	return pz_search_ids(pz_item_ids(s), s->nitems, item_id);
}

const char *
pz_serving_category_name(const PzServing *s, int32 item)
{
	int32		c = pz_item_category(s)[item];

	return c < 0 ? NULL : PZ_AT(s, off_categories, const char *) + (Size) c * PZ_CATEGORY_MAX;
}

/* kNN: the stored similarity of item to from (0 if not among its neighbours). */
float
pz_serving_neighbor_similarity(const PzServing *s, int32 from, int32 item)
{
	const int32 *nbr = pz_nbr(s) + (Size) from * s->nn;
	const float *score = pz_nbr_score(s) + (Size) from * s->nn;

	for (int j = 0; j < s->nn && nbr[j] >= 0; j++)
		if (nbr[j] == item)
			return score[j];
	return 0.0f;
}

/* The item's display name, or "item <id>" when the catalogue has none. */
char *
pz_serving_item_name(const PzServing *s, int32 item)
{
	const uint32 *at = PZ_AT(s, off_name_at, const uint32 *);
	uint32		len = at[item + 1] - at[item];

	if (len == 0)
		return psprintf("item " INT64_FORMAT, pz_item_ids(s)[item]);
	return pnstrdup(PZ_AT(s, off_names, const char *) + at[item], len);
}
