#!/usr/bin/env bash
# Runs the fuzz campaigns of docs/reliability.md one at a time, at the lowest
# CPU priority (nice 19), one fuzzing worker each unless FUZZ_WORKERS says,
# and prints one line per target: executions, duration, corpus size. A crash
# stops the script with the fuzzer's report (the failing input is saved in
# testdata/fuzz/ of the package, where go test replays it).
#
#   scripts/fuzz.sh                      # every target, 10^7 executions each
#   FUZZ_EXECS=100000 scripts/fuzz.sh    # a quick pass
#   FUZZ_TIME=3m scripts/fuzz.sh         # three minutes each, however many executions that is
#   scripts/fuzz.sh FuzzRun FuzzRead     # some targets
#   FUZZ_SAVE=1 scripts/fuzz.sh          # then copy each target's corpus into testdata/fuzz/
#   FUZZ_WORKERS=2 scripts/fuzz.sh       # two fuzzing workers (on a machine with nothing else to do)
#
# The corpus a campaign grows lives in Go's cache ($(go env GOCACHE)/fuzz);
# FUZZ_SAVE=1 copies it into the package's testdata/fuzz/<target>/, which the
# normal go test runs as seeds.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZ_EXECS:-10000000}x
if [ -n "${FUZZ_TIME:-}" ]; then
  fuzztime=$FUZZ_TIME
fi
# package:target, in the order of docs/reliability.md.
all=(
  .:FuzzParseToken
  ./redisstore:FuzzDecode
  ./internal/httpapi:FuzzJSONBodies
  ./internal/httpapi:FuzzMetadataBodies
  ./internal/httpapi:FuzzConsoleForms
  ./internal/backup:FuzzRead
  ./cmd/sessionctl:FuzzRun
  ./config:FuzzReadDotEnv
)
selected=()
if [ $# -eq 0 ]; then
  selected=("${all[@]}")
else
  for want in "$@"; do
    found=""
    for t in "${all[@]}"; do
      if [ "${t#*:}" = "$want" ]; then
        selected+=("$t")
        found=1
      fi
    done
    if [ -z "$found" ]; then
      echo "fuzz.sh: unknown target $want; the targets: ${all[*]#*:}" >&2
      exit 2
    fi
  done
fi

module=$(go list -m)
cache=$(go env GOCACHE)/fuzz
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "load average at the start: $(cat /proc/loadavg 2>/dev/null || echo unknown)"
printf '%-36s %12s %10s %8s\n' target executions duration corpus
for t in "${selected[@]}"; do
  pkg=${t%%:*} name=${t#*:}
  start=$(date +%s)
  if ! nice -n 19 go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 10s -parallel "${FUZZ_WORKERS:-1}" "$pkg" >"$log" 2>&1; then
    cat "$log" >&2
    echo "fuzz.sh: $name failed" >&2
    exit 1
  fi
  secs=$(($(date +%s) - start))
  last=$(grep '^fuzz: elapsed' "$log" | tail -1)
  ran=$(sed -E 's/.*execs: ([0-9]+).*/\1/' <<<"$last")
  total=$(sed -E 's/.*\(total: ([0-9]+)\).*/\1/' <<<"$last")
  dir=$cache/$module/${pkg#./}/$name
  dir=${dir/\/.\//\/}
  printf '%-36s %12s %9ss %8s\n' "${pkg#./}:$name" "$ran" "$secs" "$total"
  if [ "${FUZZ_SAVE:-}" = 1 ] && [ -d "$dir" ]; then
    mkdir -p "$pkg/testdata/fuzz/$name"
    cp "$dir"/* "$pkg/testdata/fuzz/$name/"
  fi
done
echo "load average at the end: $(cat /proc/loadavg 2>/dev/null || echo unknown)"
