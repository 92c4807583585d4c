#!/bin/bash
# Shared by tools/test.sh, tools/demo.sh and tools/bench.sh: install what is
# missing, build and install the extension, and run a throwaway cluster that
# reads nothing from the source tree (the clone may sit where the cluster's
# OS user cannot read, such as /root).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '\n==> %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The PostgreSQL major version to use: the newest server installed, else the
# one Debian's "postgresql" package depends on.
pick_pg_version() {
	local v
	v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
	if [ -n "$v" ] && [ -x "/usr/lib/postgresql/$v/bin/postgres" ]; then
		echo "$v"; return
	fi
	if ! apt-cache show postgresql >/dev/null 2>&1; then
		as_root apt-get update -qq >&2
	fi
	v=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
	echo "${v:-15}"
}

# ensure_packages [extra debian packages...]
ensure_packages() {
	PGVER=${PGVER:-$(pick_pg_version)}
	local want=(build-essential libpq-dev "postgresql-$PGVER" "postgresql-server-dev-$PGVER"
		"postgresql-$PGVER-pgtap" libtap-parser-sourcehandler-pgtap-perl libipc-run-perl "$@")
	local missing=() p
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing Debian packages: ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null
	fi
	PG_CONFIG=/usr/lib/postgresql/$PGVER/bin/pg_config
	PGBIN=$("$PG_CONFIG" --bindir)
	export PG_CONFIG PGBIN PGVER
}

build_install() {
	log "building personalize against PostgreSQL $PGVER"
	make -C "$ROOT" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
	as_root make -C "$ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# Commands that touch the cluster run as "postgres" when we are root (initdb
# refuses root), as ourselves otherwise.
run_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$WORK" && runuser -u postgres -- env PATH="$PGBIN:$PATH" "$@")
	else
		(cd "$WORK" && env PATH="$PGBIN:$PATH" "$@")
	fi
}

# make_workdir: a private directory the cluster's user owns; tests and demo
# files are copied here so the server never reads the clone.
make_workdir() {
	WORK=$(mktemp -d /tmp/personalize.XXXXXX)
	chmod 755 "$WORK"
	export WORK
	trap cleanup EXIT
}

copy_into_workdir() {
	local p
	for p in "$@"; do cp -R "$ROOT/$p" "$WORK/"; done
	if [ "$(id -u)" = 0 ]; then chown -R postgres: "$WORK"; fi
}

start_cluster() {
	PGHOST=$WORK/sock PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	export PGHOST PGPORT PGUSER PGDATABASE
	[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
	run_pg mkdir -p "$WORK/sock"
	log "starting a throwaway cluster in $WORK/data"
	run_pg initdb -D "$WORK/data" -U postgres -A trust --no-sync >/dev/null
	cat >>"$WORK/data/postgresql.conf" <<-CONF
		listen_addresses = ''
		unix_socket_directories = '$WORK/sock'
		port = 5432
		shared_preload_libraries = 'personalize'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		shared_buffers = ${PZ_SHARED_BUFFERS:-256MB}
		max_connections = 50
		${PZ_EXTRA_CONF:-}
	CONF
	run_pg pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
	CLUSTER_UP=1
}

stop_cluster() {
	if [ "${CLUSTER_UP:-0}" = 1 ]; then
		run_pg pg_ctl -D "$WORK/data" -m fast -w stop >/dev/null || true
		CLUSTER_UP=0
	fi
}

cleanup() {
	local rc=$?
	stop_cluster
	if [ $rc -ne 0 ] && [ -f "$WORK/server.log" ]; then
		echo "--- last lines of the server log ($WORK/server.log) ---" >&2
		tail -20 "$WORK/server.log" >&2 || true
	fi
	if [ -n "${KEEP_WORKDIR:-}" ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit $rc
}

psql_q() {
	run_pg psql -X -v ON_ERROR_STOP=1 -q "$@"
}
