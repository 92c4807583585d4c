/*
 * matrix.c
 *		Build the subject x item confidence matrix training works on, from
 *		(subject, item, value) triples, in both row (CSR) and column (CSC)
 *		order, with dense indices mapped to and from database ids.
 *
 * The triples are sorted by (subject, item) with an LSD radix sort: ids are
 * usually small or clustered, so most of the sixteen byte passes are skipped
 * because every key has the same byte there, and the sort costs a few linear
 * passes instead of n log n comparisons.  The item passes run first, which
 * leaves the array sorted by item half way through: that is when items get
 * their dense index, in the same pass that checks them against the caller's
 * item list.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "matrix.h"

/* Radix digit width and the number of digits in a 64-bit key. */
#define RADIX_BITS		8
#define RADIX_BUCKETS	(1 << RADIX_BITS)
#define RADIX_DIGITS	(64 / RADIX_BITS)

/* Check interrupts this often in linear passes over the triples. */
#define INTERRUPT_STRIDE	(1 << 16)

/*
 * Allocate count * size bytes from CurrentMemoryContext, allowing more than
 * 1 GB, after checking the product fits.
 */
static void *
alloc_array(int64 count, Size size, const char *what)
{
	if (count < 0 || (count > 0 && (uint64) count > (uint64) (SIZE_MAX / 2) / size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("training matrix too large: %lld %s",
						(long long) count, what)));
	/* A zero-length array still gets a valid pointer. */
	return MemoryContextAllocHuge(CurrentMemoryContext,
								  Max((Size) count * size, (Size) 1));
}

void *
pz_alloc_zeroed(Size count, Size size)
{
	if (count > 0 && size > MaxAllocHugeSize / count)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("training data too large: %zu elements of %zu bytes", count, size)));
	return MemoryContextAllocExtended(CurrentMemoryContext, Max(count * size, 1),
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* Map a signed id to an unsigned key with the same order. */
static inline uint64
id_key(int64 id)
{
	return (uint64) id ^ ((uint64) 1 << 63);
}

/*
 * Stable LSD radix passes over the bytes [first_digit, last_digit] of one
 * key of the triples (the item id when by_item, else the subject id),
 * ping-ponging between *data and *scratch; on return *data holds the result.
 * A digit on which all keys agree moves nothing and is skipped.
 */
static void
radix_passes(PzTriple **data, PzTriple **scratch, int64 n, bool by_item)
{
	int64	   *counts;
	int64		i;

	if (n < 2)
		return;

	/* One pass builds the histograms of every digit. */
	counts = palloc0(sizeof(int64) * RADIX_DIGITS * RADIX_BUCKETS);
	for (i = 0; i < n; i++)
	{
		const PzTriple *t = &(*data)[i];
		uint64		key = id_key(by_item ? t->item_id : t->subject_id);

		for (int d = 0; d < RADIX_DIGITS; d++)
			counts[d * RADIX_BUCKETS + ((key >> (d * RADIX_BITS)) & (RADIX_BUCKETS - 1))]++;
		if ((i & (INTERRUPT_STRIDE - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}

	for (int d = 0; d < RADIX_DIGITS; d++)
	{
		int64	   *count = &counts[d * RADIX_BUCKETS];
		int64		offset[RADIX_BUCKETS];
		int64		sum = 0;
		bool		trivial = false;
		PzTriple   *src = *data;
		PzTriple   *dst = *scratch;

		for (int b = 0; b < RADIX_BUCKETS; b++)
		{
			if (count[b] == n)
				trivial = true;
			offset[b] = sum;
			sum += count[b];
		}
		if (trivial)
			continue;

		for (i = 0; i < n; i++)
		{
			uint64		key = id_key(by_item ? src[i].item_id : src[i].subject_id);

			dst[offset[(key >> (d * RADIX_BITS)) & (RADIX_BUCKETS - 1)]++] = src[i];
			if ((i & (INTERRUPT_STRIDE - 1)) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		*data = dst;
		*scratch = src;
	}
	pfree(counts);
}

/* The caller's item list must be strictly ascending for binary search. */
static void
check_item_list(const int64 *item_ids_all, int32 nitems_all)
{
	if (nitems_all < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item count must not be negative")));
	if (nitems_all > 0 && item_ids_all == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item list missing")));
	for (int32 i = 1; i < nitems_all; i++)
		if (item_ids_all[i] <= item_ids_all[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("item list must be sorted ascending without duplicates"),
					 errdetail("Item %lld follows item %lld.",
							   (long long) item_ids_all[i],
							   (long long) item_ids_all[i - 1])));
}

/*
 * The caller's triples array is used as workspace: on return it is sorted by
 * (subject, item) and its first nnz entries are the merged pairs, the rest
 * is left over.
 */
PzMatrix *
pz_matrix_build(PzTriple *triples, int64 ntriples,
				const int64 *item_ids_all, int32 nitems_all)
{
	PzMatrix   *m;
	PzTriple   *data = triples;
	PzTriple   *scratch;
	PzTriple   *buffer;
	int32	   *item_of;		/* [ntriples] dense item index of each triple */
	int64	   *item_ids;		/* [nitems] dense item index -> id */
	int32	   *item_count;		/* [nitems] kept pairs per item */
	int32	   *item_renumber = NULL;
	int64		nitems;
	int64		nusers;
	int64		nnz;
	int64		i;
	int64		out;

	if (ntriples < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("triple count must not be negative")));
	if (item_ids_all != NULL)
		check_item_list(item_ids_all, nitems_all);

	/*
	 * Values are checked first: one NaN or infinity would silently poison
	 * every factor trained from this matrix.
	 */
	for (i = 0; i < ntriples; i++)
		if (!isfinite(triples[i].value))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("interaction value must be finite"),
					 errdetail("Subject %lld, item %lld has value %g.",
							   (long long) triples[i].subject_id,
							   (long long) triples[i].item_id,
							   (double) triples[i].value)));

	buffer = scratch = alloc_array(ntriples, sizeof(PzTriple), "interactions");

	/* Sort by item; then every item's triples are adjacent. */
	radix_passes(&data, &scratch, ntriples, true);

	/*
	 * Give every item its dense index, written into item_id for the subject
	 * passes to carry along (ids are restored below, from the item list).
	 */
	if (item_ids_all != NULL)
	{
		int32		j = 0;

		nitems = nitems_all;
		for (i = 0; i < ntriples; i++)
		{
			/* Both sequences ascend, so one merge pass finds every item. */
			while (j < nitems_all && item_ids_all[j] < data[i].item_id)
				j++;
			if (j >= nitems_all || item_ids_all[j] != data[i].item_id)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("interaction with item %lld, which is not in the item list",
								(long long) data[i].item_id)));
			data[i].item_id = j;
		}
		item_ids = alloc_array(nitems, sizeof(int64), "items");
		if (nitems > 0)
			memcpy(item_ids, item_ids_all, sizeof(int64) * nitems);
	}
	else
	{
		int64		prev = 0;

		/* First count, then record, the distinct ids (ascending here). */
		nitems = 0;
		for (i = 0; i < ntriples; i++)
			if (i == 0 || data[i].item_id != data[i - 1].item_id)
				nitems++;
		if (nitems > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct items to train on")));
		item_ids = alloc_array(nitems, sizeof(int64), "items");
		nitems = 0;
		for (i = 0; i < ntriples; i++)
		{
			if (i == 0 || data[i].item_id != prev)
			{
				prev = data[i].item_id;
				item_ids[nitems++] = prev;
			}
			data[i].item_id = nitems - 1;
		}
	}

	/* Stable sort by subject: pairs end up ordered by (subject, item). */
	radix_passes(&data, &scratch, ntriples, false);

	/*
	 * Move the dense item index aside and put the triples back into the
	 * caller's array (they may have ended in the scratch buffer) with their
	 * real item ids, which error messages below quote.
	 */
	item_of = alloc_array(ntriples, sizeof(int32), "interactions");
	for (i = 0; i < ntriples; i++)
	{
		int32		j = (int32) data[i].item_id;

		item_of[i] = j;
		triples[i].subject_id = data[i].subject_id;
		triples[i].value = data[i].value;
		triples[i].item_id = item_ids[j];
	}
	data = triples;
	pfree(buffer);

	m = palloc0(sizeof(PzMatrix));
	m->item_ids = item_ids;

	/*
	 * Merge duplicate pairs (summed in double, so many small increments are
	 * not lost) and drop pairs whose total is not positive, compacting in
	 * place.  Subjects left without any pair are dropped too: they carry no
	 * signal, and fitting factors for them would only cost time.
	 */
	item_count = alloc_array(Max(nitems, 1), sizeof(int32), "items");
	memset(item_count, 0, sizeof(int32) * Max(nitems, 1));
	out = 0;
	nusers = 0;
	for (i = 0; i < ntriples;)
	{
		int64		j = i;
		double		sum = 0.0;

		while (j < ntriples && data[j].subject_id == data[i].subject_id &&
			   item_of[j] == item_of[i])
			sum += data[j++].value;
		if (sum > 0.0)
		{
			if (sum > FLT_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("summed interaction value out of range"),
						 errdetail("Subject %lld, item %lld.",
								   (long long) data[i].subject_id,
								   (long long) data[i].item_id)));
			if (out == 0 || data[out - 1].subject_id != data[i].subject_id)
			{
				if (nusers >= PG_INT32_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("too many distinct subjects to train on")));
				nusers++;
			}
			data[out] = data[i];
			data[out].value = (float) sum;
			item_of[out] = item_of[i];
			item_count[item_of[i]]++;
			out++;
		}
		i = j;
		if ((i & (INTERRUPT_STRIDE - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	nnz = out;

	/*
	 * Items seen only in dropped pairs get no index unless the caller fixed
	 * the item list; renumbering keeps the ascending order.
	 */
	if (item_ids_all == NULL)
	{
		int32		kept = 0;

		item_renumber = alloc_array(Max(nitems, 1), sizeof(int32), "items");
		for (int64 j = 0; j < nitems; j++)
		{
			item_renumber[j] = kept;
			if (item_count[j] > 0)
			{
				m->item_ids[kept] = m->item_ids[j];
				item_count[kept] = item_count[j];
				kept++;
			}
		}
		for (i = 0; i < nnz; i++)
			item_of[i] = item_renumber[item_of[i]];
		nitems = kept;
		pfree(item_renumber);
	}

	m->nusers = (int32) nusers;
	m->nitems = (int32) nitems;
	m->nnz = nnz;

	/* Rows. */
	m->user_ids = alloc_array(nusers, sizeof(int64), "subjects");
	m->user_ptr = alloc_array(nusers + 1, sizeof(int64), "subjects");
	m->user_items = alloc_array(nnz, sizeof(int32), "interactions");
	m->user_vals = alloc_array(nnz, sizeof(float), "interactions");
	{
		int64		u = -1;

		for (i = 0; i < nnz; i++)
		{
			if (u < 0 || data[i].subject_id != m->user_ids[u])
			{
				u++;
				m->user_ids[u] = data[i].subject_id;
				m->user_ptr[u] = i;
			}
			m->user_items[i] = item_of[i];
			m->user_vals[i] = data[i].value;
		}
		Assert(u + 1 == nusers);
		m->user_ptr[nusers] = nnz;
	}
	pfree(item_of);

	/*
	 * Columns, by counting sort of the rows: visiting subjects in ascending
	 * order leaves every column sorted by subject.
	 */
	m->item_ptr = alloc_array((int64) nitems + 1, sizeof(int64), "items");
	m->item_users = alloc_array(nnz, sizeof(int32), "interactions");
	m->item_vals = alloc_array(nnz, sizeof(float), "interactions");
	{
		int64	   *next;

		m->item_ptr[0] = 0;
		for (int64 j = 0; j < nitems; j++)
			m->item_ptr[j + 1] = m->item_ptr[j] + item_count[j];
		Assert(m->item_ptr[nitems] == nnz);
		next = alloc_array((int64) nitems + 1, sizeof(int64), "items");
		memcpy(next, m->item_ptr, sizeof(int64) * (nitems + 1));
		for (int32 u = 0; u < m->nusers; u++)
		{
			for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
			{
				int64		dst = next[m->user_items[e]]++;

				m->item_users[dst] = u;
				m->item_vals[dst] = m->user_vals[e];
			}
		}
		pfree(next);
	}
	pfree(item_count);

	return m;
}

/* Position of id in the ascending array ids[0..n), or -1. */
int32
pz_search_ids(const int64 *ids, int32 n, int64 id)
{
	int32		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < n && ids[lo] == id) ? lo : -1;
}

int32
pz_matrix_user_index(const PzMatrix *m, int64 subject_id)
{
	return pz_search_ids(m->user_ids, m->nusers, subject_id);
}

int32
pz_matrix_item_index(const PzMatrix *m, int64 item_id)
{
	return pz_search_ids(m->item_ids, m->nitems, item_id);
}

/* ---- weighting ------------------------------------------------------------ */

static const char *const weighting_names[] = {"none", "binary", "log", "bm25", "log_idf"};

const char *
pz_weighting_name(PzWeighting w)
{
	return (w >= 0 && w < lengthof(weighting_names)) ? weighting_names[w] : "none";
}

int
pz_weighting_parse(const char *name)
{
	for (int w = 0; w < lengthof(weighting_names); w++)
		if (strcmp(name, weighting_names[w]) == 0)
			return w;
	return -1;
}

/*
 * BM25, as implicit's bm25_weight applied with subjects as the rows
 * (documents) and items as the terms:
 *
 *		w_ui = v_ui (k1 + 1) / (k1 L_u + v_ui) * idf_i
 *		L_u = (1 - b) + b |u| / mean |u|	(|u| = sum of u's values)
 *		idf_i = log(nusers) - log(1 + df_i)	(df_i = subjects of item i)
 *
 * idf is floored at a small positive value: an item nearly every subject has
 * would otherwise get weight zero or below, which would drop it from the
 * matrix or flip the sign of its similarities.
 */
static double
item_idf(const PzMatrix *m, int32 i)
{
	double		df = (double) (m->item_ptr[i + 1] - m->item_ptr[i]);

	return Max(log((double) Max(m->nusers, 1)) - log1p(df), 1e-6);
}

static void
weigh_bm25(PzMatrix *m, double k1, double b)
{
	double	   *len = palloc(sizeof(double) * Max(m->nusers, 1));
	double		total = 0.0;
	double		mean;

	for (int32 u = 0; u < m->nusers; u++)
	{
		double		s = 0.0;

		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
			s += m->user_vals[e];
		len[u] = s;
		total += s;
	}
	mean = m->nusers > 0 ? total / m->nusers : 1.0;
	if (!(mean > 0.0))
		mean = 1.0;
	for (int32 u = 0; u < m->nusers; u++)
	{
		double		norm = (1.0 - b) + b * len[u] / mean;

		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
		{
			double		idf = item_idf(m, m->user_items[e]);
			double		v = m->user_vals[e];

			m->user_vals[e] = (float) Max(v * (k1 + 1.0) / (k1 * norm + v) * idf, FLT_MIN);
		}
	}
	pfree(len);
}

void
pz_item_idf(const PzMatrix *m, float *idf)
{
	double		sum = 0.0;

	for (int32 i = 0; i < m->nitems; i++)
		sum += item_idf(m, i) * (double) (m->item_ptr[i + 1] - m->item_ptr[i]);
	for (int32 i = 0; i < m->nitems; i++)
		idf[i] = (m->nnz > 0 && sum > 0.0) ? (float) (item_idf(m, i) * m->nnz / sum) : 1.0f;
}

void
pz_matrix_weigh(PzMatrix *m, PzWeighting w, double bm25_k1, double bm25_b)
{
	int64	   *next;

	if (w == PZ_WEIGHT_NONE)
		return;
	if (w == PZ_WEIGHT_BM25)
	{
		if (!(bm25_k1 >= 0.0) || isinf(bm25_k1) || !(bm25_b >= 0.0 && bm25_b <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("BM25 needs k1 >= 0 and b between 0 and 1")));
		weigh_bm25(m, bm25_k1, bm25_b);
	}
	else if (w == PZ_WEIGHT_LOG_IDF)
	{
		float	   *idf = alloc_array(Max(m->nitems, 1), sizeof(float), "items");

		pz_item_idf(m, idf);
		for (int64 e = 0; e < m->nnz; e++)
			m->user_vals[e] = Max(pz_weigh_value(w, m->user_vals[e], idf[m->user_items[e]]), FLT_MIN);
		pfree(idf);
	}
	else
		for (int64 e = 0; e < m->nnz; e++)
			m->user_vals[e] = Max(pz_weigh_value(w, m->user_vals[e], 1.0f), FLT_MIN);

	/* the columns hold the same values, in column order */
	next = alloc_array((int64) m->nitems + 1, sizeof(int64), "items");
	memcpy(next, m->item_ptr, sizeof(int64) * (m->nitems + 1));
	for (int32 u = 0; u < m->nusers; u++)
		for (int64 e = m->user_ptr[u]; e < m->user_ptr[u + 1]; e++)
			m->item_vals[next[m->user_items[e]]++] = m->user_vals[e];
	pfree(next);
}
