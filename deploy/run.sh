#!/usr/bin/env bash
# deploy/run.sh - `make run`: packages, build, a private PostgreSQL under
# var/, migrations, demo data, then worker and server in the foreground until
# Ctrl-C, which stops everything this script started.
#
#   make run            HTTP on PORT (default 8080)
#   make run TLS=1      HTTPS only on PORT, with a self-signed certificate
#                       for localhost and 127.0.0.1 made once in var/tls/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${PORT:-8080}
PG_PORT=${GEN_PG_PORT:-25432}
PGDIR=$ROOT/var/pg

bash deploy/packages.sh
make -s -j"$(nproc)" all
deploy/pg.sh start "$PGDIR" "$PG_PORT"

PG="host=127.0.0.1 port=$PG_PORT user=postgres"
if ! psql "$PG dbname=postgres" -qAtc "SELECT 1 FROM pg_database WHERE datname='gen'" | grep -q 1; then
  psql "$PG dbname=postgres" -qAtc "CREATE DATABASE gen" >/dev/null
fi
export GEN_DATABASE_URL="$PG dbname=gen"
export GEN_URL="http://127.0.0.1:$PORT"
TLS_ARGS=()
if [ "${TLS:-0}" = 1 ]; then
  mkdir -p var/tls
  if [ ! -s var/tls/cert.pem ] || [ ! -s var/tls/key.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
      -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -keyout var/tls/key.pem -out var/tls/cert.pem 2>/dev/null
    chmod 600 var/tls/key.pem
  fi
  TLS_ARGS=(--tls-cert var/tls/cert.pem --tls-key var/tls/key.pem)
  export GEN_URL="https://localhost:$PORT"
  # curl and Python trust the self-signed certificate through this.
  export SSL_CERT_FILE=$ROOT/var/tls/cert.pem CURL_CA_BUNDLE=$ROOT/var/tls/cert.pem
fi
export GEN_RECEIPT_KEY=${GEN_RECEIPT_KEY:-$ROOT/var/receipt-key.pem}
bin/genctl migrate

cat >var/run.env <<ENV
GEN_DATABASE_URL="$GEN_DATABASE_URL"
GEN_URL="$GEN_URL"
export GEN_DATABASE_URL GEN_URL
ENV
[ "${TLS:-0}" = 1 ] && echo "SSL_CERT_FILE=\"$SSL_CERT_FILE\" CURL_CA_BUNDLE=\"$SSL_CERT_FILE\"; export SSL_CERT_FILE CURL_CA_BUNDLE" >>var/run.env

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  deploy/pg.sh stop "$PGDIR"
  echo "stopped."
}
trap stop INT TERM EXIT

bin/gen-worker &
pids+=($!)
bin/gen-server --port "$PORT" "${TLS_ARGS[@]}" &
pids+=($!)
for _ in $(seq 100); do curl -sf "$GEN_URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$GEN_URL/healthz" >/dev/null || { echo "gen-server did not start" >&2; exit 1; }

accounts=$(python3 deploy/demo.py)
sleep 0.5
echo
echo "GEN workflow server running at $GEN_URL  (Ctrl-C stops everything)"
echo "  . var/run.env   in another shell gives GEN_DATABASE_URL and GEN_URL"
[ "${TLS:-0}" = 1 ] && echo "  HTTPS with the self-signed var/tls/cert.pem (SSL_CERT_FILE in var/run.env)"
echo
echo "Demo accounts (each also has an API token for curl):"
printf '%s\n' "$accounts"
echo
echo "Try:  curl $GEN_URL/api/v1/calls"
wait
