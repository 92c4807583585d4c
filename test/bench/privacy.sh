#!/bin/bash
# Private models: what differential privacy costs in quality and buys
# against membership inference.  For epsilon in EPSILONS (and "inf", the
# non-private baseline of the same invocation), trains ALS, item-kNN and
# popularity and prints the card's held-out NDCG@10, its ratio to the
# non-private model, the membership-inference attack AUC and TPR at 1% FPR,
# train() time and its ratio to the non-private train(), and the share of
# that time the membership-inference check took.
#
# Data: generated (SUBJECTS subjects, ITEMS items in 10 clusters, each
# subject with ~12 items of its cluster plus noise), and the Last.fm 2k
# split when LASTFM_DIR holds it (play counts as weights; without it, says
# so and goes on).  Every model of one run is trained with the same seed;
# DP noise comes from a strong random source, so figures move between
# invocations by the noise itself (RUNS > 1 repeats and prints each).
#
# Runs against the database named by PGHOST, PGPORT, PGUSER (a superuser)
# and PGDATABASE.  Environment (defaults in brackets): EPSILONS [1 2 4 8 16],
# SUBJECTS [20000], ITEMS [1000], LASTFM_DIR [/work/shared/data/lastfm-2k],
# ALGORITHMS [als itemknn popularity], RUNS [1].
set -euo pipefail

EPSILONS=${EPSILONS:-1 2 4 8 16}
SUBJECTS=${SUBJECTS:-20000}
ITEMS=${ITEMS:-1000}
LASTFM_DIR=${LASTFM_DIR:-/work/shared/data/lastfm-2k}
ALGORITHMS=${ALGORITHMS:-als itemknn popularity}
RUNS=${RUNS:-1}

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning -c personalize.mia_max_auc=1"

# one purpose per data set, so that each has its own budget
load_generated() {
	q <<-SQL
		SELECT personalize.create_purpose('bench_generated', 'privacy benchmark, generated data', 'personalization', decides_terms => false);
		INSERT INTO personalize.items (item_id, category)
		SELECT i, 'c' || (i % 10) FROM generate_series(1, $ITEMS) i;
		SELECT count(*) FROM (SELECT personalize.set_consent(s, 'bench_generated', 'personalization')
		                        FROM generate_series(1, $SUBJECTS) s) t;
		INSERT INTO personalize.interactions (subject_id, item_id, category, kind, occurred_at)
		SELECT s, i, 'browsing_history', 'view', now() - interval '1 day'
		  FROM generate_series(1, $SUBJECTS) s, generate_series(1, $ITEMS) i
		 WHERE (i % 10 = s % 10 AND (hashint8(s * 100003 + i) & 1023) < 1024 * (12.0 + (i / 10) % 5 - 2) / ($ITEMS / 10))
		    OR (hashint8(s * 7919 + i) & 1023) < 1024 * 1.0 / $ITEMS;
	SQL
}

load_lastfm() {
	q <<-SQL
		SELECT personalize.create_purpose('bench_lastfm', 'privacy benchmark, Last.fm 2k', 'personalization', decides_terms => false);
		CREATE TEMP TABLE lastfm_train (user_id bigint, artist bigint, plays real);
		\\copy lastfm_train FROM '$LASTFM_DIR/train.csv' (FORMAT csv, HEADER false)
		INSERT INTO personalize.items (item_id, category)
		SELECT DISTINCT 100000000 + artist, 'music' FROM lastfm_train;
		SELECT count(*) FROM (SELECT personalize.set_consent(100000000 + u, 'bench_lastfm', 'personalization')
		                        FROM (SELECT DISTINCT user_id u FROM lastfm_train) t) c;
		INSERT INTO personalize.interactions (subject_id, item_id, category, kind, weight, occurred_at)
		SELECT 100000000 + user_id, 100000000 + artist, 'browsing_history', 'view', plays, now() - interval '1 day'
		  FROM lastfm_train;
	SQL
}

# train_model() returns the model id; the figures are read in a statement of
# their own (a new snapshot)
train() {
	local purpose=$1 algorithm=$2 params=$3
	q -c "SELECT personalize.train_model('$algorithm', '$purpose',
	        '$params'::jsonb || '{\"activate\": \"never\", \"keep_models\": 1000, \"seed\": 1}', current_user)"
}

figures() {
	q -F ' ' -c "SELECT round((metrics->>'ndcg_at_k')::numeric, 4),
	        round((privacy->'membership_inference'->>'auc')::numeric, 3),
	        round((privacy->'membership_inference'->>'tpr_at_1pct_fpr')::numeric, 3),
	        round(training_ms), round((privacy->'membership_inference'->>'check_ms')::numeric)
	   FROM personalize.models WHERE model_id = $1"
}

measure() {
	local purpose=$1
	q -c "SELECT personalize.drop_privacy_budget('$purpose')
	       FROM personalize.privacy_budgets WHERE purpose = '$purpose'" >/dev/null
	printf '%-11s %7s %8s %6s %6s %7s %8s %6s %6s\n' algorithm epsilon NDCG@10 ratio AUC TPR@1% train_ms ratio check
	declare -A base_ndcg base_ms
	local id
	for a in $ALGORITHMS; do
		id=$(train "$purpose" "$a" '{}')
		read -r ndcg auc tpr ms check <<<"$(figures "$id")"
		base_ndcg[$a]=$ndcg
		base_ms[$a]=$ms
		printf '%-11s %7s %8s %6s %6s %7s %8s %6s %6s\n' "$a" inf "$ndcg" 1.00 "$auc" "$tpr" "$ms" 1.00 \
			"$(awk -v c="$check" -v t="$ms" 'BEGIN { printf "%.0f%%", 100 * c / t }')"
	done
	q -c "SELECT personalize.set_privacy_budget('$purpose', 1000, 0.5)" >/dev/null
	for a in $ALGORITHMS; do
		if [ "$a" = rp3beta ]; then
			echo "rp3beta     (no private version: train() refuses it with dp_epsilon)"
			continue
		fi
		for e in $EPSILONS; do
			id=$(train "$purpose" "$a" "{\"dp_epsilon\": $e}")
			read -r ndcg auc tpr ms check <<<"$(figures "$id")"
			printf '%-11s %7s %8s %6s %6s %7s %8s %6s %6s\n' "$a" "$e" "$ndcg" \
				"$(awk -v x="$ndcg" -v b="${base_ndcg[$a]}" 'BEGIN { printf "%.2f", (b > 0) ? x / b : 0 }')" \
				"$auc" "$tpr" "$ms" \
				"$(awk -v x="$ms" -v b="${base_ms[$a]}" 'BEGIN { printf "%.2f", x / b }')" \
				"$(awk -v c="$check" -v t="$ms" 'BEGIN { printf "%.0f%%", 100 * c / t }')"
		done
	done
	q -c "SELECT 'budget: ' || epsilon_spent || ' epsilon spent by ' || models || ' private models'
	        FROM personalize.privacy_budget WHERE purpose = '$purpose'"
}

q -c 'CREATE EXTENSION IF NOT EXISTS personalize'
echo "== generated data: $SUBJECTS subjects, $ITEMS items"
load_generated >/dev/null
echo "   $(q -c "SELECT count(*) FROM personalize.interactions WHERE subject_id <= $SUBJECTS") interactions"
for r in $(seq "$RUNS"); do
	measure bench_generated
done

if [ -r "$LASTFM_DIR/train.csv" ]; then
	echo "== Last.fm 2k ($LASTFM_DIR), play counts as weights"
	load_lastfm >/dev/null
	for r in $(seq "$RUNS"); do
		measure bench_lastfm
	done
else
	echo "== Last.fm 2k: no split in $LASTFM_DIR (train.csv): skipped."
fi
