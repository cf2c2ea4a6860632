#!/usr/bin/env bash
# The HTTP front, side by side in one run:
#  - GET /healthz of gen-server (one process, a database round trip per
#    request) vs nginx serving a 3-byte static file, same wrk settings;
#  - resident memory per idle keep-alive connection (10,000 connections).
# Needs: GEN_DATABASE_URL of a migrated database; writes var/bench/front.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXTRA_PACKAGES="wrk nginx-light" bash deploy/packages.sh >/dev/null 2>&1 || EXTRA_PACKAGES="wrk nginx" bash deploy/packages.sh
OUT=$PWD/var/bench; mkdir -p "$OUT/nginx"
GPORT=18097; NPORT=18098; IDLE=${BENCH_IDLE:-10000}
bin/genctl migrate >/dev/null
ulimit -n "$(ulimit -Hn)"
printf 'ok\n' >"$OUT/nginx/healthz"
cat >"$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NPORT; location = /healthz { root $OUT/nginx; default_type text/plain; } }
}
CONF
bin/gen-server --port $GPORT --workers 1 --receipt-key "$OUT/receipt-key.pem" --pseudonym-key "$OUT/pseudonym-key" \
  --idle-timeout 120 >"$OUT/front-server.log" 2>&1 &
GPID=$!
nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" &
NPID=$!
trap 'kill $GPID $NPID 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GPORT/healthz" >/dev/null && curl -sf "http://127.0.0.1:$NPORT/healthz" >/dev/null && break; sleep 0.1; done
rps() { awk '/^Requests\/sec/ {print $2}'; }
g=$(wrk -t1 -c32 -d10s "http://127.0.0.1:$GPORT/healthz" | rps)
n=$(wrk -t1 -c32 -d10s "http://127.0.0.1:$NPORT/healthz" | rps)
idle=$(/usr/bin/python3 tests/bench/idle_conns.py $GPORT $GPID "$IDLE")
per=$(sed -E 's/.*per_conn_bytes=([0-9]+).*/\1/' <<<"$idle")
{
  echo "HTTP front (1 process each, wrk -t1 -c32 -d10s):"
  printf '  %-44s %10s req/s\n' "gen-server GET /healthz (with a DB query)" "$g"
  printf '  %-44s %10s req/s\n' "nginx, static 3-byte file" "$n"
  echo "  ratio gen-server/nginx: $(awk -v a="$g" -v b="$n" 'BEGIN{printf "%.2f", a/b}')"
  echo "  memory per idle keep-alive connection ($IDLE connections): $per bytes ($idle)"
} | tee "$OUT/front.txt"
