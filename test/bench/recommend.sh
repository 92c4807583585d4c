#!/bin/bash
# Serving benchmark: CLIENTS concurrent connections call a top-10 statement
# back to back (test/bench/recommend_load.c, compiled here against libpq) for
# random subjects, over a catalogue of ITEMS items and an ALS model with
# FACTORS factors trained on the synthetic data of test/gen/generate.sql.
# Scenarios:
#   baseline    the naive SQL top-10: ORDER BY factors <#> (an item's
#               factors) LIMIT 10 over the active model's item factors
#   log_off     recommend(), impressions not logged
#   log_on      recommend(), impressions logged
#   embedding8  recommend() on the int8-quantized factors, not logged
# The recommend() scenarios pass exploration => 0.  Prints calls/s and
# latency percentiles per scenario, p50 and p99 relative to the baseline, the
# targets (p99 <= 10 ms without logging, <= 15 ms with it), and the rows each
# recommend() scenario added to personalize.impressions per call (10 with
# logging, 0 without).  Then the recall@10 of recommend() on embedding8
# factors against the float factors, over RECALL_SUBJECTS subjects (target:
# loss < 1%).  Subjects 1..SUBJECTS all consent to recommendation and have
# about PER_SUBJECT interactions each; the baseline's query vector is the
# factors of item (subject % ITEMS) + 1.
#
# Runs against the cluster and database named by PGHOST, PGPORT, PGUSER (a
# superuser) and PGDATABASE; starts nothing and installs nothing.  Needs a C
# compiler and the libpq headers (Debian package libpq-dev); pg_config comes
# from $PG_CONFIG or PATH.  The data and the model are made once per database
# and reused by a later run with the same parameters (bookkeeping in schema
# pzrec); other parameters, or BENCH_RELOAD=1, recreate the extension, which
# drops everything personalize holds in that database.  The benchmark refuses
# to run where personalize data it did not load exists.  Every session runs
# without JIT or parallel workers (with 2 clients on 2 cores, parallel plans
# only make the baseline slower).
#
# Environment (defaults in brackets):
#   ITEMS [100000]  CATEGORIES [50]  SUBJECTS [20000]  PER_SUBJECT [20]
#                   interactions per subject on average (>= 5)
#   FACTORS [64]  ITERATIONS [5]  SEED [0.42]  data and ALS training
#   CLIENTS [2]  CALLS [2000]  WARMUP [100]  per client, for every scenario
#   RECALL_SUBJECTS [300]
#   BENCH_STRICT [0]  1: exit 1 when a target is missed (a failed statement
#                     always exits 1)
#   BENCH_RELOAD [0]  1: recreate the data and the model even if they match
set -euo pipefail

ITEMS=${ITEMS:-100000}
CATEGORIES=${CATEGORIES:-50}
SUBJECTS=${SUBJECTS:-20000}
PER_SUBJECT=${PER_SUBJECT:-20}
FACTORS=${FACTORS:-64}
ITERATIONS=${ITERATIONS:-5}
SEED=${SEED:-0.42}
CLIENTS=${CLIENTS:-2}
CALLS=${CALLS:-2000}
WARMUP=${WARMUP:-100}
RECALL_SUBJECTS=${RECALL_SUBJECTS:-300}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_RELOAD=${BENCH_RELOAD:-0}
HERE=$(cd "$(dirname "$0")" && pwd)

PURPOSE=recommendation
TARGET_P99_OFF=10
TARGET_P99_ON=15
TARGET_LOSS=0.01
# Layout of the generated data; bump when the fixture below changes.
MIX=rec1

for v in ITEMS CATEGORIES SUBJECTS PER_SUBJECT FACTORS ITERATIONS CLIENTS CALLS WARMUP RECALL_SUBJECTS; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "recommend.sh: $v must be a non-negative integer, not '${!v}'" >&2
		exit 2
	fi
done
if ! [[ $SEED =~ ^-?(0|1)?(\.[0-9]+)?$ ]]; then
	echo "recommend.sh: SEED must lie in [-1, 1], not '$SEED'" >&2
	exit 2
fi
if [ "$ITEMS" -lt 10 ] || [ "$CATEGORIES" -lt 1 ] || [ "$SUBJECTS" -lt 1 ] || [ "$PER_SUBJECT" -lt 5 ] ||
	[ "$FACTORS" -lt 1 ] || [ "$ITERATIONS" -lt 1 ] || [ "$CLIENTS" -lt 1 ] || [ "$CALLS" -lt 1 ]; then
	echo "recommend.sh: need ITEMS >= 10, PER_SUBJECT >= 5, CATEGORIES, SUBJECTS, FACTORS, ITERATIONS, CLIENTS, CALLS >= 1" >&2
	exit 2
fi
INTERACTIONS=$((SUBJECTS * PER_SUBJECT))

# Settings for every session, the load clients' included.
SESSION_SETTINGS="SET jit = off; SET max_parallel_workers_per_gather = 0; SET client_min_messages = warning;"

psqlb() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Query one value, with the session settings applied.
psql1() {
	psqlb -At -c "$SESSION_SETTINGS" -c "$1"
}

seconds_since() {
	awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'
}

# ---------------------------------------------------------------------------
# The load generator, built against libpq in a directory removed on exit.

. "$HERE/lib/loader.sh"
build_loader recommend.sh

echo "== personalize serving benchmark: database ${PGDATABASE:-(default)}, $ITEMS items, $SUBJECTS subjects, $FACTORS factors, $CLIENTS clients x $CALLS calls"

if [ "$(psql1 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" != t ]; then
	echo "recommend.sh: PGUSER must be a superuser (it loads consents and trains the model)" >&2
	exit 2
fi
psqlb -c "$SESSION_SETTINGS" -c 'CREATE EXTENSION IF NOT EXISTS personalize'
echo "   $(psql1 'SELECT version()')"
echo "   personalize $(psql1 "SELECT extversion FROM pg_extension WHERE extname = 'personalize'")"

# ---------------------------------------------------------------------------
# Data and model.  Reused when the parameters match and the model is there.

WANT="$ITEMS,$CATEGORIES,$SUBJECTS,$PER_SUBJECT,$FACTORS,$ITERATIONS,$SEED,$MIX"
HAVE=
if [ "$(psql1 "SELECT to_regclass('pzrec.params') IS NOT NULL")" = t ]; then
	HAVE=$(psql1 "SELECT p FROM pzrec.params p
		WHERE n_interactions = (SELECT count(*) FROM personalize.interactions)
		  AND EXISTS (SELECT 1 FROM personalize.models m WHERE m.model_id = p.model_id)")
elif [ "$(psql1 "SELECT EXISTS (SELECT 1 FROM personalize.items) OR EXISTS (SELECT 1 FROM personalize.interactions)
		OR EXISTS (SELECT 1 FROM personalize.consent_ledger) OR EXISTS (SELECT 1 FROM personalize.models)")" = t ]; then
	echo "recommend.sh: database ${PGDATABASE:-(default)} holds personalize data this benchmark did not load; run it in a database of its own" >&2
	exit 2
fi

if [ "$HAVE" != "$WANT" ] || [ "$BENCH_RELOAD" = 1 ]; then
	if [ -n "$(psql1 "SELECT to_regclass('pzrec.params')")" ]; then
		# The consent ledger is append-only: start again from an empty
		# extension (the data in it is this benchmark's own).
		echo "== recreating the extension"
		psqlb -c "$SESSION_SETTINGS" -c 'DROP SCHEMA pzrec CASCADE' \
			-c 'DROP EXTENSION personalize CASCADE' -c 'CREATE EXTENSION personalize'
	fi
	echo "== generating $INTERACTIONS interactions of $SUBJECTS subjects over $ITEMS items in $CATEGORIES categories"
	t0=$(date +%s.%N)
	# Every subject consents; about 2% of the items are sponsored.
	psqlb -v subjects="$SUBJECTS" -v items="$ITEMS" -v interactions="$INTERACTIONS" \
		-v categories="$CATEGORIES" -v seed="$SEED" -v consent_rate=1 -v withdrawn=0 \
		-v sponsored=0.02 -v check=false \
		-f "$HERE/../gen/generate.sql" >/dev/null
	psqlb -c "$SESSION_SETTINGS" \
		-c "UPDATE personalize.items SET attributes = attributes || jsonb_build_object('name', 'Item ' || item_id)"
	echo "   generated in $(seconds_since "$t0") s"

	echo "== training ALS ($FACTORS factors, $ITERATIONS iterations)"
	t0=$(date +%s.%N)
	MODEL=$(psql1 "SELECT personalize.train('als', purpose => '$PURPOSE', factors => $FACTORS,
		iterations => $ITERATIONS, seed => 42, activate => 'never')")
	psql1 "SELECT personalize.activate_model($MODEL)" >/dev/null
	echo "   model $MODEL trained and activated in $(seconds_since "$t0") s"

	psqlb <<-SQL
		$SESSION_SETTINGS
		CREATE SCHEMA pzrec;
		CREATE TABLE pzrec.params (p text, model_id bigint, n_interactions bigint);
		INSERT INTO pzrec.params
		SELECT '$WANT', $MODEL, (SELECT count(*) FROM personalize.interactions);
	SQL
	psqlb -c "$SESSION_SETTINGS" -c 'VACUUM (ANALYZE) personalize.items, personalize.interactions,
		personalize.consents, personalize.models, personalize.model_item_factors, personalize.model_popularity'
else
	echo "== reusing the data and model (BENCH_RELOAD=1 recreates them)"
fi

MODEL=$(psql1 "SELECT model_id FROM pzrec.params")
if [ "$(psql1 "SELECT status FROM personalize.models WHERE model_id = $MODEL")" != active ]; then
	echo "   model $MODEL is not the active one for $PURPOSE: activating it"
	psql1 "SELECT personalize.activate_model($MODEL)" >/dev/null
fi
echo "   model $MODEL: $(psql1 "SELECT (SELECT count(*) FROM personalize.model_item_factors f WHERE f.model_id = m.model_id)
		|| ' item factor rows, held-out NDCG@10 ' || coalesce(round((metrics->>'ndcg_at_k')::numeric, 4)::text, '?')
	FROM personalize.models m WHERE model_id = $MODEL")"

# ---------------------------------------------------------------------------
# Load scenarios: name, per-connection setup, statement ($1: the subject).

RECOMMEND="SELECT * FROM personalize.recommend(\$1, k => 10, exploration => 0)"
SCENARIOS=(baseline log_off log_on embedding8)
declare -A SETUP SQL TARGET
SETUP[baseline]=$SESSION_SETTINGS
SQL[baseline]="SELECT item_id FROM personalize.model_item_factors WHERE model_id = $MODEL
	ORDER BY factors OPERATOR(personalize.<#>) (SELECT factors FROM personalize.model_item_factors
		WHERE model_id = $MODEL AND item_id = (\$1 % $ITEMS) + 1)
	LIMIT 10"
TARGET[baseline]=
SETUP[log_off]="$SESSION_SETTINGS SET personalize.log_impressions = off;"
SQL[log_off]=$RECOMMEND
TARGET[log_off]=$TARGET_P99_OFF
SETUP[log_on]="$SESSION_SETTINGS SET personalize.log_impressions = on;"
SQL[log_on]=$RECOMMEND
TARGET[log_on]=$TARGET_P99_ON
SETUP[embedding8]="$SESSION_SETTINGS SET personalize.log_impressions = off; SET personalize.serving_factors = 'embedding8';"
SQL[embedding8]=$RECOMMEND
TARGET[embedding8]=$TARGET_P99_OFF

# Impressions written per call, a check that the logging setting is obeyed.
impressions() {
	if [ "$(psql1 "SELECT to_regclass('personalize.impressions') IS NOT NULL")" = t ]; then
		psql1 "SELECT count(*) FROM personalize.impressions"
	else
		echo 0
	fi
}

declare -A RESULT
failed=()
for s in "${SCENARIOS[@]}"; do
	echo "== $s"
	before=$(impressions)
	if out=$("$LOADER" -c "$CLIENTS" -n "$CALLS" -w "$WARMUP" -s "1:$SUBJECTS" -r 1 -l "$s" \
		-S "${SETUP[$s]}" -q "${SQL[$s]}"); then
		echo "$out" | grep -v '^RESULT '
		RESULT[$s]=$(echo "$out" | sed -n 's/^RESULT //p')
		if [ "$s" != baseline ]; then
			echo "   impressions logged per call: $(awk -v n="$(($(impressions) - before))" \
				-v c="$((CLIENTS * (CALLS + WARMUP)))" 'BEGIN { printf "%.1f", n / c }')"
		fi
	else
		failed+=("$s")
	fi
done

echo
echo "== results: $CLIENTS clients x $CALLS calls each, subjects 1..$SUBJECTS, times in ms, ratios to the baseline, rows per call"
base=${RESULT[baseline]:-}
missed=()
printf '%-11s %9s %8s %8s %8s %8s %9s %9s %5s  %s\n' scenario calls/s p50 p95 p99 max p50/base p99/base rows target
for s in "${SCENARIOS[@]}"; do
	if [ -z "${RESULT[$s]:-}" ]; then
		printf '%-11s %s\n' "$s" FAILED
		continue
	fi
	# RESULT fields: label calls/s p50 p95 p99 max rows/call
	line=$(awk -v r="${RESULT[$s]}" -v b="$base" -v t="${TARGET[$s]}" 'BEGIN {
		split(r, x, " ")
		if (split(b, y, " ") > 0) {
			p50 = sprintf("%.2f", x[3] / y[3]); p99 = sprintf("%.2f", x[5] / y[5])
		} else
			p50 = p99 = "-"
		v = (t == "" ? "" : sprintf("p99 <= %s ms %s", t, x[5] <= t + 0 ? "PASS" : "MISS"))
		printf "%-11s %9.1f %8.2f %8.2f %8.2f %8.2f %9s %9s %5.1f  %s\n", x[1], x[2], x[3], x[4], x[5], x[6], p50, p99, x[7], v
	}')
	echo "$line"
	case $line in *MISS) missed+=("$s") ;; esac
done

# ---------------------------------------------------------------------------
# Recall of the quantized factors: the same top-10 lists on embedding and
# embedding8 factors, for subjects spread over the range.

if [ "$RECALL_SUBJECTS" -gt 0 ]; then
	echo
	echo "== recall@10 of recommend() on embedding8 against embedding factors, $RECALL_SUBJECTS subjects"
	CALL="ARRAY(SELECT r.item_id FROM personalize.recommend(s.subject_id, k => 10, exploration => 0, diversity => 0) r)"
	RECALL_SQL="$SESSION_SETTINGS
		SET personalize.log_impressions = off;
		CREATE TEMP TABLE subj AS
		SELECT DISTINCT 1 + (i * $SUBJECTS::bigint) / $RECALL_SUBJECTS AS subject_id
		FROM generate_series(0, $RECALL_SUBJECTS - 1) i;
		SET personalize.serving_factors = 'embedding';
		CREATE TEMP TABLE exact AS SELECT s.subject_id, $CALL AS items FROM subj s;
		SET personalize.serving_factors = 'embedding8';
		CREATE TEMP TABLE quant AS SELECT s.subject_id, $CALL AS items FROM subj s;
		SELECT count(*), round(avg(overlap / 10.0), 4), round(1 - avg(overlap / 10.0), 4),
		       count(*) FILTER (WHERE cardinality(e.items) < 10)
		FROM exact e JOIN quant q USING (subject_id),
		     LATERAL (SELECT count(*) AS overlap FROM unnest(e.items) i WHERE i = ANY (q.items)) o;"
	if ! RECALL=$(psqlb -At -F' ' -f - <<<"$RECALL_SQL"); then
		failed+=(recall)
	else
		read -r n recall loss short <<<"$RECALL"
		verdict=$(awk -v l="$loss" -v t="$TARGET_LOSS" 'BEGIN { print (l < t ? "PASS" : "MISS") }')
		echo "   subjects $n, mean recall@10 $recall, loss $loss (target < $TARGET_LOSS: $verdict)"
		if [ "$short" != 0 ]; then
			echo "   $short subjects got fewer than 10 items on embedding factors (counted as misses)"
		fi
		[ "$verdict" = MISS ] && missed+=(recall)
	fi
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "   FAILED: ${failed[*]} (see the errors above)" >&2
	exit 1
fi
if [ ${#missed[@]} -gt 0 ]; then
	echo "   targets missed: ${missed[*]}"
	[ "$BENCH_STRICT" = 1 ] && exit 1
else
	echo "   all targets met"
fi
exit 0
