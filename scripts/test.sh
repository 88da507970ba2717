#!/usr/bin/env bash
# Runs every check and test of the project: gofmt, go vet, staticcheck,
# go mod tidy and go test -race over all packages, against real redis-server processes that
# the tests start on loopback ports. Three modules: the library and its
# commands (.), the deployment checks (deploy/, whose Kubernetes, Compose and
# BuildKit dependencies stay out of the library's go.mod) and the benchmark
# (bench/, likewise for the peer session stores it measures).
#
# redis-server is installed with apt-get when missing and running as root;
# otherwise the script says what to install. Extra arguments go to go test
# (e.g. ./scripts/test.sh -run Conformance -v).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing redis-server and redis-tools with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  else
    echo "redis-server and redis-cli are needed by the tests and are not installed." >&2
    echo "Install them:  sudo apt-get install -y redis-server redis-tools   (Debian/Ubuntu)" >&2
    echo "or set SESSIONDB_SKIP_REDIS=1 to skip the tests that need Redis." >&2
    exit 1
  fi
fi

echo "== gofmt, go vet, staticcheck, go mod tidy (every module; scripts/gates.sh, also the pre-commit hooks)"
scripts/gates.sh gofmt
scripts/gates.sh vet
scripts/gates.sh staticcheck
scripts/gates.sh tidy
echo "== bench module builds"
(cd bench && go build -o /dev/null ./cmd/sessionbench)
echo "== go test -race"
go test -race -count=1 -timeout 30m "$@" ./...
echo "== go test -race (deploy module: manifests, Docker files, redis.conf and ACL)"
(cd deploy && go test -race -count=1 -timeout 20m "$@" ./...)
