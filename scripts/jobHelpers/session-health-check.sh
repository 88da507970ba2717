#!/usr/bin/env bash
# Checks that the session database's Redis answers and the configuration is
# sane, and prints one line saying why. For probes, cron jobs and CI.
#
#   scripts/jobHelpers/session-health-check.sh [--timeout 3s] [--strict]
#
# Exit codes: 0 healthy; 1 warnings with --strict; 2 bad configuration (or
# no Redis configured); 3 Redis unreachable or unhealthy.
#
# A thin wrapper over "sessionctl health" (docs/sessionctl.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/sessionctl.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/sessionctl.sh"
run_sessionctl health "$@"
