#!/usr/bin/env bash
# run.sh measures resilient against its peers and writes bench/RESULTS.md,
# bench/SCENARIOS.md and docs/bench.svg. From any directory:
#
#   bench/run.sh
#
# It builds the benchmark binary once, then runs BenchmarkPeers and
# BenchmarkResilientCost COUNT times, one -count=1 round after another, so
# that the peers are interleaved in time (within a round each case runs
# every peer back to back), then the correctness checks (TestPeers_*), the
# outage scenario (TestOutage, ~16 s), the scenario matrix and the
# sick-backend scenario (cmd/scenarios, ~6 min, into bench/SCENARIOS.md;
# scenario 13 starts redis-server), counts instructions per request with valgrind
# (deterministic, unlike time on a shared machine), summarises with
# benchstat, bare net/http as the baseline, and writes the report. Raw
# output goes to bench/out/ (not committed). About 30 minutes on 2 cores.
#
# Environment:
#   COUNT               rounds (default 6: benchstat's minimum for a 95% CI)
#   BENCHTIME           -benchtime of each benchmark in a round (default 1s)
#   INSTR               0 skips counting instructions per request under
#                       valgrind (default: counted when valgrind is there)
#   SCENARIOS           0 skips the scenario matrix (default: run it)
#   RESILIENT_BENCH_REV measure this commit of resilient (git archive into a
#                       temporary workspace) instead of the work tree
#   RESILIENT_TOOLS     tools directory (default $HOME/.cache/resilient-tools)
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
cd "$bench_dir"

count=${COUNT:-6}
benchtime=${BENCHTIME:-1s}
tools=${RESILIENT_TOOLS:-$HOME/.cache/resilient-tools}
out=$bench_dir/out
mkdir -p "$out" "$tools/bin"
export PATH=$tools/bin:$PATH

if ! command -v benchstat >/dev/null; then
  echo "==> installing benchstat into $tools/bin"
  GOBIN=$tools/bin go install golang.org/x/perf/cmd/benchstat@latest
fi

# What is measured: the work tree, or a commit in a temporary workspace.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -n ${RESILIENT_BENCH_REV:-} ]]; then
  rev=$(git -C "$root" rev-parse --short "$RESILIENT_BENCH_REV")
  mkdir "$tmp/src"
  git -C "$root" archive "$rev" | tar -x -C "$tmp/src"
  gover=$(awk '$1 == "go" {print $2; exit}' "$root/go.work")
  printf 'go %s\n\nuse (\n\t%s\n\t%s\n)\n' "$gover" "$tmp/src" "$bench_dir" >"$tmp/go.work"
  export GOWORK=$tmp/go.work
else
  rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo "work tree")
fi
echo "==> measuring resilient at $rev: $count rounds of -benchtime=$benchtime"

# Build everything first: the work tree may change while the rounds run.
go test -c -o "$out/bench.test" .
go build -o "$out/report" ./cmd/report
go build -o "$out/scenarios" ./cmd/scenarios

rm -f "$out/peers.txt" "$out/cost.txt"
for i in $(seq 1 "$count"); do
  echo "==> round $i of $count"
  for b in Peers ResilientCost; do
    file=$out/peers.txt
    [[ $b == Peers ]] || file=$out/cost.txt
    if ! "$out/bench.test" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchmem \
      -test.count 1 -test.benchtime "$benchtime" >"$tmp/round.txt"; then
      cat "$tmp/round.txt" >&2
      exit 1
    fi
    cat "$tmp/round.txt" >>"$file"
    grep -E '^Benchmark' "$tmp/round.txt" || true
  done
done

echo "==> correctness checks"
RESILIENT_BENCH_FACTS=$out/facts.json "$out/bench.test" -test.run '^TestPeers_' -test.count 1

echo "==> outage"
RESILIENT_BENCH_OUTAGE=$out/outage.json "$out/bench.test" -test.run '^TestOutage$' -test.count 1 -test.v |
  grep -vE '^=== RUN'

if [[ ${SCENARIOS:-1} != 0 ]]; then
  echo "==> scenario matrix and sick backend (~6 min)"
  "$out/scenarios" -rev "$rev" -o "$bench_dir/SCENARIOS.md" -json "$out/scenarios.json" >/dev/null
  sed -n '/^## Targets/,/^## Whole run/p' "$bench_dir/SCENARIOS.md" | sed '$d'
fi

# instructions BENCH N prints the instructions (user space, whole process)
# that the benchmark binary executes running BENCH N times, under callgrind.
# One P and no async preemption: callgrind cannot follow Go's preemption
# signals, and idle Ps would spin for as long as valgrind is slow. No GC:
# when its cycles fall varies from run to run by more than the differences
# measured; allocs/op stands for it. No RDTSCP: valgrind 3.19 cannot decode
# it, and the runtime reads it whenever one of its locks sleeps.
instructions() {
  GOGC=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$out/bench.test" -test.run '^$' -test.bench "^$1\$" -test.benchtime "${2}x" 2>&1 |
    awk '/Collected :/ {print $NF}'
}

# per_op BENCH N1 N2 prints the instructions per iteration of BENCH: the
# difference between N2 and N1 iterations, so that start-up cancels out.
per_op() {
  local a b
  a=$(instructions "$1" "$2")
  b=$(instructions "$1" "$3")
  if [[ -z $a || -z $b ]]; then
    echo "instructions: no count for $1" >&2
    return 1
  fi
  echo $(((b - a) / ($3 - $2)))
}

rm -f "$out/instr.txt"
if [[ ${INSTR:-1} != 0 ]] && command -v valgrind >/dev/null; then
  echo "==> instructions per request (valgrind)"
  mapfile -t peers < <(sed -n 's/^BenchmarkPeers\/case=GET200\/transport=mem\/peer=\([^ \t]*\)-[0-9]*[ \t].*/\1/p' "$out/peers.txt" | awk '!seen[$0]++')
  for c in GET200/transport=mem PUT1KiB/transport=mem GET500/transport=mem GET200/transport=loopback GET500/transport=loopback; do
    n1=2000 n2=10000
    [[ $c == *loopback ]] && n1=300 n2=1500
    for p in "${peers[@]}"; do
      name=Peers/case=$c/peer=$p
      printf '%s\t%s\n' "$name" "$(per_op "BenchmarkPeers/case=${c%%/*}/${c#*/}/peer=$p" $n1 $n2)" | tee -a "$out/instr.txt"
    done
  done
  for v in bare defaults no-timeout no-timeout-no-breaker no-timeout-no-breaker-no-retries; do
    printf '%s\t%s\n' "ResilientCost/variant=$v" "$(per_op "BenchmarkResilientCost/variant=$v" 2000 10000)" | tee -a "$out/instr.txt"
  done
fi

echo "==> benchstat"
benchstat -col /peer "$out/peers.txt" >"$out/peers-benchstat.txt"
benchstat -format csv -col /peer "$out/peers.txt" >"$out/peers.csv" 2>/dev/null
if [[ -s $out/cost.txt ]]; then
  benchstat -col /variant "$out/cost.txt" >"$out/cost-benchstat.txt"
  benchstat -format csv -col /variant "$out/cost.txt" >"$out/cost.csv" 2>/dev/null
fi

echo "==> report"
scenarios_md=
[[ ${SCENARIOS:-1} != 0 ]] && scenarios_md=$bench_dir/SCENARIOS.md
"$out/report" -in "$out" -gomod "$bench_dir/go.mod" -results "$bench_dir/RESULTS.md" -chart "$root/docs/bench.svg" \
  -scenarios "$scenarios_md" \
  -rev "$rev" -runs "$count" -benchtime "$benchtime"
echo "wrote $bench_dir/RESULTS.md, $bench_dir/SCENARIOS.md and $root/docs/bench.svg (raw output and benchstat tables in $out)"
