#!/usr/bin/env bash
# Runs every check and test of the project: gofmt, go vet, staticcheck,
# go mod tidy and go test -race over all packages, against real redis-server processes that
# the tests start on loopback ports. Three modules: the library and its
# commands (.), the deployment checks (deploy/, whose Kubernetes, Compose and
# BuildKit dependencies stay out of the library's go.mod) and the benchmark
# (bench/, likewise for the peer session stores it measures).
#
# Then the Python client (clients/python): black, isort, flake8, mypy --strict
# and pytest with Debian's /usr/bin/python3, against a sessiond built from the
# tree; SESSIONDB_SKIP_PYTHON=1 skips that stage.
#
# redis-server, Chromium, promtool and the Python tools are installed with
# apt-get when missing and running as root; otherwise the script says what to install. Extra
# arguments go to go test (e.g. ./scripts/test.sh -run Conformance -v).
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

# Chromium for the browser tests (sessiond's console, the login service)
# and promtool (Debian's prometheus package) for the alerting rules' tests.
# SESSIONDB_SKIP_BROWSER=1 and SESSIONDB_SKIP_PROMTOOL=1 skip those tests
# instead of installing the tools.
tools_missing=""
if [ "${SESSIONDB_SKIP_BROWSER:-}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  tools_missing="$tools_missing chromium fonts-liberation"
fi
if [ "${SESSIONDB_SKIP_PROMTOOL:-}" != 1 ] && ! command -v promtool >/dev/null 2>&1; then
  tools_missing="$tools_missing prometheus"
fi
if [ -n "$tools_missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing$tools_missing with apt-get"
    apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $tools_missing >/dev/null
  else
    echo "The browser and alerting-rule tests need packages that are not installed:$tools_missing" >&2
    echo "Install them:  sudo apt-get install -y --no-install-recommends$tools_missing   (Debian/Ubuntu)" >&2
    echo "or set SESSIONDB_SKIP_BROWSER=1 (chromium) and SESSIONDB_SKIP_PROMTOOL=1 (prometheus) to skip those tests." >&2
    exit 1
  fi
fi

# The Debian packages of the Python stage: the tools, pytest, httpx (the async
# client), venv with setuptools and wheel (the offline install test), openssl
# (the TLS test's certificates).
python_packages="black isort flake8 mypy python3-pytest python3-httpx python3-venv python3-setuptools python3-wheel openssl"
python_missing() {
  local missing="" p
  if command -v dpkg-query >/dev/null 2>&1; then
    for p in $python_packages; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
  else
    for p in /usr/bin/python3 black isort flake8 mypy openssl; do
      command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    /usr/bin/python3 -c 'import pytest, httpx, setuptools, wheel' 2>/dev/null || missing="$missing pytest httpx setuptools wheel"
  fi
  echo "${missing# }"
}
if [ "${SESSIONDB_SKIP_PYTHON:-}" != 1 ]; then
  missing=$(python_missing)
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "== installing $missing with apt-get"
      apt-get update -qq
      # shellcheck disable=SC2086 # a list of package names
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo "The Python client's checks need packages that are not installed: $missing" >&2
      echo "Install them:  sudo apt-get install -y $missing   (Debian/Ubuntu)" >&2
      echo "or set SESSIONDB_SKIP_PYTHON=1 to skip the Python client's checks." >&2
      exit 1
    fi
  fi
fi

echo "== gofmt, go vet, staticcheck, go mod tidy (every module; scripts/gates.sh, also the pre-commit hooks)"
scripts/gates.sh gofmt
scripts/gates.sh vet
scripts/gates.sh staticcheck
scripts/gates.sh tidy
echo "== govulncheck (the shipped module; needs the module proxy and vuln.go.dev, else it says it did not run)"
scripts/gates.sh vulncheck
echo "== bench module builds; its summary arithmetic is tested"
(cd bench && go build -o /dev/null ./cmd/sessionbench && go test ./...)
if [ "${SESSIONDB_SKIP_PYTHON:-}" = 1 ]; then
  echo "== python client: skipped (SESSIONDB_SKIP_PYTHON=1)"
else
  echo "== python client (black, isort, flake8, mypy --strict, pytest)"
  scripts/gates.sh python
  (
    cd clients/python
    /usr/bin/python3 -m pytest -q -p no:cacheprovider
  )
fi
echo "== go test -race"
go test -race -count=1 -timeout 30m "$@" ./...
echo "== go test -race (deploy module: manifests, Docker files, redis.conf and ACL)"
(cd deploy && go test -race -count=1 -timeout 20m "$@" ./...)
