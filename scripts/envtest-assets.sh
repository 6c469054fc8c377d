#!/usr/bin/env bash
# Builds the envtest assets (kube-apiserver and etcd) from Go modules and
# caches them by version outside the repository, so tests get a real
# control plane without downloads other than the Go module proxy:
#
#   ~/.cache/kubeward/envtest/<k8s-version>/{kube-apiserver,etcd}
#
# Prints the asset directory (use it as KUBEBUILDER_ASSETS). A cold build
# takes about 5 minutes and 3 GB of Go build cache; later calls return at once.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
STAGING_VERSION="${STAGING_VERSION:-0.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
CACHE="${KUBEWARD_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeward/envtest}"
OUT="$CACHE/$K8S_VERSION"

if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ] && [ -f "$OUT/.complete" ]; then
  echo "$OUT"
  exit 0
fi
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# k8s.io/kubernetes is not meant to be required as a module: its go.mod
# points the staging modules at ./staging, so a scratch module repeats
# those replaces with the published versions.
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller
  streaming)
{
  echo "module kubeward.local/envtest"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes v$K8S_VERSION"
  echo "require go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
  echo
  for m in "${staging[@]}"; do
    echo "replace k8s.io/$m => k8s.io/$m v$STAGING_VERSION"
  done
} > "$work/go.mod"
cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
cd "$work"
# Drop replaces for staging modules that do not exist at this version.
for m in "${staging[@]}"; do
  if ! GOFLAGS=-mod=mod go list -m "k8s.io/$m@v$STAGING_VERSION" >/dev/null 2>&1; then
    go mod edit -dropreplace "k8s.io/$m"
  fi
done
GOFLAGS=-mod=mod go mod tidy -e >&2 || true
echo "envtest: building kube-apiserver v$K8S_VERSION and etcd v$ETCD_VERSION into $OUT" >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$OUT/etcd" go.etcd.io/etcd/server/v3 >&2
touch "$OUT/.complete"
echo "$OUT"
