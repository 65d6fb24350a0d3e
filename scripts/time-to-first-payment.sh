#!/usr/bin/env bash
# Time to first payment: from `git clone` to the first `201` of
# `POST /payments` against the sandbox of `cargo xtask run`, with an empty
# target directory (the crate download cache stays warm: crates are not
# downloaded again).
#
#   bash scripts/time-to-first-payment.sh [COMMIT] [SCRATCH_DIR]
#
# COMMIT defaults to HEAD; SCRATCH_DIR (default /tmp/finconnect-first-payment)
# is emptied first. It runs the phases `cargo xtask run` goes through one
# after another, each under /usr/bin/time (wall and CPU seconds: on a shared
# machine the CPU seconds are the figure that does not depend on the load):
#
#   clone      git clone + checkout
#   xtask      cargo build -p xtask (what the `cargo xtask` alias compiles first)
#   component  the component build of `cargo xtask run` (release wasm32-wasip2;
#              with wasm-opt at revisions whose `run` used it)
#   host       the host build of `cargo xtask run` (host + sandbox)
#   first-201  cargo xtask run: start, compile the component, first POST /payments -> 201
#
# `cargo xtask run` does the same work in one command; splitting it names the
# phases (and, at revisions where `run` builds the component and the host at
# the same time, adds up their wall times). With END_TO_END=1 the script runs
# only `cargo xtask run` after the clone, as a user would: the "first-201"
# line is then the whole build and start. Prints one line per phase and the total.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:-HEAD}
scratch=${2:-/tmp/finconnect-first-payment}
commit=$(git -C "$repo" rev-parse "$commit")

rm -rf "$scratch"
mkdir -p "$scratch"
export CARGO_TARGET_DIR="$scratch/target"
results="$scratch/phases.txt"
: >"$results"

# phase NAME COMMAND...: runs COMMAND under /usr/bin/time, appends "NAME wall user sys".
phase() {
  local name=$1
  shift
  /usr/bin/time -f "%e %U %S" -o "$scratch/$name.time" "$@" >"$scratch/$name.log" 2>&1 || {
    echo "phase $name failed; see $scratch/$name.log" >&2
    tail -20 "$scratch/$name.log" >&2
    exit 1
  }
  echo "$name $(cat "$scratch/$name.time")" >>"$results"
}

phase clone git clone -q "$repo" "$scratch/src"
git -C "$scratch/src" checkout -q "$commit"
cd "$scratch/src"

if [ "${END_TO_END:-}" != 1 ]; then
  phase xtask cargo build -q -p xtask
  # The component as `run` builds it: since `run` stopped running wasm-opt
  # (its Rust source then has build_component_unoptimised), plain cargo;
  # before, `cargo xtask build` (cargo, then npm ci and wasm-opt).
  if grep -q build_component_unoptimised xtask/src/main.rs; then
    phase component cargo build -p finconnect --target wasm32-wasip2 --release
  else
    phase component cargo xtask build
  fi
  # The build `cargo xtask run` does (host and sandbox): `--help` makes the
  # host print its usage and exit once built.
  phase host cargo xtask run --help
fi

# first-201: cargo xtask run on free ports, then POST /payments until 201.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
body='{"provider":"clickpesa","reference":"FIRST1","amount":"1000","currency":"TZS","method":"mobile_money","customer":{"phone":"255712345678"}}'
start=$(date +%s.%N)
# In a process group of its own, so that it can be stopped as a whole.
setsid /usr/bin/time -f "%e %U %S" -o "$scratch/first-201.time" \
  cargo xtask run --addr "127.0.0.1:$port" >"$scratch/first-201.log" 2>&1 &
runner=$!
status=000
while true; do
  key=$(sed -n 's/^  API key: //p' "$scratch/first-201.log" 2>/dev/null | head -1 || true)
  if [ -n "$key" ]; then
    status=$(curl -s -o "$scratch/first-201.body" -w '%{http_code}' -X POST \
      "http://127.0.0.1:$port/payments" -H "Authorization: Bearer $key" \
      -H 'Content-Type: application/json' -d "$body" || true)
    [ "$status" = 201 ] && break
  fi
  if ! kill -0 "$runner" 2>/dev/null; then break; fi
  sleep 0.1
done
end=$(date +%s.%N)
# Stop cargo xtask run and its children (cargo run, finconnect-host): its process group.
kill -INT -- "-$runner" 2>/dev/null || true
wait "$runner" 2>/dev/null || true
if [ "$status" != 201 ]; then
  echo "no 201 from POST /payments (last status $status); see $scratch/first-201.log" >&2
  exit 1
fi
read -r _ user sys <"$scratch/first-201.time"
echo "first-201 $(echo "$end - $start" | bc) $user $sys" >>"$results"

awk '{ printf "%-10s wall %7.1f s   cpu %7.1f s (user %.1f + sys %.1f)\n", $1, $2, $3 + $4, $3, $4;
       wall += $2; cpu += $3 + $4 }
     END { printf "%-10s wall %7.1f s   cpu %7.1f s\n", "total", wall, cpu }' "$results"
echo "commit $commit; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
