#!/usr/bin/env bash
# Run every fuzz target for a while (default 30 s each). cargo-fuzz needs nightly
# features; the machine's one stable toolchain is used with RUSTC_BOOTSTRAP=1.
# Usage: bash scripts/fuzz.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for t in $(cargo fuzz list); do
  seeds=fuzz/seeds/$t; mkdir -p "$seeds" "fuzz/corpus/$t"
  echo "== fuzz $t for ${secs}s"
  cargo fuzz run "$t" "fuzz/corpus/$t" "$seeds" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -3
done
