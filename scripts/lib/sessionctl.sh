# shellcheck shell=bash
# Sourced by the wrapper scripts in scripts/. run_sessionctl ARGS... runs
# sessionctl with ARGS in place of the calling script:
#
#   - the program named by $SESSIONCTL, when set;
#   - else the sessionctl found on PATH (an installed release);
#   - else sessionctl built from this repository into bin/sessionctl (Go's
#     build cache makes it quick after the first time).
#
# The caller's working directory is kept (so are the sessionctl.env and .env files found there),
# and sessionctl's exit code becomes the script's.
run_sessionctl() {
  if [ -n "${SESSIONCTL:-}" ]; then
    exec "$SESSIONCTL" "$@"
  fi
  if command -v sessionctl >/dev/null 2>&1; then
    exec sessionctl "$@"
  fi
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if ! command -v go >/dev/null 2>&1; then
    echo "$(basename "$0"): sessionctl is not on PATH, and Go is not installed to build it from $repo" >&2
    echo "install it with:  (cd $repo && go install ./cmd/sessionctl)" >&2
    exit 127
  fi
  (cd "$repo" && go build -o bin/sessionctl ./cmd/sessionctl)
  exec "$repo/bin/sessionctl" "$@"
}
