#!/usr/bin/env bash
# Set up everything the suite's own tests need (idempotent; fast when already done), then run them.
#   scripts/run-tests.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

./scripts/setup.sh
./scripts/setup-report-tools.sh
./scripts/build-kube.sh
# The Kubernetes and HTML-report tests must run here (never skipped for a missing tool).
export CLOUDFLOW_KUBE_REQUIRED=1
export CLOUDFLOW_REPORT_TOOLS_REQUIRED=1
exec .venv/bin/pytest tests -p no:cacheprovider -q -rfEs "$@"
