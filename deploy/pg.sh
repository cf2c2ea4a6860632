#!/usr/bin/env bash
# deploy/pg.sh - a private PostgreSQL cluster for make run / make test.
#
#   deploy/pg.sh start DIR PORT   create (if needed) and start a cluster in DIR
#   deploy/pg.sh stop DIR         stop it (fast shutdown)
#   deploy/pg.sh kill DIR         stop it immediately (crash-like, for tests)
#
# PostgreSQL refuses to run as root: when uid is 0 the cluster belongs to the
# `postgres` user and its commands run through runuser. The server listens on
# 127.0.0.1 only, with trust authentication for local connections, keeps
# fsync and synchronous_commit on (an acknowledged submission is durable).
set -euo pipefail

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ]; then PGBIN=$d; break; fi
  done
fi
[ -n "$PGBIN" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:?usage: pg.sh start|stop|kill DIR [PORT]}
dir=$(realpath -m "${2:?cluster directory}")

case "$cmd" in
start)
  port=${3:?port}
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    # postgres must be able to reach the directory through its parents.
    p=$dir; while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if as_owner "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    exit 0
  fi
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/postgres.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c synchronous_commit=on -c shared_buffers=256MB" \
    start >/dev/null || { tail -n 30 "$dir/postgres.log" >&2; exit 1; }
  ;;
stop)
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
kill)
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: pg.sh start|stop|kill DIR [PORT]" >&2; exit 2 ;;
esac
