-- drift monitoring: gini(value, population), drift_snapshots measured
-- against a naive reference and a hand-computed case, alerts raised once in
-- the right period (WARNING, notification payload, exploration raised within
-- its ceiling), drift_job() backfill, bounds and idempotence, the gini_drift
-- view and its sparklines, the SVG chart, bad input, and privilege attacks.
-- Every timestamp is fixed (January 2024, days counted from Monday
-- 2024-01-01 UTC), so nothing depends on when the test runs.
DROP EXTENSION personalize CASCADE;
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never

-- ---- gini(value, population) -------------------------------------------------
-- zeros need not be rows: [1,2,3,4] among 8 members is [0,0,0,0,1,2,3,4]
SELECT gini(x, 8) AS padded, (SELECT gini(y) FROM (VALUES (0), (0), (0), (0), (1), (2), (3), (4)) w(y)) AS materialized
  FROM (VALUES (1), (2), (3), (4)) v(x);
-- the whole population given: the same as gini(value)
SELECT gini(x, 4) = gini(x) AS same FROM (VALUES (3), (1), (4), (2)) v(x);
-- one item shown among a million: (n - 1) / n; NULL values are zeros
SELECT gini(x, 1000000) = 999999 / 1000000.0 AS one_in_a_million FROM (VALUES (7.0)) v(x);
SELECT gini(x, 4) FROM (VALUES (NULL::float8), (2), (NULL)) v(x);
-- no rows, all zeros: 0
SELECT gini(x, 10) FROM (SELECT 1.0::float8 AS x WHERE false) v;
SELECT gini(NULL::float8, 10);
-- a larger case against the materialized one, serial and parallel
CREATE TABLE gini_pop_data AS SELECT i, (i * 7919) % 1000 + 1 AS x FROM generate_series(0, 29999) i;
ANALYZE gini_pop_data;
CREATE TEMP TABLE materialized_gini AS
	SELECT gini(coalesce(d.x, 0)) AS g FROM generate_series(0, 39999) k LEFT JOIN gini_pop_data d ON d.i = k;
SELECT abs(gini(x, 40000) - (SELECT g FROM materialized_gini)) < 1e-12 AS serial_ok FROM gini_pop_data;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gini(x, 40000) FROM gini_pop_data;
SELECT abs(gini(x, 40000) - (SELECT g FROM materialized_gini)) < 1e-12 AS parallel_ok FROM gini_pop_data;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE gini_pop_data;
-- bad input
SELECT gini(x, 3) FROM (VALUES (1), (2), (3), (4)) v(x);
SELECT gini(x, -1) FROM (VALUES (1)) v(x);
SELECT gini(x, NULL) FROM (VALUES (1)) v(x);
SELECT gini(x, n) FROM (VALUES (1, 5), (2, 6)) v(x, n);
SELECT gini(x, 5) FROM (VALUES (1), (-1)) v(x);
SELECT gini(x, 5) FROM (VALUES ('NaN'::float8)) v(x);

-- ---- settings ----------------------------------------------------------------
SELECT name, setting, unit, context, min_val, max_val FROM pg_settings
 WHERE name IN ('personalize.drift_period', 'personalize.gini_alert_delta', 'personalize.drift_new_subject_window',
                'personalize.drift_min_impressions', 'personalize.drift_raise_exploration',
                'personalize.drift_exploration_ceiling', 'personalize.drift_exploration_step',
                'personalize.drift_noise_z')
 ORDER BY name;
SELECT * FROM drift_settings();
-- the rise sampling alone could explain: it governs below about 2,400
-- impressions a period, the 0.05 threshold above
SELECT n, round(drift_noise(n, n)::numeric, 3) AS noise FROM unnest(ARRAY[100, 500, 1000, 2500, 5000]) n;
SET personalize.drift_noise_z = 11;
SET personalize.drift_noise_z = 0;
SELECT drift_noise(10, 10);
RESET personalize.drift_noise_z;
SET personalize.drift_period = '5h';		-- does not tile a week
SET personalize.drift_period = '30min';		-- below an hour
SET personalize.drift_period = '6h';
SELECT period FROM drift_settings();
SET personalize.drift_period = '2 weeks';
SELECT period FROM drift_settings();
RESET personalize.drift_period;
SET personalize.gini_alert_delta = 0;
SET personalize.drift_min_impressions = -1;
SET personalize.drift_exploration_ceiling = 1.5;

-- ---- data ----------------------------------------------------------------------
-- 20 items in 4 categories, and one added in June (not part of January's
-- catalogue).
INSERT INTO items (item_id, category, created_at)
SELECT i, 'c' || ((i - 1) / 5 + 1), '2023-12-01 00:00+00' FROM generate_series(1, 20) i;
INSERT INTO items (item_id, category, created_at) VALUES (21, 'c5', '2024-06-01 00:00+00');

-- Purpose recommendation, 21 days from Monday 2024-01-01: subjects 1-30
-- from day 0, subjects 31-40 from day 14, 10 impressions each a day spread
-- over all categories (the 10th slot explored).  On day 16 (Wednesday
-- 2024-01-17) every subject's feed narrows to one category (subject s gets
-- category s % 4 + 1): the catalogue as a whole is shown as evenly as
-- before, only the feeds narrow (the filter bubble only feed_category_gini
-- sees).  20 impressions a day without a subject (no consent).
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
SELECT timestamptz '2024-01-01 00:00+00' + d * interval '24 hours' + s * interval '1 minute' + j * interval '1 second',
       s, 'recommendation', 1,
       CASE WHEN d = 16 THEN (s % 4) * 5 + (s + j) % 5 + 1 ELSE (s + d + 3 * j) % 20 + 1 END,
       j + 1, 1, j = 9, false
  FROM generate_series(0, 20) d, generate_series(1, 40) s, generate_series(0, 9) j
 WHERE s <= 30 OR d >= 14;
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
SELECT timestamptz '2024-01-01 12:00+00' + d * interval '24 hours', NULL, 'recommendation', 1,
       (d + j) % 20 + 1, j + 1, 1, false, false
  FROM generate_series(0, 20) d, generate_series(0, 19) j;

-- ---- a tiny case by hand (purpose marketing, Monday 2024-01-15) --------------
-- subject 1 (new): item 1 twice, item 6 once; subject 2 (shown something 10
-- days before, so established): item 1; no subject: item 11.
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored) VALUES
	('2024-01-05 10:00+00', 2, 'marketing', 1, 16, 1, 1, false, false),
	('2024-01-15 10:00+00', 1, 'marketing', 1, 1, 1, 1, false, false),
	('2024-01-15 10:01+00', 1, 'marketing', 1, 1, 1, 1, true, false),
	('2024-01-15 10:02+00', 1, 'marketing', 1, 6, 2, 1, false, false),
	('2024-01-15 11:00+00', 2, 'marketing', 1, 1, 1, 1, false, false),
	('2024-01-15 12:00+00', NULL, 'marketing', 1, 11, 1, 1, false, false);
-- all:   items 3,1,1 + 17 zeros: G = (15*1 + 17*1 + 19*3) / (20*5) = 0.89
--        categories c1 3, c2 1, c3 1, c4 0: G = (-1 + 1 + 9) / (4*5) = 0.45
--        feeds: subject 1 [0,0,1,2] 7/12, subject 2 [0,0,0,1] 3/4: mean 2/3
-- new:   items 2,1 + 18 zeros: (17*1 + 19*2) / (20*3) = 11/12; categories 7/12
-- established: items 1 + 19 zeros: 19/20; categories 3/4
SELECT segment, period_end, impressions, subjects, items_shown, catalogue_items, categories,
       item_gini, category_gini, round(feed_category_gini::numeric, 12) AS feed_category_gini,
       coverage, round(explored_share::numeric, 12) AS explored_share
  FROM drift_snapshot('marketing', '2024-01-15 00:00+00');
SELECT abs(item_gini - 0.89) < 1e-15 AS item_exact, abs(category_gini - 0.45) < 1e-15 AS category_exact,
       abs(feed_category_gini - 2 / 3.0) < 1e-15 AS feed_exact
  FROM drift_snapshots WHERE purpose = 'marketing' AND segment = 'all';

-- ---- the drift job ---------------------------------------------------------------
-- 200 impressions make a sample: the new subjects (100 a day) never alert.
SET personalize.drift_min_impressions = 200;
-- three periods, then the rest: in time order from the first impression
SELECT drift_job('{"purpose": "recommendation", "until": "2024-01-22T00:00:00Z", "max_periods": 3}');
SELECT drift_job('{"purpose": "recommendation", "until": "2024-01-22T00:00:00Z"}');
-- nothing left to do, nothing raised twice
SELECT drift_job('{"purpose": "recommendation", "until": "2024-01-22T00:00:00Z"}');
SELECT count(*) AS snapshots, count(DISTINCT period_start) AS periods, min(period_start), max(period_end),
       bool_and(period_end - period_start = interval '24 hours') AS all_one_day
  FROM drift_snapshots WHERE purpose = 'recommendation';

-- the alerts: feed_category_gini only, in period 2024-01-17 only, against
-- both baselines, for all and established subjects (new: too few)
SELECT alert_id, kind, purpose, drift_utc(period_start) AS period_start, segment, metric,
       round(value::numeric, 4) AS value, baseline, round(baseline_value::numeric, 4) AS baseline_value,
       round(delta::numeric, 4) AS delta, action, acknowledged_at
  FROM alerts ORDER BY alert_id;
SELECT message FROM alerts WHERE alert_id = 1;
-- what a listener on channel personalize_alerts receives: the alert's id
-- and kind, nothing of what it measured, since any role may listen (LISTEN
-- output names the sending process id, so delivery is tested in
-- test/t/008_drift.pl)
SELECT alert_notification(1);

-- subjects 1-30 are new for a week (to Sunday 2024-01-07), established
-- from Monday; subjects 31-40 are new from 2024-01-15; the feeds narrow on
-- 2024-01-17 while items and categories stay evenly shown
SELECT drift_utc(period_start) AS period, segment, impressions, subjects, items_shown,
       round(item_gini::numeric, 4) AS item, round(category_gini::numeric, 4) AS category,
       round(feed_category_gini::numeric, 4) AS feed, round(coverage::numeric, 3) AS coverage,
       round(explored_share::numeric, 4) AS explored
  FROM drift_snapshots
 WHERE purpose = 'recommendation' AND period_start IN ('2024-01-07', '2024-01-08', '2024-01-15', '2024-01-16', '2024-01-17', '2024-01-18')
 ORDER BY period_start, array_position(ARRAY['all', 'new', 'established'], segment);

-- every figure against a naive computation that materializes every zero
CREATE TEMP VIEW reference AS
WITH periods AS (
	SELECT DISTINCT period_start, period_end FROM drift_snapshots WHERE purpose = 'recommendation'
), firsts AS (
	SELECT subject_id, min(shown_at) AS first_shown FROM impressions
	 WHERE purpose = 'recommendation' AND subject_id IS NOT NULL GROUP BY subject_id
), shown AS (
	SELECT p.period_start, i.subject_id, i.item_id, c.category, i.explored,
	       CASE WHEN i.subject_id IS NULL THEN NULL
	            WHEN f.first_shown >= p.period_end - interval '168 hours' THEN 'new' ELSE 'established' END AS seg
	  FROM periods p
	  JOIN impressions i ON i.purpose = 'recommendation' AND i.shown_at >= p.period_start AND i.shown_at < p.period_end
	  LEFT JOIN firsts f ON f.subject_id = i.subject_id
	  LEFT JOIN items c ON c.item_id = i.item_id
), segs (segment) AS (VALUES ('all'), ('new'), ('established')),
seg_shown AS (
	SELECT s.segment, x.* FROM segs s JOIN shown x ON s.segment = 'all' OR x.seg = s.segment
), catalogue AS (
	SELECT item_id, category FROM items WHERE created_at < '2024-02-01'
), item_ref AS (
	SELECT p.period_start, s.segment, gini(coalesce(k.n, 0)) AS g
	  FROM periods p CROSS JOIN segs s CROSS JOIN catalogue c
	  LEFT JOIN (SELECT period_start, segment, item_id, count(*) AS n FROM seg_shown GROUP BY 1, 2, 3) k
	    ON k.period_start = p.period_start AND k.segment = s.segment AND k.item_id = c.item_id
	 GROUP BY 1, 2
), category_ref AS (
	SELECT p.period_start, s.segment, gini(coalesce(k.n, 0)) AS g
	  FROM periods p CROSS JOIN segs s CROSS JOIN (SELECT DISTINCT category FROM catalogue) c
	  LEFT JOIN (SELECT period_start, segment, category, count(*) AS n FROM seg_shown GROUP BY 1, 2, 3) k
	    ON k.period_start = p.period_start AND k.segment = s.segment AND k.category = c.category
	 GROUP BY 1, 2
), feed_ref AS (
	SELECT f.period_start, f.segment, avg(f.g) AS g, count(*) AS subjects
	  FROM (SELECT u.period_start, u.segment, u.subject_id, gini(coalesce(k.n, 0)) AS g
	          FROM (SELECT DISTINCT period_start, segment, subject_id FROM seg_shown WHERE subject_id IS NOT NULL) u
	         CROSS JOIN (SELECT DISTINCT category FROM catalogue) c
	          LEFT JOIN (SELECT period_start, subject_id, category, count(*) AS n FROM shown GROUP BY 1, 2, 3) k
	            ON k.period_start = u.period_start AND k.subject_id = u.subject_id AND k.category = c.category
	         GROUP BY 1, 2, 3) f
	 GROUP BY 1, 2
), totals AS (
	SELECT period_start, segment, count(*) AS impressions, count(DISTINCT item_id) AS items_shown,
	       avg(explored::integer) AS explored_share
	  FROM seg_shown GROUP BY 1, 2
)
SELECT p.period_start, s.segment, coalesce(t.impressions, 0) AS impressions, coalesce(f.subjects, 0) AS subjects,
       coalesce(t.items_shown, 0) AS items_shown,
       CASE WHEN t.impressions > 0 THEN i.g END AS item_gini, CASE WHEN t.impressions > 0 THEN k.g END AS category_gini,
       f.g AS feed_category_gini, coalesce(t.items_shown, 0) / 20.0 AS coverage, t.explored_share
  FROM periods p CROSS JOIN segs s
  LEFT JOIN totals t ON t.period_start = p.period_start AND t.segment = s.segment
  LEFT JOIN item_ref i ON i.period_start = p.period_start AND i.segment = s.segment
  LEFT JOIN category_ref k ON k.period_start = p.period_start AND k.segment = s.segment
  LEFT JOIN feed_ref f ON f.period_start = p.period_start AND f.segment = s.segment;
SELECT count(*) AS compared,
       count(*) FILTER (WHERE d.impressions <> r.impressions OR d.subjects <> r.subjects OR d.items_shown <> r.items_shown
                          OR d.catalogue_items <> 20 OR d.categories <> 4
                          OR abs(d.item_gini - r.item_gini) > 1e-12 OR (d.item_gini IS NULL) <> (r.item_gini IS NULL)
                          OR abs(d.category_gini - r.category_gini) > 1e-12 OR (d.category_gini IS NULL) <> (r.category_gini IS NULL)
                          OR abs(d.feed_category_gini - r.feed_category_gini) > 1e-12
                          OR (d.feed_category_gini IS NULL) <> (r.feed_category_gini IS NULL)
                          OR abs(d.coverage - r.coverage) > 1e-12
                          OR abs(d.explored_share - r.explored_share) > 1e-12
                          OR (d.explored_share IS NULL) <> (r.explored_share IS NULL)) AS mismatched
  FROM drift_snapshots d JOIN reference r ON r.period_start = d.period_start AND r.segment = d.segment
 WHERE d.purpose = 'recommendation';

-- measuring a period again replaces its rows and raises nothing twice
SELECT segment, round(feed_category_gini::numeric, 4) AS feed FROM drift_snapshot('recommendation', '2024-01-17 00:00+00');
SELECT count(*) AS alerts FROM alerts;

-- bounded per run, and behind says so; every period from the purpose's
-- first impression (2024-01-05) is measured, those before the period
-- measured by hand above (2024-01-15) included
SELECT purpose, first_shown FROM drift_purposes ORDER BY purpose;
SELECT drift_job('{"purpose": "marketing", "until": "2024-01-22T00:00:00Z", "max_periods": 10}');
SELECT drift_job('{"purpose": "marketing", "until": "2024-01-22T00:00:00Z", "max_periods": 10}');
SELECT drift_job('{"purpose": "marketing", "until": "2024-01-22T00:00:00Z", "max_periods": 10}');
SELECT count(*) AS periods, min(period_start), max(period_end) FROM drift_snapshots
 WHERE purpose = 'marketing' AND segment = 'all';
-- a missing period (a snapshot deleted) is measured again
DELETE FROM drift_snapshots WHERE purpose = 'marketing' AND period_start = '2024-01-10';
SELECT drift_job('{"purpose": "marketing", "until": "2024-01-22T00:00:00Z"}');

-- periods stay 24 hours across a daylight saving change, whatever the
-- session's time zone (Paris moves its clocks on 2024-03-31)
SET TimeZone = 'Europe/Paris';
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
SELECT timestamptz '2024-03-29 23:30+00' + h * interval '1 hour', 7, 'analytics', 1, h % 20 + 1, 1, 1, false, false
  FROM generate_series(0, 72) h;
SELECT drift_job('{"purpose": "analytics", "until": "2024-04-02T00:00:00Z"}');
SELECT period_start, period_end, extract(epoch FROM period_end - period_start) / 3600 AS hours, impressions
  FROM drift_snapshots WHERE purpose = 'analytics' AND segment = 'all' ORDER BY period_start;
SET TimeZone = 'UTC';

-- measured out of order: the last day first (by hand, no baseline yet),
-- then the days before it (the job); its alerts come when its baselines do,
-- and say that traffic fell (20 subjects that day, 30 before)
SELECT create_purpose('recommendation.regress_drift', 'drift measured out of order', 'personalization', inherit => true);
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
SELECT timestamptz '2024-02-05 00:00+00' + d * interval '24 hours' + s * interval '1 minute' + j * interval '1 second',
       s, 'recommendation.regress_drift', 1,
       CASE WHEN d = 7 THEN (s % 4) * 5 + (s + j) % 5 + 1 ELSE (s + d + 3 * j) % 20 + 1 END, j + 1, 1, false, false
  FROM generate_series(0, 7) d, generate_series(1, 30) s, generate_series(0, 9) j
 WHERE d < 7 OR s <= 20;
SELECT segment, round(feed_category_gini::numeric, 4) AS feed
  FROM drift_snapshot('recommendation.regress_drift', '2024-02-12 00:00+00');
SELECT drift_job('{"purpose": "recommendation.regress_drift", "until": "2024-02-13T00:00:00Z"}');
SELECT drift_utc(period_start) AS period_start, segment, baseline FROM alerts
 WHERE purpose = 'recommendation.regress_drift' ORDER BY alert_id;

-- ---- the exploration rate raised by an alert --------------------------------------
-- Day 21 (Monday 2024-01-22) narrows the feeds again, of subjects 1-40
-- (all established now) and of subjects 41-50 (new), and is the latest
-- complete period: its alerts raise personalize.exploration (all and
-- established subjects) by a step, within the ceiling; the new subjects'
-- rate (0.2) is already above the ceiling (0.1), so it stays.
INSERT INTO impressions (shown_at, subject_id, purpose, model_id, item_id, rank, score, explored, sponsored)
SELECT timestamptz '2024-01-22 00:00+00' + s * interval '1 minute' + j * interval '1 second',
       s, 'recommendation', 1, (s % 4) * 5 + (s + j) % 5 + 1, j + 1, 1, j = 9, false
  FROM generate_series(1, 50) s, generate_series(0, 9) j;
SET personalize.drift_min_impressions = 100;
SET personalize.drift_raise_exploration = on;
SET personalize.drift_exploration_ceiling = 0.1;
SELECT drift_job('{"purpose": "recommendation", "until": "2024-01-23T00:00:00Z"}');
SELECT alert_id, segment, metric, baseline, action
  FROM alerts WHERE period_start = '2024-01-22' ORDER BY alert_id;
SELECT c AS database_setting
  FROM pg_db_role_setting r, unnest(r.setconfig) c
 WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND r.setrole = 0
   AND c LIKE 'personalize.%' ORDER BY 1;
-- the ceiling reached, another raise leaves the rate as it is
SELECT drift_raise_exploration('personalize.exploration') IS NULL AS at_ceiling;
-- an older period's alerts never act: measured again with the new subjects
-- now a sample (100 impressions), 2024-01-17 raises their alerts, and leaves
-- their rate alone although it is under the ceiling now
SET personalize.drift_exploration_ceiling = 0.5;
SELECT segment, round(feed_category_gini::numeric, 4) AS feed FROM drift_snapshot('recommendation', '2024-01-17 00:00+00');
SELECT alert_id, drift_utc(period_start) AS period_start, segment, metric, baseline, action
  FROM alerts WHERE period_start = '2024-01-17' AND segment = 'new' ORDER BY alert_id;
-- new sessions of the database explore more
\c
SET search_path = public, personalize;
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
SHOW personalize.exploration;
SHOW personalize.exploration_new;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET personalize.exploration', current_database()); END $$;

-- acknowledging
SELECT acknowledge_alert(2);
SELECT acknowledge_alert(2);
SELECT alert_id, acknowledged_at IS NOT NULL AS acknowledged, acknowledged_by FROM alerts WHERE alert_id <= 3 ORDER BY alert_id;
SELECT acknowledge_alert(424242);
SELECT acknowledge_alert(NULL);

-- ---- the gini_drift view ----------------------------------------------------------
SELECT drift_utc(period_start) AS period, impressions, feed_category_gini AS feed,
       feed_category_gini_vs_previous AS vs_previous, feed_category_gini_vs_week AS vs_week, alert,
       item_gini_trend, category_gini_trend, feed_category_gini_trend
  FROM gini_drift WHERE purpose = 'recommendation' AND segment = 'established' ORDER BY period_start;
SELECT sparkline(ARRAY[0.1, 0.15, 0.2, 0.7, NULL, 0.3]), sparkline(ARRAY[0.5, 0.51, 0.49]),
       sparkline(ARRAY[0.3, 0.35], span => 0.05), sparkline('{}'), sparkline(NULL);

-- ---- the chart -----------------------------------------------------------------------
CREATE TEMP TABLE chart AS SELECT drift_chart('recommendation', 10) AS svg;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       (xpath('namespace-uri(/*)', svg::xml))[1]::text AS namespace,
       (xpath('/s:svg/s:title/text()', svg::xml, '{{s,http://www.w3.org/2000/svg}}'))[1]::text AS title
  FROM chart;
-- 10 points per line (periods 2024-01-13 .. 2024-01-22), the alerted
-- periods (2024-01-17 and 2024-01-22) marked on the feed line only
SELECT m.metric,
       array_length(regexp_split_to_array((xpath('//s:g[@id="' || m.metric || '"]/s:polyline/@points', svg::xml,
                                                 '{{s,http://www.w3.org/2000/svg}}'))[1]::text, ' '), 1) AS points,
       array_length(xpath('//s:g[@id="' || m.metric || '"]/s:circle[@class="alert"]', svg::xml,
                          '{{s,http://www.w3.org/2000/svg}}'), 1) AS alert_marks
  FROM chart, unnest(ARRAY['item_gini', 'category_gini', 'feed_category_gini']) m(metric);
SELECT (xpath('//s:g[@id="feed_category_gini"]/s:polyline/@points', svg::xml, '{{s,http://www.w3.org/2000/svg}}'))[1]::text AS feed_points,
       array_length(xpath('//s:rect[@class="alert-period"]', svg::xml, '{{s,http://www.w3.org/2000/svg}}'), 1) AS alert_periods,
       (xpath('//s:text[@font-size="11"]/text()', svg::xml, '{{s,http://www.w3.org/2000/svg}}'))::text[] AS date_labels
  FROM chart;
-- a period without impressions breaks the line (no new subject from
-- 2024-01-08 to 2024-01-14)
SELECT array_length(xpath('//s:g[@id="item_gini"]/s:polyline', svg::xml, '{{s,http://www.w3.org/2000/svg}}'), 1) AS lines,
       (xpath('//s:g[@id="item_gini"]/s:polyline/@points', svg::xml, '{{s,http://www.w3.org/2000/svg}}'))::text[] AS points
  FROM (SELECT drift_chart('recommendation', 22, 'new')::xml AS svg) c;
-- no data yet
SELECT xml_is_well_formed_document(drift_chart('service')) AS well_formed,
       (xpath('//s:text[@id="no-data"]/text()', drift_chart('service')::xml, '{{s,http://www.w3.org/2000/svg}}'))[1]::text AS says;
-- bad input
SELECT drift_chart('recommendation', 0);
SELECT drift_chart('recommendation', 1001);
SELECT drift_chart('recommendation', 10, 'everyone');
SELECT drift_chart('no_such_purpose');
SELECT drift_chart(NULL);

-- ---- bad input to the drift functions -----------------------------------------------
SELECT * FROM drift_snapshot('recommendation', '2024-01-03 05:00+00');
SELECT * FROM drift_snapshot('no_such_purpose');
SELECT * FROM drift_snapshot(NULL);
DO $$
BEGIN
	PERFORM personalize.drift_snapshot('recommendation', date_bin('24 hours', now(), '2001-01-01 00:00+00'));
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE WARNING 'the current period: %', SQLERRM ~ '^the period starting .* is not complete yet$';
END $$;
SELECT drift_job('[1, 2]');
SELECT drift_job('{"purpose": "recommendation", "max_period": 3}');
SELECT drift_job('{"max_periods": 0}');
SELECT drift_job('{"max_periods": "many"}');
SELECT drift_job('{"until": "yesterday-ish"}');
SELECT drift_job('{"purpose": "no_such_purpose"}');

-- ---- privileges: a plain role, an auditor, and a non-superuser definer -----------------
CREATE ROLE regress_pz_drift_plain;
CREATE ROLE regress_pz_drift_auditor;
CREATE ROLE regress_pz_drift_owner;
GRANT SELECT ON drift_snapshots, alerts, gini_drift TO regress_pz_drift_auditor;
SELECT r.rolname, t.relname, has_table_privilege(r.rolname, 'personalize.' || t.relname, 'SELECT') AS can_select
  FROM (VALUES ('regress_pz_drift_plain'), ('public')) r(rolname)
 CROSS JOIN (VALUES ('drift_snapshots'), ('alerts'), ('gini_drift'), ('drift_purposes'), ('impressions')) t(relname)
 WHERE r.rolname <> 'public' ORDER BY 1, 2;
SELECT p.proname, has_function_privilege('regress_pz_drift_plain', p.oid, 'EXECUTE') AS plain_can_execute
  FROM pg_proc p WHERE p.pronamespace = 'personalize'::regnamespace
   AND p.proname IN ('drift_snapshot', 'drift_job', 'acknowledge_alert', 'drift_measure', 'drift_store',
                     'drift_check_alerts', 'drift_raise_exploration', 'alert_notification', 'drift_settings',
                     'drift_chart', 'sparkline', 'gini', 'drift_lock', 'drift_note_purpose',
                     'drift_check_alerts_around')
 ORDER BY 1, 2;
SET ROLE regress_pz_drift_plain;
SELECT count(*) FROM personalize.drift_snapshots;
SELECT count(*) FROM personalize.alerts;
SELECT count(*) FROM personalize.gini_drift;
SELECT count(*) FROM personalize.drift_purposes;
SELECT * FROM personalize.drift_snapshot('recommendation', '2024-01-17 00:00+00');
SELECT personalize.drift_job('{}');
SELECT personalize.acknowledge_alert(1);
SELECT personalize.alert_notification(1);
SELECT * FROM personalize.drift_measure('recommendation', '2024-01-17', '2024-01-18', '2024-01-11');
SELECT personalize.drift_chart();
SELECT personalize.drift_chart('service');		-- not even whether data exists
SET personalize.drift_period = '1h';
SET personalize.drift_min_impressions = 1;
SET personalize.drift_raise_exploration = on;
INSERT INTO personalize.alerts (kind, message) VALUES ('gini_drift', 'forged');
RESET ROLE;
-- objects of the plain role named like those the drift code uses are never
-- picked up, even first on the search_path of the superuser who runs it
-- (the drift functions fix their own search_path)
CREATE SCHEMA regress_pz_drift_trap AUTHORIZATION regress_pz_drift_plain;
SET ROLE regress_pz_drift_plain;
CREATE FUNCTION regress_pz_drift_trap.date_bin(interval, timestamptz, timestamptz) RETURNS timestamptz
	LANGUAGE sql AS 'SELECT now()';
CREATE FUNCTION regress_pz_drift_trap.hashtext(text) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE TABLE regress_pz_drift_trap.pg_db_role_setting (setdatabase oid, setrole oid, setconfig text[]);
CREATE TABLE regress_pz_drift_trap.impressions AS SELECT * FROM generate_series(1, 3) g;
RESET ROLE;
SET search_path = regress_pz_drift_trap, public, personalize;
SELECT segment, impressions, round(feed_category_gini::numeric, 4) AS feed
  FROM drift_snapshot('recommendation', '2024-01-17 00:00+00');
SET search_path = public, personalize;
DROP SCHEMA regress_pz_drift_trap CASCADE;
-- the auditor reads and charts, but writes nothing
SET ROLE regress_pz_drift_auditor;
SELECT count(*) AS snapshots FROM personalize.drift_snapshots;
SELECT count(*) AS alerts FROM personalize.alerts;
SELECT count(*) FILTER (WHERE alert) AS alerted_rows FROM personalize.gini_drift;
SELECT xml_is_well_formed_document(personalize.drift_chart()) AS chart;
UPDATE personalize.alerts SET acknowledged_at = now(), acknowledged_by = current_user WHERE alert_id = 1;
DELETE FROM personalize.drift_snapshots;
SELECT personalize.acknowledge_alert(1);
SELECT count(*) FROM personalize.impressions;
RESET ROLE;
-- a definer that cannot bypass row-level security on impressions would
-- measure nothing and report calm: it is refused instead
GRANT EXECUTE ON FUNCTION drift_store(text, timestamptz), drift_measure(text, timestamptz, timestamptz, timestamptz),
	drift_settings() TO regress_pz_drift_owner;
GRANT SELECT ON impressions TO regress_pz_drift_owner;
SET ROLE regress_pz_drift_owner;
SELECT * FROM personalize.drift_measure('recommendation', '2024-01-17', '2024-01-18', '2024-01-11');
SELECT count(*) AS visible_impressions FROM personalize.impressions;
RESET ROLE;
REVOKE ALL ON FUNCTION drift_store(text, timestamptz), drift_measure(text, timestamptz, timestamptz, timestamptz),
	drift_settings() FROM regress_pz_drift_owner;
REVOKE ALL ON impressions FROM regress_pz_drift_owner;
REVOKE ALL ON drift_snapshots, alerts, gini_drift FROM regress_pz_drift_auditor;
DROP ROLE regress_pz_drift_plain, regress_pz_drift_auditor, regress_pz_drift_owner;

-- the snapshot of the last complete period, by default (its date depends
-- on today: only its shape is shown)
SELECT count(*) AS segments, bool_and(period_end - period_start = interval '24 hours') AS one_day,
       bool_and(period_end <= now() AND period_end > now() - interval '24 hours 1 minute') AS latest
  FROM drift_snapshot();

-- clean up
RESET personalize.drift_min_impressions;
RESET personalize.drift_raise_exploration;
RESET personalize.drift_exploration_ceiling;
DELETE FROM alerts;
DELETE FROM drift_snapshots;
DELETE FROM drift_purposes;
DELETE FROM impressions;
DELETE FROM items WHERE item_id BETWEEN 1 AND 21;
DELETE FROM purposes WHERE name = 'recommendation.regress_drift';
