/*
 * consent_store.h
 *		The consent store: one structure per database in shared memory that
 *		says, for every purpose with consents, which consent each subject
 *		gave.  Built once from personalize.consents, patched at every commit
 *		that changes consents, read without locks by every backend and
 *		parallel worker of the database.
 *
 * A store is one dynamic shared memory segment:
 *
 *	- a table of consent classes: the distinct consent values, append-only,
 *	  shared by all purposes; class 0 means "no consent recorded";
 *	- per purpose, a map subject id -> class (uint16): an array over the
 *	  span of subject ids when they are dense, else an open-addressing hash.
 *
 * Readers turn a class into a category bitmask themselves (that depends on
 * the reader's category list and the purpose's tier cap), once per class.
 * Writers publish a class before any map entry that refers to it, and store
 * map entries with single aligned 16-bit writes, so readers need no lock.
 */
#ifndef PERSONALIZE_CONSENT_STORE_H
#define PERSONALIZE_CONSENT_STORE_H

#include "postgres.h"

#include "consent.h"
#include "port/atomics.h"
#include "purpose.h"

#define PZ_STORE_MAGIC		0x505A4353	/* "PZCS" */

/* A consent class id; 0: no consent recorded for the subject. */
typedef uint16 PzClass;

#define PZ_CLASS_LIMIT		65536	/* ids 0 .. 65535 */
#define PZ_NARROW_LIMIT		256		/* one-byte dense entries: ids 0 .. 255 */
#define PZ_NIBBLE_LIMIT		16		/* half-byte dense entries: ids 0 .. 15 */

/* The empty key of hashed maps; that subject's class is kept aside. */
#define PZ_EMPTY_KEY		PG_INT64_MIN

/* One purpose's map, in the segment. */
typedef struct PzStoreMap
{
	char		purpose[PZ_PURPOSE_NAME];
	bool		dense;
	int			bits;			/* dense: 4, 8 or 16 per entry, as the class capacity allows */
	int64		base;			/* dense: the subject id of entry 0 */
	uint64		span;			/* dense: entries; entry [span] is always 0 */
	int			shift;			/* hashed: 64 - log2(capacity) */
	uint64		capacity;		/* hashed: slots, a power of two */
	uint64		used;			/* hashed: slots taken (never given back) */
	uint64		max_used;		/* hashed: beyond this the store goes stale */
	PzClass		empty_key_class;	/* hashed: the class of subject PZ_EMPTY_KEY */
	uint64		consents;		/* subjects with a class other than 0 */
	Size		off_classes;	/* dense: [span + 1] entries of bits; hashed: PzClass[capacity] */
	Size		off_keys;		/* hashed: int64[capacity], PZ_EMPTY_KEY = free */
} PzStoreMap;

typedef struct PzStore
{
	uint32		magic;
	Oid			dboid;
	uint64		generation;
	Size		total_size;
	int			npurposes;

	/* classes: [0, nclasses) are readable; class 0 has no bytes */
	pg_atomic_uint32 nclasses;
	uint32		class_capacity;
	uint32		class_hash_size;	/* a power of two */
	Size		arena_size;
	Size		arena_used;
	Size		off_class_at;	/* uint32[class_capacity]: offset in the arena */
	Size		off_class_hash; /* PzClass[class_hash_size]: writers' index */
	Size		off_arena;		/* Consent values, MAXALIGNed */

	PzStoreMap	maps[FLEXIBLE_ARRAY_MEMBER];
} PzStore;

#define PZ_STORE_AT(s, off, type)	((type) ((char *) (s) + (off)))

/* What a reader resolved one purpose's map to. */
typedef struct PzMapView
{
	const PzClass *classes;		/* hashed, or dense of 16 bits */
	const uint8 *classes8;		/* dense of 4 or 8 bits */
	int			byte_shift;		/* 4 bits: entry i is in byte i >> 1 ... */
	uint64		half_mask;		/* ... its high half when i & 1 */
	PzClass		value_mask;
	const int64 *keys;			/* NULL: dense */
	int64		base;
	uint64		span;
	int			shift;
	uint64		mask;
	const PzClass *empty_key_class;
} PzMapView;

/* Fibonacci hashing: the top bits of the product. */
static inline uint64
pz_subject_slot(int64 subject, int shift)
{
	return ((uint64) subject * UINT64CONST(0x9E3779B97F4A7C15)) >> shift;
}

/*
 * Probe a hashed map.  A writer stores the class before the key, so a
 * reader that finds the key reads a class at least that recent.
 */
static inline PzClass
pz_map_probe(const PzMapView *m, int64 subject)
{
	const volatile int64 *keys = m->keys;
	uint64		i;

	if (unlikely(subject == PZ_EMPTY_KEY))
		return *(const volatile PzClass *) m->empty_key_class;
	for (i = pz_subject_slot(subject, m->shift);; i = (i + 1) & m->mask)
	{
		int64		k = keys[i];

		if (k == subject)
		{
			pg_read_barrier();
			return ((const volatile PzClass *) m->classes)[i];
		}
		if (k == PZ_EMPTY_KEY)
			return 0;
	}
}

/* Entry at of a dense map of 4 or 8 bits, without branches. */
static pg_attribute_always_inline PzClass
pz_map_small_entry(const uint8 *classes8, int byte_shift, uint64 half_mask, PzClass value_mask,
				   uint64 at)
{
	return (classes8[at >> byte_shift] >> ((at & half_mask) << 2)) & value_mask;
}

/*
 * A subject's class in one purpose; outside a dense span, entry [span],
 * which is always 0.  Dense maps of stores with few classes take half a
 * byte or a byte per subject, so that more of them stays in cache during a
 * scan.
 */
static pg_attribute_always_inline PzClass
pz_map_lookup(const PzMapView *m, int64 subject)
{
	if (likely(m->keys == NULL))
	{
		uint64		off = (uint64) subject - (uint64) m->base;
		uint64		at = off < m->span ? off : m->span;

		if (likely(m->classes8 != NULL))
			return pz_map_small_entry(m->classes8, m->byte_shift, m->half_mask, m->value_mask, at);
		return m->classes[at];
	}
	return pz_map_probe(m, subject);
}

/*
 * A reader's hold on the current store of its database.  valid() is the
 * per-statement check: the slot's generation changes when the store is
 * replaced, evicted or goes stale.
 */
typedef struct PzStoreRef
{
	const PzStore *store;		/* NULL: none */
	uint64		generation;
	pg_atomic_uint64 *current;
} PzStoreRef;

static inline bool
pz_consent_store_valid(const PzStoreRef *ref)
{
	return ref->store != NULL && pg_atomic_read_u64(ref->current) == ref->generation;
}

/* consent_store.c: the shared store */
extern void pz_consent_store_init(void);
extern bool pz_consent_store_enabled(void);
extern bool pz_consent_store_acquire(PzStoreRef *ref, bool may_build);
extern void pz_consent_store_check(void);
extern bool pz_consent_store_map(const PzStore *s, const char *purpose, PzMapView *view);
extern uint32 pz_consent_store_nclasses(const PzStore *s);
extern const Consent *pz_consent_store_class(const PzStore *s, PzClass c);

/*
 * consent_changes.c: this transaction's changes to personalize.consents,
 * visible to its own later statements before the store learns them at
 * commit ("the overlay").
 */
typedef enum PzOverlayState
{
	PZ_OVERLAY_ABSENT,			/* not changed here: ask the store */
	PZ_OVERLAY_DELETED,			/* the row is gone: no consent */
	PZ_OVERLAY_SET				/* *consent, local id *id */
} PzOverlayState;

extern bool pz_overlay_active;	/* this transaction changed consents */
extern uint64 pz_overlay_generation;	/* bumped when the overlay is emptied */
extern uint64 pz_overlay_epoch;	/* bumped at every change of the overlay */
extern void pz_consent_changes_init(void);
extern bool pz_overlay_truncated(void);
extern int	pz_overlay_purpose_id(const char *purpose);
extern int	pz_overlay_nconsents(void);
extern PzOverlayState pz_overlay_lookup(int64 subject, int purpose_id,
										const Consent **consent, int *id);
extern bool pz_leader_has_overlay(void);

#endif							/* PERSONALIZE_CONSENT_STORE_H */
