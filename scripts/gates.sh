#!/usr/bin/env bash
# The static gates of the project, one at a time, for .pre-commit-config.yaml
# and scripts/test.sh: gates.sh gofmt [FILE...] | vet | staticcheck | tidy | mypy | python
# (python = black, isort, flake8 and mypy over the Python client and its example).
# Each runs over every Go module (., deploy, bench) or the Python client.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=(. deploy bench)

gate=${1:?usage: gates.sh gofmt|vet|staticcheck|tidy|mypy|python [FILE...]}
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
*)
  echo "gates.sh: unknown gate $gate" >&2
  exit 2
  ;;
esac
