#!/usr/bin/env bash
# Run the OCI runtime-tools validation suite (../shared/peers/oci-validation.sh) on
# caisson-runtime and on crun in one run, then compare check by check:
# every check crun passes must pass for us, and we may not fail more checks than crun.
# Exit 0 when both hold. Writes a report to target/oci-conformance.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
SHARED=${1:-$(cd .. && pwd)/shared}
RT=${RT:-${CARGO_TARGET_DIR:-$(pwd)/target}/release/caisson-runtime}
W=${WORKDIR:-/tmp/caisson-oci-validation}
LOGS=$W/logs
[ -x "$RT" ] || { echo "build first: $RT missing"; exit 2; }
out=target/oci-conformance.txt
mkdir -p target
ours=$(WORKDIR=$W bash "$SHARED/peers/oci-validation.sh" "$RT" | tee target/oci-caisson.log | tail -1)
CRUN=$(PEERS_DIR=${PEERS_DIR:-/tmp/caisson-peers} bash "$SHARED/peers/peers.sh" crun-hybrid)
theirs=$(WORKDIR=$W bash "$SHARED/peers/oci-validation.sh" "$CRUN" | tee target/oci-crun.log | tail -1)
# a check is "<test>: <description>"; compare the sets of failing checks
fails() { for f in "$LOGS/$1"/*.tap; do t=$(basename "$f" .tap); grep '^not ok' "$f" | sed -E "s/^not ok [0-9]+ - /$t: /"; done | sort -u; }
fails caisson-runtime >target/oci-fail-caisson.txt
fails crun-hybrid >target/oci-fail-crun.txt
extra=$(comm -23 target/oci-fail-caisson.txt target/oci-fail-crun.txt)
nours=$(echo "$ours" | awk '{print $3}'); ncrun=$(echo "$theirs" | awk '{print $3}')
{
  echo "caisson-runtime: $ours"
  echo "crun:            $theirs"
  echo "checks failing for caisson-runtime but passing for crun:"
  if [ -n "$extra" ]; then echo "$extra" | sed 's/^/  /'; else echo "  (none)"; fi
  echo "checks failing for both (see docs/conformance.md for causes):"
  comm -12 target/oci-fail-caisson.txt target/oci-fail-crun.txt | sed 's/^/  /'
} | tee "$out"
[ -z "$extra" ] && [ "${nours:-999}" -le "${ncrun:-0}" ]
