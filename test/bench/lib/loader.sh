# Sourced by the benchmarks that drive load with recommend_load.c: builds it
# against libpq into a directory removed on exit and sets LOADER.  Needs a C
# compiler and the libpq headers (Debian package libpq-dev); pg_config comes
# from $PG_CONFIG or PATH.  $1 names the calling benchmark in messages.
build_loader() {
	local who=$1 include lib
	PG_CONFIG=${PG_CONFIG:-pg_config}
	if ! command -v "$PG_CONFIG" >/dev/null; then
		echo "$who: pg_config not found (put it on PATH or set PG_CONFIG)" >&2
		exit 2
	fi
	include=$("$PG_CONFIG" --includedir)
	lib=$("$PG_CONFIG" --libdir)
	if [ ! -f "$include/libpq-fe.h" ]; then
		echo "$who: libpq-fe.h is not in $include: the libpq headers are needed (Debian package libpq-dev)" >&2
		exit 2
	fi
	LOADER_DIR=$(mktemp -d /tmp/pz_load.XXXXXX)
	trap 'rm -rf "$LOADER_DIR"' EXIT
	LOADER=$LOADER_DIR/recommend_load
	"${CC:-cc}" -O2 -Wall -Wextra -std=c99 -D_POSIX_C_SOURCE=200809L -I"$include" \
		"$(dirname "${BASH_SOURCE[0]}")/../recommend_load.c" -L"$lib" -Wl,-rpath,"$lib" -lpq -lpthread -o "$LOADER"
}
