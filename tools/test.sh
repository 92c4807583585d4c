#!/bin/bash
# make test: pg_regress (sql/, expected/), pgTAP (test/pgtap/, pg_prove) and
# Perl TAP tests (test/t/, prove) against a freshly built and installed
# extension. Ends with prove's summary line; exits non-zero on any failure.
. "$(dirname "$0")/lib.sh"

ensure_packages
build_install
make_workdir
copy_into_workdir sql expected test README.md
# Jobs run here through run_job() (sql/jobs.sql); the workers have their own
# clusters in test/t/008_workers.pl, and would write to the databases under test.
PZ_EXTRA_CONF="personalize.databases = ''"
start_cluster

failed=()

log "pg_regress"
REGRESS=$(make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" print-regress)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")
if ! run_pg "$PGXS_DIR/../test/regress/pg_regress" --inputdir=. --bindir="$PGBIN" \
	--host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=personalize_regress \
	--load-extension=personalize $REGRESS; then
	failed+=(pg_regress)
	[ -f "$WORK/regression.diffs" ] && head -200 "$WORK/regression.diffs"
fi

log "pgTAP (pg_prove)"
psql_q -c 'CREATE DATABASE personalize_tap'
psql_q -d personalize_tap -c 'CREATE EXTENSION pgtap; CREATE EXTENSION personalize'
if ! run_pg pg_prove --ext .sql -d personalize_tap -U postgres -h "$PGHOST" -p "$PGPORT" test/pgtap/; then
	failed+=(pgTAP)
fi
stop_cluster

log "TAP tests (prove)"
PERL_LIB=$PGXS_DIR/../test/perl
if ! run_pg env PG_CONFIG="$PG_CONFIG" PG_REGRESS="$PGXS_DIR/../test/regress/pg_regress" PGHOST= PGPORT= PGUSER= PGDATABASE= \
	PZ_REGRESS_TESTS="$REGRESS" prove -I "$PERL_LIB" -I test/t test/t/*.pl; then
	failed+=(TAP)
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
