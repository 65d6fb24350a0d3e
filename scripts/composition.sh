#!/usr/bin/env bash
# Prove that FinConnect composes:
#
#   1. wac-cli 0.12.0 (installed with cargo when missing or another version),
#   2. the example consumer examples/shop (its own cargo workspace),
#   3. wac plug shop.wasm --plug finconnect.wasm -> target/composed/shop-composed.wasm,
#      and a check that no finconnect:* import is left,
#   4. the Node example: npm ci, jco transpile (wasi:config mapped to config.mjs),
#      node --test against the provider sandbox on a free loopback port.
#
# FinConnect itself must be built first:
#   cargo build --target wasm32-wasip2 --release      (or: cargo xtask build)
#
# Usage: scripts/composition.sh [--rust-tests]
# Progress goes to stderr; stdout gets one line, FINCONNECT_COMPOSED_WASM=<path>.
#   --rust-tests   also run `cargo test --test composition --test examples` with
#                  FINCONNECT_WASM and FINCONNECT_COMPOSED_WASM set
#
# Environment (all optional):
#   FINCONNECT_WASM            FinConnect's component [target/wasm32-wasip2/release/finconnect.wasm]
#   FINCONNECT_COMPOSED_WASM   where to write the composition [target/composed/shop-composed.wasm]
#   FINCONNECT_SANDBOX_BIN     a built finconnect-sandbox [built with cargo: target/debug/finconnect-sandbox]
#   CARGO_TARGET_DIR           the root workspace's target directory [target]
#   WAC                        the wac binary [wac on PATH, else installed into $CARGO_HOME/bin]
set -euo pipefail

readonly WAC_VERSION=0.12.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }
die() {
  printf '\ncomposition.sh: FAILED: %s\n' "$*" >&2
  exit 1
}
trap 'die "line $LINENO: \`$BASH_COMMAND\` exited with status $?"' ERR

run_rust_tests=false
for arg in "$@"; do
  case "$arg" in
    --rust-tests) run_rust_tests=true ;;
    -h | --help)
      sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$arg' (see --help)" ;;
  esac
done

absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$ROOT" "$1" ;; esac; }

TARGET_DIR=$(absolute "${CARGO_TARGET_DIR:-target}")
FINCONNECT_WASM=$(absolute "${FINCONNECT_WASM:-$TARGET_DIR/wasm32-wasip2/release/finconnect.wasm}")
COMPOSED=$(absolute "${FINCONNECT_COMPOSED_WASM:-$TARGET_DIR/composed/shop-composed.wasm}")
SHOP_TARGET="$ROOT/examples/shop/target"
SHOP_WASM="$SHOP_TARGET/wasm32-wasip2/release/shop.wasm"
NODE_DIR="$ROOT/examples/node"

[[ -f "$FINCONNECT_WASM" ]] ||
  die "FinConnect's component $FINCONNECT_WASM is missing: build it first with
    cargo build --target wasm32-wasip2 --release   (or: cargo xtask build)"
command -v node >/dev/null || die "node is not installed (Node 20 or newer is needed)"
command -v npm >/dev/null || die "npm is not installed"

# ---- 1. wac ----------------------------------------------------------------
step "wac-cli $WAC_VERSION"
WAC=${WAC:-wac}
if ! "$WAC" --version 2>/dev/null | grep -qx "wac-cli $WAC_VERSION"; then
  printf 'installing wac-cli %s with cargo (several minutes on 2 cores)\n' "$WAC_VERSION" >&2
  nice -n 10 cargo install wac-cli --version "$WAC_VERSION" --locked --no-default-features
  WAC="${CARGO_HOME:-$HOME/.cargo}/bin/wac"
  "$WAC" --version | grep -qx "wac-cli $WAC_VERSION" ||
    die "$WAC is not wac-cli $WAC_VERSION after installing it"
fi
"$WAC" --version >&2

# ---- 2. the consumer ----------------------------------------------------------
step "build examples/shop (its own workspace, target dir examples/shop/target)"
CARGO_TARGET_DIR="$SHOP_TARGET" cargo build --locked \
  --manifest-path examples/shop/Cargo.toml --target wasm32-wasip2 --release
[[ -f "$SHOP_WASM" ]] || die "the shop build did not produce $SHOP_WASM"

# ---- 3. wac plug ---------------------------------------------------------------
step "wac plug shop.wasm --plug finconnect.wasm"
mkdir -p "$(dirname "$COMPOSED")"
rm -f "$COMPOSED"
"$WAC" plug "$SHOP_WASM" --plug "$FINCONNECT_WASM" -o "$COMPOSED"
[[ -s "$COMPOSED" ]] || die "wac plug wrote nothing to $COMPOSED"

# ---- 4. Node -------------------------------------------------------------------
step "npm ci (examples/node)"
(cd "$NODE_DIR" && npm ci --no-audit --no-fund) >&2
JCO="$NODE_DIR/node_modules/.bin/jco"
[[ -x "$JCO" ]] || die "npm ci did not install jco ($JCO)"

step "check the composition's world: FinConnect's imports bubble up, finconnect:* is satisfied"
world=$("$JCO" wit "$COMPOSED")
grep -E '^\s*(import|export) ' <<<"$world" >&2
if grep -qE '^\s*import finconnect:' <<<"$world"; then
  die "the composed component still imports finconnect:* (wac plug did not plug FinConnect)"
fi
grep -qE '^\s*export demo:shop/checkout@0\.1\.0;' <<<"$world" ||
  die "the composed component does not export demo:shop/checkout@0.1.0"
grep -qE '^\s*import wasi:config/store@0\.2\.0-draft-2024-09-27;' <<<"$world" ||
  die "the composed component does not import wasi:config/store (FinConnect's variables)"

step "check FinConnect's own world: it exports finconnect:payments@0.2.0 and imports only wasi:*"
own_world=$("$JCO" wit "$FINCONNECT_WASM")
grep -qE '^\s*export finconnect:payments/api@0\.2\.0;' <<<"$own_world" ||
  die "FinConnect does not export finconnect:payments/api@0.2.0"
grep -qE '^\s*export finconnect:payments/notifications@0\.2\.0;' <<<"$own_world" ||
  die "FinConnect does not export finconnect:payments/notifications@0.2.0"
not_wasi=$(grep -E '^\s*import ' <<<"$own_world" | grep -vE '^\s*import wasi:' || true)
[[ -z "$not_wasi" ]] || die "FinConnect imports something other than wasi:*: $not_wasi"

step "jco transpile finconnect.wasm -> examples/node/dist (wasi:config/store -> config.mjs)"
rm -rf "$NODE_DIR/dist"
(cd "$NODE_DIR" &&
  "$JCO" transpile "$FINCONNECT_WASM" -o dist --name finconnect --quiet \
    --map 'wasi:config/store=../config.mjs' \
    --map 'wasi:keyvalue/store=../keyvalue.mjs' --map 'wasi:keyvalue/atomics=../keyvalue.mjs' \
    --map 'wasi:keyvalue/batch=../keyvalue.mjs')
[[ -f "$NODE_DIR/dist/finconnect.js" ]] || die "jco transpile did not write dist/finconnect.js"

step "provider sandbox on a free loopback port"
SANDBOX_BIN=${FINCONNECT_SANDBOX_BIN:-}
if [[ -z "$SANDBOX_BIN" ]]; then
  cargo build --package finconnect-sandbox --bin finconnect-sandbox
  SANDBOX_BIN="$TARGET_DIR/debug/finconnect-sandbox"
fi
[[ -x "$SANDBOX_BIN" ]] || die "no sandbox binary at $SANDBOX_BIN"
port=$(node -e "const s = require('net').createServer();
  s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });")
"$SANDBOX_BIN" --addr "127.0.0.1:$port" --quiet >&2 &
sandbox_pid=$!
stop_sandbox() {
  if kill -0 "$sandbox_pid" 2>/dev/null; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
}
trap stop_sandbox EXIT
origin="http://127.0.0.1:$port"
for _ in $(seq 200); do
  kill -0 "$sandbox_pid" 2>/dev/null || die "the sandbox exited during start-up (port $port taken?)"
  if curl -fsS -o /dev/null "$origin/_sandbox" 2>/dev/null; then break; fi
  sleep 0.1
done
curl -fsS -o /dev/null "$origin/_sandbox" || die "the sandbox does not answer on $origin"
printf 'sandbox at %s (pid %s)\n' "$origin" "$sandbox_pid" >&2

step "node --test (FinConnect transpiled by jco, against the sandbox)"
(cd "$NODE_DIR" && FINCONNECT_SANDBOX_ORIGIN="$origin" node --test test/finconnect.test.mjs) >&2

if $run_rust_tests; then
  step "cargo test --test composition --test examples"
  FINCONNECT_WASM="$FINCONNECT_WASM" FINCONNECT_COMPOSED_WASM="$COMPOSED" \
    cargo test --package finconnect --test composition --test examples >&2
fi

step "done"
printf '%-34s %9s bytes\n' \
  "shop.wasm" "$(wc -c <"$SHOP_WASM")" \
  "finconnect.wasm" "$(wc -c <"$FINCONNECT_WASM")" \
  "shop-composed.wasm" "$(wc -c <"$COMPOSED")" >&2
printf 'FINCONNECT_COMPOSED_WASM=%s\n' "$COMPOSED"
