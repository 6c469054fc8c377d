#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine:
# the PostgreSQL server binaries and redis-server (tests start their own
# throwaway servers on 127.0.0.1; nothing is left running). Safe to run
# repeatedly.
set -euo pipefail

have_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

missing=()
have_pg || missing+=(postgresql)
have_redis || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing test servers; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "test-deps: installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages may start a cluster on 5432 and a redis-server on 6379; tests
# never use them. Stop them so they do not hold memory on CI machines.
if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  for c in $(pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1"/"$2}'); do
    pg_ctlcluster "${c%/*}" "${c#*/}" stop || true
  done
fi
if [ "$(id -u)" -eq 0 ]; then
  { systemctl stop redis-server || service redis-server stop; } >/dev/null 2>&1 || true
fi
echo "test-deps: ok (postgresql: $(ls -d /usr/lib/postgresql/*/bin | head -1); redis: $(command -v redis-server || echo /usr/bin/redis-server))"
