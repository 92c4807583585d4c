-- test/gen/generate.sql: a synthetic implicit-feedback data set with planted
-- structure, for training and evaluating recommenders.
--
--   psql -d DB -f test/gen/generate.sql                       # defaults below
--   psql -d DB -v subjects=600 -v interactions=50000 -f test/gen/generate.sql
--
-- Run as a superuser (it writes the consent tables directly and relies on
-- superusers bypassing row-level security), into a database where
-- CREATE EXTENSION personalize was run and personalize.items, .interactions
-- and .consents are still empty (the consent ledger is append-only, so the
-- generator never clears anything: recreate the extension to start again).
-- Everything happens in one transaction.
--
-- Parameters (psql variables, defaults in brackets):
--   subjects [6000]  items [4000]  interactions [1000000] (exact total)
--   categories [20]  item categories cat_01..; category c belongs to taste
--                    (c - 1) % tastes + 1, so each taste spans a few categories
--   tastes [8]       latent tastes
--   dims [32]        embedding dimensions
--   days [90]        occurred_at is spread uniformly over the days before end_time
--   end_time [now]   a timestamp, e.g. -v end_time="'2024-06-01'" for fixed output
--   seed [0.42]      setseed() argument, in [-1, 1]: same seed, same data
--   zipf [1.0]       popularity exponent: weight of popularity rank r is r^-zipf
--   taste_pop [1.0]  within a taste, the item of rank r (a ranking of its own)
--                    is drawn with weight r^-taste_pop (0: uniformly)
--   p_taste [0.70]   share of interactions drawn from the subject's tastes
--   p_pop [0.22]     share drawn by global popularity; the rest (0.08) uniformly
--   consent_rate [0.95]  subjects consenting to 'recommendation' ('personalization')
--   withdrawn [0.02] subjects who consented and then withdrew (current consent 'none');
--                    the rest (3% by default) have no consent record at all
--   sponsored [0.02] share of items marked sponsored (independent of everything else)
--   check [true]     print the learnability check at the end
--
-- The planted model:
--   * Item i: a category (uniform), a primary taste (its category's taste
--     with probability 0.85, else uniform), a taste vector (0.7..0.9 on the
--     primary taste, the rest spread at random over the others), a global
--     popularity rank (random permutation) with weight rank^-zipf, a rank
--     within its taste (another, independent permutation: what is popular
--     with one taste need not be popular overall), an embedding = a fixed
--     random projection of the taste vector (tastes x dims, N(0, 1/tastes))
--     plus N(0, 0.15^2) noise per dimension.
--   * Subject s: a primary taste (uniform); with probability 0.6 also a
--     secondary one, taking 10..40% of the taste draws; an activity level
--     (log-normal, sigma 1): every subject gets at least 5 interactions, the
--     rest of the total is shared in proportion to activity.
--   * Each interaction: with probability p_taste, a taste from the subject's
--     mixture, then an item of that primary taste with probability
--     proportional to (rank within the taste)^-taste_pop; with p_pop, an
--     item by global popularity weight; otherwise an item uniformly.
--     Repeats of a pair are allowed (repeated views).
--   * kind: taste draws are view/cart/purchase 80/12/8%, popularity draws
--     88/8/4%, uniform draws 97/3/0%; purchases have signal category
--     purchase_history, the rest browsing_history.  interactions.weight is 1
--     everywhere: training weights the kinds (personalize.interaction_kinds).
--   * occurred_at: uniform over the `days` before end_time.
--
-- The planted truth stays in schema pzgen (dropped and recreated each run):
-- pzgen.subject_tastes(subject_id, taste, share), pzgen.item_tastes(item_id,
-- category, taste, pop_rank, popularity, taste_rank), pzgen.params.
--
-- The check at the end holds out, per subject, the item of their latest
-- interaction (all their interactions with it leave the training data) and
-- prints (1) how often that item has one of the subject's planted tastes,
-- against the share of training interactions with those tastes (what
-- popularity alone predicts), and (2) HR@10 / NDCG@10 among unseen items of
-- global popularity against a trivial model learnable from the data alone
-- (category affinity, see below).  Timing: about 16 s for the defaults on 2
-- cores (the check adds about 6 s).

\set ON_ERROR_STOP on
\if :{?subjects} \else \set subjects 6000 \endif
\if :{?items} \else \set items 4000 \endif
\if :{?interactions} \else \set interactions 1000000 \endif
\if :{?categories} \else \set categories 20 \endif
\if :{?tastes} \else \set tastes 8 \endif
\if :{?dims} \else \set dims 32 \endif
\if :{?days} \else \set days 90 \endif
\if :{?end_time} \else \set end_time now() \endif
\if :{?seed} \else \set seed 0.42 \endif
\if :{?zipf} \else \set zipf 1.0 \endif
\if :{?taste_pop} \else \set taste_pop 1.0 \endif
\if :{?p_taste} \else \set p_taste 0.70 \endif
\if :{?p_pop} \else \set p_pop 0.22 \endif
\if :{?consent_rate} \else \set consent_rate 0.95 \endif
\if :{?withdrawn} \else \set withdrawn 0.02 \endif
\if :{?sponsored} \else \set sponsored 0.02 \endif
\if :{?check} \else \set check true \endif

SELECT :subjects >= 1 AND :items >= 1 AND :interactions >= 5 * :subjects
       AND :categories >= 1 AND :tastes >= 1 AND :tastes <= :items AND :dims >= 1
       AND :days > 0 AND :seed BETWEEN -1 AND 1 AND :zipf >= 0 AND :taste_pop >= 0
       AND :p_taste >= 0 AND :p_pop >= 0 AND :p_taste + :p_pop <= 1
       AND :consent_rate + :withdrawn <= 1 AS params_ok \gset
\if :params_ok
\else
	DO $$ BEGIN RAISE EXCEPTION 'generate.sql: bad parameters'
		USING ERRCODE = 'invalid_parameter_value',
		      HINT = 'Needed: interactions >= 5 * subjects, tastes <= items, p_taste + p_pop <= 1, consent_rate + withdrawn <= 1, seed in [-1, 1], nothing negative.'; END $$;
\endif

SELECT EXISTS (SELECT 1 FROM personalize.items) OR EXISTS (SELECT 1 FROM personalize.interactions)
       OR EXISTS (SELECT 1 FROM personalize.consents) OR EXISTS (SELECT 1 FROM personalize.consent_ledger) AS not_empty \gset
\if :not_empty
	DO $$ BEGIN RAISE EXCEPTION 'generate.sql: personalize.items, interactions, consents or consent_ledger already hold data'
		USING ERRCODE = 'object_not_in_prerequisite_state',
		      HINT = 'Run it right after CREATE EXTENSION personalize (the consent ledger cannot be emptied).'; END $$;
\endif

SELECT clock_timestamp() AS gen_started \gset
\echo generating :subjects subjects, :items items, :interactions interactions (seed :seed)

BEGIN;
SET LOCAL client_min_messages = warning;
-- random() in parallel workers would not follow setseed()
SET LOCAL max_parallel_workers_per_gather = 0;
SET LOCAL work_mem = '256MB';

SELECT setseed(:seed) AS seeded \gset

DROP SCHEMA IF EXISTS pzgen CASCADE;
CREATE SCHEMA pzgen;
CREATE TABLE pzgen.params AS
SELECT :subjects AS subjects, :items AS items, :interactions AS interactions,
       :categories AS categories, :tastes AS tastes, :dims AS dims, :days AS days,
       (:end_time)::timestamptz AS end_time, :seed::float8 AS seed, :zipf::float8 AS zipf,
       :taste_pop::float8 AS taste_pop,
       :p_taste::float8 AS p_taste, :p_pop::float8 AS p_pop;

-- items: category, primary taste, popularity rank and weight
CREATE TEMP TABLE item_rand ON COMMIT DROP AS
SELECT i::bigint AS item_id,
       1 + floor(random() * :categories)::int AS category,
       random() AS u_taste, random() AS u_any, random() AS u_rank, random() AS u_taste_rank,
       0.7 + 0.2 * random() AS w_main,
       random() < :sponsored AS sponsored,
       round((5 + 200 * random() * random())::numeric, 2) AS price,
       (:end_time)::timestamptz - (:days + 90) * interval '1 day' * random() AS created_at
  FROM generate_series(1, :items) i;
ALTER TABLE item_rand ADD PRIMARY KEY (item_id);

CREATE TABLE pzgen.item_tastes AS
WITH base AS (
	SELECT item_id, category, u_taste, u_any, u_rank FROM item_rand
), ranked AS (
	SELECT *, row_number() OVER (ORDER BY u_rank, item_id) AS pop_rank FROM base
)
SELECT item_id::bigint, category,
       CASE WHEN u_taste < 0.85 THEN (category - 1) % :tastes + 1
            ELSE 1 + floor(u_any * :tastes)::int END AS taste,
       pop_rank,
       power(pop_rank, -:zipf::float8) AS popularity
  FROM ranked ORDER BY item_id;
ALTER TABLE pzgen.item_tastes ADD PRIMARY KEY (item_id);

-- every taste needs at least one item for the taste draws: move the most
-- popular item of the largest taste into each empty one
DO $$
DECLARE
	t int;
	ntastes int := (SELECT tastes FROM pzgen.params);
BEGIN
	FOR t IN SELECT g FROM generate_series(1, ntastes) g
	          WHERE NOT EXISTS (SELECT 1 FROM pzgen.item_tastes it WHERE it.taste = g) ORDER BY g
	LOOP
		UPDATE pzgen.item_tastes SET taste = t
		 WHERE item_id = (SELECT item_id FROM pzgen.item_tastes
		                   WHERE taste = (SELECT taste FROM pzgen.item_tastes GROUP BY taste
		                                   ORDER BY count(*) DESC, taste LIMIT 1)
		                   ORDER BY pop_rank LIMIT 1);
	END LOOP;
END $$;
ALTER TABLE pzgen.item_tastes ADD COLUMN taste_rank int;
UPDATE pzgen.item_tastes it SET taste_rank = x.r
  FROM (SELECT it2.item_id, row_number() OVER (PARTITION BY it2.taste ORDER BY ir.u_taste_rank, it2.item_id) AS r
          FROM pzgen.item_tastes it2 JOIN item_rand ir USING (item_id)) x
 WHERE x.item_id = it.item_id;

-- taste vectors: 0.7..0.9 on the primary taste, the rest spread at random
CREATE TEMP TABLE item_taste_rand ON COMMIT DROP AS
SELECT i::bigint AS item_id, t, random() AS u
  FROM generate_series(1, :items) i, generate_series(1, :tastes) t;
CREATE TEMP TABLE item_vec ON COMMIT DROP AS
WITH raw AS (
	SELECT r.item_id, r.t, it.taste = r.t AS main, r.u, ir.w_main
	  FROM item_taste_rand r JOIN pzgen.item_tastes it USING (item_id) JOIN item_rand ir USING (item_id)
)
SELECT item_id, t,
       CASE WHEN main THEN w_main
            WHEN :tastes = 1 THEN 0
            ELSE (1 - w_main) * u / sum(u) FILTER (WHERE NOT main) OVER (PARTITION BY item_id) END AS w
  FROM raw;

-- a Gaussian by Box-Muller; 1 - random() is in (0, 1]
CREATE FUNCTION pg_temp.gauss(u1 float8, u2 float8) RETURNS float8 LANGUAGE sql IMMUTABLE
AS $$ SELECT sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2) $$;

CREATE TEMP TABLE projection ON COMMIT DROP AS
SELECT t, d, pg_temp.gauss(random(), random()) / sqrt(:tastes) AS p
  FROM generate_series(1, :tastes) t, generate_series(1, :dims) d ORDER BY t, d;

CREATE TEMP TABLE item_noise ON COMMIT DROP AS
SELECT i::bigint AS item_id, d, 0.15 * pg_temp.gauss(random(), random()) AS z
  FROM generate_series(1, :items) i, generate_series(1, :dims) d ORDER BY i, d;

INSERT INTO personalize.items (item_id, category, attributes, sponsored, embedding, created_at)
SELECT it.item_id,
       format('cat_%s', lpad(it.category::text, 2, '0')),
       jsonb_build_object('price', r.price),
       r.sponsored,
       e.v::personalize.embedding,
       r.created_at
  FROM pzgen.item_tastes it
  JOIN item_rand r USING (item_id)
  JOIN (SELECT n.item_id, array_agg(n.z + coalesce(s.x, 0) ORDER BY n.d)::real[] AS v
          FROM item_noise n
          LEFT JOIN (SELECT iv.item_id, p.d, sum(iv.w * p.p) AS x
                       FROM item_vec iv JOIN projection p USING (t)
                      GROUP BY iv.item_id, p.d) s ON s.item_id = n.item_id AND s.d = n.d
         GROUP BY n.item_id) e USING (item_id)
 ORDER BY it.item_id;

-- subjects: tastes and activity
CREATE TABLE pzgen.subject_tastes (
	subject_id bigint NOT NULL,
	taste      int NOT NULL,
	share      float8 NOT NULL,
	PRIMARY KEY (subject_id, taste)
);
CREATE TEMP TABLE subj_rand ON COMMIT DROP AS
SELECT s::bigint AS subject_id,
       1 + floor(random() * :tastes)::int AS t1,
       random() AS u_second, random() AS u_t2, 0.6 + 0.3 * random() AS u_share,
       exp(pg_temp.gauss(random(), random())) AS activity
  FROM generate_series(1, :subjects) s;

-- interactions per subject: 5 each, the rest by activity (cumulative
-- rounding, so the total is exact)
CREATE TEMP TABLE subj ON COMMIT DROP AS
WITH t AS (
	SELECT subject_id, t1, activity,
	       CASE WHEN :tastes > 1 AND u_second < 0.6
	            THEN (t1 - 1 + 1 + floor(u_t2 * (:tastes - 1))::int) % :tastes + 1 END AS t2,
	       u_share
	  FROM subj_rand
), c AS (
	SELECT t.*, floor(sum(activity) OVER (ORDER BY subject_id) / sum(activity) OVER ()
	                  * (:interactions - 5 * :subjects))::bigint AS b
	  FROM t
)
SELECT subject_id, t1, t2, CASE WHEN t2 IS NULL THEN 1 ELSE u_share END AS share1,
       5 + CASE WHEN subject_id = :subjects THEN :interactions - 5 * :subjects ELSE b END
         - coalesce(lag(b) OVER (ORDER BY subject_id), 0) AS n
  FROM c ORDER BY subject_id;
INSERT INTO pzgen.subject_tastes
SELECT subject_id, t1, share1 FROM subj
UNION ALL
SELECT subject_id, t2, 1 - share1 FROM subj WHERE t2 IS NOT NULL;

-- sampling pools, as slots: pool t (a taste) holds that taste's items in
-- proportion to taste_rank^-taste_pop, pool 0 all items by popularity; an item
-- gets floor(S * cum_hi) - floor(S * cum_lo) of the S slots
CREATE TEMP TABLE slots (pool int, slot int, item_id bigint) ON COMMIT DROP;
\set S 131072
INSERT INTO slots
WITH w AS (
	SELECT taste AS pool, item_id, power(taste_rank, -:taste_pop::float8) AS w FROM pzgen.item_tastes
	UNION ALL
	SELECT 0, item_id, popularity FROM pzgen.item_tastes
), c AS (
	SELECT pool, item_id,
	       CASE WHEN row_number() OVER (PARTITION BY pool ORDER BY item_id) = count(*) OVER (PARTITION BY pool)
	            THEN :S
	            ELSE least(floor(sum(w) OVER (PARTITION BY pool ORDER BY item_id)
	                             / sum(w) OVER (PARTITION BY pool) * :S)::int, :S) END AS hi
	  FROM w
), b AS (
	SELECT pool, item_id, coalesce(lag(hi) OVER (PARTITION BY pool ORDER BY item_id), 0) AS lo, hi FROM c
)
SELECT pool, s, item_id
  FROM b, generate_series(lo, hi - 1) s;
ALTER TABLE slots ADD PRIMARY KEY (pool, slot);
ANALYZE slots;

-- the draws: which pool, which slot, which kind, when
CREATE TEMP TABLE draws ON COMMIT DROP AS
SELECT s.subject_id, s.t1, s.t2, s.share1,
       random() AS u_mode, random() AS u_taste, random() AS u_slot, random() AS u_kind, random() AS u_time
  FROM subj s, generate_series(1, s.n) g;

CREATE TEMP TABLE drawn ON COMMIT DROP AS
SELECT subject_id, mode, u_kind, u_time,
       CASE mode WHEN 'taste' THEN CASE WHEN u_taste < share1 THEN t1 ELSE t2 END
                 WHEN 'pop' THEN 0 END AS pool,
       CASE WHEN mode = 'noise' THEN 1 + least(floor(u_slot * :items)::int, :items - 1)
            ELSE least(floor(u_slot * :S)::int, :S - 1) END AS slot
  FROM (SELECT *, CASE WHEN u_mode < :p_taste THEN 'taste'
                       WHEN u_mode < :p_taste + :p_pop THEN 'pop' ELSE 'noise' END AS mode
          FROM draws) d;
ANALYZE drawn;

INSERT INTO personalize.interactions (subject_id, item_id, category, kind, weight, occurred_at)
SELECT subject_id, item_id,
       CASE kind WHEN 'purchase' THEN 'purchase_history' ELSE 'browsing_history' END,
       kind, 1, occurred_at
  FROM (SELECT d.subject_id,
               CASE d.mode WHEN 'noise' THEN d.slot ELSE sl.item_id END AS item_id,
               CASE d.mode
                   WHEN 'taste' THEN CASE WHEN d.u_kind < 0.80 THEN 'view' WHEN d.u_kind < 0.92 THEN 'cart' ELSE 'purchase' END
                   WHEN 'pop' THEN CASE WHEN d.u_kind < 0.88 THEN 'view' WHEN d.u_kind < 0.96 THEN 'cart' ELSE 'purchase' END
                   ELSE CASE WHEN d.u_kind < 0.97 THEN 'view' ELSE 'cart' END
               END AS kind,
               (:end_time)::timestamptz - :days * interval '1 day' * d.u_time AS occurred_at
          FROM drawn d LEFT JOIN slots sl ON sl.pool = d.pool AND sl.slot = d.slot) x
 ORDER BY occurred_at, subject_id, item_id;

-- consent to 'recommendation': most subjects at 'personalization', a few
-- set and later withdrawn ('none'), the rest never asked
CREATE TEMP TABLE subj_consent ON COMMIT DROP AS
SELECT subject_id,
       CASE WHEN u < :consent_rate THEN 'set'
            WHEN u < :consent_rate + :withdrawn THEN 'withdrawn' END AS state,
       (:end_time)::timestamptz - (:days + 1) * interval '1 day' + interval '1 hour' * u2 AS set_at,
       (:end_time)::timestamptz - :days * interval '1 day' * u3 AS withdrawn_at
  FROM (SELECT subject_id, random() AS u, random() AS u2, random() AS u3 FROM subj) s;

INSERT INTO personalize.consent_ledger
	(subject_id, purpose, action, consent, source, notice_version, recorded_by, recorded_at)
SELECT subject_id, 'recommendation', 'set', personalize.make_consent('personalization'),
       'generator', 'gen-1', current_user, set_at
  FROM subj_consent WHERE state IS NOT NULL
UNION ALL
SELECT subject_id, 'recommendation', 'withdraw', 'none'::personalize.consent,
       'generator', 'gen-1', current_user, withdrawn_at
  FROM subj_consent WHERE state = 'withdrawn'
 ORDER BY 8, 1;

INSERT INTO personalize.consents (subject_id, purpose, consent, updated_at)
SELECT subject_id, 'recommendation',
       CASE state WHEN 'set' THEN personalize.make_consent('personalization') ELSE 'none'::personalize.consent END,
       CASE state WHEN 'set' THEN set_at ELSE withdrawn_at END
  FROM subj_consent WHERE state IS NOT NULL ORDER BY subject_id;

COMMIT;

ANALYZE personalize.items;
ANALYZE personalize.interactions;
ANALYZE personalize.consents;
ANALYZE personalize.consent_ledger;
ANALYZE pzgen.item_tastes;
ANALYZE pzgen.subject_tastes;

SELECT (SELECT count(*) FROM personalize.items) AS items,
       (SELECT count(*) FILTER (WHERE sponsored) FROM personalize.items) AS sponsored,
       (SELECT count(*) FROM personalize.interactions) AS interactions,
       (SELECT count(DISTINCT subject_id) FROM personalize.interactions) AS subjects,
       (SELECT count(*) FILTER (WHERE personalize.tier(consent) = 'personalization') FROM personalize.consents) AS consenting,
       (SELECT count(*) FILTER (WHERE personalize.tier(consent) = 'none') FROM personalize.consents) AS withdrawn,
       round(extract(epoch FROM clock_timestamp() - :'gen_started'::timestamptz)::numeric, 1) AS seconds;
SELECT kind, category, count(*) FROM personalize.interactions GROUP BY 1, 2 ORDER BY 3 DESC;

\if :check
\echo learnability check: the item of the latest interaction of each subject is held out
BEGIN;
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE holdout ON COMMIT DROP AS
SELECT DISTINCT ON (subject_id) subject_id, item_id, interaction_id
  FROM personalize.interactions
 ORDER BY subject_id, occurred_at DESC, interaction_id DESC;
-- every interaction of the subject with that item leaves the training data
CREATE TEMP TABLE train ON COMMIT DROP AS
SELECT i.subject_id, i.item_id FROM personalize.interactions i
 WHERE NOT EXISTS (SELECT 1 FROM holdout h WHERE h.subject_id = i.subject_id AND h.item_id = i.item_id);
CREATE TEMP TABLE item_pop ON COMMIT DROP AS
SELECT it.item_id, it.category, it.taste, count(t.item_id) AS n
  FROM pzgen.item_tastes it LEFT JOIN train t USING (item_id) GROUP BY 1, 2, 3;
CREATE TEMP TABLE seen ON COMMIT DROP AS SELECT DISTINCT subject_id, item_id FROM train;
ALTER TABLE seen ADD PRIMARY KEY (subject_id, item_id);
ANALYZE holdout; ANALYZE train; ANALYZE item_pop; ANALYZE seen;

-- (1) planted: how often the held-out item has one of the subject's tastes,
-- against the share of (training) interactions with those tastes, which is
-- what drawing by popularity alone would give
WITH taste_share AS (
	SELECT taste, sum(n)::float8 / (SELECT sum(n) FROM item_pop) AS share FROM item_pop GROUP BY taste
), subj AS (
	SELECT st.subject_id, array_agg(st.taste) AS tastes, sum(ts.share) AS pop_share
	  FROM pzgen.subject_tastes st JOIN taste_share ts USING (taste) GROUP BY 1
)
SELECT count(*) AS subjects,
       round(avg((it.taste = ANY (s.tastes))::int), 3) AS heldout_in_own_tastes,
       round(avg(s.pop_share)::numeric, 3) AS popularity_predicts
  FROM holdout h JOIN pzgen.item_tastes it USING (item_id) JOIN subj s USING (subject_id);

-- (2) learnable from the data alone: HR@10 and NDCG@10 of the held-out item
-- among unseen items, for global popularity and for category affinity:
-- score = P(category | subject) * P(item | category), both counted in the
-- training data, over the subject's 3 top categories
CREATE TEMP TABLE user_cat ON COMMIT DROP AS
SELECT subject_id, category, cnt FROM (
	SELECT t.subject_id, p.category, count(*) AS cnt,
	       row_number() OVER (PARTITION BY t.subject_id ORDER BY count(*) DESC, p.category) AS r
	  FROM train t JOIN item_pop p USING (item_id) GROUP BY 1, 2) x
 WHERE r <= 3;
CREATE TEMP TABLE ranked_items ON COMMIT DROP AS
SELECT item_id, category, n, sum(n) OVER (PARTITION BY category) AS cat_n,
       row_number() OVER (ORDER BY n DESC, item_id) AS pop_rank,
       row_number() OVER (PARTITION BY category ORDER BY n DESC, item_id) AS cat_rank
  FROM item_pop;
CREATE INDEX ON ranked_items (pop_rank);
CREATE INDEX ON ranked_items (category, cat_rank);
ANALYZE user_cat; ANALYZE ranked_items;
WITH by_category AS (
	SELECT uc.subject_id,
	       array_agg(r.item_id ORDER BY uc.cnt * r.n::float8 / nullif(r.cat_n, 0) DESC, r.item_id) AS items
	  FROM user_cat uc JOIN ranked_items r ON r.category = uc.category AND r.cat_rank <= 100
	 WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.subject_id = uc.subject_id AND s.item_id = r.item_id)
	 GROUP BY uc.subject_id
), recs AS (
	SELECT h.subject_id, ARRAY[h.item_id] AS relevant,
	       ARRAY(SELECT r.item_id FROM ranked_items r
	              WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.subject_id = h.subject_id AND s.item_id = r.item_id)
	              ORDER BY r.pop_rank LIMIT 10) AS by_popularity,
	       coalesce(bc.items[1:10], '{}') AS by_category
	  FROM holdout h LEFT JOIN by_category bc USING (subject_id)
)
SELECT 'popularity' AS model, count(*) AS subjects,
       round(avg(personalize.recall_at_k(by_popularity, relevant, 10))::numeric, 4) AS hr_at_10,
       round(avg(personalize.ndcg_at_k(by_popularity, relevant, 10))::numeric, 4) AS ndcg_at_10
  FROM recs
UNION ALL
SELECT 'category affinity', count(*),
       round(avg(personalize.recall_at_k(by_category, relevant, 10))::numeric, 4),
       round(avg(personalize.ndcg_at_k(by_category, relevant, 10))::numeric, 4)
  FROM recs;
COMMIT;
\endif
