#!/usr/bin/env bash
# Image scan benchmarks: (1) the shared docker-save Alpine archives, each run a
# fresh kubeward process (process start, vulnerability DB open, unpacking,
# matching, report); (2) peak RSS and wall time on a generated 1 GiB
# docker-save archive (random-file layers + an apk database), not committed.
#
# usage: bench/scan/image.sh       (from the repository root)
# env:   KUBEWARD_TESTDATA, WORK (default a temp dir), SIZE_MB (default 1024), RUNS (default 20)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
data=${KUBEWARD_TESTDATA:-$root/../shared/data}
work=${WORK:-$(mktemp -d)}
size=${SIZE_MB:-1024}
runs=${RUNS:-20}
mkdir -p "$work/bin"
kw=$work/bin/kubeward
(cd "$root" && CGO_ENABLED=0 go build -trimpath -tags kustomize_disable_go_plugin_support -o "$kw" ./cmd/kubeward)
"$kw" db build --osv "$data/osv/golang-vulndb-osv.tar.gz" --osv "$data/osv/pypa-advisories-osv-yaml.tar.gz" \
  --alpine "$data/osv/alpine-secdb.tar.gz" --out "$work/vuln.db" 2>/dev/null

echo "== docker-save Alpine images, fresh process per run ($runs runs)"
for img in "$data"/inventories/images/*.tar.gz; do
  # Drop the page cache first when allowed (root on a VM); otherwise the
  # runs are process-cold but file-cache-warm.
  prepare=true
  if (sync; echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then prepare="sh -c 'sync; echo 3 >/proc/sys/vm/drop_caches'"; fi
  hyperfine --runs "$runs" -N --prepare "$prepare" --ignore-failure \
    -n "$(basename "$img")" "$kw scan image --vulndb $work/vuln.db $img"
done

big=$work/big.tar
if [ ! -f "$big" ]; then python3 "$root/bench/scan/mkimage.py" "$big" "$size" 4; fi
echo "== generated image $(du -h "$big" | cut -f1): peak RSS and wall time"
for i in 1 2 3; do
  /usr/bin/time -f "run $i: %e s wall, %M KB max RSS" "$kw" scan image --vulndb "$work/vuln.db" "$big" >"$work/big.out" 2>"$work/big.time" || true
  tail -1 "$work/big.time"
done
tail -1 "$work/big.out"
echo "work directory: $work"
