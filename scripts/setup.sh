#!/usr/bin/env bash
# Set up this machine for the suite and its local twin:
#   1. Debian's PostgreSQL server (package `postgresql`),
#   2. the real Toxiproxy server v2.12.0, built with `go install` and cached as
#      ${XDG_CACHE_HOME:-$HOME/.cache}/cloudflow-checks/bin/toxiproxy-server,
#   3. the virtualenv .venv from requirements.lock (+ this project, editable).
# Idempotent and quick when all is in place (each step checks first). Runs as root,
# or as another user with sudo for the apt step. A missing prerequisite ends with
# one line naming what to install, and exit status 2.
#
# Usage: scripts/setup.sh [--print-toxiproxy-bin]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOXIPROXY_VERSION="2.12.0"
TOXIPROXY_MODULE="github.com/Shopify/toxiproxy/v2"
CACHE_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/cloudflow-checks/bin"
TOXIPROXY_BIN="$CACHE_BIN/toxiproxy-server"
VENV="$ROOT/.venv"
LOCK="$ROOT/requirements.lock"
STAMP="$VENV/.cloudflow-setup.stamp"

log() { printf '[setup] %s\n' "$*" >&2; }
missing() { printf 'setup: %s\n' "$*" >&2; exit 2; }

case "${1:-}" in
  "") ;;
  --print-toxiproxy-bin) echo "$TOXIPROXY_BIN"; exit 0 ;;
  -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "setup.sh: unknown option '$1' (use --print-toxiproxy-bin or no option)" >&2; exit 2 ;;
esac

# Run a command as root: directly when we are root, else through sudo when it is there.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    missing "root is needed to run '$*': run scripts/setup.sh as root or install sudo"
  fi
}

# --- 1. PostgreSQL ------------------------------------------------------------
postgres_present() {
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null \
    && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if postgres_present; then
  log "PostgreSQL: present ($(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1))"
else
  command -v apt-get >/dev/null 2>&1 \
    || missing "PostgreSQL server not found and no apt-get: install PostgreSQL >= 13 server binaries (Debian package 'postgresql')"
  log "PostgreSQL: installing Debian's package 'postgresql' (apt-get update first)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  postgres_present || missing "PostgreSQL install finished but /usr/lib/postgresql/*/bin/pg_ctl is missing"
  log "PostgreSQL: installed"
fi

# --- 2. Toxiproxy server --------------------------------------------------------
toxiproxy_current() {
  [ -x "$TOXIPROXY_BIN" ] \
    && [ "$("$TOXIPROXY_BIN" --version 2>/dev/null)" = "toxiproxy-server version $TOXIPROXY_VERSION" ]
}

if toxiproxy_current; then
  log "Toxiproxy: present ($TOXIPROXY_BIN, $TOXIPROXY_VERSION)"
else
  GO="${GO:-$(command -v go || true)}"  # $GO may name the go binary
  [ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
  go_hint="install Go >= 1.23 (go.dev/dl, or Debian's golang-1.23 from bookworm-backports)"
  [ -n "$GO" ] && [ -x "$GO" ] || missing "Go not found (needed to build toxiproxy-server $TOXIPROXY_VERSION): $go_hint"
  go_version="$("$GO" env GOVERSION 2>/dev/null || true)"  # e.g. go1.26.8
  printf '%s\n%s\n' "go1.23" "${go_version%%[-+ ]*}" | sort -V -C \
    || missing "$GO is ${go_version:-too old}; toxiproxy-server $TOXIPROXY_VERSION needs Go >= 1.23: $go_hint"
  log "Toxiproxy: building $TOXIPROXY_VERSION with go install (first time only; takes a minute or two)"
  mkdir -p "$CACHE_BIN"
  gobin="$(mktemp -d "$CACHE_BIN/.build.XXXXXX")"
  trap 'rm -rf "$gobin"' EXIT
  # The version string is stamped the way upstream's release build does (.goreleaser.yml);
  # a plain `go install` would report "git".
  GOBIN="$gobin" GOFLAGS="${GOFLAGS:-} -buildvcs=false" nice "$GO" install \
    -ldflags "-s -w -X $TOXIPROXY_MODULE.Version=$TOXIPROXY_VERSION" \
    "$TOXIPROXY_MODULE/cmd/server@v$TOXIPROXY_VERSION"
  mv -f "$gobin/server" "$TOXIPROXY_BIN"
  toxiproxy_current || missing "built $TOXIPROXY_BIN but '--version' does not say $TOXIPROXY_VERSION: $("$TOXIPROXY_BIN" --version 2>&1 || true)"
  log "Toxiproxy: built $TOXIPROXY_BIN ($("$TOXIPROXY_BIN" --version))"
fi

# --- 3. Python virtualenv ------------------------------------------------------
find_python() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

# The stamp covers what decides the venv's contents: the lock and the project metadata.
venv_inputs_hash() { cat "$LOCK" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1; }

want="$(venv_inputs_hash)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "virtualenv: current ($VENV)"
else
  if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)" || missing "python3.11 (or newer) not found: install python3.11 (Debian: apt-get install python3.11 python3.11-venv)"
    "$PY" -c 'import venv, ensurepip' 2>/dev/null \
      || missing "$PY cannot create virtualenvs: install its venv module (Debian: apt-get install python3-venv)"
    log "virtualenv: creating $VENV with $PY"
    "$PY" -m venv "$VENV"
  fi
  log "virtualenv: installing requirements.lock (hash-checked)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$LOCK"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$ROOT"
  echo "$want" >"$STAMP"
  log "virtualenv: ready"
fi

log "done: PostgreSQL, $TOXIPROXY_BIN, $VENV"
