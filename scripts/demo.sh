#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root):
# build Caisson, make a busybox OCI bundle locally, run it under caisson-runtime with
# hardened settings, and print what isolation the container actually had.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
echo "== building caisson (release)"
cargo build --release --workspace --locked -q
RT=$(bash scripts/build-runtime.sh)
D=${DEMO_DIR:-/tmp/caisson-demo}
rm -rf "$D"; mkdir -p "$D/bundle/rootfs"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$D/bundle/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$D/bundle/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$D/bundle/rootfs/etc/passwd"
cat >"$D/bundle/rootfs/bin/report" <<'SH'
#!/bin/sh
echo "inside the container:"
echo "  pid 1 is: $(cat /proc/1/comm)   my pid: $$   hostname: $(hostname)"
echo "  uid/gid: $(id -u)/$(id -g)"
echo "  $(grep CapEff /proc/self/status)   $(grep CapBnd /proc/self/status)"
echo "  $(grep NoNewPrivs /proc/self/status)   $(grep '^Seccomp:' /proc/self/status) (2 = filter)"
echo "  network interfaces: $(ls /sys/class/net | tr '\n' ' ')"
touch /rootfs-write-test 2>/dev/null && echo "  rootfs: WRITABLE" || echo "  rootfs: read-only"
echo "  /proc/timer_list bytes (masked): $(cat /proc/timer_list | wc -c)"
mkdir /tmp/x 2>/dev/null && echo "  mkdir: allowed" || echo "  mkdir: denied by seccomp"
echo "  memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "  pids limit:   $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
echo "  open fds: $(ls /proc/self/fd | wc -l) (stdin/stdout/stderr + the one ls reads)"
SH
chmod +x "$D/bundle/rootfs/bin/report"
(cd "$D/bundle" && "$RT" spec)
python3 - "$D/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/report"]
c["process"]["user"] = {"uid": 1000, "gid": 1000}
c["hostname"] = "caisson-demo"
c["linux"]["cgroupsPath"] = "/caisson-demo/demo"
c["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 32},
                          "devices": [{"allow": False, "access": "rwm"}]}
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["mkdir", "mkdirat", "mount", "umount2", "ptrace", "kexec_load", "bpf",
                            "unshare", "setns", "keyctl", "add_key", "open_by_handle_at"],
                  "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
json.dump(c, open(p, "w"), indent=2)
PY
echo "== running a hardened busybox container with caisson-runtime"
echo "   (all namespaces but user, uid 1000, 3 capabilities, no_new_privs, seccomp, read-only root,"
echo "    masked /proc paths, memory and pids limits, device access denied)"
"$RT" --root "$D/state" run --bundle "$D/bundle" demo
echo "== after exit: state and cgroup are gone"
"$RT" --root "$D/state" list
[ -d /sys/fs/cgroup/pids/caisson-demo/demo ] && echo "cgroup LEFT BEHIND" || echo "cgroup removed"

# ───────────── part 2: the engine, from an image made here ─────────────
SHARED=${SHARED:-$(cd .. && pwd)/shared}
PEERS="$SHARED/peers/peers.sh"
for c in skopeo umoci docker-registry curl; do
  command -v "$c" >/dev/null || { bash "$PEERS" install; break; }
done
echo "== making a busybox OCI image locally (umoci) and pushing it to a registry on 127.0.0.1:5000"
bash "$PEERS" registry start
bash "$PEERS" images
CAISSON="./target/release/caisson --root $D/engine"
export CAISSON_RUNTIME=$RT
echo "== caisson pull (verified, unpacked)"
$CAISSON pull 127.0.0.1:5000/busybox:latest
$CAISSON images
# --userns auto takes per-container blocks of host ids from a range of our own
for f in /etc/subuid /etc/subgid; do
  grep -q '^caisson:' "$f" 2>/dev/null || echo 'caisson:1073741824:1073741824' >>"$f"
done
echo "== caisson run --rm --explain --userns auto: hardened by default, root inside is an unprivileged host user"
$CAISSON run --rm --explain --userns auto 127.0.0.1:5000/busybox:latest sh -c '
  echo "inside: uid $(id -u), uid_map: $(cat /proc/self/uid_map | tr -s " "), $(grep CapEff /proc/self/status), $(grep NoNewPrivs /proc/self/status), $(grep "^Seccomp:" /proc/self/status)"
  echo "  pids.max $(cat /sys/fs/cgroup/pids/pids.max), memory limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "  network: $(ls /sys/class/net | tr "\n" " ")"
  unshare -U true 2>/dev/null && echo "  unshare: ALLOWED" || echo "  unshare: denied (seccomp/capabilities)"'
echo "== a detached web server on a published loopback port: ps, curl, exec, logs, rm"
$CAISSON run -d --name demo-web --userns auto -p 127.0.0.1::8080 127.0.0.1:5000/busybox:latest \
  sh -c 'mkdir -p /www && echo "hello from a caisson container" >/www/index.html && echo serving && exec httpd -f -p 127.0.0.1:8080 -h /www' >/dev/null
sleep 0.5
$CAISSON ps
PORT=$($CAISSON ps --json | python3 -c 'import json,sys; print([c for c in json.load(sys.stdin) if c["name"]=="demo-web"][0]["ports"][0]["host_port"])')
echo "curl http://127.0.0.1:$PORT/ -> $(curl -s "http://127.0.0.1:$PORT/")"
$CAISSON exec demo-web sh -c 'echo "exec inside: hostname $(hostname), uid $(id -u)"'
$CAISSON logs demo-web
$CAISSON rm -f demo-web

# ───────────── part 3: scan an image made here ─────────────
echo "== making an image locally (caisson import -c) that carries an old Python library"
APP=$D/app-rootfs; rm -rf "$APP"; mkdir -p "$APP/bin" "$APP/etc" "$APP/usr/lib/python3/dist-packages/requests-2.19.1.dist-info"
cp /bin/busybox "$APP/bin/" && ln -sf busybox "$APP/bin/sh"
printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' >"$APP/etc/os-release"
printf 'Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n' >"$APP/usr/lib/python3/dist-packages/requests-2.19.1.dist-info/METADATA"
tar -C "$APP" -cf "$D/app.tar" .
$CAISSON import -c 'CMD ["/bin/sh", "-c", "echo app running"]' "$D/app.tar" localhost/demo-app:1 >/dev/null
echo "== caisson db build from real OSV records (../shared/data/advisories), then caisson scan"
$CAISSON db build -q --from "$SHARED/data/advisories/pypi" --from "$SHARED/data/advisories/npm" --from "$SHARED/data/advisories/crates" --from "$SHARED/data/advisories/go"
$CAISSON scan localhost/demo-app:1
set +e
$CAISSON scan --exit-code 3 -f json -o "$D/scan.json" localhost/demo-app:1
echo "scan --exit-code 3 (a CI gate): exit $? ($(python3 -c "import json; print(len(json.load(open('$D/scan.json'))['findings']))" ) findings in $D/scan.json)"
set -e
$CAISSON sbom --format spdx -o "$D/sbom.spdx.json" localhost/demo-app:1 && echo "SPDX SBOM: $D/sbom.spdx.json"

# ───────────── part 4: policy before the container starts ─────────────
echo "== policy gate: the scan above, the image rules and Pod Security (restricted) decide before a start"
set +e
# The demo's advisories carry no CVSS (severity UNKNOWN): count those as denying too.
printf 'sets: [image]\nparameters: {deny_severities: [CRITICAL, HIGH, UNKNOWN]}\n' >"$D/image-policy.yaml"
$CAISSON run --rm --policy "$D/image-policy.yaml" localhost/demo-app:1
echo "run with the image rules (fixable vulnerabilities, digest pin): exit $? — denied, nothing created"
$CAISSON run --rm --network host --policy pss-baseline localhost/demo-app:1
echo "run --network host --policy pss-baseline: exit $? — denied"
set -e
cat >"$D/policy.yaml" <<'YAML'
sets: [pss-restricted, image]
modes: {"image/*": warn}   # image findings warn here; restricted still denies
YAML
echo "== hardened: non-root, all capabilities dropped — passes pss-restricted (image rules warn)"
$CAISSON run --rm --userns auto --user 1000:1000 --cap-drop ALL --policy "$D/policy.yaml" localhost/demo-app:1
tail -n 1 "$D/engine/policy/decisions.log" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("decision log:", d["result"], d["input_digest"][:19], "policy", d["policy_version"][:19], d["latency_us"], "µs")'
echo "== caisson policy eval on a Kubernetes Pod (exit 1: denied), and the audit"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\nspec:\n  hostPID: true\n  containers: [{name: sh, image: busybox, securityContext: {privileged: true}}]\n' >"$D/pod.yaml"
set +e
$CAISSON policy eval --set pss-baseline --input "$D/pod.yaml"
echo "policy eval: exit $?"
set -e
$CAISSON audit --section host --section files | tail -n 12
$CAISSON system df
