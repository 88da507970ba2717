#!/usr/bin/env bash
# Opens redis-cli on the session database's Redis, configured like every
# sessiondb tool: environment, then sessionctl.env and .env (REDIS_URL or REDIS_HOST,
# REDIS_PORT, REDIS_DB, REDIS_USERNAME, REDIS_PASSWORD or
# REDIS_PASSWORD_FILE, REDIS_TLS, REDIS_TLS_CA_FILE, REDIS_SENTINEL_MASTER).
# The password reaches redis-cli through REDISCLI_AUTH, never its command
# line. Arguments go to redis-cli.
#
#   scripts/dbManagement/redis-connect.sh                  # interactive
#   scripts/dbManagement/redis-connect.sh -- INFO memory   # one command
#
# A thin wrapper over "sessionctl connect" (docs/sessionctl.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/sessionctl.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/sessionctl.sh"
run_sessionctl connect "$@"
