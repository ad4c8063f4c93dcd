#!/usr/bin/env bash
# One command: installs wrk when missing (and PostgreSQL for `issuer-load`), builds in release
# mode, runs every scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)" >&2
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
# issuer-load starts a throwaway PostgreSQL cluster: it needs initdb, postgres and psql.
# It looks in PG_BIN, then /usr/lib/postgresql/*/bin, then `pg_config --bindir`.
if [ "${1:-}" = issuer-load ] && [ -z "${PG_BIN:-}" ] \
  && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  && ! [ -x "$(pg_config --bindir 2>/dev/null)/initdb" ]; then
  echo "installing PostgreSQL (Debian package)" >&2
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
exec cargo run --release -p auth-loadbench -- "$@"
