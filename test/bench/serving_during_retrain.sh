#!/bin/bash
# Serving while a retrain runs: recommend() latency with CLIENTS clients
# calling back to back (test/bench/recommend_load.c), first with the server
# otherwise idle (the baseline), then while the built-in retrain job
# retrains ALS on INTERACTIONS interactions (1M by default), once with the
# fit on every core it may use and once with personalize.train_threads = 1.
# Prints p50/p95/p99 per scenario and the ratios to idle, with the target
# p99 <= 1.5 x idle.  A measurement only counts if the retrain was still
# running when the load ended (checked in training_progress); otherwise the
# script says so and exits 1.
#
# Runs against the cluster and database named by PGHOST, PGPORT, PGUSER (a
# superuser) and PGDATABASE; starts nothing and installs nothing.  The data
# and the first model are made once per database and reused by a later run
# with the same parameters (bookkeeping in schema pzretrain); the benchmark
# refuses to run where personalize data it did not load exists.
#
# Environment (defaults in brackets):
#   SUBJECTS [50000]  ITEMS [20000]  PER_SUBJECT [20]  (interactions = SUBJECTS x PER_SUBJECT)
#   FACTORS [64]  ITERATIONS [15]  the model retrained
#   CLIENTS [2]  CALLS [2000]  WARMUP [100]  per client and scenario
#   BENCH_STRICT [0]  1: exit 1 when the target is missed
set -euo pipefail

SUBJECTS=${SUBJECTS:-50000}
ITEMS=${ITEMS:-20000}
PER_SUBJECT=${PER_SUBJECT:-20}
FACTORS=${FACTORS:-64}
ITERATIONS=${ITERATIONS:-15}
CLIENTS=${CLIENTS:-2}
CALLS=${CALLS:-2000}
WARMUP=${WARMUP:-100}
BENCH_STRICT=${BENCH_STRICT:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET_RATIO=1.5
POLL_SECONDS=300

for v in SUBJECTS ITEMS PER_SUBJECT FACTORS ITERATIONS CLIENTS CALLS WARMUP; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -lt 1 ]; then
		echo "serving_during_retrain.sh: $v must be a positive integer, not '${!v}'" >&2
		exit 2
	fi
done
INTERACTIONS=$((SUBJECTS * PER_SUBJECT))
SESSION_SETTINGS="SET jit = off; SET max_parallel_workers_per_gather = 0; SET client_min_messages = warning;"

psqlb() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql1() { psqlb -At -c "$SESSION_SETTINGS" -c "$1"; }

. "$HERE/lib/loader.sh"
build_loader serving_during_retrain.sh

echo "== serving during a retrain: database ${PGDATABASE:-(default)}, $INTERACTIONS interactions, $ITEMS items, $FACTORS factors x $ITERATIONS iterations, $CLIENTS clients x $CALLS calls"
psqlb -c 'CREATE EXTENSION IF NOT EXISTS personalize'

WANT="$SUBJECTS,$ITEMS,$PER_SUBJECT,$FACTORS,$ITERATIONS"
HAVE=
if [ "$(psql1 "SELECT to_regclass('pzretrain.params') IS NOT NULL")" = t ]; then
	HAVE=$(psql1 "SELECT p FROM pzretrain.params")
elif [ "$(psql1 "SELECT EXISTS (SELECT 1 FROM personalize.interactions) OR EXISTS (SELECT 1 FROM personalize.models)")" = t ]; then
	echo "serving_during_retrain.sh: database ${PGDATABASE:-(default)} holds personalize data this benchmark did not load; run it in a database of its own" >&2
	exit 2
fi
if [ "$HAVE" != "$WANT" ]; then
	if [ -n "$HAVE" ]; then
		psqlb -c 'DROP SCHEMA pzretrain CASCADE' -c 'DROP EXTENSION personalize CASCADE' -c 'CREATE EXTENSION personalize'
	fi
	echo "== generating the data and the first model"
	psqlb -v subjects="$SUBJECTS" -v items="$ITEMS" -v interactions="$INTERACTIONS" \
		-v consent_rate=1 -v withdrawn=0 -v check=false \
		-f "$HERE/../gen/generate.sql" >/dev/null
	psql1 "SELECT personalize.train('als', factors => $FACTORS, iterations => $ITERATIONS, activate => 'always')" >/dev/null
	psqlb -c "CREATE SCHEMA pzretrain" -c "CREATE TABLE pzretrain.params AS SELECT '$WANT'::text AS p" \
		-c 'VACUUM (ANALYZE) personalize.items, personalize.interactions, personalize.consents, personalize.models'
fi
# The retrain job retrains at once (its interval is a second), by the
# active model's parameters; the scheduler is kept out of it.
psql1 "SELECT personalize.alter_job('retrain', enabled => false,
	params => '{\"purpose\": \"recommendation\", \"interval\": \"1 second\"}')" >/dev/null

RECOMMEND="SELECT * FROM personalize.recommend(\$1, k => 10, exploration => 0)"
SETUP="$SESSION_SETTINGS SET personalize.log_impressions = off;"

load() {
	"$LOADER" -c "$CLIENTS" -n "$CALLS" -w "$WARMUP" -s "1:$SUBJECTS" -r 1 -l "$1" -S "$SETUP" -q "$RECOMMEND"
}

# Poll (bounded) until the query returns t.
poll() {
	local i
	for ((i = 0; i < POLL_SECONDS * 10; i++)); do
		[ "$(psql1 "$1")" = t ] && return 0
		sleep 0.1 # poll
	done
	echo "serving_during_retrain.sh: gave up waiting for: $1" >&2
	return 1
}

declare -A RESULT
SCENARIOS=(idle retrain retrain_1_thread)
for s in "${SCENARIOS[@]}"; do
	echo "== $s"
	trainer=
	if [ "$s" != idle ]; then
		threads=0
		[ "$s" = retrain_1_thread ] && threads=1
		psqlb -At -c "SET personalize.train_threads = $threads" \
			-c "SELECT status, result->>'model_id' FROM personalize.run_job('retrain')" >"$LOADER_DIR/$s.out" &
		trainer=$!
		poll "SELECT EXISTS (SELECT 1 FROM personalize.training_progress WHERE phase LIKE 'fitting%' AND iteration >= 1)"
	fi
	out=$(load "$s")
	echo "$out" | grep -v '^RESULT '
	RESULT[$s]=$(echo "$out" | sed -n 's/^RESULT //p')
	if [ -n "$trainer" ]; then
		still=$(psql1 "SELECT coalesce(max(phase), 'finished') FROM personalize.training_progress")
		echo "   retrain at the end of the load: $still"
		wait "$trainer"
		echo "   retrain: $(cat "$LOADER_DIR/$s.out")"
		if [ "$still" = finished ]; then
			echo "serving_during_retrain.sh: the retrain ended before the load; raise ITERATIONS or lower CALLS" >&2
			exit 1
		fi
	fi
done

echo
echo "== results: $CLIENTS clients x $CALLS calls, times in ms, ratios to idle (target p99 <= $TARGET_RATIO x idle)"
printf '%-17s %9s %8s %8s %8s %9s %9s  %s\n' scenario calls/s p50 p95 p99 p50/idle p99/idle target
missed=0
for s in "${SCENARIOS[@]}"; do
	line=$(awk -v r="${RESULT[$s]}" -v b="${RESULT[idle]}" -v t="$TARGET_RATIO" -v name="$s" 'BEGIN {
		split(r, x, " "); split(b, y, " ")
		v = (name == "idle" ? "" : (x[5] / y[5] <= t ? "PASS" : "MISS"))
		printf "%-17s %9.1f %8.2f %8.2f %8.2f %9.2f %9.2f  %s\n", name, x[2], x[3], x[4], x[5], x[3] / y[3], x[5] / y[5], v
	}')
	echo "$line"
	case $line in *MISS) missed=1 ;; esac
done
[ "$missed" = 1 ] && [ "$BENCH_STRICT" = 1 ] && exit 1
exit 0
