#!/usr/bin/env bash
# Reproduces the size table of docs/PERFORMANCE.md: builds the default
# release component once per step, in one run on one machine, and prints
# "step -> bytes".
#
#   bash scripts/size-steps.sh            # the table
#   KEEP=1 bash scripts/size-steps.sh     # keep the scratch copy and the .wasm files
#
# It works on a scratch copy of the tracked files (the work tree is never
# touched) and builds into target/size-lab, so the normal target directory
# keeps its files. The steps that undo a source change (to show what it
# saved) edit the scratch copy with sed and stop if the text is not found.
#
# Optional tools: `twiggy` (a per-crate breakdown of an unstripped build) and
# `jco` from examples/node/node_modules (what `jco opt`, i.e. wasm-opt over the
# embedded core modules, would save on top; the project does not apply it,
# because Spin's build command would then need Node).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/target/size-lab"
scratch="$(mktemp -d)"
out="$scratch/out"
mkdir -p "$out"
cleanup() { if [[ -z "${KEEP:-}" ]]; then rm -rf "$scratch"; else echo "kept $scratch" >&2; fi; }
trap cleanup EXIT

# The project's files as they are now (uncommitted edits included).
(cd "$root" && git ls-files -z --cached --others --exclude-standard | grep -zv '^fuzz/' |
  xargs -0 tar --no-recursion -cf - 2>/dev/null) | tar -xf - -C "$scratch"
cd "$scratch"
# Only the component and its core: the host and the sandbox are not needed.
sed -i 's|^members = .*|members = [".", "crates/core"]|' Cargo.toml

build() { # build LABEL [ENV=VALUE...]
  local label="$1"
  shift
  echo "size-steps: building: $label" >&2
  env "$@" cargo build -q --package finconnect --target wasm32-wasip2 --release \
    --target-dir "$target" >&2
  local wasm="$target/wasm32-wasip2/release/finconnect.wasm"
  local file
  file="$out/$(echo "$label" | tr -c 'A-Za-z0-9\n' '_').wasm"
  cp "$wasm" "$file"
  printf '| %s | %s |\n' "$label" "$(stat -c %s "$file")" >>"$out/table"
  echo "$file"
}

edit() { # edit FILE FROM TO: replace a literal line fragment, or fail
  local file="$1" from="$2" to="$3"
  python3 - "$file" "$from" "$to" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if old not in text:
    sys.exit(f"size-steps: {path}: text not found: {old}")
open(path, "w").write(text.replace(old, new, 1))
EOF
}

printf '| step | bytes |\n|---|---|\n' >"$out/table"

pesapal=crates/core/src/providers/pesapal.rs
from_slice='serde_json::from_slice::<PesapalEnvelope>(text.as_bytes())'
from_str='serde_json::from_str::<PesapalEnvelope>(text)'

# 0: before: opt-level "s", and the one `from_str` in the PesaPal provider.
edit "$pesapal" "$from_slice" "$from_str"
build '0 before: opt-level "s", fat LTO, codegen-units 1, panic abort, strip' \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=s >/dev/null
# 1: opt-level "z".
build '1 opt-level "z"' CARGO_PROFILE_RELEASE_OPT_LEVEL=z >/dev/null
# 2: one JSON reader type (`from_slice`) in the PesaPal provider: what is committed.
edit "$pesapal" "$from_str" "$from_slice"
now="$(build '2 + from_slice instead of from_str in providers/pesapal.rs (= the release build)' \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=z)"

# Not applied, measured for the record:
if grep -q 'float_roundtrip' crates/core/Cargo.toml; then
  cp crates/core/Cargo.toml "$scratch/core-Cargo.toml"
  edit crates/core/Cargo.toml 'features = ["float_roundtrip"] ' ''
  build '(not applied) 2 without serde_json float_roundtrip' CARGO_PROFILE_RELEASE_OPT_LEVEL=z >/dev/null
  cp "$scratch/core-Cargo.toml" crates/core/Cargo.toml
fi
jco="$root/examples/node/node_modules/.bin/jco"
if [[ -x "$jco" ]]; then
  "$jco" opt "$now" -o "$out/jco-opt.wasm" >&2
  printf '| %s | %s |\n' '(not applied) 2 + `jco opt` (wasm-opt -Oz on the core modules)' \
    "$(stat -c %s "$out/jco-opt.wasm")" >>"$out/table"
fi

echo
cat "$out/table"

# Where the bytes of step 2 are, by crate (needs twiggy and an unstripped build).
if command -v twiggy >/dev/null; then
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_OPT_LEVEL=z cargo build -q \
    --package finconnect --target wasm32-wasip2 --release --target-dir "$target" >&2
  python3 - "$target/wasm32-wasip2/release/finconnect.wasm" "$out/core.wasm" <<'EOF'
import sys
def leb(b, i):
    r = s = 0
    while True:
        x = b[i]; i += 1
        r |= (x & 0x7f) << s; s += 7
        if x < 0x80:
            return r, i
data = open(sys.argv[1], "rb").read()
i, modules = 8, []
while i < len(data):
    section = data[i]; i += 1
    size, i = leb(data, i)
    if section == 1:  # a core module embedded in the component
        modules.append(data[i:i + size])
    i += size
open(sys.argv[2], "wb").write(max(modules, key=len))
EOF
  twiggy top -n 1000000 --format csv "$out/core.wasm" >"$out/top.csv"
  python3 - "$out/top.csv" <<'EOF'
import csv, re, sys, collections
by_crate = collections.Counter()
for row in csv.DictReader(open(sys.argv[1])):
    name, size = row["Name"], int(row["ShallowSize"])
    if name.startswith("custom section") or "subsection" in name:
        continue  # debug info and names: stripped from the release build
    if name.startswith("data segment"):
        key = "data (" + name.split('"')[1] + ")"
    else:
        m = re.match(r"[<&\s]*(?:mut |dyn )?([A-Za-z_][A-Za-z0-9_]*)", name)
        key = m.group(1) if m else "other"
        if key in ("T", "f64", "u64", "u16", "u8", "usize", "char", "str", "elem", "type"):
            key = "core (impls on primitives)"
        elif key not in by_crate and not re.match(r"[a-z_0-9]+$", key):
            key = "other"
    by_crate[key] += size
total = sum(by_crate.values())
print()
print(f"| where (unstripped core module, code + data) | bytes | share |")
print("|---|---|---|")
for key, size in by_crate.most_common(14):
    print(f"| {key} | {size} | {100 * size / total:.0f}% |")
rest = total - sum(size for _, size in by_crate.most_common(14))
print(f"| everything else | {rest} | {100 * rest / total:.0f}% |")
print(f"| total | {total} | 100% |")
EOF
fi
