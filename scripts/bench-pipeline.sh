#!/usr/bin/env bash
# End-to-end CVE pipeline benchmark: all 44,130 records of
# ../shared/data/cve/vulnrichment-records.tar.gz through
# archive → producer → bus → consumer → store, in one kubeward process:
#
#   1. in-process bus into SQLite (the embedded default)
#   2. Kafka protocol (a kfake broker in another process) into PostgreSQL
#      (a throwaway server on 127.0.0.1)
#
# Prints records/s and the kubeward process's peak RSS for each.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${KUBEWARD_TESTDATA:-$(cd .. && pwd)/shared/data}"
ARCHIVE="$DATA/cve/vulnrichment-records.tar.gz"
[ -f "$ARCHIVE" ] || { echo "bench: $ARCHIVE not found (set KUBEWARD_TESTDATA)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }

CGO_ENABLED=0 go build -trimpath -tags kustomize_disable_go_plugin_support -o bin/kubeward ./cmd/kubeward
go build -trimpath -o bin/kfakeserver ./bench/kfakeserver
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${PGBIN:-}" ] && [ -d "$work/pg" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

measure() { # name, then the command
  local name=$1; shift
  /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  local rss_mb=$(( $(cat "$work/rss") / 1024 ))
  echo "$name: $(cat "$work/out")"
  echo "$name: peak RSS ${rss_mb} MB"
}

echo "== inproc bus → SQLite"
measure "sqlite" bin/kubeward --log-level warn --db "sqlite://$work/k.db" cve ingest "$ARCHIVE"

echo "== Kafka (kfake) → PostgreSQL"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$work/pg" && chown postgres "$work" "$work/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$work/pg" -U postgres -A trust >/dev/null
port=$(( 20000 + RANDOM % 20000 ))
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
kport=$(( 20000 + RANDOM % 20000 ))
bin/kfakeserver -port "$kport" > "$work/kfake.out" &
pids+=($!)
sleep 1
measure "postgres" bin/kubeward --log-level warn --db "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" \
  --bus "kafka://127.0.0.1:$kport" cve ingest --consume "$ARCHIVE"
