#!/bin/bash
# make bench: every test/bench/*.sh against a freshly built and installed
# extension in a throwaway cluster, each in a database of its own.  pgvector
# is compared against only if it is already installed on this machine (the
# Debian package postgresql-$PGVER-pgvector, say); nothing installs it here.
# Variables such as ROWS, DIMS, QUERIES and ROUNDS pass through to the
# benchmarks.  Exits non-zero if any benchmark fails.
. "$(dirname "$0")/lib.sh"

ensure_packages
build_install
make_workdir
copy_into_workdir test
# Background jobs only where a benchmark measures them: retention would
# delete generated history dated in the past, and a retrain would compete
# with what the others measure.
PZ_EXTRA_CONF="personalize.databases = 'bench_serving_during_retrain'"
start_cluster

failed=()
for bench in "$WORK"/test/bench/*.sh; do
	name=$(basename "$bench" .sh)
	db=bench_${name//[^A-Za-z0-9_]/_}
	log "benchmark $name (database $db)"
	psql_q -c "CREATE DATABASE $db"
	if ! run_pg env PGDATABASE="$db" bash "$bench"; then
		failed+=("$name")
	fi
done
stop_cluster

if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
