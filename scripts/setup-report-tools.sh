#!/usr/bin/env bash
# Install what `cloudflow-checks report --html` and its test need:
#   1. the Allure 3 report generator from npm, pinned by tools/allure/package-lock.json,
#      into tools/allure/node_modules (project-local; `npm ci`, so the lock is honoured),
#   2. Debian's `chromium` (headless: the report test opens the built report in it).
# Idempotent and quick when all is in place. Runs as root, or as another user with sudo for apt.
# A missing prerequisite ends with one line naming what to install, and exit status 2.
#
# Usage: scripts/setup-report-tools.sh [--no-chromium]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools/allure"
ALLURE_BIN="$TOOLS/node_modules/.bin/allure"
WANT_CHROMIUM=1

log() { printf '[setup-report-tools] %s\n' "$*" >&2; }
missing() { printf 'setup-report-tools: %s\n' "$*" >&2; exit 2; }

case "${1:-}" in
  "") ;;
  --no-chromium) WANT_CHROMIUM=0 ;;
  -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "setup-report-tools.sh: unknown option '$1' (use --no-chromium or no option)" >&2; exit 2 ;;
esac

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else missing "root is needed to run '$*': run as root or install sudo"; fi
}

# --- 1. Allure 3 (npm) ----------------------------------------------------------
allure_current() {
  [ -x "$ALLURE_BIN" ] && [ -f "$TOOLS/node_modules/.package-lock.json" ] \
    && [ "$TOOLS/node_modules/.package-lock.json" -nt "$TOOLS/package-lock.json" ]
}

if allure_current; then
  log "Allure: present ($ALLURE_BIN)"
else
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    || missing "node and npm not found (needed for the Allure 3 report generator): apt-get install nodejs npm (Node >= 20)"
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || missing "Node $(node --version) is too old for Allure 3: install Node >= 20"
  log "Allure: npm ci in tools/allure (pinned by package-lock.json)"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$TOOLS/node_modules/.package-lock.json"
  [ -x "$ALLURE_BIN" ] || missing "npm ci finished but $ALLURE_BIN is missing"
  log "Allure: installed ($("$ALLURE_BIN" --version 2>/dev/null || echo '?'))"
fi

# --- 2. Chromium (Debian) -------------------------------------------------------
if [ "$WANT_CHROMIUM" = 1 ]; then
  if command -v chromium >/dev/null 2>&1; then
    log "Chromium: present ($(command -v chromium))"
  else
    command -v apt-get >/dev/null 2>&1 \
      || missing "chromium not found and no apt-get: install Chromium and put 'chromium' on PATH"
    log "Chromium: installing Debian's package 'chromium'"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    command -v chromium >/dev/null 2>&1 || missing "chromium install finished but 'chromium' is not on PATH"
    log "Chromium: installed ($(chromium --version 2>/dev/null || echo '?'))"
  fi
fi
