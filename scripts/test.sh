#!/usr/bin/env bash
# The whole test suite: unit + integration tests against the real kernel, lints, and
# the OCI runtime-tools validation suite compared check-by-check with crun.
# Usage (as root, from the repository): bash scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(cd .. && pwd)/shared}
bash scripts/deps.sh || exit 1
# The client tests drive podman, containerd and Docker from Debian's packages and
# pull from a registry on loopback: install them and start the registry (with the
# busybox image pushed) here, and stop what we started on the way out.
PEERS="$SHARED/peers/peers.sh"
[ -f "$PEERS" ] || { echo "missing $PEERS (the project's ../shared directory)" >&2; exit 1; }
for c in podman conmon containerd ctr dockerd skopeo umoci docker-registry nsenter script curl; do
  command -v "$c" >/dev/null || { bash "$PEERS" install || exit 1; break; }
done
bash "$PEERS" registry start || exit 1
trap 'bash "$PEERS" stop-all >/dev/null 2>&1' EXIT
bash "$PEERS" images || exit 1
set -e
echo "== build"
cargo build --release --workspace --locked
RT_STATIC=$(bash scripts/build-runtime.sh)
echo "shipped runtime (static): $RT_STATIC"
echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== unit and integration tests"
cargo test --release --workspace --locked --no-fail-fast 2>&1 | tee /tmp/caisson-cargo-test.log
set +e
echo "== OCI runtime validation suite (caisson-runtime vs crun, same machine, same run)"
RT=$RT_STATIC bash scripts/oci-conformance.sh "$SHARED"
rc=$?
passed=$(grep -h '^test result:' /tmp/caisson-cargo-test.log | awk '{s+=$4} END{print s+0}')
failed=$(grep -h '^test result:' /tmp/caisson-cargo-test.log | awk '{s+=$6} END{print s+0}')
[ $rc -eq 0 ] || failed=$((failed + 1))
echo "cargo tests: $passed passed, $(grep -h '^test result:' /tmp/caisson-cargo-test.log | awk '{s+=$6} END{print s+0}') failed; OCI conformance gate: $([ $rc -eq 0 ] && echo ok || echo FAILED)"
echo "$((passed + (rc == 0 ? 1 : 0))) passed, $failed failed"
[ "$failed" -eq 0 ]
