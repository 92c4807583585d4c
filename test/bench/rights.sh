#!/bin/bash
# Rights benchmark: erase_subject() and export_subject() of a subject with
# SUBJECT_ROWS interactions (default 1,000,000) among BACKGROUND_ROWS of other
# subjects, and purge_expired() of PURGE_ROWS expired rows (default
# 10,000,000), each against a baseline run in the same session on the same
# rows:
#   erase   vs  DELETE FROM personalize.interactions WHERE subject_id = S
#   export  vs  SELECT jsonb_agg(to_jsonb(i)) FROM personalize.interactions i WHERE subject_id = S
#   purge   vs  DELETE FROM personalize.interactions WHERE category = 'session' AND occurred_at < now() - '1 day'
# Every timed statement runs in a subtransaction that is rolled back, so
# the rounds (baseline and function interleaved) see the same data; times
# are server-side (clock_timestamp() around the statement), no transfer to
# the client.  Prints median and minimum per side and their ratio.
#
# Runs against the cluster and database named by PGHOST, PGPORT, PGUSER (a
# superuser) and PGDATABASE; never starts a server and installs nothing but
# the extension.  It owns the personalize data of that database: it refuses
# to run where interactions or consents it did not load exist.  Data is
# reused by a later run with the same parameters (schema pzrights).
#
# Environment (defaults in brackets):
#   SUBJECT_ROWS [1000000]     interactions of the subject erased and exported
#   BACKGROUND_ROWS [1000000]  interactions of 10,000 other subjects
#   PURGE_ROWS [10000000]      session interactions two days old (past the
#                              1-day retention), for the purge
#   ROUNDS [3]                 timed rounds per side
#   BENCH_RELOAD [0]           1: reload the data even if it matches
set -euo pipefail

SUBJECT_ROWS=${SUBJECT_ROWS:-1000000}
BACKGROUND_ROWS=${BACKGROUND_ROWS:-1000000}
PURGE_ROWS=${PURGE_ROWS:-10000000}
ROUNDS=${ROUNDS:-3}
BENCH_RELOAD=${BENCH_RELOAD:-0}
SUBJECT=990000001
LAYOUT=rights1

for v in SUBJECT_ROWS BACKGROUND_ROWS PURGE_ROWS ROUNDS; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "rights.sh: $v must be a non-negative integer, not '${!v}'" >&2
		exit 2
	fi
done
if [ "$SUBJECT_ROWS" -lt 1 ] || [ "$ROUNDS" -lt 1 ]; then
	echo "rights.sh: need SUBJECT_ROWS and ROUNDS >= 1" >&2
	exit 2
fi

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
SETTINGS="SET jit = off; SET max_parallel_workers_per_gather = 0; SET client_min_messages = warning;"

echo "== personalize rights benchmark: database ${PGDATABASE:-(default)}; a subject with $SUBJECT_ROWS interactions among $BACKGROUND_ROWS others; $PURGE_ROWS expired rows; $ROUNDS rounds"
if [ "$(q -c 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" != t ]; then
	echo "rights.sh: PGUSER must be a superuser" >&2
	exit 2
fi
q -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS personalize'
echo "   $(q -c 'SELECT version()')"

WANT="$SUBJECT_ROWS,$BACKGROUND_ROWS,$PURGE_ROWS,$LAYOUT"
HAVE=
if [ "$(q -c "SELECT to_regclass('pzrights.params') IS NOT NULL")" = t ]; then
	HAVE=$(q -c "SELECT p FROM pzrights.params WHERE n = (SELECT count(*) FROM personalize.interactions)")
elif [ "$(q -c 'SELECT EXISTS (SELECT 1 FROM personalize.interactions) OR EXISTS (SELECT 1 FROM personalize.consents)')" = t ]; then
	echo "rights.sh: database ${PGDATABASE:-(default)} holds interactions or consents this benchmark did not load; run it in a database of its own" >&2
	exit 2
fi

if [ "$HAVE" != "$WANT" ] || [ "$BENCH_RELOAD" = 1 ]; then
	echo "== loading data"
	t0=$(date +%s)
	q >/dev/null <<-SQL
		$SETTINGS
		DROP SCHEMA IF EXISTS pzrights CASCADE;
		CREATE SCHEMA pzrights;
		CREATE TABLE pzrights.params (p text, n bigint);
		SET session_replication_role = replica;    -- valid by construction: no FK triggers
		TRUNCATE personalize.interactions, personalize.items, personalize.impressions, personalize.feedback;
		DELETE FROM personalize.consents;
		RESET session_replication_role;
		INSERT INTO personalize.items (item_id, category) SELECT i, 'c' || (i % 20) FROM generate_series(1, 5000) i;
		SELECT count(*) FROM (SELECT personalize.set_consent(s, 'recommendation', 'personalization')
		                        FROM generate_series(1, 10000) s) c;
		SELECT personalize.set_consent($SUBJECT, 'recommendation', 'personalization', source => 'bench');
		SET session_replication_role = replica;
		-- the subject's rows, interleaved in time with everyone else's
		INSERT INTO personalize.interactions (subject_id, item_id, category, kind, occurred_at)
		SELECT CASE WHEN g % 2 = 0 AND g / 2 < $SUBJECT_ROWS THEN $SUBJECT ELSE 1 + g % 10000 END,
		       1 + (g * 7919) % 5000,
		       CASE WHEN g % 5 = 0 THEN 'purchase_history' ELSE 'browsing_history' END, 'view',
		       now() - (g % 86400) * interval '1 minute'
		  FROM generate_series(0::bigint, 2 * greatest($SUBJECT_ROWS, $BACKGROUND_ROWS) - 1) g
		 WHERE g % 2 = 0 AND g / 2 < $SUBJECT_ROWS OR g % 2 = 1 AND g / 2 < $BACKGROUND_ROWS;
		-- the rows past retention: session rows two days old
		INSERT INTO personalize.interactions (subject_id, item_id, category, kind, occurred_at)
		SELECT 1 + g % 10000, 1 + (g * 104729) % 5000, 'session', 'view', now() - interval '2 days' - (g % 1000) * interval '1 second'
		  FROM generate_series(1::bigint, $PURGE_ROWS) g;
		RESET session_replication_role;
		INSERT INTO pzrights.params SELECT '$WANT', count(*) FROM personalize.interactions;
	SQL
	q -c 'VACUUM (FREEZE, ANALYZE) personalize.interactions, personalize.consents, personalize.consent_ledger'
	q -c "$SETTINGS SELECT personalize.train('popularity', activate => 'always')" >/dev/null
	echo "   loaded in $(($(date +%s) - t0)) s"
else
	echo "== reusing the data (BENCH_RELOAD=1 reloads it)"
fi
echo "   table: $(q -c "SELECT pg_size_pretty(pg_total_relation_size('personalize.interactions'))") with indexes, $(q -c 'SELECT count(*) FROM personalize.interactions') rows"

# One statement in a subtransaction that is rolled back; its time in ms.
q <<-'SQL'
	CREATE OR REPLACE FUNCTION pzrights.time_rolled_back(stmt text) RETURNS float8
	LANGUAGE plpgsql AS $$
	DECLARE
		t0 timestamptz;
		ms float8;
	BEGIN
		BEGIN
			t0 := clock_timestamp();
			EXECUTE stmt;
			ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
			RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'roll back';
		EXCEPTION WHEN raise_exception THEN
			RETURN ms;
		END;
	END $$;
	SET client_min_messages = warning;
	DROP TABLE IF EXISTS pzrights.results;
	CREATE TABLE pzrights.results (what text, side text, round int, ms float8);
SQL

declare -A STMT
STMT[erase,baseline]="DELETE FROM personalize.interactions WHERE subject_id = $SUBJECT"
STMT[erase,function]="SELECT personalize.erase_subject($SUBJECT)"
STMT[export,baseline]="SELECT pg_column_size(jsonb_agg(to_jsonb(i))) FROM personalize.interactions i WHERE subject_id = $SUBJECT"
STMT[export,function]="SELECT pg_column_size(personalize.export_subject($SUBJECT))"
STMT[purge,baseline]="DELETE FROM personalize.interactions WHERE category = 'session' AND occurred_at < now() - interval '1 day'"
STMT[purge,function]="SELECT personalize.purge_expired()"

for what in erase export purge; do
	[ "$what" = purge ] && [ "$PURGE_ROWS" = 0 ] && continue
	echo "== timing $what ($ROUNDS rounds each, interleaved)"
	for round in $(seq 1 "$ROUNDS"); do
		for side in baseline function; do
			stmt=${STMT[$what,$side]}
			q -c "$SETTINGS" -c "INSERT INTO pzrights.results SELECT '$what', '$side', $round,
				pzrights.time_rolled_back(\$stmt\$$stmt\$stmt\$)"
		done
	done
done

echo
echo "== results: ms per statement (median [min]); the same rows, rolled back after each"
q -P pager=off <<-'SQL'
	SET client_min_messages = warning;
	\pset format aligned
	\pset tuples_only off
	WITH s AS (
		SELECT what, side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med, min(ms) AS lo, count(*) AS n
		  FROM pzrights.results GROUP BY 1, 2)
	SELECT f.what,
	       CASE f.what WHEN 'erase' THEN 'DELETE of the subject''s interactions'
	                   WHEN 'export' THEN 'jsonb_agg of the subject''s interactions'
	                   ELSE 'DELETE of the expired session rows' END AS baseline,
	       to_char(b.med, 'FM999990.0') || ' [' || to_char(b.lo, 'FM999990.0') || ']' AS baseline_ms,
	       to_char(f.med, 'FM999990.0') || ' [' || to_char(f.lo, 'FM999990.0') || ']' AS function_ms,
	       to_char(f.med / b.med, 'FM990.00') AS ratio_median,
	       to_char(f.lo / b.lo, 'FM990.00') AS ratio_min,
	       f.n AS rounds
	  FROM s f JOIN s b ON b.what = f.what AND b.side = 'baseline'
	 WHERE f.side = 'function'
	 ORDER BY array_position(ARRAY['erase', 'export', 'purge'], f.what);
SQL
