#!/usr/bin/env bash
# test.sh is the project's test command, the one README.md names and
# .ci/run executes. From any directory it:
#
#   1. installs the real test peers and tools (scripts/install-peers.sh;
#      seconds once they are cached),
#   2. checks gofmt, go vet and staticcheck,
#   3. runs go test -race with the peers required (a missing peer fails),
#      then the allocation check (TestAllocs_*) without -race, which
#      changes what allocates,
#   4. runs every fuzz target for a fixed number of executions (below),
#   5. vets, staticchecks and tests the nested modules (cmd/demo, bench/,
#      examples/sdk), which keep their dependencies out of the library's
#      go.mod, with -race,
#   6. runs the short scenario matrix (bench/scenario) without -race: it
#      judges outcomes in time, and the race detector makes its load
#      generator start calls hundreds of ms late, so its target tests skip
#      under -race.
#
# Environment:
#   FUZZTIME             -fuzztime for every target, overriding the
#                        per-target counts (e.g. 60s or 500000x)
#   RESILIENT_TEST_PKGS  packages for vet, staticcheck, test and fuzz
#                        (default ./...)
#   RESILIENT_TOOLS      tools directory (default $HOME/.cache/resilient-tools)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS=${RESILIENT_TOOLS:-$HOME/.cache/resilient-tools}
export RESILIENT_TOOLS=$TOOLS
export PATH=$TOOLS/bin:$PATH
export RESILIENT_REQUIRE_PEERS=1
read -r -a pkgs <<<"${RESILIENT_TEST_PKGS:-./...}"
# Fuzz budgets are counts of executions, not durations. A duration races the
# fuzz coordinator's own deadline at the end of the run on a loaded machine
# (golang/go#75804, fixed in Go 1.27, not in 1.26.x): the target then fails
# with a bare "context deadline exceeded" and no reproducer. A count has no
# deadline. Each count is about 10 s of this target on a 2-core machine,
# measured from the executions per second of a 60 s run (see
# docs/testing.md); a slower machine takes longer, it does not fail.
declare -A fuzz_execs=(
  [FuzzExcerpt]=350000
  [FuzzRequestID]=400000
  [FuzzRateLimitReset]=350000
  [FuzzRetryAfter]=300000
  [FuzzRedactURL]=250000
  [FuzzQueryHasSecret]=120000
  [FuzzStatusError]=90000
  [FuzzParseProblem]=70000
)
fuzz_default_execs=100000

start_all=$SECONDS
test_log=$(mktemp)
timings=()

# At the end, pass or fail, repeat go test's package lines and the step
# times, so the tail of a CI log says what happened.
summary() {
  local status=$?
  echo
  echo "==> summary"
  if [[ -s $test_log ]]; then
    grep -E '^(ok|FAIL|---|panic:)' "$test_log" | grep -v -- '--- PASS' || true
  fi
  printf '%s\n' "${timings[@]}"
  if [[ $status -eq 0 ]]; then
    echo "all checks passed in $((SECONDS - start_all))s"
  else
    echo "FAILED (exit $status) after $((SECONDS - start_all))s"
  fi
  rm -f "$test_log"
  exit "$status"
}
trap summary EXIT

# step NAME COMMAND...: runs one step under a header and records its time.
step() {
  local name=$1 t0=$SECONDS status
  shift
  echo
  echo "==> $name"
  # Not "$@" || status=$?: bash would ignore set -e inside the functions.
  set +e
  (set -e; "$@")
  status=$?
  set -e
  timings+=("$(printf '  %-28s %4ds  %s' "$name" $((SECONDS - t0)) "$([[ $status -eq 0 ]] && echo ok || echo FAILED)")")
  echo "<== $name: $((SECONDS - t0))s"
  return "$status"
}

# check_gofmt checks every .go file in the repository, or only the packages'
# directories when RESILIENT_TEST_PKGS narrows the run.
check_gofmt() {
  local out roots=(.)
  if [[ -n ${RESILIENT_TEST_PKGS:-} ]]; then
    mapfile -t roots < <(go list -e -f '{{.Dir}}' "${pkgs[@]}")
  fi
  out=$(find "${roots[@]}" -maxdepth "$([[ ${roots[*]} == . ]] && echo 100 || echo 1)" -name '*.go' \
    -not -path '*/.git/*' -not -path '*/vendor/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)
  if [[ -n $out ]]; then
    echo "gofmt would change these files (run gofmt -w on them):"
    echo "$out"
    return 1
  fi
}

run_tests() {
  go test -race -count=1 -timeout 15m "${pkgs[@]}" 2>&1 | tee "$test_log"
}

# fuzz_budget NAME: the -fuzztime of one target: $FUZZTIME when set, else
# its count of executions.
fuzz_budget() {
  if [[ -n ${FUZZTIME:-} ]]; then
    echo "$FUZZTIME"
  else
    echo "${fuzz_execs[$1]:-$fuzz_default_execs}x"
  fi
}

# fuzz_one DIR NAME: fuzzes one target. A real finding fails at once: the
# fuzzer writes a reproducer under testdata/fuzz, and go test replays it on
# every later run. A failure that wrote no reproducer (the coordinator's
# own trouble on a loaded machine, such as a worker that did not answer in
# time) is run once more, and fails only if it happens again.
fuzz_one() {
  local dir=$1 name=$2 budget out try
  budget=$(fuzz_budget "$name")
  for try in 1 2; do
    echo "--- fuzz $name in $dir for $budget (try $try)"
    out=$(mktemp)
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$dir" 2>&1 | tee "$out"; then
      rm -f "$out"
      return 0
    fi
    if grep -q 'Failing input written to' "$out"; then
      rm -f "$out"
      return 1
    fi
    rm -f "$out"
    echo "--- fuzz $name failed without a reproducer; running it once more"
  done
  return 1
}

# run_fuzz runs each FuzzXxx found by go test -list. go test -list prints a
# package's matching names, then its "ok <import path>" line. A failing
# target does not stop the others; the step fails at the end.
run_fuzz() {
  local listing line names=() pkg dir f count=0 failed=()
  listing=$(go test -list '^Fuzz' "${pkgs[@]}") || { echo "$listing"; return 1; }
  while IFS= read -r line; do
    case $line in
      Fuzz*)
        names+=("$line")
        ;;
      ok*)
        pkg=$(awk '{print $2}' <<<"$line")
        if [[ ${#names[@]} -gt 0 ]]; then
          dir=$(go list -f '{{.Dir}}' "$pkg") || return 1
          dir=./$(realpath --relative-to=. "$dir")
          for f in "${names[@]}"; do
            fuzz_one "$dir" "$f" || failed+=("$dir $f")
            count=$((count + 1))
          done
        fi
        names=()
        ;;
    esac
  done <<<"$listing"
  echo "$count fuzz target(s) run"
  if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'fuzz target failed: %s\n' "${failed[@]}"
    return 1
  fi
}

# nested_module DIR: the demo, the benchmarks and the SDK examples are
# modules of their own.
nested_module() {
  cd "$1"
  go vet ./...
  staticcheck ./...
  go test -race -count=1 ./... 2>&1 | tee -a "$test_log"
}

# scenario_matrix runs bench/scenario without -race, alone, so that its
# load generator keeps its schedule: its target tests (the short matrix)
# skip under -race, and fail with "could not hold the schedule" when calls
# start late here too.
scenario_matrix() {
  cd bench
  go test -count=1 ./scenario 2>&1 | tee -a "$test_log"
}

step "install peers and tools" scripts/install-peers.sh
step "gofmt" check_gofmt
step "go vet" go vet "${pkgs[@]}"
step "staticcheck" staticcheck "${pkgs[@]}"
step "go test -race" run_tests
step "allocations per request (no -race)" go test -run '^TestAllocs_' -count=1 .
step "fuzz" run_fuzz
for m in cmd/demo bench examples/sdk; do
  if [[ -f $m/go.mod && -z ${RESILIENT_TEST_PKGS:-} ]]; then
    step "module $m" nested_module "$m"
  fi
done
if [[ -f bench/go.mod && -z ${RESILIENT_TEST_PKGS:-} ]]; then
  step "scenario matrix (no -race)" scenario_matrix
fi
