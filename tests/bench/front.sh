#!/usr/bin/env bash
# tests/bench/front.sh - the HTTP front, side by side in one run (run by
# run.sh after setup.sh), one gen-server process against one nginx worker:
#  - GET /healthz of gen-server (a database round trip per request) vs nginx
#    serving a 3-byte static file, the same wrk settings
#    (-t1 -c32 -d BENCH_FRONT_SECONDS);
#  - resident memory per idle keep-alive connection: BENCH_IDLE connections
#    (default 10,000) each send one request and stay open; the growth of the
#    serving process's RSS divided by their number (tests/bench/idle_conns.py),
#    for gen-server and then for the nginx worker.
# Table lines front.healthz and front.idle_rss; raw figures in
# $BENCH_OUT/front.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
GPORT=26097
NPORT=26098
IDLE=${BENCH_IDLE:-10000}
SECS=${BENCH_FRONT_SECONDS:-10}
mkdir -p "$OUT/nginx"
ulimit -n "$(ulimit -Hn)"
printf 'ok\n' >"$OUT/nginx/healthz"
cat >"$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $((IDLE + 1000));
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log;
events { worker_connections $((IDLE + 500)); }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server { listen 127.0.0.1:$NPORT; location = /healthz { root $OUT/nginx; default_type text/plain; } }
}
CONF
NPID=
trap 'server_stop; [ -n "$NPID" ] && kill $NPID 2>/dev/null; wait 2>/dev/null' EXIT
server_start "$GPORT" 1 "$OUT/front-server.log" --idle-timeout 120
nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" &
NPID=$!
wait_http "http://127.0.0.1:$NPORT/healthz" "$NPID"
NWORKER=$(pgrep -P "$NPID")

# rps URL: requests per second of a wrk run; fails on any non-2xx answer.
rps() {
  local r
  r=$(wrk -t1 -c32 -d"${SECS}s" "$1")
  if grep -q 'Non-2xx' <<<"$r"; then
    echo "wrk on $1: $(grep 'Non-2xx' <<<"$r")" >&2
    return 1
  fi
  awk '/^Requests\/sec/ {print $2}' <<<"$r"
}
g=$(rps "http://127.0.0.1:$GPORT/healthz")
n=$(rps "http://127.0.0.1:$NPORT/healthz")
table add front.healthz "$g" "$n" "wrk -t1 -c32 -d${SECS}s; ours does a database query per request"

# per_conn PORT PID: bytes of RSS per idle keep-alive connection.
per_conn() {
  local line
  line=$(/usr/bin/python3 tests/bench/idle_conns.py "$1" "$2" "$IDLE")
  echo "$line" >>"$OUT/front-idle.txt"
  sed -E 's/.*per_conn_bytes=([0-9]+).*/\1/' <<<"$line"
}
: >"$OUT/front-idle.txt"
gi=$(per_conn "$GPORT" "$SERVER_PID")
ni=$(per_conn "$NPORT" "$NWORKER")
table add front.idle_rss "$gi" "$ni" "growth of the serving process's RSS / $IDLE idle keep-alive connections"
{
  echo "HTTP front (1 process each, wrk -t1 -c32 -d${SECS}s):"
  printf '  %-44s %10s req/s\n' "gen-server GET /healthz (with a DB query)" "$g"
  printf '  %-44s %10s req/s\n' "nginx, static 3-byte file" "$n"
  echo "  RSS per idle keep-alive connection ($IDLE connections): gen-server $gi bytes, nginx worker $ni bytes"
  sed 's/^/  /' "$OUT/front-idle.txt"
} | tee "$OUT/front.txt"
