#!/usr/bin/env bash
# The static gates of the project, one at a time, for .pre-commit-config.yaml
# and scripts/test.sh: gates.sh gofmt [FILE...] | vet | staticcheck | tidy | mypy | python | vulncheck
# (python = black, isort, flake8 and mypy over the Python client and its example).
# Each runs over every Go module (., deploy, bench) or the Python client, but
# vulncheck, which checks the module that ships (the library, sessiond and
# sessionctl) and needs the network, so it is no pre-commit hook.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=(. deploy bench)

gate=${1:?usage: gates.sh gofmt|vet|staticcheck|tidy|mypy|python|vulncheck [FILE...]}
shift
case $gate in
gofmt)
  if [ $# -eq 0 ]; then
    mapfile -t files < <(git ls-files '*.go')
    set -- "${files[@]}"
  fi
  unformatted=$(gofmt -l "$@")
  if [ -n "$unformatted" ]; then
    echo "gofmt would change (run gofmt -w on them):" >&2
    echo "$unformatted" >&2
    exit 1
  fi
  ;;
vet)
  for m in "${modules[@]}"; do (cd "$m" && go vet ./...); done
  ;;
staticcheck)
  for m in "${modules[@]}"; do (cd "$m" && go tool staticcheck ./...); done
  ;;
tidy)
  for m in "${modules[@]}"; do
    if ! (cd "$m" && go mod tidy -diff); then
      echo "go mod tidy would change $m/go.mod or go.sum: run (cd $m && go mod tidy)" >&2
      exit 1
    fi
  done
  ;;
mypy)
  (cd clients/python && PATH="/usr/bin:$PATH" MYPYPATH=. mypy --strict sessiondb tests ../../examples/example_usage.py)
  ;;
python)
  # Debian's tools before any other Python's.
  (
    cd clients/python
    export PATH="/usr/bin:$PATH"
    example=../../examples/example_usage.py
    black --config pyproject.toml --check --quiet . "$example"
    isort --settings-path . --check-only --quiet . "$example"
    flake8 . "$example"
  )
  "$0" mypy
  ;;
vulncheck)
  # govulncheck comes from the module proxy and its findings from the Go
  # vulnerability database. When either does not answer, it prints one line
  # saying that it did not run and why, and passes, unless
  # SESSIONDB_REQUIRE_VULNCHECK=1 (then it fails). SESSIONDB_SKIP_VULNCHECK=1
  # does not try. SESSIONDB_VULNDB points at another copy of the database
  # (e.g. file:///srv/vulndb).
  version=v1.9.0
  db=${SESSIONDB_VULNDB:-https://vuln.go.dev}
  not_run() {
    echo "govulncheck NOT RUN: $1" >&2
    if [ "${SESSIONDB_REQUIRE_VULNCHECK:-}" = 1 ]; then
      echo "(SESSIONDB_REQUIRE_VULNCHECK=1: failing)" >&2
      exit 1
    fi
    exit 0
  }
  if [ "${SESSIONDB_SKIP_VULNCHECK:-}" = 1 ]; then
    not_run "SESSIONDB_SKIP_VULNCHECK=1"
  fi
  bin=$(mktemp -d)
  trap 'rm -rf "$bin"' EXIT
  if ! out=$(GOBIN="$bin" go install "golang.org/x/vuln/cmd/govulncheck@$version" 2>&1); then
    not_run "the module proxy did not serve golang.org/x/vuln@$version: $(tail -n 1 <<<"$out")"
  fi
  # Ask the database first: a scan loads every package before it fetches.
  case $db in
  http://* | https://*)
    if command -v curl >/dev/null 2>&1 && ! err=$(curl -sSf --max-time 20 -o /dev/null "$db/index/db.json.gz" 2>&1); then
      not_run "the vulnerability database $db does not answer ($err)"
    fi
    ;;
  esac
  if out=$("$bin/govulncheck" -db "$db" ./... 2>&1); then
    echo "$out"
  elif grep -q '^govulncheck: fetching vulnerabilities' <<<"$out"; then
    not_run "the vulnerability database $db does not answer ($(grep -m 1 '^govulncheck: fetching' <<<"$out"))"
  else
    echo "$out" >&2
    exit 1
  fi
  ;;
*)
  echo "gates.sh: unknown gate $gate" >&2
  exit 2
  ;;
esac
