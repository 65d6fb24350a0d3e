#!/usr/bin/env bash
# Reproduces the size table of docs/PERFORMANCE.md in one run on one machine:
# for each step that mattered, the default release component is built from
# the commit that made the step (a scratch copy of that commit's tracked
# files, so the work tree is never touched), then optimised with this
# checkout's `cargo xtask wasm-opt` (what `cargo xtask build` does).
#
#   bash scripts/size-steps.sh            # the table
#   KEEP=1 bash scripts/size-steps.sh     # keep the scratch copies and the .wasm files
#
# Needs git history (a full clone) and npm for wasm-opt (as `cargo xtask
# build` does). Optional: `twiggy`, for where the bytes of the last step are.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/target/size-lab"
scratch="$(mktemp -d)"
out="$scratch/out"
mkdir -p "$out"
cleanup() { if [[ -z "${KEEP:-}" ]]; then rm -rf "$scratch"; else echo "kept $scratch" >&2; fi; }
trap cleanup EXIT

# label|commit: each commit is where the step landed on main.
steps=(
  "0 start: opt-level z, fat LTO, codegen-units 1, panic abort, strip; serde_json|db241be"
  "1 JSON through json-event-parser; serde and serde_json out of the component|28f412e"
  "2 + the http crate out of the component (own request/response types)|21b06c0"
  "3 + the trims after it|a61fc4b"
  "4 wire formats back on serde + serde_json derive (RawValue for exact numbers; this checkout)|HEAD"
)

printf '| step | commit | cargo build (bytes) | + `cargo xtask wasm-opt` (bytes) |\n|---|---|---|---|\n' >"$out/table"
for step in "${steps[@]}"; do
  label="${step%|*}"
  commit="$(git -C "$root" rev-parse --short "${step##*|}")"
  copy="$scratch/$commit"
  if [[ ! -d "$copy" ]]; then
    mkdir -p "$copy"
    git -C "$root" archive "$commit" | tar -xf - -C "$copy"
    # Only the component and its core are needed.
    sed -i 's|^members = .*|members = [".", "crates/core"]|' "$copy/Cargo.toml"
  fi
  echo "size-steps: building $commit: $label" >&2
  (cd "$copy" && cargo build -q --package finconnect --target wasm32-wasip2 --release \
    --target-dir "$target" >&2)
  raw="$out/$commit.wasm"
  cp "$target/wasm32-wasip2/release/finconnect.wasm" "$raw"
  cp "$raw" "$out/$commit.opt.wasm"
  (cd "$root" && cargo xtask wasm-opt "$out/$commit.opt.wasm" >&2)
  printf '| %s | %s | %s | %s |\n' "$label" "$commit" "$(stat -c %s "$raw")" \
    "$(stat -c %s "$out/$commit.opt.wasm")" >>"$out/table"
done

echo
cat "$out/table"

# Where the bytes of the last step are, by crate (needs twiggy and an unstripped build).
if command -v twiggy >/dev/null; then
  (cd "$copy" && CARGO_PROFILE_RELEASE_STRIP=false cargo build -q --package finconnect \
    --target wasm32-wasip2 --release --target-dir "$target" >&2)
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
print(f"| where (unstripped, unoptimised core module, code + data) | bytes | share |")
print("|---|---|---|")
for key, size in by_crate.most_common(14):
    print(f"| {key} | {size} | {100 * size / total:.0f}% |")
rest = total - sum(size for _, size in by_crate.most_common(14))
print(f"| everything else | {rest} | {100 * rest / total:.0f}% |")
print(f"| total | {total} | 100% |")
EOF
fi
