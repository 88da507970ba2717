#!/usr/bin/env bash
# A live view of the session database: active sessions, creates, validates
# and invalidations per second, evictions, Redis memory and latency,
# refreshed every second. Full-screen on a terminal, one line per refresh
# otherwise; Ctrl-C ends it.
#
#   scripts/dbManagement/monitor-sessions.sh [--interval 1s] [--count N] [--plain]
#
# A thin wrapper over "sessionctl monitor" (docs/sessionctl.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/sessionctl.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/sessionctl.sh"
run_sessionctl monitor "$@"
