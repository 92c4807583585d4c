-- Drift monitoring: how concentrated what recommend() shows is, period by
-- period, and an alert when the concentration rises (a filter bubble
-- forming).  Each period of personalize.impressions is measured once into
-- drift_snapshots, for all subjects and for the new and established ones
-- apart; drift_job() (the built-in "drift" job) keeps the snapshots up to
-- date and raises alerts; gini_drift and drift_chart() show the trend.
--
-- Periods are aligned bins of personalize.drift_period (default 1 day)
-- starting on Monday 2001-01-01 00:00 UTC, so a week always starts on a
-- Monday at midnight UTC and a period a week earlier is a period too.  All
-- interval arithmetic on timestamps is in hours, never days: a day added in
-- a time zone with daylight saving can be 23 or 25 hours long.
--
-- The snapshots and alerts are aggregates of personal data (who was shown
-- what): only the extension's owner reads them unless an administrator
-- grants SELECT; they are written only by the SECURITY DEFINER functions
-- below, which PUBLIC cannot call.

-- ---- gini over a population ------------------------------------------------

CREATE FUNCTION gini_pop_accum(internal, double precision, bigint) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_pop_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gini_pop_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_pop_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gini_pop_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pz_gini_pop_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gini_pop_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'pz_gini_pop_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gini_pop_final(internal) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pz_gini_pop_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gini_pop_accum(internal, double precision, bigint) IS 'transition function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_combine(internal, internal) IS 'combine function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_serialize(internal) IS 'serialization function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_deserialize(bytea, internal) IS 'deserialization function of gini(double precision, bigint)';
COMMENT ON FUNCTION gini_pop_final(internal) IS 'final function of gini(double precision, bigint)';

CREATE AGGREGATE gini(value double precision, population bigint) (
	SFUNC = gini_pop_accum,
	STYPE = internal,
	FINALFUNC = gini_pop_final,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = gini_pop_combine,
	SERIALFUNC = gini_pop_serialize,
	DESERIALFUNC = gini_pop_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gini(double precision, bigint) IS
	'Gini coefficient of a population of `population` members of which the rows give some values; the others (and NULL values) are zeros, so items never shown need no rows. Every row of a group must pass the same population, at least the number of values';

-- ---- settings ----------------------------------------------------------------

CREATE FUNCTION drift_settings(OUT period interval, OUT alert_delta double precision,
                               OUT new_subject_window interval, OUT min_impressions bigint,
                               OUT raise_exploration boolean, OUT exploration_ceiling double precision,
                               OUT exploration_step double precision)
	AS 'MODULE_PATHNAME', 'pz_drift_settings' LANGUAGE C STABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION drift_settings() FROM PUBLIC;
COMMENT ON FUNCTION drift_settings() IS
	'internal: the personalize.drift_* settings and personalize.gini_alert_delta as typed values (intervals in hours)';

CREATE FUNCTION drift_lock(key text, wait boolean) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pz_drift_lock' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION drift_lock(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION drift_lock(text, boolean) IS
	'internal: a transaction-level lock on a key (a purpose being measured) that no SQL advisory-lock function can take; false if busy and not waiting';

-- ---- tables ------------------------------------------------------------------

-- Periods are found by time; a BRIN index costs almost nothing on an
-- append-only log written in time order (a 0.2.0 table: this statement is
-- also part of the 0.2.0 -> 0.3.0 update).
CREATE INDEX impressions_shown_at_brin ON impressions USING brin (shown_at);
COMMENT ON INDEX impressions_shown_at_brin IS 'drift monitoring reads impressions period by period';

CREATE TABLE drift_snapshots (
	purpose            text NOT NULL,
	period_start       timestamptz NOT NULL,
	segment            text NOT NULL CHECK (segment IN ('all', 'new', 'established')),
	period_end         timestamptz NOT NULL CHECK (period_end > period_start),
	impressions        bigint NOT NULL CHECK (impressions >= 0),
	subjects           bigint NOT NULL CHECK (subjects >= 0),
	items_shown        bigint NOT NULL CHECK (items_shown >= 0),
	catalogue_items    bigint NOT NULL CHECK (catalogue_items >= items_shown),
	categories         bigint NOT NULL CHECK (categories >= 0),
	item_gini          double precision CHECK (item_gini >= 0 AND item_gini <= 1),
	category_gini      double precision CHECK (category_gini >= 0 AND category_gini <= 1),
	feed_category_gini double precision CHECK (feed_category_gini >= 0 AND feed_category_gini <= 1),
	coverage           double precision CHECK (coverage >= 0 AND coverage <= 1),
	explored_share     double precision CHECK (explored_share >= 0 AND explored_share <= 1),
	computed_at        timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (purpose, period_start, segment)
);
COMMENT ON TABLE drift_snapshots IS
	'one row per purpose, period and segment (all, new, established subjects): exposure concentration of what recommend() showed (Gini over items, categories, and per subject feed), coverage and exploration';
COMMENT ON COLUMN drift_snapshots.purpose IS 'the purpose whose impressions were measured';
COMMENT ON COLUMN drift_snapshots.period_start IS 'start of the period (aligned to personalize.drift_period from Monday 2001-01-01 UTC)';
COMMENT ON COLUMN drift_snapshots.period_end IS 'end of the period (exclusive)';
COMMENT ON COLUMN drift_snapshots.impressions IS 'slots shown in the period';
COMMENT ON COLUMN drift_snapshots.subjects IS 'distinct subjects shown something (impressions without a subject not counted)';
COMMENT ON COLUMN drift_snapshots.items_shown IS 'distinct items shown';
COMMENT ON COLUMN drift_snapshots.computed_at IS 'when the period was measured';
COMMENT ON COLUMN drift_snapshots.segment IS
	'all: every impression; new: subjects first shown anything within personalize.drift_new_subject_window before period_end; established: the other subjects. Impressions without a subject count in all only';
COMMENT ON COLUMN drift_snapshots.catalogue_items IS
	'population of item_gini: items created before period_end, plus any other item shown in the period (a catalogue loaded after its impressions keeps its categories)';
COMMENT ON COLUMN drift_snapshots.categories IS
	'population of category_gini and feed_category_gini: distinct categories of those items (no category counts as one)';
COMMENT ON COLUMN drift_snapshots.item_gini IS 'Gini of impressions per item, items never shown included; NULL without impressions';
COMMENT ON COLUMN drift_snapshots.category_gini IS 'Gini of impressions per category, categories never shown included; NULL without impressions';
COMMENT ON COLUMN drift_snapshots.feed_category_gini IS
	'mean over subjects of the Gini of impressions per category in the subject''s own feed, categories never shown included; NULL without subjects';
COMMENT ON COLUMN drift_snapshots.coverage IS 'share of catalogue_items shown at least once';
COMMENT ON COLUMN drift_snapshots.explored_share IS 'share of impressions that were exploration slots; NULL without impressions';

CREATE TABLE alerts (
	alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
	purpose         text,
	period_start    timestamptz,
	segment         text,
	metric          text,
	value           double precision,
	baseline        text,
	baseline_value  double precision,
	delta           double precision,
	action          text,
	message         text NOT NULL,
	acknowledged_at timestamptz,
	acknowledged_by name,
	CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
	CHECK (kind <> 'gini_drift' OR (purpose IS NOT NULL AND period_start IS NOT NULL
	       AND segment IN ('all', 'new', 'established')
	       AND metric IN ('item_gini', 'category_gini', 'feed_category_gini')
	       AND baseline IN ('previous period', 'same period a week earlier')
	       AND value IS NOT NULL AND baseline_value IS NOT NULL AND delta IS NOT NULL))
);
-- A period's alert is raised once, however often the period is measured.
CREATE UNIQUE INDEX alerts_gini_drift_once ON alerts (purpose, period_start, segment, metric, baseline)
	WHERE kind = 'gini_drift';
COMMENT ON TABLE alerts IS
	'alerts raised by monitoring (kind gini_drift: a Gini coefficient rose by more than personalize.gini_alert_delta over its baseline), with the action taken and who acknowledged them';
COMMENT ON COLUMN alerts.alert_id IS 'number of the alert (what acknowledge_alert() takes)';
COMMENT ON COLUMN alerts.raised_at IS 'when it was raised';
COMMENT ON COLUMN alerts.kind IS 'what raised it (gini_drift)';
COMMENT ON COLUMN alerts.purpose IS 'the purpose concerned';
COMMENT ON COLUMN alerts.period_start IS 'the period in which the metric rose';
COMMENT ON COLUMN alerts.segment IS 'all, new or established subjects';
COMMENT ON COLUMN alerts.metric IS 'item_gini, category_gini or feed_category_gini';
COMMENT ON COLUMN alerts.value IS 'the metric in the period';
COMMENT ON COLUMN alerts.baseline IS 'what it was compared with: previous period, or same period a week earlier';
COMMENT ON COLUMN alerts.baseline_value IS 'the metric in the baseline period';
COMMENT ON COLUMN alerts.delta IS 'value - baseline_value (more than personalize.gini_alert_delta)';
COMMENT ON COLUMN alerts.message IS 'the alert in words, as logged';
COMMENT ON COLUMN alerts.acknowledged_at IS 'when someone acknowledged it (NULL: open)';
COMMENT ON COLUMN alerts.acknowledged_by IS 'who acknowledged it';
COMMENT ON COLUMN alerts.action IS 'what was done automatically (personalize.drift_raise_exploration), NULL if nothing';

-- Where each purpose's impressions begin, noted when it is first measured
-- (one scan of the log per purpose, ever), so that the drift job measures
-- every period from there, gaps and periods before a first manual
-- drift_snapshot() included, without looking for them in the log again.
CREATE TABLE drift_purposes (
	purpose     text PRIMARY KEY,
	first_shown timestamptz NOT NULL,
	noted_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE drift_purposes IS
	'drift monitoring''s bookkeeping: when each measured purpose''s first impression was shown (delete a row to have it looked up again, after importing older impressions)';

COMMENT ON COLUMN drift_purposes.purpose IS 'a purpose whose impressions are measured';
COMMENT ON COLUMN drift_purposes.first_shown IS 'its first impression: measuring starts at the period holding it';
COMMENT ON COLUMN drift_purposes.noted_at IS 'when that was looked up';

SELECT seal_registry_table('drift_snapshots', true);
SELECT seal_registry_table('alerts', true);
SELECT seal_registry_table('drift_purposes', true);
REVOKE ALL ON drift_snapshots, alerts, drift_purposes FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('drift_purposes', '');
SELECT pg_catalog.pg_extension_config_dump('drift_snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('alerts', '');
SELECT pg_catalog.pg_extension_config_dump('alerts_alert_id_seq', '');

-- ---- helpers -----------------------------------------------------------------

CREATE FUNCTION drift_origin() RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN timestamptz '2001-01-01 00:00:00+00';
REVOKE ALL ON FUNCTION drift_origin() FROM PUBLIC;
COMMENT ON FUNCTION drift_origin() IS 'Monday 2001-01-01 00:00 UTC: where drift periods are aligned';

CREATE FUNCTION drift_utc(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
COMMENT ON FUNCTION drift_utc(timestamptz) IS 'a period boundary as ISO 8601 text in UTC, whatever the session''s time zone';

-- A period counts as complete a minute after its end: a serving transaction
-- stamps its impressions with its start time and may commit a little later.
CREATE FUNCTION drift_settle() RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN interval '1 minute';
REVOKE ALL ON FUNCTION drift_settle() FROM PUBLIC;
COMMENT ON FUNCTION drift_settle() IS 'how long after its end a period is complete (impressions committed late)';

CREATE FUNCTION sparkline(vals double precision[], span double precision DEFAULT 0.2) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(string_agg(CASE WHEN u.v IS NULL OR u.v = 'NaN' THEN ' '
	                                ELSE substr('▁▂▃▄▅▆▇█', 1 + least(7, greatest(0,
	                                     floor((u.v - m.lo) / greatest(m.hi - m.lo, $2, 1e-12) * 8)))::integer, 1)
	                           END, '' ORDER BY u.o), '')
	  FROM unnest($1) WITH ORDINALITY u(v, o),
	       (SELECT min(x) AS lo, max(x) AS hi FROM unnest($1) x WHERE x <> 'NaN') m
$$;
COMMENT ON FUNCTION sparkline(double precision[], double precision) IS
	'the values as bars ▁..█ from their minimum to their maximum, or to minimum + span if they vary less (so that noise stays flat: with the default 0.2, a rise of 0.05 is two bars higher); a NULL is a blank';

-- ---- measuring a period ----------------------------------------------------

-- One period of one purpose, three rows (all, new, established), in one
-- pass over the period's impressions (src/jobs/drift_measure.c): a subject's
-- segment is settled by one probe of the (subject_id, shown_at) index;
-- items and categories never shown are zeros of the population, never rows.
-- It refuses to run for a role that row-level security would show nothing.
CREATE FUNCTION drift_measure(purpose text, period_start timestamptz, period_end timestamptz,
                              new_since timestamptz)
RETURNS TABLE (segment text, impressions bigint, subjects bigint, items_shown bigint,
               catalogue_items bigint, categories bigint, item_gini double precision,
               category_gini double precision, feed_category_gini double precision,
               coverage double precision, explored_share double precision)
	AS 'MODULE_PATHNAME', 'pz_drift_measure' LANGUAGE C STABLE STRICT ROWS 3;
REVOKE ALL ON FUNCTION drift_measure(text, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_measure(text, timestamptz, timestamptz, timestamptz) IS
	'internal: the drift figures of one purpose over [period_start, period_end), subjects first shown anything at or after new_since being new';

-- The first impression of a purpose: as noted, else looked up (first_shown
-- when the caller already knows it) and noted.  NULL: no impression yet.
CREATE FUNCTION drift_note_purpose(purpose text, first_shown timestamptz) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	noted timestamptz;
BEGIN
	SELECT d.first_shown INTO noted FROM @extschema@.drift_purposes d WHERE d.purpose = drift_note_purpose.purpose;
	IF noted IS NOT NULL THEN
		RETURN noted;
	END IF;
	noted := drift_note_purpose.first_shown;
	IF noted IS NULL THEN
		SELECT min(i.shown_at) INTO noted FROM @extschema@.impressions i WHERE i.purpose = drift_note_purpose.purpose;
	END IF;
	IF noted IS NOT NULL THEN
		INSERT INTO @extschema@.drift_purposes (purpose, first_shown)
		VALUES (drift_note_purpose.purpose, noted) ON CONFLICT DO NOTHING;
	END IF;
	RETURN noted;
END $$;
REVOKE ALL ON FUNCTION drift_note_purpose(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_note_purpose(text, timestamptz) IS
	'internal: when a purpose''s first impression was shown, noted in drift_purposes the first time';

-- Measures one period and stores it (replacing an earlier measure), under a
-- transaction-level lock per purpose so that concurrent runs queue instead
-- of measuring the same period twice.
CREATE FUNCTION drift_store(purpose text, period_start timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	s record := @extschema@.drift_settings();
	period_end timestamptz := drift_store.period_start + s.period;
BEGIN
	PERFORM @extschema@.drift_lock(drift_store.purpose, true);
	PERFORM @extschema@.drift_note_purpose(drift_store.purpose, NULL);
	INSERT INTO @extschema@.drift_snapshots AS d
	       (purpose, period_start, segment, period_end, impressions, subjects, items_shown,
	        catalogue_items, categories, item_gini, category_gini, feed_category_gini,
	        coverage, explored_share, computed_at)
	SELECT drift_store.purpose, drift_store.period_start, m.segment, period_end, m.impressions,
	       m.subjects, m.items_shown, m.catalogue_items, m.categories,
	       m.item_gini, m.category_gini, m.feed_category_gini, m.coverage, m.explored_share, clock_timestamp()
	  FROM @extschema@.drift_measure(drift_store.purpose, drift_store.period_start, period_end,
	                                 period_end - s.new_subject_window) m
	ON CONFLICT (purpose, period_start, segment) DO UPDATE
	   SET period_end = excluded.period_end, impressions = excluded.impressions,
	       subjects = excluded.subjects, items_shown = excluded.items_shown,
	       catalogue_items = excluded.catalogue_items, categories = excluded.categories,
	       item_gini = excluded.item_gini, category_gini = excluded.category_gini,
	       feed_category_gini = excluded.feed_category_gini, coverage = excluded.coverage,
	       explored_share = excluded.explored_share, computed_at = excluded.computed_at;
END $$;
REVOKE ALL ON FUNCTION drift_store(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_store(text, timestamptz) IS 'internal: measure one aligned period of a purpose into drift_snapshots';

-- ---- alerts ------------------------------------------------------------------

-- Raises the exploration rate behind an alert, once per setting per
-- transaction (however many alerts name it), within the ceiling, for new
-- sessions of this database.  Returns what was done, NULL if nothing.
CREATE FUNCTION drift_raise_exploration(setting text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record := @extschema@.drift_settings();
	configured text;
	current_rate numeric;
	new_rate numeric;
BEGIN
	IF setting NOT IN ('personalize.exploration', 'personalize.exploration_new') THEN
		RAISE EXCEPTION 'drift alerts raise personalize.exploration or personalize.exploration_new, not %', setting
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- ALTER DATABASE updates one catalogue row: concurrent raises queue here
	-- (a purpose has no colon, so this key names no purpose)
	PERFORM @extschema@.drift_lock('setting:' || setting, true);
	SELECT substr(c, length(setting) + 2) INTO configured
	  FROM pg_db_role_setting r, unnest(r.setconfig) c
	 WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
	   AND r.setrole = 0 AND starts_with(c, setting || '=');
	current_rate := coalesce(configured, current_setting(setting))::numeric;
	new_rate := least(s.exploration_ceiling::numeric, round(current_rate + s.exploration_step::numeric, 6));
	IF new_rate <= current_rate THEN
		RETURN NULL;
	END IF;
	EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(), setting, new_rate::text);
	RETURN format('%s raised from %s to %s for new sessions of this database (ALTER DATABASE ... SET; ceiling %s)',
	              setting, trim_scale(current_rate), trim_scale(new_rate), trim_scale(s.exploration_ceiling::numeric));
END $$;
REVOKE ALL ON FUNCTION drift_raise_exploration(text) FROM PUBLIC;
COMMENT ON FUNCTION drift_raise_exploration(text) IS
	'internal: raise an exploration setting by personalize.drift_exploration_step, up to personalize.drift_exploration_ceiling, for the database';

-- What a listener on channel personalize_alerts receives.  Any role may
-- LISTEN on any channel, so the payload names the alert and nothing of what
-- it measured: a listener allowed to read alerts looks the rest up.
CREATE FUNCTION alert_notification(alert_id bigint) RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object('alert_id', a.alert_id, 'kind', a.kind)
	  FROM @extschema@.alerts a WHERE a.alert_id = $1
$$;
REVOKE ALL ON FUNCTION alert_notification(bigint) FROM PUBLIC;
COMMENT ON FUNCTION alert_notification(bigint) IS
	'internal: the JSON payload of the notification an alert sends on channel personalize_alerts: its id and kind only (any role may listen)';

-- After a period is measured: every segment and Gini metric that rose by more
-- than personalize.gini_alert_delta over the previous period, or over the
-- period a week earlier (periods shorter than a week), with at least
-- personalize.drift_min_impressions impressions on both sides, gets an alert
-- (once: a re-measure finds it there), a WARNING and a notification on
-- channel personalize_alerts.  latest: the period is the newest complete one,
-- the only one whose alerts may change the exploration rate.
-- Sampling alone moves a Gini between two periods of unchanged exposure:
-- drawing n impressions over 10 to 50 categories, category Gini has a
-- standard deviation of about 0.55 / sqrt(n) (0.017 at 1,000, 0.008 at
-- 5,000), the noisiest of the three metrics.  A rise must exceed
-- personalize.drift_noise_z such deviations of the difference as well as
-- personalize.gini_alert_delta: small sites still alert on a real narrowing
-- (a rise of 0.12 at 500 impressions a period), and no longer on noise.
CREATE FUNCTION drift_noise(impressions bigint, baseline_impressions bigint) RETURNS double precision
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT current_setting('personalize.drift_noise_z')::float8 * 0.55
	       * sqrt(1.0 / greatest(impressions, 1) + 1.0 / greatest(baseline_impressions, 1))
$$;
REVOKE ALL ON FUNCTION drift_noise(bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION drift_noise(bigint, bigint) IS
	'internal: the rise of a Gini that sampling noise alone could explain between periods of these sizes (personalize.drift_noise_z standard errors)';

CREATE FUNCTION drift_check_alerts(purpose text, period_start timestamptz, latest boolean)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	s record := @extschema@.drift_settings();
	r record;
	id bigint;
	act text;
	acted jsonb := '{}';
	setting text;
	what text;
	msg text;
	raised integer := 0;
BEGIN
	FOR r IN
		SELECT c.segment, m.metric, m.value, k.baseline, m.baseline_value,
		       m.value - m.baseline_value AS delta, c.impressions, b.impressions AS baseline_impressions
		  FROM @extschema@.drift_snapshots c
		 CROSS JOIN (VALUES (1, 'previous period'), (2, 'same period a week earlier')) k(ord, baseline)
		  JOIN @extschema@.drift_snapshots b
		    ON b.purpose = c.purpose AND b.segment = c.segment
		   AND CASE k.ord
		       WHEN 1 THEN b.period_end = c.period_start
		                   AND b.period_end - b.period_start = c.period_end - c.period_start
		       ELSE c.period_end - c.period_start < interval '168 hours'
		            AND b.period_start = c.period_start - interval '168 hours'
		            AND b.period_end = c.period_end - interval '168 hours' END
		 CROSS JOIN LATERAL (VALUES (1, 'item_gini', c.item_gini, b.item_gini),
		                            (2, 'category_gini', c.category_gini, b.category_gini),
		                            (3, 'feed_category_gini', c.feed_category_gini, b.feed_category_gini))
		       m(ord, metric, value, baseline_value)
		 WHERE c.purpose = drift_check_alerts.purpose AND c.period_start = drift_check_alerts.period_start
		   AND c.impressions >= s.min_impressions AND b.impressions >= s.min_impressions
		   AND m.value - m.baseline_value > greatest(s.alert_delta,
		           @extschema@.drift_noise(c.impressions, b.impressions))
		 ORDER BY array_position(ARRAY['all', 'new', 'established'], c.segment), m.ord, k.ord
	LOOP
		what := format('%s of purpose "%s" (%s) rose by %s over the %s, from %s to %s, in the period starting %s (%s impressions, %s in the baseline)',
		               r.metric, drift_check_alerts.purpose,
		               CASE r.segment WHEN 'all' THEN 'all subjects' ELSE r.segment || ' subjects' END,
		               round(r.delta::numeric, 3), r.baseline, round(r.baseline_value::numeric, 3),
		               round(r.value::numeric, 3), @extschema@.drift_utc(drift_check_alerts.period_start),
		               r.impressions, r.baseline_impressions);
		-- a Gini counting never-shown members rises when fewer impressions
		-- spread over the same catalogue: say so when traffic fell
		IF r.impressions < 0.8 * r.baseline_impressions THEN
			what := what || format('; traffic fell by %s%%, which alone raises a Gini that counts what was never shown',
			                       round(100 * (1 - r.impressions::numeric / r.baseline_impressions)));
		END IF;
		CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.alerts a
		                       WHERE a.kind = 'gini_drift' AND a.purpose = drift_check_alerts.purpose
		                         AND a.period_start = drift_check_alerts.period_start AND a.segment = r.segment
		                         AND a.metric = r.metric AND a.baseline = r.baseline);
		INSERT INTO @extschema@.alerts AS a (kind, purpose, period_start, segment, metric, value,
		                                     baseline, baseline_value, delta, message)
		VALUES ('gini_drift', drift_check_alerts.purpose, drift_check_alerts.period_start, r.segment,
		        r.metric, r.value, r.baseline, r.baseline_value, r.delta, what)
		ON CONFLICT (purpose, period_start, segment, metric, baseline) WHERE kind = 'gini_drift' DO NOTHING
		RETURNING a.alert_id INTO id;
		CONTINUE WHEN id IS NULL;			-- raised meanwhile by a concurrent run

		act := NULL;
		IF latest AND s.raise_exploration THEN
			setting := CASE r.segment WHEN 'new' THEN 'personalize.exploration_new'
			                          ELSE 'personalize.exploration' END;
			IF NOT acted ? setting THEN
				acted := acted || jsonb_build_object(setting, @extschema@.drift_raise_exploration(setting));
			END IF;
			act := acted ->> setting;
			UPDATE @extschema@.alerts SET action = act WHERE alert_id = id;
		END IF;

		msg := format('alert %s: %s', id, what);
		RAISE WARNING '%', msg
			USING DETAIL = coalesce('Action taken: ' || act || '.',
			                        'No action taken' || CASE WHEN latest AND s.raise_exploration
			                                                  THEN ': the exploration rate is at its ceiling.'
			                                                  ELSE '.' END),
			      HINT = format('%s Raise the exploration budget (%s), ask recommend() for more diversity, '
			                    'or check the active model; then SELECT personalize.acknowledge_alert(%s).',
			                    CASE r.metric
			                    WHEN 'item_gini' THEN 'Recommendations concentrate on fewer items.'
			                    WHEN 'category_gini' THEN 'Recommendations concentrate on fewer categories.'
			                    ELSE 'Each subject''s feed narrows to fewer categories (a filter bubble forming).' END,
			                    CASE r.segment WHEN 'new' THEN 'personalize.exploration_new'
			                                   ELSE 'personalize.exploration' END, id);
		PERFORM pg_notify('personalize_alerts', @extschema@.alert_notification(id)::text);
		raised := raised + 1;
	END LOOP;
	RETURN raised;
END $$;
REVOKE ALL ON FUNCTION drift_check_alerts(text, timestamptz, boolean) FROM PUBLIC;
COMMENT ON FUNCTION drift_check_alerts(text, timestamptz, boolean) IS
	'internal: raise the gini_drift alerts of a measured period (each once), with a WARNING and a notification on channel personalize_alerts';

-- A period just measured is a baseline too: the period after it and the
-- one a week later, if measured before it (out of order), are checked again
-- (what they raised already is not raised twice).  complete_before: the
-- end of the newest complete period, which tells which period is latest.
CREATE FUNCTION drift_check_alerts_around(purpose text, period_start timestamptz, complete_before timestamptz)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p interval := (@extschema@.drift_settings()).period;
	raised integer;
BEGIN
	raised := @extschema@.drift_check_alerts(purpose, period_start, period_start + 2 * p > complete_before)
	        + @extschema@.drift_check_alerts(purpose, period_start + p, period_start + 3 * p > complete_before);
	IF p < interval '168 hours' THEN
		raised := raised + @extschema@.drift_check_alerts(purpose, period_start + interval '168 hours',
		                                                  period_start + interval '168 hours' + 2 * p > complete_before);
	END IF;
	RETURN raised;
END $$;
REVOKE ALL ON FUNCTION drift_check_alerts_around(text, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_check_alerts_around(text, timestamptz, timestamptz) IS
	'internal: check the alerts of a measured period and of the periods it is the baseline of';

-- ---- what users call ------------------------------------------------------

CREATE FUNCTION drift_snapshot(purpose text DEFAULT 'recommendation', period_start timestamptz DEFAULT NULL)
RETURNS SETOF drift_snapshots LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	s record := @extschema@.drift_settings();
	complete_before timestamptz := now() - @extschema@.drift_settle();
	start timestamptz := drift_snapshot.period_start;
	aligned timestamptz;
BEGIN
	IF drift_snapshot.purpose IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.check_purpose_exists(drift_snapshot.purpose);
	IF start IS NULL THEN
		start := date_bin(s.period, complete_before, @extschema@.drift_origin()) - s.period;
	END IF;
	aligned := date_bin(s.period, start, @extschema@.drift_origin());
	IF aligned <> start THEN
		RAISE EXCEPTION 'period_start % is not the start of a drift period', @extschema@.drift_utc(start)
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('Periods of %s hours are aligned on Monday 2001-01-01 00:00 UTC (personalize.drift_period).',
			                      trim_scale(extract(epoch FROM s.period) / 3600)),
			      HINT = format('The period containing it starts at %s.', @extschema@.drift_utc(aligned));
	END IF;
	IF start + s.period > complete_before THEN
		RAISE EXCEPTION 'the period starting % is not complete yet', @extschema@.drift_utc(start)
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = format('It can be measured from %s on.', @extschema@.drift_utc(start + s.period + @extschema@.drift_settle()));
	END IF;
	PERFORM @extschema@.drift_store(drift_snapshot.purpose, start);
	PERFORM @extschema@.drift_check_alerts_around(drift_snapshot.purpose, start, complete_before);
	RETURN QUERY SELECT * FROM @extschema@.drift_snapshots d
	              WHERE d.purpose = drift_snapshot.purpose AND d.period_start = start
	              ORDER BY array_position(ARRAY['all', 'new', 'established'], d.segment);
END $$;
REVOKE ALL ON FUNCTION drift_snapshot(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION drift_snapshot(text, timestamptz) IS
	'measure (or measure again) one complete period of a purpose, by default the last one, raise its alerts, and return its rows (all, new, established)';

-- The handler of the built-in "drift" job.  params (all optional):
--   purpose      only this purpose (default: every purpose with impressions)
--   max_periods  most periods measured per purpose and run (default 100)
--   until        measure only periods ending by then (default: now)
-- Per purpose, in time order, every complete period from its first
-- impression on that has no snapshot (at the current period length), each
-- measured and its alerts checked.  A purpose another run is measuring is
-- skipped (reported under "busy"); a period already measured is not
-- measured again, so running twice, or two runs at once, measures each
-- period once.
CREATE FUNCTION drift_job(params jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record := @extschema@.drift_settings();
	p jsonb := coalesce(params, '{}');
	only_purpose text;
	max_periods integer := 100;
	until timestamptz := now() - @extschema@.drift_settle();
	watermark timestamptz;
	c record;
	first_shown timestamptz;
	missing timestamptz[];
	start timestamptz;
	done integer;
	raised integer;
	total_periods integer := 0;
	total_alerts integer := 0;
	purposes jsonb := '{}';
	busy text[] := '{}';
	bad text;
BEGIN
	IF jsonb_typeof(p) <> 'object' THEN
		RAISE EXCEPTION 'drift job parameters must be a JSON object, not %', jsonb_typeof(p)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example {"purpose": "recommendation", "max_periods": 30}.';
	END IF;
	SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(p) k
	 WHERE k NOT IN ('purpose', 'max_periods', 'until');
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown drift job parameter: %', bad
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The parameters are purpose, max_periods and until.';
	END IF;
	BEGIN
		only_purpose := p ->> 'purpose';
		max_periods := coalesce((p ->> 'max_periods')::integer, max_periods);
		until := least(until, (p ->> 'until')::timestamptz);
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'invalid drift job parameters %', p
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'purpose is a purpose name, max_periods a positive integer, until a timestamp with time zone.';
	END;
	IF max_periods < 1 THEN
		RAISE EXCEPTION 'max_periods must be at least 1, not %', max_periods
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p ? 'purpose' THEN
		PERFORM @extschema@.check_purpose_exists(only_purpose);
	END IF;

	-- Purposes to look at: those noted or measured before, and those with
	-- impressions since the latest snapshot of any purpose (all impressions
	-- the first time; the BRIN index bounds the scan afterwards).  Until a
	-- period after that snapshot is complete, no new purpose can have one:
	-- the scan is skipped, so frequent runs scan the log once a period.
	SELECT max(d.period_end) INTO watermark FROM @extschema@.drift_snapshots d;
	FOR c IN
		WITH recent AS (
			SELECT i.purpose, min(i.shown_at) AS first_shown
			  FROM @extschema@.impressions i
			 WHERE i.shown_at >= coalesce(watermark, '-infinity') AND i.shown_at < until
			   AND (watermark IS NULL OR watermark + s.period <= until)
			   AND (only_purpose IS NULL OR i.purpose = only_purpose)
			 GROUP BY i.purpose
		), known AS (
			SELECT d.purpose FROM @extschema@.drift_purposes d
			 WHERE only_purpose IS NULL OR d.purpose = only_purpose
			UNION
			SELECT d.purpose FROM @extschema@.drift_snapshots d
			 WHERE only_purpose IS NULL OR d.purpose = only_purpose
			UNION
			SELECT only_purpose WHERE only_purpose IS NOT NULL
		)
		SELECT u.purpose, r.first_shown
		  FROM (SELECT purpose FROM recent UNION SELECT purpose FROM known) u
		  LEFT JOIN recent r ON r.purpose = u.purpose
		 ORDER BY u.purpose
	LOOP
		IF NOT @extschema@.drift_lock(c.purpose, false) THEN
			busy := busy || c.purpose;
			CONTINUE;
		END IF;
		-- Where its impressions begin: the first scan saw them all; later
		-- ones saw only the recent rows (then the log is searched, once).
		first_shown := @extschema@.drift_note_purpose(c.purpose,
		                                              CASE WHEN watermark IS NULL THEN c.first_shown END);
		CONTINUE WHEN first_shown IS NULL;
		-- Every complete period from there not measured yet (at the current
		-- length), oldest first; read after taking the lock, so a run that
		-- held it has committed.
		SELECT array_agg(g ORDER BY g) INTO missing
		  FROM generate_series(date_bin(s.period, first_shown, @extschema@.drift_origin()),
		                       until - s.period, s.period) g
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.drift_snapshots d
		                    WHERE d.purpose = c.purpose AND d.period_start = g AND d.segment = 'all'
		                      AND d.period_end = g + s.period);
		done := 0;
		raised := 0;
		FOREACH start IN ARRAY coalesce(missing[1:max_periods], '{}') LOOP
			PERFORM @extschema@.drift_store(c.purpose, start);
			raised := raised + @extschema@.drift_check_alerts_around(c.purpose, start, until);
			done := done + 1;
		END LOOP;
		IF done > 0 THEN
			purposes := purposes || jsonb_build_object(c.purpose, jsonb_build_object(
				'periods', done, 'alerts', raised,
				'from', @extschema@.drift_utc(missing[1]), 'to', @extschema@.drift_utc(missing[done] + s.period),
				'behind', cardinality(missing) > done));
		END IF;
		total_periods := total_periods + done;
		total_alerts := total_alerts + raised;
	END LOOP;
	RETURN jsonb_build_object('periods', total_periods, 'alerts', total_alerts,
	                          'purposes', purposes, 'busy', to_jsonb(busy));
END $$;
REVOKE ALL ON FUNCTION drift_job(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION drift_job(jsonb) IS
	'handler of the drift job: measure every complete period not measured yet, per purpose (params: purpose, max_periods, until), raise alerts; returns {periods, alerts, purposes, busy}';

CREATE FUNCTION acknowledge_alert(alert_id bigint) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF acknowledge_alert.alert_id IS NULL THEN
		RAISE EXCEPTION 'alert_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	UPDATE @extschema@.alerts a SET acknowledged_at = clock_timestamp(), acknowledged_by = @extschema@.acting_role()
	 WHERE a.alert_id = acknowledge_alert.alert_id AND a.acknowledged_at IS NULL;
	IF FOUND THEN
		RETURN true;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.alerts a WHERE a.alert_id = acknowledge_alert.alert_id) THEN
		RAISE EXCEPTION 'alert % does not exist', acknowledge_alert.alert_id USING ERRCODE = 'undefined_object',
			HINT = 'See SELECT alert_id, message FROM personalize.alerts WHERE acknowledged_at IS NULL.';
	END IF;
	RETURN false;
END $$;
REVOKE ALL ON FUNCTION acknowledge_alert(bigint) FROM PUBLIC;
COMMENT ON FUNCTION acknowledge_alert(bigint) IS
	'mark an alert as seen (by the acting role, now); true if it was not acknowledged yet, false if it already was';

-- ---- reading the trend -----------------------------------------------------

-- Runs with the rights of whoever reads it (security_invoker), so it shows
-- only what that role may read in drift_snapshots and alerts.
CREATE VIEW gini_drift WITH (security_invoker = true) AS
SELECT d.purpose, d.segment, d.period_start, d.period_end, d.impressions, d.subjects,
       round(d.item_gini::numeric, 3) AS item_gini,
       round((d.item_gini - p.item_gini)::numeric, 3) AS item_gini_vs_previous,
       round((d.item_gini - w.item_gini)::numeric, 3) AS item_gini_vs_week,
       round(d.category_gini::numeric, 3) AS category_gini,
       round((d.category_gini - p.category_gini)::numeric, 3) AS category_gini_vs_previous,
       round((d.category_gini - w.category_gini)::numeric, 3) AS category_gini_vs_week,
       round(d.feed_category_gini::numeric, 3) AS feed_category_gini,
       round((d.feed_category_gini - p.feed_category_gini)::numeric, 3) AS feed_category_gini_vs_previous,
       round((d.feed_category_gini - w.feed_category_gini)::numeric, 3) AS feed_category_gini_vs_week,
       round(d.coverage::numeric, 3) AS coverage,
       round(d.explored_share::numeric, 3) AS explored_share,
       EXISTS (SELECT 1 FROM @extschema@.alerts a
                WHERE a.kind = 'gini_drift' AND a.purpose = d.purpose
                  AND a.period_start = d.period_start AND a.segment = d.segment) AS alert,
       @extschema@.sparkline(array_agg(d.item_gini) OVER trend) AS item_gini_trend,
       @extschema@.sparkline(array_agg(d.category_gini) OVER trend) AS category_gini_trend,
       @extschema@.sparkline(array_agg(d.feed_category_gini) OVER trend) AS feed_category_gini_trend
  FROM @extschema@.drift_snapshots d
  LEFT JOIN @extschema@.drift_snapshots p
    ON p.purpose = d.purpose AND p.segment = d.segment AND p.period_end = d.period_start
   AND p.period_end - p.period_start = d.period_end - d.period_start
  LEFT JOIN @extschema@.drift_snapshots w
    ON w.purpose = d.purpose AND w.segment = d.segment
   AND d.period_end - d.period_start < interval '168 hours'
   AND w.period_start = d.period_start - interval '168 hours'
   AND w.period_end = d.period_end - interval '168 hours'
WINDOW trend AS (PARTITION BY d.purpose, d.segment ORDER BY d.period_start ROWS BETWEEN 13 PRECEDING AND CURRENT ROW);
REVOKE ALL ON gini_drift FROM PUBLIC;
COMMENT ON VIEW gini_drift IS
	'drift periods per purpose and segment: Gini coefficients with their change since the previous period and since a week earlier, whether an alert was raised, and sparklines of the last 14 periods';
COMMENT ON COLUMN gini_drift.purpose IS 'the purpose';
COMMENT ON COLUMN gini_drift.segment IS 'all, new or established subjects';
COMMENT ON COLUMN gini_drift.period_start IS 'start of the period';
COMMENT ON COLUMN gini_drift.period_end IS 'end of the period';
COMMENT ON COLUMN gini_drift.impressions IS 'slots shown';
COMMENT ON COLUMN gini_drift.subjects IS 'distinct subjects shown something';
COMMENT ON COLUMN gini_drift.item_gini IS 'Gini of exposure over items (0 even, 1 one item)';
COMMENT ON COLUMN gini_drift.item_gini_vs_previous IS 'change of item_gini since the previous period';
COMMENT ON COLUMN gini_drift.item_gini_vs_week IS 'change of item_gini since the period a week earlier (periods shorter than a week)';
COMMENT ON COLUMN gini_drift.category_gini IS 'Gini of exposure over categories';
COMMENT ON COLUMN gini_drift.category_gini_vs_previous IS 'change of category_gini since the previous period';
COMMENT ON COLUMN gini_drift.category_gini_vs_week IS 'change of category_gini since a week earlier';
COMMENT ON COLUMN gini_drift.feed_category_gini IS 'mean Gini of categories within each subject''s feed (the filter-bubble metric)';
COMMENT ON COLUMN gini_drift.feed_category_gini_vs_previous IS 'change of feed_category_gini since the previous period';
COMMENT ON COLUMN gini_drift.feed_category_gini_vs_week IS 'change of feed_category_gini since a week earlier';
COMMENT ON COLUMN gini_drift.coverage IS 'share of the catalogue shown';
COMMENT ON COLUMN gini_drift.explored_share IS 'share of exploration slots';
COMMENT ON COLUMN gini_drift.alert IS 'an alert was raised for this period and segment';
COMMENT ON COLUMN gini_drift.item_gini_trend IS 'sparkline of item_gini over the last 14 periods';
COMMENT ON COLUMN gini_drift.category_gini_trend IS 'sparkline of category_gini over the last 14 periods';
COMMENT ON COLUMN gini_drift.feed_category_gini_trend IS 'sparkline of feed_category_gini over the last 14 periods';

CREATE FUNCTION xml_text(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN replace(replace(replace(replace(replace(t, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&apos;');
COMMENT ON FUNCTION xml_text(text) IS 'text escaped for XML content and attribute values';

-- SECURITY INVOKER on purpose: the chart reads drift_snapshots and alerts
-- with the caller's rights, so it shows nothing the caller could not SELECT.
CREATE FUNCTION drift_chart(purpose text DEFAULT 'recommendation', periods integer DEFAULT 30,
                            segment text DEFAULT 'all') RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	-- plot area: x0..x1 left to right, y0 (Gini 1) at the top to y1 (Gini 0)
	w constant integer := 800;
	h constant integer := 420;
	x0 constant integer := 70;
	x1 constant integer := 610;
	y0 constant integer := 60;
	y1 constant integer := 340;
	metrics constant text[] := ARRAY['item_gini', 'category_gini', 'feed_category_gini'];
	colours constant text[] := ARRAY['#1f77b4', '#ff7f0e', '#2ca02c'];
	labels constant text[] := ARRAY['items', 'categories', 'categories per feed'];
	starts timestamptz[];
	ends timestamptz[];
	vals float8[];				-- n values of item_gini, then category_gini, then feed
	xs numeric[] := '{}';
	n integer;
	title text;
	head text;
	body text := '';
	points text;
	marks text;
	label_format text;
	y numeric;
	r record;
BEGIN
	IF NOT has_table_privilege('@extschema@.drift_snapshots', 'SELECT')
	   OR NOT has_table_privilege('@extschema@.alerts', 'SELECT') THEN
		RAISE EXCEPTION 'permission denied to chart drift: role "%" cannot read personalize.drift_snapshots and personalize.alerts', current_user
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'An administrator can GRANT SELECT ON personalize.drift_snapshots, personalize.alerts to the role.';
	END IF;
	IF drift_chart.purpose IS NULL OR drift_chart.segment IS NULL OR drift_chart.periods IS NULL THEN
		RAISE EXCEPTION 'purpose, periods and segment must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF drift_chart.periods < 1 OR drift_chart.periods > 1000 THEN
		RAISE EXCEPTION 'periods must be between 1 and 1000, not %', drift_chart.periods
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'It is how many of the latest periods are plotted.';
	END IF;
	IF drift_chart.segment NOT IN ('all', 'new', 'established') THEN
		RAISE EXCEPTION 'unknown segment "%"', drift_chart.segment
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The segments are all, new and established.';
	END IF;
	PERFORM @extschema@.check_purpose_exists(drift_chart.purpose);

	SELECT array_agg(l.period_start ORDER BY l.period_start), array_agg(l.period_end ORDER BY l.period_start),
	       array_agg(l.item_gini ORDER BY l.period_start) || array_agg(l.category_gini ORDER BY l.period_start)
	       || array_agg(l.feed_category_gini ORDER BY l.period_start)
	  INTO starts, ends, vals
	  FROM (SELECT d.period_start, d.period_end, d.item_gini, d.category_gini, d.feed_category_gini
	          FROM @extschema@.drift_snapshots d
	         WHERE d.purpose = drift_chart.purpose AND d.segment = drift_chart.segment
	         ORDER BY d.period_start DESC LIMIT drift_chart.periods) l;
	n := coalesce(array_length(starts, 1), 0);

	title := format('Gini drift of purpose "%s", %s', drift_chart.purpose,
	                CASE drift_chart.segment WHEN 'all' THEN 'all subjects'
	                                         ELSE drift_chart.segment || ' subjects' END);
	head := format('<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
	               || '<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif">' || E'\n'
	               || '<title>%s</title>' || E'\n'
	               || '<rect width="100%%" height="100%%" fill="white"/>' || E'\n'
	               || '<text x="%s" y="30" font-size="18" text-anchor="middle">%s</text>' || E'\n',
	               w, h, w, h, @extschema@.xml_text(title), w / 2, @extschema@.xml_text(title));
	IF n = 0 THEN
		RETURN head || format('<text id="no-data" x="%s" y="%s" font-size="14" text-anchor="middle">'
		                      || 'No drift snapshots yet: the drift job (or personalize.drift_job()) measures complete periods.</text>' || E'\n'
		                      || '</svg>' || E'\n', w / 2, h / 2);
	END IF;
	FOR i IN 1 .. n LOOP
		xs := xs || CASE WHEN n = 1 THEN round((x0 + x1) / 2.0, 1)
		                 ELSE round(x0 + (i - 1) * (x1 - x0)::numeric / (n - 1), 1) END;
	END LOOP;
	head := head || format('<text x="%s" y="48" font-size="12" text-anchor="middle">%s periods from %s to %s</text>' || E'\n',
	                       w / 2, n, @extschema@.drift_utc(starts[1]), @extschema@.drift_utc(ends[n]));

	-- y axis: gridlines and labels at 0, 0.25, .., 1
	FOREACH y IN ARRAY ARRAY[0, 0.25, 0.5, 0.75, 1]::numeric[] LOOP
		body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#dddddd"/>'
		                       || '<text x="%s" y="%s" font-size="12" text-anchor="end">%s</text>' || E'\n',
		                       x0, round(y1 - y * (y1 - y0), 1), x1, round(y1 - y * (y1 - y0), 1),
		                       x0 - 8, round(y1 - y * (y1 - y0) + 4, 1), trim_scale(y));
	END LOOP;
	body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>'
	                       || '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>' || E'\n',
	                       x0, y0, x0, y1, x0, y1, x1, y1)
	             || format('<text x="20" y="%s" font-size="13" text-anchor="middle" transform="rotate(-90 20 %s)">Gini coefficient</text>' || E'\n',
	                       (y0 + y1) / 2, (y0 + y1) / 2);

	-- x axis: a tick per period, a date label on about 8 of them
	label_format := CASE WHEN ends[n] - starts[1] < n * interval '24 hours' THEN 'MM-DD HH24:MI' ELSE 'YYYY-MM-DD' END;
	FOR i IN 1 .. n LOOP
		body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>', xs[i], y1, xs[i], y1 + 4);
		IF (i - 1) % greatest(1, ceil(n / 8.0)::integer) = 0 THEN
			body := body || format('<text x="%s" y="%s" font-size="11" text-anchor="middle">%s</text>',
			                       xs[i], y1 + 18, to_char(starts[i] AT TIME ZONE 'UTC', label_format));
		END IF;
		body := body || E'\n';
	END LOOP;
	body := body || format('<text x="%s" y="%s" font-size="13" text-anchor="middle">period start (UTC)</text>' || E'\n',
	                       (x0 + x1) / 2, y1 + 40);

	-- periods with an alert: a band behind the lines
	FOR r IN SELECT array_position(starts, a.period_start) AS i,
	                string_agg(format('%s rose by %s over the %s', a.metric, round(a.delta::numeric, 3), a.baseline),
	                           '; ' ORDER BY a.alert_id) AS what
	           FROM @extschema@.alerts a
	          WHERE a.kind = 'gini_drift' AND a.purpose = drift_chart.purpose
	            AND a.segment = drift_chart.segment AND a.period_start = ANY (starts)
	          GROUP BY a.period_start ORDER BY a.period_start LOOP
		body := body || format('<rect class="alert-period" x="%s" y="%s" width="8" height="%s" fill="#d62728" fill-opacity="0.15"><title>alert: %s</title></rect>' || E'\n',
		                       xs[r.i] - 4, y0, y1 - y0, @extschema@.xml_text(r.what));
	END LOOP;

	-- per metric, one polyline per run of measured periods (an empty period,
	-- without a value, breaks the line), and a circle on each alerted point
	FOR k IN 1 .. 3 LOOP
		body := body || format('<g id="%s">', metrics[k]);
		points := '';
		FOR i IN 1 .. n + 1 LOOP
			IF i <= n AND vals[(k - 1) * n + i] IS NOT NULL THEN
				points := points || CASE WHEN points = '' THEN '' ELSE ' ' END
				          || xs[i] || ',' || round(y1 - vals[(k - 1) * n + i]::numeric * (y1 - y0), 1);
			ELSIF points <> '' THEN
				body := body || format('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>', colours[k], points);
				points := '';
			END IF;
		END LOOP;
		SELECT string_agg(format('<circle class="alert" cx="%s" cy="%s" r="5" fill="none" stroke="#d62728" stroke-width="2"><title>%s</title></circle>',
		                         xs[array_position(starts, m.period_start)],
		                         round(y1 - coalesce(vals[(k - 1) * n + array_position(starts, m.period_start)],
		                                             m.value)::numeric * (y1 - y0), 1),
		                         @extschema@.xml_text(m.what)),
		                  '' ORDER BY m.period_start)
		  INTO marks
		  FROM (SELECT a.period_start, max(a.value) AS value, string_agg(a.message, '; ' ORDER BY a.alert_id) AS what
		          FROM @extschema@.alerts a
		         WHERE a.kind = 'gini_drift' AND a.purpose = drift_chart.purpose AND a.segment = drift_chart.segment
		           AND a.metric = metrics[k] AND a.period_start = ANY (starts)
		         GROUP BY a.period_start) m;
		body := body || coalesce(marks, '') || '</g>' || E'\n';
	END LOOP;

	-- legend
	FOR k IN 1 .. 3 LOOP
		body := body || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>'
		                       || '<text x="%s" y="%s" font-size="12">%s</text>' || E'\n',
		                       x1 + 20, y0 + 22 * k, x1 + 45, y0 + 22 * k, colours[k],
		                       x1 + 52, y0 + 4 + 22 * k, labels[k]);
	END LOOP;
	body := body || format('<circle cx="%s" cy="%s" r="5" fill="none" stroke="#d62728" stroke-width="2"/>'
	                       || '<text x="%s" y="%s" font-size="12">alert</text>' || E'\n',
	                       x1 + 32, y0 + 88, x1 + 52, y0 + 92);
	RETURN head || body || '</svg>' || E'\n';
END $$;
COMMENT ON FUNCTION drift_chart(text, integer, text) IS
	'an SVG chart of the latest periods of a purpose and segment: item, category and feed Gini coefficients, alerts marked; needs SELECT on drift_snapshots and alerts';
