/*
 * serving.h
 *		What recommend() scores from: one immutable snapshot of the active
 *		model joined with the catalogue, built once and shared by every
 *		backend through a dynamic shared memory segment.
 *
 * A snapshot is keyed by (model, catalogue version).  Models never change
 * once stored, and any committed change to personalize.items bumps the
 * catalogue version, so a snapshot is either current or replaced, never
 * patched in place.  The only mutable part is the bandit counters (times
 * shown, rewards), updated with atomics.
 */
#ifndef PERSONALIZE_SERVING_H
#define PERSONALIZE_SERVING_H

#include "postgres.h"

#include "port/atomics.h"

#define PZ_SERVING_MAGIC	0x505A5356	/* "PZSV" */
#define PZ_NAME_MAX			(NAMEDATALEN + 1)
#define PZ_CATEGORY_MAX		64		/* item category names, truncated */

/* per-item flags */
#define PZ_ITEM_SPONSORED	0x01
#define PZ_ITEM_FACTORS		0x02	/* the model has factors for it */

/* fixed point of the reward counters: rewards are in [0, 1] */
#define PZ_REWARD_SCALE		1000000.0

typedef enum PzServingAlgorithm
{
	PZ_SERVE_ALS,
	PZ_SERVE_ITEMKNN,			/* item-kNN and RP3beta: stored neighbours */
	PZ_SERVE_POPULARITY
} PzServingAlgorithm;

typedef struct PzServing
{
	uint32		magic;
	int64		model_id;
	uint64		catalogue_version;
	char		purpose[PZ_NAME_MAX];	/* the model's purpose */
	PzServingAlgorithm algorithm;
	Size		total_size;

	int32		nitems;			/* catalogue items, sorted by id */
	int32		ncategories;
	int32		k;				/* ALS factors, else 0 */
	int32		nn;				/* kNN neighbours per item, else 0 */
	float		regularization;
	float		reg_exponent;	/* ALS fold-in ridge: see pz_als_row_lambda */
	float		alpha;
	int32		weighting;		/* PzWeighting of history values (ALS fold-in) */

	/* byte offsets from the start of the header */
	Size		off_item_ids;	/* int64 [nitems] */
	Size		off_category;	/* int32 [nitems], -1: none */
	Size		off_flags;		/* uint8 [nitems] */
	Size		off_popularity; /* float [nitems] */
	Size		off_name_at;	/* uint32 [nitems + 1] into names */
	Size		off_names;		/* char [], not terminated */
	Size		off_categories; /* char [ncategories][PZ_CATEGORY_MAX] */
	Size		off_Y;			/* float [nitems * k], zero without factors */
	Size		off_Y8;			/* int8 [nitems * k] */
	Size		off_Y8_scale;	/* float [nitems] */
	Size		off_YtY;		/* double [k * k] */
	Size		off_idf;		/* float [nitems]: log_idf's item factor, else 1 */
	Size		off_nbr;		/* int32 [nitems * nn], item index, -1 unused */
	Size		off_nbr_score;	/* float [nitems * nn] */
	Size		off_shown;		/* pg_atomic_uint64 [nitems] */
	Size		off_reward;		/* pg_atomic_uint64 [nitems], PZ_REWARD_SCALE */
} PzServing;

#define PZ_AT(s, off, type)	((type) ((char *) (s) + (s)->off))
#define pz_item_ids(s)		PZ_AT(s, off_item_ids, const int64 *)
#define pz_item_category(s)	PZ_AT(s, off_category, const int32 *)
#define pz_item_flags(s)	PZ_AT(s, off_flags, const uint8 *)
#define pz_popularity(s)	PZ_AT(s, off_popularity, const float *)
#define pz_Y(s)				PZ_AT(s, off_Y, const float *)
#define pz_Y8(s)			PZ_AT(s, off_Y8, const int8 *)
#define pz_Y8_scale(s)		PZ_AT(s, off_Y8_scale, const float *)
#define pz_YtY(s)			PZ_AT(s, off_YtY, const double *)
#define pz_idf(s)			PZ_AT(s, off_idf, const float *)
#define pz_nbr(s)			PZ_AT(s, off_nbr, const int32 *)
#define pz_nbr_score(s)		PZ_AT(s, off_nbr_score, const float *)
#define pz_shown(s)			PZ_AT(s, off_shown, pg_atomic_uint64 *)
#define pz_reward(s)		PZ_AT(s, off_reward, pg_atomic_uint64 *)

/* serving_shmem.c */
extern void pz_serving_shmem_init(void);
extern bool pz_serving_available(void);
extern uint64 pz_catalogue_version(void);
extern uint64 pz_models_version(void);
extern const PzServing *pz_serving_get(int64 model_id);
extern const PzServing *pz_serving_find_purpose(const char *purpose);

/* serving_versions.c */
extern void pz_serving_versions_bump(bool catalogue);
extern uint64 pz_serving_versions_standby(bool catalogue);

/*
 * serving_build.c: read a model and the catalogue (as of now) and lay the
 * snapshot out in memory obtained from allocate (zeroed by the builder).
 * Bandit counters are carried over from the purpose's current snapshot, or
 * else summed from the impressions and feedback tables.
 */
typedef void *(*PzServingAllocate) (Size size, void *arg);
extern PzServing *pz_serving_build(int64 model_id, uint64 catalogue_version,
								   PzServingAllocate allocate, void *arg);

/* helpers shared by recommend.c and explain.c */
extern int32 pz_serving_item_index(const PzServing *s, int64 item_id);
extern const char *pz_serving_category_name(const PzServing *s, int32 item);
extern char *pz_serving_item_name(const PzServing *s, int32 item);
extern float pz_serving_neighbor_similarity(const PzServing *s, int32 from, int32 item);

#endif							/* PERSONALIZE_SERVING_H */
