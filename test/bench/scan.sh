#!/bin/bash
# Exact-scan benchmark: ORDER BY e <op> q LIMIT 10 over ROWS random DIMS-d
# rows, for <->, <#>, <=> and <+>, on personalize.embedding and
# personalize.embedding8 and, when pgvector is available in this cluster, on
# vector with identical data.  Prints per-query times, the ratios
# embedding/vector and embedding/embedding8, top-10 agreement between
# embedding and vector, how far their distance values differ (exactly equal
# pairs, largest absolute and relative difference over AGREE_ROWS rows x
# every query), and recall@10 of embedding8 against embedding.  The machine's
# load average is printed before and after the timed rounds: on a shared
# machine, figures taken under load are not comparable.
#
# Runs against the cluster and database named by PGHOST, PGPORT, PGUSER and
# PGDATABASE; never starts a server and never installs pgvector.  Tables live
# in schema pzbench and are reused by a later run with the same parameters.
#
# Environment (defaults in brackets):
#   ROWS [100000]  DIMS [128]  QUERIES [50]  SEED [0.42]
#   ROUNDS [5]            timed rounds per operator, types interleaved
#   PARALLEL_ROUNDS [3]   extra rounds with parallel workers; 0 skips them
#   PARALLEL_WORKERS [2]  max_parallel_workers_per_gather for those rounds
#   BENCH_STRICT [0]      1: exit 1 when a target is missed
#   BENCH_RELOAD [0]      1: rebuild the tables even if they match
#   USE_VECTOR [auto]     0: leave pgvector out even if it is available
#   AGREE_ROWS [2000]     rows compared value by value with vector
set -euo pipefail

ROWS=${ROWS:-100000}
DIMS=${DIMS:-128}
QUERIES=${QUERIES:-50}
SEED=${SEED:-0.42}
ROUNDS=${ROUNDS:-5}
PARALLEL_ROUNDS=${PARALLEL_ROUNDS:-3}
PARALLEL_WORKERS=${PARALLEL_WORKERS:-2}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_RELOAD=${BENCH_RELOAD:-0}
USE_VECTOR=${USE_VECTOR:-auto}
AGREE_ROWS=${AGREE_ROWS:-2000}

for v in ROWS DIMS QUERIES ROUNDS PARALLEL_ROUNDS PARALLEL_WORKERS AGREE_ROWS; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
		echo "scan.sh: $v must be a non-negative integer, not '${!v}'" >&2
		exit 2
	fi
done
if ! [[ $SEED =~ ^-?(0|1)?(\.[0-9]+)?$ ]]; then
	echo "scan.sh: SEED must lie in [-1, 1], not '$SEED'" >&2
	exit 2
fi
if [ "$ROWS" -lt 10 ] || [ "$DIMS" -lt 1 ] || [ "$QUERIES" -lt 1 ] || [ "$ROUNDS" -lt 1 ]; then
	echo "scan.sh: need ROWS >= 10, DIMS, QUERIES, ROUNDS >= 1" >&2
	exit 2
fi

# Settings for every session: no JIT (it would compile per query and differs
# by nothing between the types), no parallelism unless asked for.
SESSION_SETTINGS="SET jit = off; SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;"

psqlb() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Query one value, with the session settings applied.
psql1() {
	psqlb -At -c "$SESSION_SETTINGS" -c "$1"
}

echo "== personalize scan benchmark: database ${PGDATABASE:-(default)}, ${ROWS} rows x ${DIMS} dims, ${QUERIES} queries, ${ROUNDS} rounds"

psqlb -c "$SESSION_SETTINGS" -c 'CREATE EXTENSION IF NOT EXISTS personalize'

HAVE_VECTOR=0
if [ "$USE_VECTOR" != 0 ]; then
	HAVE_VECTOR=$(psql1 "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
fi
if [ "$HAVE_VECTOR" = 1 ]; then
	psqlb -c "$SESSION_SETTINGS" -c 'CREATE EXTENSION IF NOT EXISTS vector'
	VSCHEMA=$(psql1 "SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'vector'")
	VVERSION=$(psql1 "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
	VTYPE="$VSCHEMA.vector"
	TYPES="'vector','embedding','embedding8'"
else
	VSCHEMA=public
	VVERSION=
	VTYPE=
	TYPES="'embedding','embedding8'"
fi
HAVE_PREWARM=$(psql1 "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_prewarm'")

# Every session resolves the operators of both extensions unqualified.
SESSION_SETTINGS="$SESSION_SETTINGS SET search_path = pzbench, personalize, $VSCHEMA, public;"

echo "   $(psql1 'SELECT version()')"
echo "   personalize $(psql1 "SELECT extversion FROM pg_extension WHERE extname = 'personalize'"), kernels: $(psql1 'SELECT personalize.simd_level()')"
if [ "$HAVE_VECTOR" = 1 ]; then
	echo "   pgvector $VVERSION (schema $VSCHEMA)"
else
	echo "   pgvector: not available in this cluster (or USE_VECTOR=0); the comparison is skipped"
fi

# ---------------------------------------------------------------------------
# Data: one text table of random vectors, cast into each type, so every type
# holds the same float4 values.  Reused when the parameters match.

WANT="$ROWS,$DIMS,$QUERIES,$SEED,$HAVE_VECTOR"
HAVE=
if [ "$(psql1 "SELECT to_regclass('pzbench.params') IS NOT NULL
	AND to_regclass('pzbench.t_embedding') IS NOT NULL
	AND to_regclass('pzbench.t_embedding8') IS NOT NULL
	AND ($HAVE_VECTOR = 0 OR to_regclass('pzbench.t_vector') IS NOT NULL)")" = t ]; then
	HAVE=$(psql1 'SELECT p FROM pzbench.params')
fi

if [ "$HAVE" != "$WANT" ] || [ "$BENCH_RELOAD" = 1 ]; then
	echo "== loading data (seed $SEED)"
	t0=$(date +%s)
	psqlb <<-SQL
		$SESSION_SETTINGS
		DROP SCHEMA IF EXISTS pzbench CASCADE;
		CREATE SCHEMA pzbench;
		-- No autovacuum here: an ANALYZE it starts while the load runs holds
		-- a snapshot that keeps our VACUUM from marking pages all-visible.
		CREATE TABLE pzbench.params (p text);
		CREATE TABLE pzbench.src (id int NOT NULL, t text NOT NULL) WITH (autovacuum_enabled = off);
		CREATE TABLE pzbench.queries (qid int NOT NULL, t text NOT NULL) WITH (autovacuum_enabled = off);

		-- Uniform in [-1, 1); float4 text round-trips exactly.  Serial plans
		-- and one session keep random() in a fixed order after setseed.
		SELECT setseed($SEED) \\g /dev/null
		INSERT INTO pzbench.src
		SELECT i, '[' || (SELECT string_agg((random() * 2 - 1)::float4::text, ',')
						  FROM generate_series(1, $DIMS) WHERE i > 0) || ']'
		FROM generate_series(1, $ROWS) i;
		INSERT INTO pzbench.queries
		SELECT i, '[' || (SELECT string_agg((random() * 2 - 1)::float4::text, ',')
						  FROM generate_series(1, $DIMS) WHERE i > 0) || ']'
		FROM generate_series(1, $QUERIES) i;

		CREATE TABLE pzbench.t_embedding (id int NOT NULL, e personalize.embedding($DIMS) NOT NULL) WITH (autovacuum_enabled = off);
		INSERT INTO pzbench.t_embedding SELECT id, t::personalize.embedding FROM pzbench.src ORDER BY id;
		CREATE TABLE pzbench.t_embedding8 (id int NOT NULL, e personalize.embedding8($DIMS) NOT NULL) WITH (autovacuum_enabled = off);
		INSERT INTO pzbench.t_embedding8
		SELECT id, t::personalize.embedding::personalize.embedding8 FROM pzbench.src ORDER BY id;
		\if $HAVE_VECTOR
			CREATE TABLE pzbench.t_vector (id int NOT NULL, e $VTYPE($DIMS) NOT NULL) WITH (autovacuum_enabled = off);
			INSERT INTO pzbench.t_vector SELECT id, t::$VTYPE FROM pzbench.src ORDER BY id;
		\endif
		INSERT INTO pzbench.params VALUES ('$WANT');
	SQL
	psqlb -c "$SESSION_SETTINGS" -c 'VACUUM (FREEZE, ANALYZE) pzbench.t_embedding, pzbench.t_embedding8, pzbench.src, pzbench.queries'
	if [ "$HAVE_VECTOR" = 1 ]; then
		psqlb -c "$SESSION_SETTINGS" -c 'VACUUM (FREEZE, ANALYZE) pzbench.t_vector'
	fi
	echo "   loaded in $(($(date +%s) - t0)) s"
else
	echo "== reusing the tables in schema pzbench (BENCH_RELOAD=1 rebuilds them)"
fi

# Scans skip per-tuple visibility checks on all-visible pages only: make sure
# every table gets them, or the comparison is between unequal scans.
TABLES="'pzbench.t_embedding', 'pzbench.t_embedding8'"
[ "$HAVE_VECTOR" = 1 ] && TABLES="$TABLES, 'pzbench.t_vector'"
for try in 1 2 3 4 5 6; do
	NOT_VISIBLE=$(psql1 "SELECT string_agg(c::text, ' ') FROM unnest(ARRAY[$TABLES]::regclass[]) c
		JOIN pg_class r ON r.oid = c WHERE r.relallvisible < r.relpages")
	[ -z "$NOT_VISIBLE" ] && break
	[ "$try" = 6 ] && break
	[ "$try" -gt 1 ] && sleep 2
	for t in $NOT_VISIBLE; do
		psqlb -c "$SESSION_SETTINGS" -c "VACUUM (FREEZE, ANALYZE) $t"
	done
done
if [ -n "$NOT_VISIBLE" ]; then
	echo "   WARNING: not all pages all-visible in $NOT_VISIBLE (a long transaction elsewhere?); figures are not comparable" >&2
fi

if [ "$HAVE_VECTOR" = 1 ]; then
	# The two types share a binary layout, so identical values send identical bytes.
	DIFF=$(psql1 "SELECT count(*) FROM pzbench.t_embedding a JOIN pzbench.t_vector b USING (id)
		WHERE personalize.embedding_send(a.e) <> $VSCHEMA.vector_send(b.e)")
	if [ "$DIFF" != 0 ]; then
		echo "scan.sh: $DIFF rows differ between embedding and vector" >&2
		exit 1
	fi
	echo "   embedding and vector tables hold identical values"
fi

# ---------------------------------------------------------------------------
# Timing and checking functions (recreated each run).

psqlb <<-'SQL'
	SET client_min_messages = warning;
	-- Runs every query vector once through ORDER BY e <op> q LIMIT 10 on
	-- pzbench.t_<typ>, consuming the result (sum of ids), and returns the
	-- mean wall time per query in ms.  The query text is a parameter, so
	-- the cast to the column type happens once per query, at plan time.
	CREATE OR REPLACE FUNCTION pzbench.time_queries(typ text, op text,
		OUT ms float8, OUT checksum bigint)
	LANGUAGE plpgsql AS $f$
	DECLARE
		qry text := format('SELECT sum(id)::bigint FROM (SELECT id FROM pzbench.%I ORDER BY e %s $1::%s LIMIT 10) s',
						   't_' || typ, op, pzbench.qcast(typ));
		q record;
		t0 timestamptz;
		s bigint;
		total interval := '0';
		n int := 0;
	BEGIN
		checksum := 0;
		FOR q IN SELECT t FROM pzbench.queries ORDER BY qid LOOP
			t0 := clock_timestamp();
			EXECUTE qry INTO s USING q.t;
			total := total + (clock_timestamp() - t0);
			checksum := checksum + s;
			n := n + 1;
		END LOOP;
		ms := extract(epoch FROM total) * 1000 / n;
	END
	$f$;

	CREATE OR REPLACE FUNCTION pzbench.qcast(typ text) RETURNS text
	LANGUAGE sql IMMUTABLE AS $f$
		SELECT CASE typ
			WHEN 'embedding' THEN 'personalize.embedding'
			WHEN 'embedding8' THEN 'personalize.embedding::personalize.embedding8'
			WHEN 'vector' THEN (SELECT quote_ident(n.nspname) || '.vector'
								FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
								WHERE x.extname = 'vector')
		END
	$f$;

	-- The k nearest ids of one query, sorted by id (ties may come in any order).
	CREATE OR REPLACE FUNCTION pzbench.topk(typ text, op text, q text, k int DEFAULT 10)
	RETURNS int[] LANGUAGE plpgsql AS $f$
	DECLARE
		r int[];
	BEGIN
		EXECUTE format('SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM pzbench.%I ORDER BY e %s $1::%s LIMIT %s) s',
					   't_' || typ, op, pzbench.qcast(typ), k)
			INTO r USING q;
		RETURN r;
	END
	$f$;

	CREATE OR REPLACE FUNCTION pzbench.overlap(a int[], b int[]) RETURNS int
	LANGUAGE sql IMMUTABLE AS $f$
		SELECT count(*)::int FROM unnest(a) x WHERE x = ANY (b)
	$f$;

	-- Workers the planner gives one such query (0: serial plan).
	CREATE OR REPLACE FUNCTION pzbench.workers_planned(typ text, op text) RETURNS int
	LANGUAGE plpgsql AS $f$
	DECLARE
		plan text;
	BEGIN
		EXECUTE format('EXPLAIN (FORMAT JSON) SELECT id FROM pzbench.%I ORDER BY e %s (SELECT t FROM pzbench.queries ORDER BY qid LIMIT 1)::%s LIMIT 10',
					   't_' || typ, op, pzbench.qcast(typ))
			INTO plan;
		RETURN coalesce(substring(plan FROM '"Workers Planned": ([0-9]+)')::int, 0);
	END
	$f$;

	-- Rounds of every type on one operator, the order of the types reversed
	-- every other round; round 0 is a warm-up and is not kept.
	CREATE OR REPLACE PROCEDURE pzbench.run(mode text, op text, types text[], rounds int)
	LANGUAGE plpgsql AS $f$
	DECLARE
		order_ text[];
		r record;
	BEGIN
		FOR i IN 0 .. rounds LOOP
			IF i % 2 = 0 THEN
				order_ := types;
			ELSE
				SELECT array_agg(t ORDER BY o DESC) INTO order_
				FROM unnest(types) WITH ORDINALITY u(t, o);
			END IF;
			FOR j IN 1 .. array_length(order_, 1) LOOP
				SELECT * INTO r FROM pzbench.time_queries(order_[j], op);
				IF i > 0 THEN
					INSERT INTO pzbench.results VALUES (mode, op, order_[j], i, r.ms, r.checksum);
				END IF;
			END LOOP;
		END LOOP;
	END
	$f$;

	DROP TABLE IF EXISTS pzbench.results;
	CREATE TABLE pzbench.results (mode text, op text, typ text, round int, ms float8, checksum bigint);
SQL

# ---------------------------------------------------------------------------
echo "== warming the cache"
if [ "$HAVE_PREWARM" = 1 ]; then
	psqlb -c "$SESSION_SETTINGS" -c 'CREATE EXTENSION IF NOT EXISTS pg_prewarm' \
		-c "SELECT sum(pg_prewarm(c)) AS blocks FROM unnest(ARRAY['pzbench.t_embedding', 'pzbench.t_embedding8'
			$( [ "$HAVE_VECTOR" = 1 ] && echo ", 'pzbench.t_vector'")]::regclass[]) c" >/dev/null
fi
# Also through the executor, which pg_prewarm does not exercise.
psqlb -At -c "$SESSION_SETTINGS" \
	-c 'SELECT count(*) FROM pzbench.t_embedding WHERE personalize.dims(e) > 0' \
	-c 'SELECT count(*) FROM pzbench.t_embedding8 WHERE personalize.dims(e) > 0' >/dev/null
if [ "$HAVE_VECTOR" = 1 ]; then
	psqlb -At -c "$SESSION_SETTINGS" -c "SELECT count(*) FROM pzbench.t_vector WHERE $VSCHEMA.vector_dims(e) > 0" >/dev/null
fi

OPS=('<->' '<#>' '<=>' '<+>')

loadavg() {
	cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown
}

echo "== timing, serial scans ($ROUNDS rounds + 1 warm-up per operator, types interleaved); load average $(loadavg)"
for op in "${OPS[@]}"; do
	echo "   $op"
	psqlb -c "$SESSION_SETTINGS" -c "CALL pzbench.run('serial', '$op', ARRAY[$TYPES], $ROUNDS)"
done

if [ "$PARALLEL_ROUNDS" -gt 0 ] && [ "$PARALLEL_WORKERS" -gt 0 ]; then
	PAR_SETTINGS="SET max_parallel_workers_per_gather = $PARALLEL_WORKERS;"
	echo "== timing, parallel scans ($PARALLEL_ROUNDS rounds, up to $PARALLEL_WORKERS workers per query); workers planned:"
	psqlb -At -F' ' -c "$SESSION_SETTINGS $PAR_SETTINGS" -c "SELECT '   ' || op, string_agg(typ || '=' || pzbench.workers_planned(typ, op), ' ' ORDER BY typ)
		FROM unnest(ARRAY['<->','<#>','<=>','<+>']) op, unnest(ARRAY[$TYPES]) typ GROUP BY op ORDER BY op"
	for op in "${OPS[@]}"; do
		psqlb -c "$SESSION_SETTINGS $PAR_SETTINGS" -c "CALL pzbench.run('parallel', '$op', ARRAY[$TYPES], $PARALLEL_ROUNDS)"
	done
fi

echo "   load average after the timed rounds: $(loadavg) ($(nproc 2>/dev/null || echo '?') CPUs)"

# Every round of a type and operator must have returned the same rows.
BAD=$(psql1 "SELECT count(*) FROM (SELECT 1 FROM pzbench.results GROUP BY mode, op, typ HAVING count(DISTINCT checksum) > 1) s")
if [ "$BAD" != 0 ]; then
	echo "scan.sh: results changed between rounds for $BAD type/operator pairs" >&2
	exit 1
fi

echo "== checking results (top-10 sets per query)"
psqlb -c "$SESSION_SETTINGS" -f - <<-SQL
	DROP TABLE IF EXISTS pzbench.topk;
	CREATE TABLE pzbench.topk AS
	SELECT op, qid, typ, pzbench.topk(typ, op, q.t) AS ids
	FROM unnest(ARRAY['<->','<#>','<=>','<+>']) op, pzbench.queries q, unnest(ARRAY[$TYPES]) typ;
SQL

# ---------------------------------------------------------------------------
echo
echo "== results: mean ms per query (median over rounds; min in brackets), $ROWS rows x $DIMS dims"
psqlb -P footer=off -c "$SESSION_SETTINGS" -f - <<-'SQL'
	WITH t AS (
		SELECT mode, op, typ,
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med,
			   min(ms) AS mn
		FROM pzbench.results GROUP BY mode, op, typ
	), w AS (
		SELECT mode, op,
			   max(med) FILTER (WHERE typ = 'vector') AS v,
			   max(med) FILTER (WHERE typ = 'embedding') AS e,
			   max(med) FILTER (WHERE typ = 'embedding8') AS e8,
			   max(mn) FILTER (WHERE typ = 'vector') AS vmin,
			   max(mn) FILTER (WHERE typ = 'embedding') AS emin,
			   max(mn) FILTER (WHERE typ = 'embedding8') AS e8min
		FROM t GROUP BY mode, op
	), k AS (
		SELECT a.op,
			   count(*) FILTER (WHERE b.ids IS NOT NULL AND a.ids <> b.ids) AS mism,
			   count(*) FILTER (WHERE b.ids IS NOT NULL) AS nq,
			   avg(pzbench.overlap(a.ids, c.ids)::float8 / 10) AS recall
		FROM pzbench.topk a
		JOIN pzbench.topk c ON c.op = a.op AND c.qid = a.qid AND c.typ = 'embedding8'
		LEFT JOIN pzbench.topk b ON b.op = a.op AND b.qid = a.qid AND b.typ = 'vector'
		WHERE a.typ = 'embedding'
		GROUP BY a.op
	)
	SELECT w.mode, w.op AS "op",
		   to_char(v, 'FM990.000') || ' [' || to_char(vmin, 'FM990.000') || ']' AS "vector ms",
		   to_char(e, 'FM990.000') || ' [' || to_char(emin, 'FM990.000') || ']' AS "embedding ms",
		   to_char(e8, 'FM990.000') || ' [' || to_char(e8min, 'FM990.000') || ']' AS "embedding8 ms",
		   to_char(e / v, 'FM90.000') AS "emb/vec",
		   to_char(e / e8, 'FM90.00') || 'x' AS "emb/emb8",
		   to_char(k.recall, 'FM0.000') AS "recall@10 emb8",
		   CASE WHEN k.nq > 0 THEN k.mism || '/' || k.nq END AS "top10 differ emb/vec"
	FROM w JOIN k USING (op)
	ORDER BY w.mode DESC, array_position(ARRAY['<->','<#>','<=>','<+>'], w.op);
SQL

if [ "$HAVE_VECTOR" = 1 ] && [ "$AGREE_ROWS" -gt 0 ]; then
	# Both types accumulate in float4, but in different orders (SIMD width,
	# fused multiply-add or not, as each was compiled), so values may differ
	# in their last bits: say how often and by how much.
	echo
	echo "== distance values, embedding vs vector: the first $AGREE_ROWS rows x $QUERIES queries per operator"
	PAIRS=
	for op in "${OPS[@]}"; do
		[ -n "$PAIRS" ] && PAIRS="$PAIRS UNION ALL "
		PAIRS="$PAIRS SELECT '$op' AS op, a.e $op q.t::personalize.embedding AS de, b.e $op q.t::$VTYPE AS dv
			FROM pzbench.t_embedding a JOIN pzbench.t_vector b USING (id), pzbench.queries q WHERE a.id <= $AGREE_ROWS"
	done
	psqlb -P footer=off -c "$SESSION_SETTINGS" -c "SELECT op, count(*) AS pairs,
		       count(*) FILTER (WHERE de = dv) AS equal,
		       to_char(100.0 * count(*) FILTER (WHERE de = dv) / count(*), 'FM990.0') || '%' AS \"equal %\",
		       to_char(max(abs(de - dv)), '9.99EEEE') AS \"max abs diff\",
		       to_char(max(abs(de - dv) / nullif(abs(dv), 0)), '9.99EEEE') AS \"max rel diff\"
		  FROM ($PAIRS) s GROUP BY op ORDER BY array_position(ARRAY['<->','<#>','<=>','<+>'], op)"
fi

psqlb -At -c "$SESSION_SETTINGS" -c "SELECT '   table sizes: ' || string_agg(c || ' ' || pg_size_pretty(pg_table_size(('pzbench.' || c)::regclass)), ', ')
	FROM unnest(ARRAY['t_vector','t_embedding','t_embedding8']) c WHERE to_regclass('pzbench.' || c) IS NOT NULL"

# Targets (serial scans): embedding/vector <= 1.0, embedding/embedding8 >= 1.5.
MISSED=$(psql1 "WITH t AS (
		SELECT op, typ, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med
		FROM pzbench.results WHERE mode = 'serial' GROUP BY op, typ
	), w AS (
		SELECT op, max(med) FILTER (WHERE typ = 'vector') AS v,
			   max(med) FILTER (WHERE typ = 'embedding') AS e,
			   max(med) FILTER (WHERE typ = 'embedding8') AS e8
		FROM t GROUP BY op
	)
	SELECT string_agg(m, '; ') FROM (
		SELECT op || ' embedding/vector ' || to_char(e / v, 'FM90.000') || ' > 1.0' AS m FROM w WHERE e > v
		UNION ALL
		SELECT op || ' embedding/embedding8 ' || to_char(e / e8, 'FM90.00') || ' < 1.5' FROM w WHERE e < 1.5 * e8
	) s")
if [ "$HAVE_VECTOR" != 1 ]; then
	echo "   pgvector is not available in this cluster: the comparison with vector was skipped"
fi
if [ -n "$MISSED" ]; then
	echo "   targets missed (serial): $MISSED"
	[ "$BENCH_STRICT" = 1 ] && exit 1
else
	echo "   targets met (serial): embedding/vector <= 1.0 where measured, embedding/embedding8 >= 1.5"
fi
exit 0
