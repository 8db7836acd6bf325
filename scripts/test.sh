#!/usr/bin/env bash
# test.sh is the project's test command, the one README.md names and
# .ci/run executes. From any directory it:
#
#   1. installs the real test peers and tools (scripts/install-peers.sh;
#      seconds once they are cached),
#   2. checks gofmt, go vet and staticcheck,
#   3. runs go test -race with the peers required (a missing peer fails),
#   4. runs every fuzz target for $FUZZTIME,
#   5. vets, staticchecks and tests the nested modules (cmd/demo, bench/),
#      which keep their dependencies out of the library's go.mod.
#
# Environment:
#   FUZZTIME             time per fuzz target (default 15s)
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
fuzztime=${FUZZTIME:-15s}

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

# run_fuzz runs each FuzzXxx found by go test -list for $fuzztime. go test
# -list prints a package's matching names, then its "ok <import path>" line.
# A failing target does not stop the others; the step fails at the end.
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
            echo "--- fuzz $f in $dir for $fuzztime"
            go test -run '^$' -fuzz "^${f}\$" -fuzztime "$fuzztime" "$dir" || failed+=("$dir $f")
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

# nested_module DIR: the demo and the benchmarks are modules of their own.
nested_module() {
  cd "$1"
  go vet ./...
  staticcheck ./...
  go test -race -count=1 ./... 2>&1 | tee -a "$test_log"
}

step "install peers and tools" scripts/install-peers.sh
step "gofmt" check_gofmt
step "go vet" go vet "${pkgs[@]}"
step "staticcheck" staticcheck "${pkgs[@]}"
step "go test -race" run_tests
step "fuzz (${fuzztime} each)" run_fuzz
for m in cmd/demo bench; do
  if [[ -f $m/go.mod && -z ${RESILIENT_TEST_PKGS:-} ]]; then
    step "module $m" nested_module "$m"
  fi
done
