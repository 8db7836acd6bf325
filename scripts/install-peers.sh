#!/usr/bin/env bash
# install-peers.sh installs the real peers the test suite talks to, and the
# extra tools scripts/test.sh runs:
#
#   toxiproxy-server  network faults            go install, pinned
#   otelcol           OTLP in, debug log out    collector builder, pinned manifest
#   redis-server      breaker state store       Debian package (apt-get)
#   nginx             reverse proxy, real 502s  Debian package nginx-light
#   staticcheck       lint                      go install, pinned
#   benchstat         benchmark comparison      go install, pinned
#
# Go-built binaries land in $RESILIENT_TOOLS/bin (default
# $HOME/.cache/resilient-tools/bin), each with a stamp file beside it naming
# what it was built from; a second run finds the stamps and takes seconds.
# Builds run in parallel, each logging to $RESILIENT_TOOLS/logs/<tool>.log;
# the script prints one line per tool and exits non-zero naming any tool that
# failed, with the tail of its log.
#
# Environment:
#   RESILIENT_TOOLS   tools directory (default $HOME/.cache/resilient-tools)
#   GOFLAGS etc.      ignored for the tool builds (a -race or -tags meant for
#                     the tests must not leak into them)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

TOOLS=${RESILIENT_TOOLS:-$HOME/.cache/resilient-tools}
BIN=$TOOLS/bin
LOGS=$TOOLS/logs
BUILD=$TOOLS/build
mkdir -p "$BIN" "$LOGS" "$BUILD"
TOOLS=$(cd "$TOOLS" && pwd) BIN=$TOOLS/bin LOGS=$TOOLS/logs BUILD=$TOOLS/build

# Pinned versions. Toxiproxy: @latest resolves to v2.5.0 (2022) and the
# module proxy refuses v2.12.1+. staticcheck and benchstat are what @latest
# gave when they were pinned; both build with Go 1.26.
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0
OTELCOL_BUILDER_MODULE=go.opentelemetry.io/collector/cmd/builder@v0.165.0
OTELCOL_MANIFEST=$repo_root/scripts/otelcol/builder.yaml
STATICCHECK_MODULE=honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT_MODULE=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

command -v go >/dev/null || { echo "install-peers: go is not on PATH" >&2; exit 1; }

# The tools are built for this machine with default flags, whatever the
# caller's environment says about the project's own builds.
export GOFLAGS= GOWORK=off
unset GOOS GOARCH GOEXPERIMENT GOAMD64 CGO_ENABLED 2>/dev/null || true

# One install at a time per tools directory (two test runs starting together
# would otherwise build the same binaries into the same place).
if command -v flock >/dev/null; then
  exec 9>"$TOOLS/.lock"
  flock 9
fi

now_ms() { date +%s%3N; }

# stamp_ok BINARY WANT: the binary exists and its stamp says it came from WANT.
stamp_ok() {
  [[ -x $1 && -f $1.stamp && "$(cat "$1.stamp")" == "$2" ]]
}

# go_install NAME BUILT_NAME MODULE@VERSION: installs MODULE into $BIN/NAME
# through a scratch GOBIN, so a failed or interrupted build never leaves a
# half-written binary behind and the binary can be renamed.
go_install() {
  local name=$1 built=$2 spec=$3
  if stamp_ok "$BIN/$name" "$spec"; then
    echo cached
    return
  fi
  local gobin=$BUILD/gobin-$name
  rm -rf "$gobin"
  (cd "$BUILD" && GOBIN=$gobin go install "$spec")
  mv -f "$gobin/$built" "$BIN/$name"
  rm -rf "$gobin"
  echo "$spec" >"$BIN/$name.stamp"
  echo built
}

install_toxiproxy() { go_install toxiproxy-server server "$TOXIPROXY_MODULE"; }
install_staticcheck() { go_install staticcheck staticcheck "$STATICCHECK_MODULE"; }
install_benchstat() { go_install benchstat benchstat "$BENCHSTAT_MODULE"; }

# install_otelcol builds $BIN/otelcol from the manifest. Its stamp is the
# SHA-256 of the builder version and the manifest, so editing either rebuilds.
install_otelcol() {
  local want
  want=$({ echo "$OTELCOL_BUILDER_MODULE"; cat "$OTELCOL_MANIFEST"; } | sha256sum | cut -d' ' -f1)
  if stamp_ok "$BIN/otelcol" "$want"; then
    echo cached
    return
  fi
  # The builder itself is a build-time tool: keep it out of $BIN.
  local builder_dir=$BUILD/otelcol-builder
  mkdir -p "$builder_dir"
  if ! stamp_ok "$builder_dir/builder" "$OTELCOL_BUILDER_MODULE"; then
    (cd "$BUILD" && GOBIN=$builder_dir go install "$OTELCOL_BUILDER_MODULE")
    echo "$OTELCOL_BUILDER_MODULE" >"$builder_dir/builder.stamp"
  fi
  local work=$BUILD/otelcol-src
  rm -rf "$work"
  mkdir -p "$work"
  cp "$OTELCOL_MANIFEST" "$work/builder.yaml"
  (cd "$work" && "$builder_dir/builder" --config=builder.yaml)
  mv -f "$work/dist/otelcol" "$BIN/otelcol"
  rm -rf "$work"
  echo "$want" >"$BIN/otelcol.stamp"
  echo built
}

# as_root runs a command as root, through sudo when we are not root.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo -n "$@"
  else
    echo "need root (or passwordless sudo) to apt-get install $*" >&2
    return 1
  fi
}

# apt_install COMMAND PACKAGE PIDS_FN: installs a Debian package without
# letting it start its system service (policy-rc.d exiting 101 tells
# invoke-rc.d "not now"), then stops any COMMAND process the install
# started anyway: the tests start their own servers. PIDS_FN lists the
# running COMMAND processes.
apt_install() {
  local cmd=$1 pkg=$2 pids_fn=$3
  if have "$cmd"; then
    echo cached
    return
  fi
  if ! command -v apt-get >/dev/null; then
    echo "$cmd: not on PATH and no apt-get here; install $pkg with your package manager" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # The apt installs run in parallel with the builds but one at a time
  # among themselves: each holds dpkg's lock and the policy-rc.d guard.
  if command -v flock >/dev/null; then
    exec 8>"$TOOLS/.apt-lock"
    flock 8
  fi
  local guard=/usr/sbin/policy-rc.d created_guard=
  if [[ ! -e $guard ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$guard && chmod 755 $guard"
    created_guard=1
  fi
  local before status=0
  before=$("$pids_fn")
  {
    # Update the package lists only when they do not know the package, or
    # when they are stale enough that the download fails.
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      as_root apt-get update -q
    fi
    as_root apt-get install -y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=120 --no-install-recommends "$pkg" ||
      { as_root apt-get update -q && as_root apt-get install -y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=120 --no-install-recommends "$pkg"; }
  } || status=$?
  if [[ -n $created_guard ]]; then
    as_root rm -f "$guard"
  fi
  [[ $status -eq 0 ]] || return "$status"
  # No system server may stay behind from this install, now or at the
  # next boot.
  if [[ -d /run/systemd/system ]]; then
    as_root systemctl disable --now "$cmd.service" >/dev/null 2>&1 || true
  fi
  local pid
  for pid in $("$pids_fn"); do
    if ! grep -qx "$pid" <<<"$before"; then
      echo "stopping $cmd $pid started by the package install"
      as_root kill "$pid" || true
    fi
  done
  have "$cmd"
  echo installed
}

# have COMMAND: COMMAND is on PATH, or in /usr/sbin (where nginx goes, and
# which is not on a user's PATH everywhere).
have() { command -v "$1" >/dev/null || [[ -x /usr/sbin/$1 ]]; }

# pids_of COMM lists running processes named COMM (no procps on a bare
# image).
pids_of() {
  local d
  for d in /proc/[0-9]*; do
    [[ $(cat "$d/comm" 2>/dev/null) == "$1" ]] && echo "${d#/proc/}"
  done
  return 0
}
redis_pids() { pids_of redis-server; }
nginx_pids() { pids_of nginx; }

install_redis() { apt_install redis-server redis-server redis_pids; }
# nginx-light is the smallest build of nginx (proxy, no extra modules); the
# tests run it as a reverse proxy whose upstream goes away.
install_nginx() { apt_install nginx nginx-light nginx_pids; }

tools=(otelcol toxiproxy-server staticcheck benchstat redis-server nginx)
declare -A fn=(
  [otelcol]=install_otelcol
  [toxiproxy-server]=install_toxiproxy
  [staticcheck]=install_staticcheck
  [benchstat]=install_benchstat
  [redis-server]=install_redis
  [nginx]=install_nginx
)
declare -A pid=()

echo "install-peers: tools in $BIN (logs in $LOGS)"
for t in "${tools[@]}"; do
  rm -f "$LOGS/$t.result"
  (
    start=$(now_ms)
    # Not "fn || status=$?": bash would ignore set -e inside fn.
    set +e
    (set -e; "${fn[$t]}") >"$LOGS/$t.log" 2>&1
    status=$?
    set -e
    ms=$(($(now_ms) - start))
    if [[ $status -ne 0 ]]; then
      result=FAILED
    else
      result=$(tail -n 1 "$LOGS/$t.log")
    fi
    printf '%s %d.%d\n' "$result" $((ms / 1000)) $((ms % 1000 / 100)) >"$LOGS/$t.result"
    exit "$status"
  ) &
  pid[$t]=$!
done

failed=()
for t in "${tools[@]}"; do
  if wait "${pid[$t]}"; then :; else failed+=("$t"); fi
  read -r result secs <"$LOGS/$t.result" 2>/dev/null || { result=FAILED secs=?; }
  printf '  %-17s %-9s %6ss\n' "$t" "$result" "$secs"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  for t in "${failed[@]}"; do
    echo
    echo "install-peers: $t FAILED; last lines of $LOGS/$t.log:" >&2
    tail -n 40 "$LOGS/$t.log" | sed "s/^/  $t| /" >&2
  done
  echo >&2
  echo "install-peers: failed: ${failed[*]}" >&2
  exit 1
fi
