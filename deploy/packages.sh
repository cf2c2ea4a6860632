#!/usr/bin/env bash
# deploy/packages.sh - install the Debian packages the build, make run and
# make test need, if any is missing. Runs apt-get only when something is.
set -euo pipefail
need=(build-essential pkg-config libevent-dev libpq-dev libxml2-dev libssl-dev libcurl4-openssl-dev
      postgresql postgresql-contrib curl openssl procps python3 python3-pytest python3-psycopg2 python3-requests python3-websocket chromium
      ${EXTRA_PACKAGES:-})
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
