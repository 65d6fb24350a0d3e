#!/bin/sh
# Runs one fuzz target, niced, starting from the committed seeds.
#   fuzz/run.sh <target> [seconds]      (default 600)
# Extra libFuzzer flags can follow the seconds: fuzz/run.sh amount 60 -jobs=1
set -eu
cd "$(dirname "$0")"
target=${1:?usage: run.sh <target> [seconds] [libfuzzer flags...]}
seconds=${2:-600}
shift
[ $# -gt 0 ] && shift
mkdir -p "corpus/$target"
cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
exec nice -n 15 cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -dict=dict/finconnect.dict -max_total_time="$seconds" -print_final_stats=1 "$@"
