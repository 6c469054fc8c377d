#!/usr/bin/env bash
# Side-by-side comparison of `kubeward scan fs` with osv-scanner (offline) on
# the shared lockfiles, over the same OSV records, then wall-clock timing of
# both with hyperfine. Nothing third-party is committed: osv-scanner is built
# from its Go module into a temporary GOBIN.
#
# usage: bench/scan/run.sh            (from the repository root)
# env:   KUBEWARD_TESTDATA (default ../shared/data), WORK (default a temp dir),
#        OSV_SCANNER_VERSION (default v2.5.1: the newest release that builds
#        with Go 1.26; v2.6.0 needs Go 1.27), RUNS (hyperfine runs, default 20)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
data=${KUBEWARD_TESTDATA:-$root/../shared/data}
work=${WORK:-$(mktemp -d)}
version=${OSV_SCANNER_VERSION:-v2.5.1}
runs=${RUNS:-20}
mkdir -p "$work/bin"

osv=$work/bin/osv-scanner
if [ ! -x "$osv" ]; then
  (cd "$work" && GOBIN=$work/bin GOFLAGS=-mod=mod go install "github.com/google/osv-scanner/v2/cmd/osv-scanner@$version")
fi
kw=$work/bin/kubeward
(cd "$root" && CGO_ENABLED=0 go build -trimpath -tags kustomize_disable_go_plugin_support -o "$kw" ./cmd/kubeward)

# The same advisories for both: the Go vulndb and PyPA records.
python3 "$root/bench/scan/mkosvdb.py" "$data" "$work/osvdb"
"$kw" db build --osv "$data/osv/golang-vulndb-osv.tar.gz" --osv "$data/osv/pypa-advisories-osv-yaml.tar.gz" \
  --alpine "$data/osv/alpine-secdb.tar.gz" --out "$work/vuln.db" 2>/dev/null
export OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY=$work/osvdb

status=0
osv_cmd() { "$osv" scan source --offline --no-call-analysis=all --format json "$1"; }
kw_cmd() { "$kw" scan fs --vulndb "$work/vuln.db" -o json "$1"; }
for dir in "$data"/inventories/lockfiles/*/; do
  name=$(basename "$dir")
  # osv-scanner exits 1 when it finds vulnerabilities, 128 when no package was found.
  osv_cmd "$dir" >"$work/osv-$name.json" 2>"$work/osv-$name.err" || true
  kw_cmd "$dir" >"$work/kw-$name.json" 2>"$work/kw-$name.err"
  echo "== $name"
  python3 "$root/bench/scan/compare.py" "$work/osv-$name.json" "$work/kw-$name.json" || status=1
done

echo "== wall clock, all lockfile directories one after another ($runs runs)"
dirs=$(printf '%s ' "$data"/inventories/lockfiles/*/)
hyperfine --runs "$runs" --warmup 2 -N --ignore-failure --export-markdown "$work/hyperfine.md" \
  -n osv-scanner "bash -c 'for d in $dirs; do $osv scan source --offline --no-call-analysis=all --format json \$d >/dev/null 2>&1; done'" \
  -n kubeward "bash -c 'for d in $dirs; do $kw scan fs --vulndb $work/vuln.db -o json \$d >/dev/null 2>&1; done'"
cat "$work/hyperfine.md"

echo "== wall clock, the parent directory of all lockfiles in one invocation ($runs runs)"
all=$data/inventories/lockfiles
"$osv" scan source -r --offline --no-call-analysis=all --format json "$all" >"$work/osv-all.json" 2>"$work/osv-all.err" || true
kw_cmd "$all" >"$work/kw-all.json" 2>"$work/kw-all.err"
python3 "$root/bench/scan/compare.py" "$work/osv-all.json" "$work/kw-all.json" || status=1
hyperfine --runs "$runs" --warmup 2 -N --ignore-failure --export-markdown "$work/hyperfine-all.md" \
  -n osv-scanner "$osv scan source -r --offline --no-call-analysis=all --format json $all" \
  -n kubeward "$kw scan fs --vulndb $work/vuln.db -o json $all"
cat "$work/hyperfine-all.md"
echo "work directory: $work"
exit $status
