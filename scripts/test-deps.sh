#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine:
# the PostgreSQL server binaries (tests start their own throwaway cluster
# on 127.0.0.1; nothing is left running). Safe to run repeatedly.
set -euo pipefail

have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

if ! have_pg; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: PostgreSQL server binaries are missing; run: sudo apt-get install -y postgresql" >&2
    exit 2
  fi
  echo "test-deps: installing postgresql (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
# The package may start a cluster on 5432; tests never use it. Stop it so it
# does not hold memory on CI machines.
if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  for c in $(pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1"/"$2}'); do
    pg_ctlcluster "${c%/*}" "${c#*/}" stop || true
  done
fi
echo "test-deps: ok ($(ls -d /usr/lib/postgresql/*/bin | head -1))"
