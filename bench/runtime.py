#!/usr/bin/env python3
"""Side-by-side runtime benchmark: caisson-runtime vs crun vs runc, in one run.

Measures, for each runtime, N iterations of
  * `run` of /bin/true (create + start + wait + delete in one command), and
  * `create` + `start` + `delete --force` as three commands,
and reports medians, ratios to crun, and the peak RSS of the runtime process
(ru_maxrss from wait4 of the runtime command).

crun 1.8 refuses this host's hybrid cgroup layout unless the cgroup2 controllers
file is hidden. To compare like with like, the whole benchmark re-executes itself in
a private mount namespace with that file hidden, so every runtime runs unwrapped
under identical conditions.

With --podman, it also measures `podman run --rm busybox true` end to end (podman
4.3 + conmon, cgroupfs) with each runtime as podman's `--runtime`, interleaved, from
the busybox image of the local registry (`../shared/peers/peers.sh`, started here).

Usage (root): python3 bench/runtime.py [--iterations N] [--podman [--podman-iterations N]] [--markdown FILE]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def in_private_ns():
    if os.environ.get("CAISSON_BENCH_NS") == "1":
        return
    ctl = "/sys/fs/cgroup/unified/cgroup.controllers"
    script = ("set -e; "
              f"if grep -q . {ctl} 2>/dev/null; then : > /tmp/caisson-bench-empty; mount --bind /tmp/caisson-bench-empty {ctl}; fi; "
              f"exec env CAISSON_BENCH_NS=1 {sys.executable} {' '.join(map(repr, sys.argv))}")
    os.execvp("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c", script])


def make_bundle(d):
    rootfs = os.path.join(d, "rootfs")
    for sub in ("bin", "proc", "sys", "dev", "tmp", "etc"):
        os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    os.symlink("busybox", os.path.join(rootfs, "bin/true"))
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    cfg = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
                    "env": ["PATH=/bin"], "cwd": "/",
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                    "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)


def timed(argv, cwd):
    # stderr goes to a file: a container made by `create` inherits it as its stdio,
    # so a pipe would not reach EOF when the runtime exits
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {err.strip()}")
    return dt, ru.ru_maxrss  # KiB


def peak_rss_kib(argv, cwd):
    """Peak RSS of the runtime process itself. ru_maxrss from our own wait4 would
    include this Python process's high-water mark (inherited across fork+exec), so
    GNU time, whose small forked child execs the runtime, reports it instead."""
    with tempfile.TemporaryFile() as errf:
        p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + argv, cwd=cwd,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
        errf.seek(0)
        text = errf.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {text.strip()}")
    return max(int(l.split()[1]) for l in text.splitlines() if l.startswith("MAXRSS "))


def bench(name, binary, bundle, root, n):
    run_t, cycle_t, rss = [], [], []
    for i in range(n):
        cid = f"b-{name}-{i}"
        dt, _ = timed([binary, "--root", root, "run", "--bundle", bundle, cid], bundle)
        run_t.append(dt)
    for i in range(n):
        cid = f"c-{name}-{i}"
        t0 = time.perf_counter()
        timed([binary, "--root", root, "create", "--bundle", bundle, cid], bundle)
        timed([binary, "--root", root, "start", cid], bundle)
        timed([binary, "--root", root, "delete", "--force", cid], bundle)
        cycle_t.append(time.perf_counter() - t0)
    for i in range(3):
        cid = f"m-{name}-{i}"
        rss.append(peak_rss_kib([binary, "--root", root, "run", "--bundle", bundle, cid], bundle))
        rss.append(peak_rss_kib([binary, "--root", root, "create", "--bundle", bundle, cid + "c"], bundle))
        rss.append(peak_rss_kib([binary, "--root", root, "start", cid + "c"], bundle))
        rss.append(peak_rss_kib([binary, "--root", root, "delete", "--force", cid + "c"], bundle))
    return {"run": statistics.median(run_t), "cycle": statistics.median(cycle_t), "rss_kib": max(rss)}


def podman_bench(runtimes, n):
    """Median wall time of `podman --runtime R run --rm IMAGE true` per runtime."""
    shared = os.path.join(os.path.dirname(REPO), "shared")
    peers = os.path.join(shared, "peers", "peers.sh")
    if not os.path.exists(peers):
        sys.exit(f"missing {peers}")
    if not shutil.which("podman"):
        sys.exit("podman is not installed: bash ../shared/peers/peers.sh install")
    subprocess.run(["bash", peers, "registry", "start"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["bash", peers, "images"], check=True, stdout=subprocess.DEVNULL)
    # every runtime by its own binary, unwrapped (we run with the controllers file hidden)
    names = {name: "bench" + name.replace("-", "") for name, _ in runtimes}
    out = subprocess.run(["bash", peers, "podman-env"] + [f"{names[n_]}={b}" for n_, b in runtimes],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    env = dict(os.environ)
    for kv in out.strip().removeprefix("export ").split():
        k, v = kv.split("=", 1)
        env[k] = v
    image = "127.0.0.1:5000/busybox:latest"
    subprocess.run(["podman", "pull", "-q", "--tls-verify=false", image], check=True, env=env, stdout=subprocess.DEVNULL)
    times = {name: [] for name, _ in runtimes}
    for i in range(n + 2):
        for name, _ in runtimes:
            t0 = time.perf_counter()
            p = subprocess.run(["podman", "--runtime", names[name], "run", "--rm", image, "true"],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError(f"podman --runtime {name} run --rm failed: {p.stderr.strip()}")
            if i >= 2:  # two warm-up rounds
                times[name].append(dt)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--markdown", help="append a results table to this file")
    ap.add_argument("--podman", action="store_true", help="also time `podman run --rm` with each runtime")
    ap.add_argument("--podman-iterations", type=int, default=20)
    args = ap.parse_args()
    in_private_ns()
    # the shipped (static) build, from scripts/build-runtime.sh
    ours = os.environ.get("CAISSON_RUNTIME") or subprocess.run(
        ["bash", os.path.join(REPO, "scripts/build-runtime.sh")], check=True,
        stdout=subprocess.PIPE, text=True).stdout.strip()
    runtimes = [("caisson-runtime", ours), ("crun", shutil.which("crun")), ("runc", shutil.which("runc"))]
    missing = [n for n, b in runtimes if not b or not os.path.exists(b)]
    if missing:
        sys.exit(f"missing runtimes: {missing} (build caisson; apt-get install crun runc)")
    work = tempfile.mkdtemp(prefix="caisson-bench-")
    bundle = os.path.join(work, "bundle"); os.makedirs(bundle)
    make_bundle(bundle)
    results = {}
    # warm up page cache and binaries, then interleave runtimes per round to spread noise
    for name, b in runtimes:
        bench(name, b, bundle, os.path.join(work, "state-" + name), 3)
    rounds = 4
    acc = {name: {"run": [], "cycle": [], "rss_kib": 0} for name, _ in runtimes}
    for r in range(rounds):
        for name, b in runtimes:
            res = bench(f"{name}-{r}", b, bundle, os.path.join(work, "state-" + name), max(1, args.iterations // rounds))
            acc[name]["run"].append(res["run"]); acc[name]["cycle"].append(res["cycle"])
            acc[name]["rss_kib"] = max(acc[name]["rss_kib"], res["rss_kib"])
    for name, a in acc.items():
        results[name] = {"run": statistics.median(a["run"]), "cycle": statistics.median(a["cycle"]), "rss_kib": a["rss_kib"]}
    base = results["crun"]
    lines = [f"| runtime | `run` /bin/true median | ratio to crun | create+start+delete median | ratio to crun | peak RSS | ratio to crun |",
             "|---|---|---|---|---|---|---|"]
    for name, _ in runtimes:
        r = results[name]
        lines.append(f"| {name} | {r['run']*1000:.1f} ms | {r['run']/base['run']:.2f} | {r['cycle']*1000:.1f} ms | "
                     f"{r['cycle']/base['cycle']:.2f} | {r['rss_kib']/1024:.1f} MiB | {r['rss_kib']/base['rss_kib']:.2f} |")
    table = "\n".join(lines)
    print(f"iterations per runtime: {args.iterations} (interleaved in {rounds} rounds), host: {os.uname().release}, {os.cpu_count()} cpus")
    print(table)
    print(json.dumps(results))
    if args.podman:
        pm = podman_bench(runtimes, args.podman_iterations)
        plines = ["| runtime under podman 4.3 | `podman run --rm busybox true` median | ratio to crun |", "|---|---|---|"]
        for name, _ in runtimes:
            plines.append(f"| {name} | {pm[name]*1000:.0f} ms | {pm[name]/pm['crun']:.2f} |")
        ptable = "\n".join(plines)
        print(f"podman run --rm, {args.podman_iterations} iterations per runtime, interleaved:")
        print(ptable)
        print(json.dumps({"podman": pm}))
        table += "\n\n" + ptable
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.iterations} iterations each:\n\n{table}\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
