#!/usr/bin/env bash
# Backs up every live session to a JSON Lines file (a logical, streaming
# export; restore it with "sessionctl restore FILE").
#
#   scripts/dbManagement/backup-sessions.sh [FILE] [sessionctl backup flags]
#
# FILE defaults to $BACKUP_DIR/sessions-<UTC time>.jsonl, with BACKUP_DIR
# defaulting to ./backups (created with mode 0700; the file gets 0600: it
# holds user ids and metadata, though no token). "-" writes to standard
# output. Configured like every sessiondb tool (environment, then sessionctl.env and .env).
#
# A thin wrapper over "sessionctl backup" (docs/sessionctl.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/sessionctl.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/sessionctl.sh"

file=""
if [ $# -gt 0 ] && { [ "$1" = "-" ] || [ "${1#-}" = "$1" ]; }; then
  file=$1
  shift
fi
if [ -z "$file" ]; then
  dir=${BACKUP_DIR:-backups}
  mkdir -p "$dir"
  chmod 700 "$dir"
  file="$dir/sessions-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
fi
run_sessionctl backup "$@" "$file"
