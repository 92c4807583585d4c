#!/bin/bash
# Row-level security benchmark: a full scan with an aggregate over
# personalize.interactions read by a role under a declared purpose (every row
# goes through the personalize.row_visible() policy), against the same scan
# by a BYPASSRLS role, in one session with the two interleaved.  Prints the
# median times and the ratio app/bypass, serial and with parallel workers
# (targets <= 1.3 both), the same scan of a copy of the table under a
# trivial policy (subject_id <> -1: the floor any per-row policy function
# pays), the cost of the first statement of a fresh session (target <= 2 ms;
# it attaches the shared consent store), the cost of a store build (forced
# by a consent the store cannot take in place), the store's memory from
# personalize.consent_store(), and checks the rows the policy lets through
# against a count computed independently from the consents and the tier
# rules.
#
# Runs against the cluster and database named by PGHOST, PGPORT, PGUSER
# (a superuser) and PGDATABASE; never starts a server and installs nothing.
# The benchmark owns the personalize data of that database: it refuses to run
# where interactions or consents it did not load exist.  Creates the
# cluster-wide roles pz_bench_app (NOBYPASSRLS, granted purpose
# recommendation) and pz_bench_bypass (BYPASSRLS), both NOLOGIN and used
# through SET ROLE.  The data is reused by a later run with the same
# parameters; bookkeeping lives in schema pzrls.
#
# Consent mix for purpose recommendation (by a hash of the subject id):
#   65% personalization, 5% personalization-purchase_history,
#   5% personalization+location, 10% functional, 10% withdrawn (none),
#   5% no consent at all; half the subjects also consent to marketing.
# Interaction categories: 30% session, 40% browsing_history,
# 20% purchase_history, 10% location.
#
# Environment (defaults in brackets):
#   INTERACTIONS [1000000]  SUBJECTS [100000]  ITEMS [10000]  SEED [0.42]
#   ROUNDS [7]            timed rounds per query, roles interleaved, after a warm-up
#   COLD_ROUNDS [5]       fresh sessions per role for the first-query cost
#   PARALLEL_ROUNDS [3]   extra rounds with parallel workers; 0 skips them
#   PARALLEL_WORKERS [2]  max_parallel_workers_per_gather for those rounds
#   REBUILD_ROUNDS [3]    forced store rebuilds timed; 0 skips them
#   FLOOR [1]             0: no trivial-policy copy of the table (saves its load)
#   BENCH_STRICT [0]      1: exit 1 when a target is missed (rows other than
#                         the expected ones always exit 1)
# The consent count scales with SUBJECTS (95% consent to recommendation, half
# to marketing): SUBJECTS=1000000 gives about 950,000 consents for the
# purpose read (1.45 million in all).
#   BENCH_RELOAD [0]      1: reload the data even if it matches
set -euo pipefail

INTERACTIONS=${INTERACTIONS:-1000000}
SUBJECTS=${SUBJECTS:-100000}
ITEMS=${ITEMS:-10000}
SEED=${SEED:-0.42}
ROUNDS=${ROUNDS:-7}
COLD_ROUNDS=${COLD_ROUNDS:-5}
PARALLEL_ROUNDS=${PARALLEL_ROUNDS:-3}
PARALLEL_WORKERS=${PARALLEL_WORKERS:-2}
REBUILD_ROUNDS=${REBUILD_ROUNDS:-3}
FLOOR=${FLOOR:-1}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_RELOAD=${BENCH_RELOAD:-0}

TARGET=1.3
FIRST_TARGET_MS=2
PURPOSE=recommendation
APP=pz_bench_app
BYPASS=pz_bench_bypass
# Layout of the generated data; bump when the generator below changes.
MIX=mix2

for v in INTERACTIONS SUBJECTS ITEMS ROUNDS COLD_ROUNDS PARALLEL_ROUNDS PARALLEL_WORKERS REBUILD_ROUNDS FLOOR; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "rls.sh: $v must be a non-negative integer, not '${!v}'" >&2
		exit 2
	fi
done
if ! [[ $SEED =~ ^-?(0|1)?(\.[0-9]+)?$ ]]; then
	echo "rls.sh: SEED must lie in [-1, 1], not '$SEED'" >&2
	exit 2
fi
if [ "$INTERACTIONS" -lt 1 ] || [ "$SUBJECTS" -lt 1 ] || [ "$ITEMS" -lt 1 ] || [ "$ROUNDS" -lt 1 ] || [ "$COLD_ROUNDS" -lt 1 ]; then
	echo "rls.sh: need INTERACTIONS, SUBJECTS, ITEMS, ROUNDS, COLD_ROUNDS >= 1" >&2
	exit 2
fi

# Settings for every session: no JIT (it would compile per query, and
# differently for the two plans), no parallelism unless asked for.
SESSION_SETTINGS="SET jit = off; SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;"
AS_APP="SET ROLE $APP; SET personalize.purpose = '$PURPOSE';"
AS_BYPASS="SET ROLE $BYPASS;"

# The timed queries: two columns each, the first the number of rows the scan
# let through.
declare -A QUERY
QUERY[count_sum]="SELECT count(*), sum(weight) FROM personalize.interactions"
QUERY[group_by]="SELECT sum(n)::bigint, string_agg(category || '=' || n, ' ' ORDER BY category)
	FROM (SELECT category, count(*) AS n, sum(weight) AS w FROM personalize.interactions GROUP BY category) g"
QUERIES=(count_sum group_by)
# The floor: the count_sum scan of a copy of the table whose only policy is
# subject_id <> -1 (both roles see every row).
QUERY[floor]="SELECT count(*), sum(weight) FROM pzrls.floor"
if [ "$FLOOR" = 1 ]; then QUERIES+=(floor); fi

psqlb() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Query one value, with the session settings applied.
psql1() {
	psqlb -At -c "$SESSION_SETTINGS" -c "$1"
}

sql_quote() {
	printf "'%s'" "${1//\'/\'\'}"
}

echo "== personalize RLS benchmark: database ${PGDATABASE:-(default)}, ${INTERACTIONS} interactions of ${SUBJECTS} subjects, ${ROUNDS} rounds"

if [ "$(psql1 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" != t ]; then
	echo "rls.sh: PGUSER must be a superuser (it loads consents and switches roles)" >&2
	exit 2
fi
psqlb -c "$SESSION_SETTINGS" -c 'CREATE EXTENSION IF NOT EXISTS personalize'
HAVE_PREWARM=$(psql1 "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_prewarm'")

echo "   $(psql1 'SELECT version()')"
echo "   personalize $(psql1 "SELECT extversion FROM pg_extension WHERE extname = 'personalize'")"

# ---------------------------------------------------------------------------
# Data.  Reused when the parameters and the row counts still match.

WANT="$INTERACTIONS,$SUBJECTS,$ITEMS,$SEED,$MIX"
HAVE=
if [ "$(psql1 "SELECT to_regclass('pzrls.params') IS NOT NULL")" = t ]; then
	HAVE=$(psql1 "SELECT p FROM pzrls.params
		WHERE n_interactions = (SELECT count(*) FROM personalize.interactions)
		  AND n_consents = (SELECT count(*) FROM personalize.consents)")
elif [ "$(psql1 "SELECT EXISTS (SELECT 1 FROM personalize.interactions) OR EXISTS (SELECT 1 FROM personalize.consents)")" = t ]; then
	echo "rls.sh: database ${PGDATABASE:-(default)} holds interactions or consents this benchmark did not load; run it in a database of its own" >&2
	exit 2
fi

if [ "$HAVE" != "$WANT" ] || [ "$BENCH_RELOAD" = 1 ]; then
	echo "== loading data (seed $SEED)"
	t0=$(date +%s)
	psqlb <<-SQL
		$SESSION_SETTINGS
		DROP SCHEMA IF EXISTS pzrls CASCADE;
		CREATE SCHEMA pzrls;
		CREATE TABLE pzrls.params (p text, n_interactions bigint, n_consents bigint, anchor timestamptz);

		-- The data are valid by construction: skip the per-row foreign key
		-- triggers (superuser only).
		SET session_replication_role = replica;
		TRUNCATE personalize.interactions, personalize.items;
		-- The ledger is append-only: a reload appends entries that supersede
		-- the earlier ones; the current consents are replaced.
		DELETE FROM personalize.consents;

		INSERT INTO personalize.items (item_id, category)
		SELECT i, 'cat_' || (i % 50) FROM generate_series(1, $ITEMS) i;

		-- Consents: a bucket 0..99 per subject from a hash of its id.
		CREATE TEMP TABLE mix AS
		SELECT s AS subject_id,
			   CASE WHEN b < 65 THEN 'personalization'
					WHEN b < 70 THEN 'personalization-purchase_history'
					WHEN b < 75 THEN 'personalization+location'
					WHEN b < 85 THEN 'functional'
					WHEN b < 95 THEN 'withdrawn'
			   END AS kind,
			   b
		FROM (SELECT s, ((hashint8(s) & 2147483647) % 100)::int AS b
			  FROM generate_series(1, $SUBJECTS) s) h;

		INSERT INTO personalize.consent_ledger (subject_id, purpose, action, consent, source, recorded_by)
		SELECT subject_id, '$PURPOSE', 'set',
			   CASE kind WHEN 'withdrawn' THEN 'personalization' ELSE kind END::personalize.consent,
			   'rls benchmark', current_user
		FROM mix WHERE kind IS NOT NULL
		UNION ALL
		SELECT subject_id, '$PURPOSE', 'withdraw', 'none'::personalize.consent, 'rls benchmark', current_user
		FROM mix WHERE kind = 'withdrawn'
		UNION ALL
		SELECT subject_id, 'marketing', 'set', 'personalization'::personalize.consent, 'rls benchmark', current_user
		FROM mix WHERE b % 2 = 0
		ORDER BY 1, 3;

		INSERT INTO personalize.consents (subject_id, purpose, consent, updated_at)
		SELECT subject_id, '$PURPOSE',
			   CASE kind WHEN 'withdrawn' THEN 'none' ELSE kind END::personalize.consent, now()
		FROM mix WHERE kind IS NOT NULL
		UNION ALL
		SELECT subject_id, 'marketing', 'personalization'::personalize.consent, now()
		FROM mix WHERE b % 2 = 0;

		-- Interactions in arrival order, subjects at random.  A serial plan
		-- in one session keeps random() in a fixed order after setseed.
		SELECT setseed($SEED) \\g /dev/null
		INSERT INTO personalize.interactions (subject_id, item_id, category, kind, weight, occurred_at)
		SELECT 1 + floor(random() * $SUBJECTS)::bigint,
			   1 + floor(random() * $ITEMS)::bigint,
			   CASE WHEN c < 0.3 THEN 'session' WHEN c < 0.7 THEN 'browsing_history'
					WHEN c < 0.9 THEN 'purchase_history' ELSE 'location' END,
			   CASE WHEN k < 0.8 THEN 'view' WHEN k < 0.95 THEN 'click' ELSE 'purchase' END,
			   round((random() * 5)::numeric, 2)::real,
			   -- whole days back from the load, at half past: see "Retention" below
			   now() - interval '12 hours' - floor((1 - i::float8 / $INTERACTIONS) * 180) * interval '1 day'
		FROM (SELECT i, random() AS c, random() AS k FROM generate_series(1, $INTERACTIONS) i) g;
		RESET session_replication_role;

		INSERT INTO pzrls.params
		SELECT '$WANT', (SELECT count(*) FROM personalize.interactions),
			   (SELECT count(*) FROM personalize.consents), now();
	SQL
	psqlb -c "$SESSION_SETTINGS" -c 'VACUUM (FREEZE, ANALYZE) personalize.interactions, personalize.items, personalize.consents, personalize.consent_ledger'
	echo "   loaded in $(($(date +%s) - t0)) s"
else
	echo "== reusing the data (BENCH_RELOAD=1 reloads it)"
fi

if [ "$FLOOR" = 1 ] && [ "$(psql1 "SELECT count(*) = (SELECT count(*) FROM personalize.interactions)
		FROM pzrls.floor" 2>/dev/null || echo f)" != t ]; then
	echo "== copying the table for the trivial-policy floor"
	psqlb <<-SQL
		$SESSION_SETTINGS
		DROP TABLE IF EXISTS pzrls.floor;
		CREATE TABLE pzrls.floor AS SELECT * FROM personalize.interactions;
		ALTER TABLE pzrls.floor ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
		CREATE POLICY trivial ON pzrls.floor USING (subject_id <> -1);
		VACUUM (FREEZE, ANALYZE) pzrls.floor;
	SQL
fi

# Scans skip per-tuple visibility checks on all-visible pages only: make sure
# the table has them, or the timings depend on hint bits and VACUUM.
for try in 1 2 3 4 5 6; do
	NOT_VISIBLE=$(psql1 "SELECT count(*) FROM pg_class WHERE oid IN ('personalize.interactions'::regclass, to_regclass('pzrls.floor')) AND relallvisible < relpages")
	[ "$NOT_VISIBLE" = 0 ] && break
	[ "$try" = 6 ] && break
	[ "$try" -gt 1 ] && sleep 2
	psqlb -c "$SESSION_SETTINGS" -c 'VACUUM (FREEZE, ANALYZE) personalize.interactions'
	if [ "$FLOOR" = 1 ]; then psqlb -c "$SESSION_SETTINGS" -c 'VACUUM (FREEZE, ANALYZE) pzrls.floor'; fi
done
if [ "$NOT_VISIBLE" != 0 ]; then
	echo "   WARNING: not all pages of personalize.interactions are all-visible (a long transaction elsewhere?); figures may be off" >&2
fi

# ---------------------------------------------------------------------------
# Retention.  The policy hides rows older than their category's retention,
# a cutoff that moves with the clock.  Rows lie on whole days back from the
# load (plus 12 hours), and each run sets the retentions to the time since
# the load plus whole days, so every cutoff falls half a day away from any
# row and no row crosses it while the benchmark runs: session 1 day,
# browsing_history 90 days (about half of them expired, awaiting a purge),
# purchase_history 2 years, location 30 days.  The built-in retentions are
# put back at the end.
psqlb <<-SQL
	$SESSION_SETTINGS
	UPDATE personalize.signal_categories c SET retention = (now() - p.anchor) + b.base
	  FROM pzrls.params p,
	       (VALUES ('session', interval '1 day'), ('browsing_history', interval '90 days'),
	               ('purchase_history', interval '730 days'), ('location', interval '30 days')) b(name, base)
	 WHERE c.name = b.name;
SQL
restore_retention() {
	psqlb -c "UPDATE personalize.signal_categories c SET retention = b.r::interval
		FROM (VALUES ('session', '1 day'), ('browsing_history', '180 days'),
		             ('purchase_history', '2 years'), ('location', '30 days')) b(name, r)
		WHERE c.name = b.name" >/dev/null || true
}
trap restore_retention EXIT

# ---------------------------------------------------------------------------
# Roles, timing function and the expected result.

psqlb <<-SQL
	$SESSION_SETTINGS
	DO \$\$
	BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP') THEN
			CREATE ROLE $APP NOLOGIN;
		END IF;
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$BYPASS') THEN
			CREATE ROLE $BYPASS NOLOGIN;
		END IF;
	END
	\$\$;
	ALTER ROLE $APP NOSUPERUSER NOBYPASSRLS;
	ALTER ROLE $BYPASS NOSUPERUSER BYPASSRLS;
	GRANT USAGE ON SCHEMA personalize TO $APP, $BYPASS;
	GRANT SELECT ON personalize.interactions TO $APP, $BYPASS;
	SELECT personalize.grant_purpose('$APP', '$PURPOSE') \\g /dev/null

	-- Runs a query once and returns its wall time in ms (planning included)
	-- and its two columns.  Invoker's rights: the policy applies as it would
	-- to the caller.
	CREATE OR REPLACE FUNCTION pzrls.time_query(q text, OUT ms float8, OUT n bigint, OUT detail text)
	LANGUAGE plpgsql AS \$f\$
	DECLARE
		t0 timestamptz := clock_timestamp();
	BEGIN
		EXECUTE q INTO n, detail;
		ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
	END
	\$f\$;

	DROP TABLE IF EXISTS pzrls.results, pzrls.cold, pzrls.expected, pzrls.rebuild;
	CREATE TABLE pzrls.results (mode text, query text, role text, round int, ms float8, n bigint, detail text);
	CREATE TABLE pzrls.cold (what text, session int, stmt int, ms float8, n bigint);
	CREATE TABLE pzrls.rebuild (round int, first_ms float8, build_ms float8);
	GRANT USAGE ON SCHEMA pzrls TO $APP, $BYPASS;
	GRANT INSERT ON pzrls.results, pzrls.cold, pzrls.rebuild TO $APP, $BYPASS;

	-- What the policy should let through, from the consents and the tier
	-- rules: the purpose caps the category tier, the consent must allow the
	-- category (recommendation has no parent purpose to fall back on).
	CREATE TABLE pzrls.expected AS
	WITH p AS (
		SELECT array_position(enum_range(NULL::personalize.consent_tier), max_tier) - 1 AS max_tier
		FROM personalize.purposes WHERE name = '$PURPOSE' AND personal_data_allowed
	), visible AS (
		SELECT i.interaction_id, i.category
		FROM personalize.interactions i
		JOIN personalize.signal_categories sc ON sc.name = i.category
		JOIN personalize.consents c ON c.subject_id = i.subject_id AND c.purpose = '$PURPOSE'
		CROSS JOIN p
		WHERE sc.tier <= p.max_tier AND personalize.consent_allows_tier(c.consent, sc.name, sc.tier)
		  AND (sc.retention IS NULL OR i.occurred_at >= now() - sc.retention)
	), per_cat AS (
		SELECT category, count(*) AS n FROM visible GROUP BY category
	)
	SELECT (SELECT count(*) FROM visible) AS n,
		   (SELECT coalesce(sum(interaction_id), 0) FROM visible)::numeric AS id_sum,
		   (SELECT string_agg(category || '=' || n, ' ' ORDER BY category) FROM per_cat) AS per_category,
		   (SELECT count(*) FROM personalize.interactions) AS n_all,
		   (SELECT string_agg(category || '=' || n, ' ' ORDER BY category)
			FROM (SELECT category, count(*) AS n FROM personalize.interactions GROUP BY category) a) AS per_category_all,
		   (SELECT count(*) FROM personalize.consents WHERE purpose = '$PURPOSE') AS n_consents;
SQL

echo "   roles $APP (purpose $PURPOSE) and $BYPASS (BYPASSRLS); $(psql1 "SELECT n_consents FROM pzrls.expected") consents for $PURPOSE; expected visible rows: $(psql1 "SELECT n || ' of ' || n_all FROM pzrls.expected")"

# The app role sees exactly the expected rows (checked by id sum, too).
GOT=$(psqlb -At -F' ' -c "$SESSION_SETTINGS $AS_APP" \
	-c "SELECT count(*), coalesce(sum(interaction_id), 0) FROM personalize.interactions")
EXPECTED=$(psqlb -At -F' ' -c "$SESSION_SETTINGS" -c "SELECT n, id_sum FROM pzrls.expected")
CHECK=$([ "$GOT" = "$EXPECTED" ] && echo t || echo f)
if [ "$CHECK" != t ]; then
	echo "rls.sh: the rows $APP sees (count, id sum: $GOT) differ from the expected ($EXPECTED)" >&2
fi
ROWS_MATCH=$([ "$CHECK" = t ] && echo yes || echo no)

# ---------------------------------------------------------------------------
echo "== warming the cache"
if [ "$HAVE_PREWARM" = 1 ]; then
	psqlb -c "$SESSION_SETTINGS" -c 'CREATE EXTENSION IF NOT EXISTS pg_prewarm' \
		-c "SELECT sum(pg_prewarm(c)) FROM unnest(ARRAY['personalize.interactions', 'personalize.consents']::regclass[]) c" >/dev/null
fi
psqlb -At -c "$SESSION_SETTINGS" -c "${QUERY[count_sum]}" >/dev/null
# and the consent store: the app's first statement builds it if need be
psqlb -At -c "$SESSION_SETTINGS $AS_APP" -c "${QUERY[count_sum]}" >/dev/null
if [ "$FLOOR" = 1 ]; then
	psqlb -c "$SESSION_SETTINGS" -c "GRANT SELECT ON pzrls.floor TO $APP, $BYPASS"
	psqlb -At -c "$SESSION_SETTINGS" -c "${QUERY[floor]}" >/dev/null
fi

# One timed statement of the script the rounds run in one session.
timed() {	# mode query role round
	local q=${QUERY[$2]}
	if [ "$3" = app ]; then echo "SET ROLE $APP;"; else echo "SET ROLE $BYPASS;"; fi
	echo "INSERT INTO pzrls.results SELECT '$1', '$2', '$3', $4, * FROM pzrls.time_query($(sql_quote "$q"));"
}

# Rounds of both roles on every query in one session, the order of the roles
# reversed every other round; round 0 is a warm-up and is not kept.
rounds_script() {	# mode rounds
	local r q first second
	echo "$AS_APP"
	for ((r = 0; r <= $2; r++)); do
		if ((r % 2 == 0)); then first=app second=bypass; else first=bypass second=app; fi
		for q in "${QUERIES[@]}"; do
			timed "$1" "$q" "$first" "$r"
			timed "$1" "$q" "$second" "$r"
		done
	done
	echo "RESET ROLE; DELETE FROM pzrls.results WHERE round = 0;"
}

echo "== timing, serial scans ($ROUNDS rounds + 1 warm-up, roles interleaved)"
rounds_script serial "$ROUNDS" | psqlb -c "$SESSION_SETTINGS" -f -

PAR_SETTINGS=
if [ "$PARALLEL_ROUNDS" -gt 0 ] && [ "$PARALLEL_WORKERS" -gt 0 ]; then
	PAR_SETTINGS="SET max_parallel_workers_per_gather = $PARALLEL_WORKERS;"
	planned() {	# role settings
		local w
		w=$(psqlb -At -c "$SESSION_SETTINGS $PAR_SETTINGS $1" -c "EXPLAIN (FORMAT JSON) ${QUERY[count_sum]}" |
			sed -n 's/.*"Workers Planned": \([0-9]*\).*/\1/p' | head -1)
		echo "${w:-0}"
	}
	WORKERS="app $(planned "$AS_APP"), bypass $(planned "$AS_BYPASS")"
	echo "== timing, parallel scans ($PARALLEL_ROUNDS rounds, up to $PARALLEL_WORKERS workers per query; planned: $WORKERS)"
	rounds_script parallel "$PARALLEL_ROUNDS" | psqlb -c "$SESSION_SETTINGS $PAR_SETTINGS" -f -
fi

# The first statement of a fresh session pays for attaching the consent
# store and loading the categories and the purpose (and, for both roles, for
# the relation and catalog caches): time the first three statements of
# fresh sessions, alternating the roles.  "load" times a lone row_visible()
# call, which does that and reads no table.
echo "== timing, first statements of fresh sessions ($COLD_ROUNDS sessions per role)"
Q=$(sql_quote "${QUERY[count_sum]}")
LOADQ=$(sql_quote "SELECT 0::bigint, personalize.row_visible(0, 'session')::text")
for ((s = 1; s <= COLD_ROUNDS; s++)); do
	for who in app bypass load; do
		case $who in
			app) pre=$AS_APP q=$Q ;;
			bypass) pre=$AS_BYPASS q=$Q ;;
			load) pre=$AS_APP q=$LOADQ ;;
		esac
		psqlb -c "$SESSION_SETTINGS $pre" \
			-c "INSERT INTO pzrls.cold SELECT '$who', $s, 1, ms, n FROM pzrls.time_query($q)" \
			-c "INSERT INTO pzrls.cold SELECT '$who', $s, 2, ms, n FROM pzrls.time_query($q)" \
			-c "INSERT INTO pzrls.cold SELECT '$who', $s, 3, ms, n FROM pzrls.time_query($q)"
	done
done

# A store build: a consent the store cannot take in place (for a purpose
# with no map yet, or a subject far outside its map) makes it stale at
# commit; the next reader rebuilds it.  Time that reader's statement (a lone
# row_visible() in a fresh session) and read the build's own time from
# consent_store(); then remove the probe consent again (applied in place).
HAVE_STORE=$(psql1 "SELECT count(*) FROM personalize.consent_store() WHERE database = current_database()")
if [ "$REBUILD_ROUNDS" -gt 0 ] && [ "$HAVE_STORE" = 1 ]; then
	echo "== timing, store builds ($REBUILD_ROUNDS rebuilds forced by a probe consent)"
	for ((r = 1; r <= REBUILD_ROUNDS; r++)); do
		probe=$((-1000000000000 * r))
		psql1 "INSERT INTO personalize.consents (subject_id, purpose, consent, updated_at)
			VALUES ($probe, 'analytics', 'none', now())" >/dev/null
		psqlb -c "$SESSION_SETTINGS $AS_APP" \
			-c "INSERT INTO pzrls.rebuild SELECT $r, ms, NULL FROM pzrls.time_query($LOADQ)"
		psql1 "UPDATE pzrls.rebuild SET build_ms = (SELECT build_ms FROM personalize.consent_store()
			WHERE database = current_database()) WHERE round = $r" >/dev/null
		psql1 "DELETE FROM personalize.consents WHERE subject_id = $probe AND purpose = 'analytics'" >/dev/null
	done
fi

# ---------------------------------------------------------------------------
# Every round of a query, mode and role must have let the same rows through,
# the bypass role all of them and the app role the expected ones.
BAD=$(psql1 "SELECT count(*) FROM pzrls.results r, pzrls.expected e
	WHERE r.n <> CASE WHEN r.role = 'app' AND r.query <> 'floor' THEN e.n ELSE e.n_all END
	   OR (r.query = 'group_by' AND r.detail <> CASE r.role WHEN 'app' THEN e.per_category ELSE e.per_category_all END)")
BAD_COLD=$(psql1 "SELECT count(*) FROM pzrls.cold c, pzrls.expected e
	WHERE c.what <> 'load' AND c.n <> CASE c.what WHEN 'app' THEN e.n ELSE e.n_all END")
if [ "$BAD" != 0 ] || [ "$BAD_COLD" != 0 ]; then
	echo "rls.sh: $BAD timed scans and $BAD_COLD first-statement scans returned unexpected row counts" >&2
	ROWS_MATCH=no
fi

echo
echo "== results: ms per query (median over rounds; min in brackets), $INTERACTIONS interactions, $SUBJECTS subjects"
psqlb -P footer=off -c "$SESSION_SETTINGS" -f - <<-'SQL'
	WITH t AS (
		SELECT mode, query, role,
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med, min(ms) AS mn,
			   min(r.n) AS n, count(*) AS rounds,
			   bool_and(r.n = CASE WHEN role = 'app' AND query <> 'floor' THEN e.n ELSE e.n_all END
						AND (query <> 'group_by' OR r.detail = CASE role WHEN 'app' THEN e.per_category ELSE e.per_category_all END)) AS ok
		FROM pzrls.results r, pzrls.expected e GROUP BY mode, query, role
	), w AS (
		SELECT mode, query,
			   max(med) FILTER (WHERE role = 'bypass') AS b, max(mn) FILTER (WHERE role = 'bypass') AS bmin,
			   max(med) FILTER (WHERE role = 'app') AS a, max(mn) FILTER (WHERE role = 'app') AS amin,
			   max(n) FILTER (WHERE role = 'bypass') AS nb, max(n) FILTER (WHERE role = 'app') AS na,
			   min(rounds) AS rounds, bool_and(ok) AS ok
		FROM t GROUP BY mode, query
	)
	SELECT mode, query,
		   to_char(b, 'FM99990.00') || ' [' || to_char(bmin, 'FM99990.00') || ']' AS "bypass ms",
		   to_char(a, 'FM99990.00') || ' [' || to_char(amin, 'FM99990.00') || ']' AS "app ms",
		   to_char(a / b, 'FM990.000') AS "app/bypass",
		   to_char((a - b) * 1e6 / nullif(nb, 0), 'FM9990.0') AS "ns/row extra",
		   nb AS "rows bypass", na AS "rows app",
		   CASE WHEN ok THEN 'yes' ELSE 'NO' END AS "rows as expected",
		   rounds
	FROM w ORDER BY mode DESC, array_position(ARRAY['count_sum', 'group_by', 'floor'], query);
SQL

echo
echo "== first statements of fresh sessions: ms, median over $COLD_ROUNDS sessions (count_sum; load = a lone row_visible() call)"
psqlb -P footer=off -c "$SESSION_SETTINGS" -f - <<-'SQL'
	WITH s AS (
		SELECT what, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE stmt = 1) AS first,
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE stmt > 1) AS later
		FROM pzrls.cold GROUP BY what
	)
	SELECT what AS "session as",
		   to_char(first, 'FM99990.00') AS "1st stmt ms",
		   to_char(later, 'FM99990.00') AS "2nd/3rd stmt ms",
		   to_char(first - later, 'FM99990.00') AS "1st - later ms"
	FROM s ORDER BY array_position(ARRAY['bypass', 'app', 'load'], what);
SQL
psql1 "SELECT '   app 1st-statement surcharge beyond the bypass role''s: '
		|| to_char((a.f - a.l) - (b.f - b.l), 'FM99990.00') || ' ms for ' || e.n_consents || ' consents'
	FROM (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE stmt = 1) AS f,
				 percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE stmt > 1) AS l
		  FROM pzrls.cold WHERE what = 'app') a,
		 (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE stmt = 1) AS f,
				 percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE stmt > 1) AS l
		  FROM pzrls.cold WHERE what = 'bypass') b,
		 pzrls.expected e"
echo "   table size: $(psql1 "SELECT pg_size_pretty(pg_table_size('personalize.interactions'))"), rows as expected: $ROWS_MATCH"

FIRST_MS=$(psql1 "SELECT to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM99990.00')
	FROM pzrls.cold WHERE what = 'load' AND stmt = 1")
echo
echo "== the consent store"
if [ "$HAVE_STORE" = 1 ]; then
	psql1 "SELECT '   ' || s.consents || ' consents (' || e.n_consents || ' for $PURPOSE) in ' || s.purposes
			|| ' purposes, ' || s.classes || ' distinct; ' || pg_size_pretty(s.bytes) || ', '
			|| to_char(s.bytes::float8 * 1000000 / greatest(s.consents, 1) / 1048576, 'FM9990.00')
			|| ' MB per million consents; ' || s.builds || ' builds, ' || s.changes_applied || ' changes applied'
		FROM personalize.consent_store() s, pzrls.expected e WHERE s.database = current_database()"
	if [ "$REBUILD_ROUNDS" -gt 0 ]; then
		psql1 "SELECT '   a build (consent_store().build_ms): ' || to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY build_ms), 'FM99990.0')
				|| ' ms; the statement that found the store stale and rebuilt it: '
				|| to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY first_ms), 'FM99990.0') || ' ms (median of ' || count(*) || ')'
			FROM pzrls.rebuild"
	fi
else
	echo "   none for this database (is personalize in shared_preload_libraries?): readers load consents themselves"
fi
echo "   first statement of a fresh session (a lone row_visible(), median): $FIRST_MS ms"

# Targets: app/bypass <= 1.3 on every query, serial and parallel (the floor
# is a reference, not a target); the first statement of a fresh session
# within FIRST_TARGET_MS.
MISSED=$(psql1 "WITH t AS (
		SELECT mode, query, role, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med
		FROM pzrls.results WHERE query <> 'floor' GROUP BY mode, query, role
	), w AS (
		SELECT mode, query, max(med) FILTER (WHERE role = 'app') / max(med) FILTER (WHERE role = 'bypass') AS ratio
		FROM t GROUP BY mode, query
	)
	SELECT string_agg(mode || ' ' || query || ' app/bypass ' || to_char(ratio, 'FM990.000') || ' > $TARGET', '; ')
	FROM w WHERE ratio > $TARGET")
if [ -n "$FIRST_MS" ] && [ "$(psql1 "SELECT $FIRST_MS > $FIRST_TARGET_MS")" = t ]; then
	MISSED="${MISSED:+$MISSED; }first statement $FIRST_MS ms > $FIRST_TARGET_MS ms"
fi
if [ "$ROWS_MATCH" != yes ]; then
	# Not a performance figure: the policy let the wrong rows through.
	echo "   FAILED: the rows $APP sees differ from the expected ones" >&2
	exit 1
fi
if [ -n "$MISSED" ]; then
	echo "   target missed: $MISSED"
	[ "$BENCH_STRICT" = 1 ] && exit 1
else
	echo "   targets met: app/bypass <= $TARGET on every query, serial and parallel; first statement <= $FIRST_TARGET_MS ms"
fi
exit 0
