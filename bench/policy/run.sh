#!/usr/bin/env bash
# Side-by-side policy benchmarks and the admission webhook load test.
# See bench/policy/README.md; results are recorded in RESULTS.md.
#
#   bench/policy/run.sh [tools|corpus|scan|load|all|kyverno-tool|kyverno]    (default: all)
#
# kyverno-tool builds the Kyverno CLI (a large build; it needs the replace
# directives of Kyverno's own go.mod, so it is built through a scratch
# module that repeats them); kyverno compares it with kubeward on the same
# Kyverno ClusterPolicies: identical findings, then timing.
#
# Environment:
#   WORK      scratch directory (default /tmp/kubeward-policy-bench)
#   TOOLS     GOBIN for kube-score and gator (default $WORK/bin); never the repo
#   N         corpus size (default 1200)
#   RUNS      hyperfine runs per tool (default 5)
#   RATE      webhook requests per second (default 2000)
#   DURATION  measured webhook run (default 10s)
#   CONNS     keep-alive TLS connections of the load generator (default 16)
#   ACTIONS   --admission-action values to load-test (default "warn deny")
#   KUBE_SCORE_VERSION, GATOR_VERSION  tool versions (defaults below)
#
# Everything runs at nice 10 with no parallel builds: the machine is shared.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/kubeward-policy-bench}
TOOLS=${TOOLS:-$WORK/bin}
N=${N:-1200}
RUNS=${RUNS:-5}
RATE=${RATE:-2000}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
ACTIONS=${ACTIONS:-warn deny}
KUBE_SCORE_VERSION=${KUBE_SCORE_VERSION:-v1.20.0}
KYVERNO_VERSION=${KYVERNO_VERSION:-v1.19.1}
GATOR_VERSION=${GATOR_VERSION:-v3.23.1}
HERE=$ROOT/bench/policy
CORPUS=$WORK/corpus

mkdir -p "$WORK" "$TOOLS"
case "$TOOLS" in "$ROOT"/*) echo "TOOLS must be outside the repository" >&2; exit 2 ;; esac

log() { printf '\n== %s\n' "$*"; }

tools() {
	log "building tools into $TOOLS"
	export GOFLAGS="${GOFLAGS:-} -p=1"
	[ -x "$TOOLS/kube-score" ] || GOBIN=$TOOLS nice -n 10 go install "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
	[ -x "$TOOLS/gator" ] || GOBIN=$TOOLS nice -n 10 go install "github.com/open-policy-agent/gatekeeper/v3/cmd/gator@$GATOR_VERSION"
	# The tag keeps kustomize's Go-plugin loader (and with it the std plugin
	# package, which makes the linker export every symbol) out of the binary.
	(cd "$ROOT" && nice -n 10 go build -tags kustomize_disable_go_plugin_support -o "$TOOLS/kubeward" ./cmd/kubeward)
	(cd "$ROOT" && nice -n 10 go build -o "$TOOLS/loadgen" ./bench/policy/loadgen)
	(cd "$ROOT" && nice -n 10 go build -o "$TOOLS/gencorpus" ./bench/policy/gencorpus)
	command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }
}

corpus() {
	log "generating $N manifests into $CORPUS"
	rm -rf "$CORPUS" "$CORPUS.smells.tsv"
	"$TOOLS/gencorpus" -n "$N" -out "$CORPUS"
	cut -f2 "$CORPUS.smells.tsv" | sort | uniq -c
	echo "compliant: $(awk -F'\t' '$3==""' "$CORPUS.smells.tsv" | wc -l)"
}

# Commands measured side by side; each scans the whole corpus once.
KW="$TOOLS/kubeward policy scan --policy-config $HERE/kubeward-policy.yaml -o json $CORPUS"
KS="$TOOLS/kube-score score -o ci $CORPUS/*.yaml"
GATOR="$TOOLS/gator test -o json -f $HERE/gator/templates.yaml -f $HERE/gator/constraints.yaml -f $CORPUS"

scan() {
	log "findings per tool (one run each, output kept in $WORK)"
	for t in KW KS GATOR; do
		/usr/bin/time -f "$t: %e s wall, %U s user, %S s sys, %M KB max RSS" \
			nice -n 10 bash -c "${!t} > $WORK/$t.out 2> $WORK/$t.err" || true
	done
	echo "kubeward failed results: $(grep -o '"result": *"fail"' "$WORK/KW.out" | wc -l)"
	echo "kube-score CRITICAL/WARNING lines: $(grep -c '\[CRITICAL\]\|\[WARNING\]' "$WORK/KS.out" || true)"
	echo "gator violations: $(grep -o '"msg"' "$WORK/GATOR.out" | wc -l)"
	log "timing with hyperfine ($RUNS runs each)"
	nice -n 10 hyperfine -N --warmup 1 --runs "$RUNS" -i --export-markdown "$WORK/scan.md" \
		-n kubeward "$KW" -n kube-score "bash -c '$KS'" -n gator "$GATOR"
	log "start-up cost: each tool on one manifest ($RUNS runs each)"
	one=$(ls "$CORPUS"/*.yaml | head -1)
	nice -n 10 hyperfine -N --warmup 1 --runs "$RUNS" -i --export-markdown "$WORK/scan-one.md" \
		-n kubeward "${KW% *} $one" -n kube-score "$TOOLS/kube-score score -o ci $one" \
		-n gator "${GATOR% *} $one"
}

load_one() {
	action=$1
	certs=$WORK/certs
	log "load: kubeward serve --role admission --admission-action $action, $RATE req/s for $DURATION"
	# The admission role publishes violations for other processes, so it
	# needs a real bus: a Kafka-protocol broker (kfake) in its own process.
	go build -o "$TOOLS/kfakeserver" ./bench/kfakeserver
	"$TOOLS/kfakeserver" -port 19093 > "$WORK/kfake.log" 2>&1 &
	kpid=$!
	"$TOOLS/kubeward" serve --role admission --admission-listen 127.0.0.1:18443 --admission-cert-dir "$certs" \
		--admission-dns-names 127.0.0.1 --admission-action "$action" --listen 127.0.0.1:18080 \
		--bus kafka://127.0.0.1:19093 > "$WORK/server-$action.log" 2>&1 &
	pid=$!
	trap 'kill $pid $kpid 2>/dev/null || true' RETURN
	for _ in $(seq 100); do
		[ -s "$certs/ca.crt" ] && curl -sf http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$TOOLS/loadgen" -url https://127.0.0.1:18443/validate -ca "$certs/ca.crt" -rate "$RATE" \
		-duration "$DURATION" -conns "$CONNS" -pid "$pid"
	kill "$pid"
	wait "$pid" || true
}

load() {
	for a in $ACTIONS; do load_one "$a"; done
}

kyverno_tool() {
	# Kyverno's go.mod replaces k8s.io/pod-security-admission with its own
	# fork, and replace directives only apply in the main module: build
	# through a scratch module whose go.mod is Kyverno's own (requirements
	# and replaces) plus a requirement on Kyverno itself.
	log "building the Kyverno CLI $KYVERNO_VERSION into $TOOLS (time-boxed to 70 minutes)"
	dir=$(go mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
	scratch=$WORK/kyv
	rm -rf "$scratch"
	mkdir -p "$scratch"
	sed '1s#.*#module kyvbuild#' "$dir/go.mod" > "$scratch/go.mod"
	cp "$dir/go.sum" "$scratch/go.sum"
	chmod u+w "$scratch/go.mod" "$scratch/go.sum"
	printf '\nrequire github.com/kyverno/kyverno %s\n' "$KYVERNO_VERSION" >> "$scratch/go.mod"
	(cd "$scratch" && GOFLAGS=-mod=mod timeout 4200 nice -n 19 \
		go build -o "$TOOLS/kyverno" github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno)
}

# Both tools evaluate the same Kyverno ClusterPolicies (kyverno/policies.yaml).
KWK="$TOOLS/kubeward policy scan --policy-config $HERE/kyverno/kubeward.yaml -o json $CORPUS"
KYV="$TOOLS/kyverno apply $HERE/kyverno/policies.yaml --resource $CORPUS --continue-on-fail"

kyverno() {
	[ -x "$TOOLS/kyverno" ] || { echo "no $TOOLS/kyverno: run $0 kyverno-tool first" >&2; exit 1; }
	log "findings: failed (policy, object) pairs of each tool (one run each, output kept in $WORK)"
	for t in KWK KYV; do
		/usr/bin/time -f "$t: %e s wall, %U s user, %S s sys, %M KB max RSS" \
			nice -n 10 bash -c "${!t} > $WORK/$t.out 2> $WORK/$t.err" || true
	done
	jq -r '.results[] | select(.result=="fail") | [.policy, .resource.kind, (.resource.namespace // ""), .resource.name] | @tsv' \
		"$WORK/KWK.out" | sort -u > "$WORK/KWK.fail.tsv"
	# "policy P -> resource NAMESPACE/KIND/NAME failed:"
	awk '/^policy .* -> resource .* failed:$/ {split($5, r, "/"); print $2 "\t" r[2] "\t" r[1] "\t" r[3]}' \
		"$WORK/KYV.out" | sort -u > "$WORK/KYV.fail.tsv"
	cut -f1 "$WORK/KYV.fail.tsv" | sort | uniq -c
	if diff "$WORK/KWK.fail.tsv" "$WORK/KYV.fail.tsv" > "$WORK/kyverno.diff"; then
		echo "identical findings: $(wc -l < "$WORK/KWK.fail.tsv") failed (policy, object) pairs"
	else
		echo "findings differ ($(grep -c '^[<>]' "$WORK/kyverno.diff") lines): see $WORK/kyverno.diff"
	fi
	log "kubeward vs Kyverno CLI on bench/policy/kyverno/policies.yaml ($RUNS runs each)"
	nice -n 10 hyperfine -N --warmup 1 --runs "$RUNS" -i --export-markdown "$WORK/kyverno.md" \
		-n kubeward "$KWK" -n kyverno "$KYV"
}

case "${1:-all}" in
tools) tools ;;
corpus) corpus ;;
scan) scan ;;
load) load ;;
all) tools; corpus; scan; load ;;
kyverno-tool) kyverno_tool ;;
kyverno) kyverno ;;
*) echo "usage: $0 [tools|corpus|scan|load|all|kyverno-tool|kyverno]" >&2; exit 2 ;;
esac
