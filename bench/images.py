#!/usr/bin/env python3
"""Side-by-side image benchmark: caisson vs podman vs skopeo(+umoci), in one run.

1. pull + unpack of the ~200 MB Debian image (debootstrap minbase, one ~95 MB gzip
   layer) from the local registry (127.0.0.1:5000, ../shared/peers/peers.sh):
     * `caisson pull` (download, verify, unpack onto an overlay-ready layer dir),
     * `podman pull` (download, unpack into containers/storage overlay),
     * `skopeo copy docker://… oci:DIR` (download only) and + `umoci unpack`;
   each into a fresh store per round, rounds interleaved.
2. `caisson run --rm busybox true` vs `podman --runtime crun run --rm busybox true`,
   interleaved, medians.

Usage (root): python3 bench/images.py [--rounds N] [--runs N] [--markdown FILE]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared")
PEERS = os.path.join(SHARED, "peers", "peers.sh")
DEBIAN = "127.0.0.1:5000/debian:bookworm"
BUSYBOX = "127.0.0.1:5000/busybox:latest"


def sh(argv, env=None, quiet=True):
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return dt


def ensure_images():
    sh(["bash", PEERS, "registry", "start"])
    rootfs = "/tmp/caisson-peers/build/debian-rootfs"
    if not os.access(os.path.join(rootfs, "bin/bash"), os.X_OK):
        # peers.sh derives the mirror from /etc/apt/sources.list, which Debian 12
        # machines may lack (deb822 sources only): make the rootfs here, it then skips
        print("debootstrap bookworm (minbase), once ...", file=sys.stderr)
        sh(["debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian"])
    sh(["bash", PEERS, "images", "--debian"])


def in_private_ns():
    """crun 1.8 refuses this host's hybrid cgroups; as bench/runtime.py does, run the
    whole benchmark in a private mount namespace with the cgroup2 controllers file
    hidden, so podman's crun runs unwrapped (and caisson under the same conditions)."""
    if os.environ.get("CAISSON_BENCH_NS") == "1":
        return
    ctl = "/sys/fs/cgroup/unified/cgroup.controllers"
    script = ("set -e; "
              f"if grep -q . {ctl} 2>/dev/null; then : > /tmp/caisson-bench-empty; mount --bind /tmp/caisson-bench-empty {ctl}; fi; "
              f"exec env CAISSON_BENCH_NS=1 {sys.executable} {' '.join(map(repr, sys.argv))}")
    os.execvp("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c", script])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="pull rounds per tool")
    ap.add_argument("--runs", type=int, default=15, help="run --rm iterations per tool")
    ap.add_argument("--markdown", help="append the tables to this file")
    args = ap.parse_args()
    in_private_ns()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "caisson"], cwd=REPO, check=True)
    rt = subprocess.run(["bash", os.path.join(REPO, "scripts/build-runtime.sh")], check=True,
                        stdout=subprocess.PIPE, text=True).stdout.strip()
    caisson = os.path.join(REPO, "target/release/caisson")
    for tool in ("podman", "skopeo", "umoci", "crun"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: bash {PEERS} install")
    ensure_images()
    exports = subprocess.run(["bash", PEERS, "podman-env", f"crundirect={shutil.which('crun')}"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip()
    env = dict(os.environ, CAISSON_RUNTIME=rt)
    for kv in exports.removeprefix("export ").split():
        k, v = kv.split("=", 1)
        env[k] = v
    work = tempfile.mkdtemp(prefix="caisson-imgbench-", dir="/var/tmp")
    pulls = {"caisson pull (+unpack)": [], "podman pull (+unpack)": [], "skopeo copy (no unpack)": [],
             "skopeo copy + umoci unpack": []}
    try:
        for r in range(args.rounds):
            d = os.path.join(work, f"r{r}")
            os.makedirs(d)
            pulls["caisson pull (+unpack)"].append(
                sh([caisson, "--root", os.path.join(d, "caisson"), "pull", "-q", DEBIAN], env=env))
            pulls["podman pull (+unpack)"].append(
                sh(["podman", "--root", os.path.join(d, "podman"), "--runroot", os.path.join(d, "podman-run"),
                    "pull", "-q", "--tls-verify=false", DEBIAN], env=env))
            t = sh(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{DEBIAN}",
                    f"oci:{os.path.join(d, 'oci')}:bookworm"], env=env)
            pulls["skopeo copy (no unpack)"].append(t)
            t2 = sh(["umoci", "unpack", "--image", f"{os.path.join(d, 'oci')}:bookworm", os.path.join(d, "bundle")], env=env)
            pulls["skopeo copy + umoci unpack"].append(t + t2)
            subprocess.run(["podman", "--root", os.path.join(d, "podman"), "--runroot", os.path.join(d, "podman-run"),
                            "system", "reset", "-f"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(d, ignore_errors=True)
        # run --rm, busybox
        croot = os.path.join(work, "run-caisson")
        sh([caisson, "--root", croot, "pull", "-q", BUSYBOX], env=env)
        sh(["podman", "pull", "-q", "--tls-verify=false", BUSYBOX], env=env)
        runs = {"caisson run --rm": [], "podman run --rm (crun)": []}
        for i in range(args.runs + 2):
            a = sh([caisson, "--root", croot, "run", "--rm", BUSYBOX, "true"], env=env)
            b = sh(["podman", "--runtime", "crundirect", "run", "--rm", BUSYBOX, "true"], env=env)
            if i >= 2:
                runs["caisson run --rm"].append(a)
                runs["podman run --rm (crun)"].append(b)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pm = statistics.median(pulls["podman pull (+unpack)"])
    lines = ["| pull of debian:bookworm (~200 MB, 95 MB gzip layer) | median | ratio to podman |", "|---|---|---|"]
    for k, v in pulls.items():
        lines.append(f"| {k} | {statistics.median(v):.2f} s | {statistics.median(v)/pm:.2f} |")
    rm = statistics.median(runs["podman run --rm (crun)"])
    lines += ["", "| `run --rm busybox true` | median | ratio to podman+crun |", "|---|---|---|"]
    for k, v in runs.items():
        lines.append(f"| {k} | {statistics.median(v)*1000:.0f} ms | {statistics.median(v)/rm:.2f} |")
    table = "\n".join(lines)
    print(f"pull rounds: {args.rounds}, run iterations: {args.runs}, host: {os.uname().release}, {os.cpu_count()} cpus")
    print(table)
    print(json.dumps({"pulls": pulls, "runs": runs}))
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:\n\n{table}\n")


if __name__ == "__main__":
    main()
