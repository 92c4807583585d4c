#!/bin/sh
# Print the pg_config to build against: $PG_CONFIG, else the newest installed
# server development package, else whatever pg_config is on PATH.
if [ -n "$PG_CONFIG" ] && [ -x "$PG_CONFIG" ]; then echo "$PG_CONFIG"; exit 0; fi
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
	if [ -x "$d/pg_config" ] && [ -f "$("$d/pg_config" --pgxs 2>/dev/null)" ]; then
		echo "$d/pg_config"; exit 0
	fi
done
command -v pg_config || echo pg_config
