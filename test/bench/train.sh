#!/bin/bash
# Training benchmark: loads the synthetic data set of test/gen/generate.sql
# (default 6,000 subjects x 4,000 items x 1,000,000 interactions with planted
# tastes) and trains ALS (48 factors, 15 iterations), item-kNN, popularity,
# RP3beta and EASE on it, in one invocation.  Prints, per algorithm, the end-to-end time of
# train() (read consented rows, split, fit, evaluate, refit, store), the
# backend's peak memory, and the held-out metrics side by side, so ALS can be
# compared with popularity on NDCG@10.
#
# Runs against the cluster and database named by PGHOST, PGPORT, PGUSER (a
# superuser) and PGDATABASE; starts nothing and installs nothing.  The data
# is loaded once per database and reused (the consent ledger is append-only).
#
# Environment (defaults in brackets):
#   SUBJECTS [6000]  ITEMS [4000]  INTERACTIONS [1000000]  SEED [0.42]
#   FACTORS [48]  ITERATIONS [15] (train()'s defaults)  TUNE [0]  1: also run every algorithm with tune => true
set -euo pipefail

SUBJECTS=${SUBJECTS:-6000}
ITEMS=${ITEMS:-4000}
INTERACTIONS=${INTERACTIONS:-1000000}
SEED=${SEED:-0.42}
FACTORS=${FACTORS:-48}
ITERATIONS=${ITERATIONS:-15}
TUNE=${TUNE:-0}
HERE=$(cd "$(dirname "$0")" && pwd)

for v in SUBJECTS ITEMS INTERACTIONS FACTORS ITERATIONS TUNE; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "train.sh: $v must be a non-negative integer, not '${!v}'" >&2
		exit 2
	fi
done

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

q -c 'CREATE EXTENSION IF NOT EXISTS personalize'
loaded=$(q -c 'SELECT count(*) FROM personalize.interactions')
if [ "$loaded" = 0 ]; then
	echo "== generating $INTERACTIONS interactions of $SUBJECTS subjects over $ITEMS items"
	start=$(date +%s.%N)
	psql -X -q -v ON_ERROR_STOP=1 -v subjects="$SUBJECTS" -v items="$ITEMS" \
		-v interactions="$INTERACTIONS" -v seed="$SEED" \
		-f "$HERE/../gen/generate.sql" >/dev/null
	echo "   generated in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
else
	echo "== reusing $loaded interactions already in $PGDATABASE"
fi

# One backend per training run, so its peak memory (VmHWM) is that run's.
train() {
	local label=$1 call=$2
	q <<-SQL
		SET client_min_messages = warning;
		SELECT pg_backend_pid() AS pid \\gset
		SELECT $call AS model \\gset
		SELECT '$label', :model, round((training_ms / 1000)::numeric, 2),
		       (SELECT round(substring(l FROM '([0-9]+)')::numeric / 1024)
		          FROM regexp_split_to_table(pg_read_file('/proc/' || :pid || '/status'), E'\\n') l
		         WHERE l LIKE 'VmHWM:%')
		  FROM personalize.models WHERE model_id = :model;
	SQL
}

echo "== training (each in a fresh session)"
{
	train als "personalize.train('als', factors => $FACTORS, iterations => $ITERATIONS, activate => 'never')"
	train itemknn "personalize.train('itemknn', activate => 'never')"
	train popularity "personalize.train('popularity', activate => 'never')"
	train rp3beta "personalize.train('rp3beta', activate => 'never')"
	train ease "personalize.train('ease', activate => 'never')"
	if [ "$TUNE" = 1 ]; then
		for a in als itemknn rp3beta ease popularity; do
			train ${a}_tuned "personalize.train('$a', tune => true, activate => 'never')"
		done
	fi
} > /tmp/pz_train_runs.$$

echo
echo "== results: end-to-end train() time, peak backend memory, held-out metrics (k = 10)"
psql -X -q -v ON_ERROR_STOP=1 -P footer=off <<SQL
CREATE TEMP TABLE runs (label text, model bigint, seconds numeric, peak_mb numeric);
\\copy runs FROM '/tmp/pz_train_runs.$$' (FORMAT csv, DELIMITER '|')
SELECT r.label AS algorithm, r.seconds AS train_s, r.peak_mb,
             round((m.metrics->>'ndcg_at_k')::numeric, 4) AS ndcg10,
             round((m.metrics->>'precision_at_k')::numeric, 4) AS prec10,
             round((m.metrics->>'recall_at_k')::numeric, 4) AS recall10,
             round((m.metrics->>'map_at_k')::numeric, 4) AS map10,
             round((m.metrics->>'coverage')::numeric, 3) AS coverage,
             round((m.metrics->>'gini')::numeric, 3) AS gini,
             m.data->>'subjects_included' AS subjects, m.data->>'rows_used' AS rows,
             concat_ws(' ', 'weighting=' || (m.params->>'weighting'), 'factors=' || (m.params->>'factors'),
                       'alpha=' || (m.params->>'alpha'), 'reg=' || (m.params->>'regularization'),
                       'beta=' || (m.params->>'beta'), 'neighbors=' || (m.params->>'neighbors'),
                       'max_items=' || (m.params->>'max_items')) AS params
        FROM runs r JOIN personalize.models m ON m.model_id = r.model ORDER BY r.model;
SELECT round(((a.metrics->>'ndcg_at_k')::float8 / nullif((p.metrics->>'ndcg_at_k')::float8, 0))::numeric, 2)
             AS als_ndcg_over_popularity
        FROM runs ra JOIN personalize.models a ON a.model_id = ra.model AND ra.label = 'als',
             runs rp JOIN personalize.models p ON p.model_id = rp.model AND rp.label = 'popularity';
SQL
rm -f /tmp/pz_train_runs.$$
