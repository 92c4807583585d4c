#!/bin/bash
# make demo: build, install, start a throwaway cluster, load a generated
# catalogue and show what personalize does, then clean up.
. "$(dirname "$0")/lib.sh"

ensure_packages
build_install
make_workdir
copy_into_workdir demo
start_cluster
psql_q -c 'CREATE DATABASE personalize_demo'
log "running demo/demo.sql"
run_pg psql -X -v ON_ERROR_STOP=1 -q -d personalize_demo -f demo/demo.sql
log "demo finished; the cluster is stopped and removed"
