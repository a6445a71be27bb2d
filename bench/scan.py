#!/usr/bin/env python3
"""Scan benchmark (issue: image scanning, must-show 3), all in one run:

1. `caisson scan` of a debootstrap'd Debian bookworm rootfs (minbase) and of a
   node_modules-heavy tree (npm install of common front-end/back-end tooling), each
   cold (page cache dropped) and warm, with wall time and peak RSS, against reading
   the same tree with `tar -cf - | cat` (the I/O floor: every byte of every file).
   Target: warm scan under 2x the warm floor.
2. `caisson db build` time: on the real advisories of ../shared/data/advisories, and
   on a synthetic corpus the size of OSV's PyPI+npm+crates.io+Debian data (~200k
   records, made by renaming the real records: OSV's archives cannot be downloaded
   here). Target: within 60 s.

Usage (as root, from the repository, after `cargo build --release`):
    python3 bench/scan.py [--records 200000] [--skip-build]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
CAISSON = os.path.join(ROOT, "target/release/caisson")
WORK = "/tmp/caisson-bench-scan"
NPM_PACKAGES = ["webpack@5", "webpack-cli@5", "eslint@8", "jest@29", "@babel/core@7",
                "@babel/preset-env@7", "typescript@5", "react@18", "react-dom@18",
                "express@4", "lodash@4", "axios@1", "mocha@10", "rollup@4", "sass@1"]


def sh(argv, cwd=None, quiet=True):
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return p.stdout


def tree_size(path):
    total = files = 0
    for d, _, fs in os.walk(path):
        for f in fs:
            try:
                st = os.lstat(os.path.join(d, f))
            except OSError:
                continue
            files += 1
            total += st.st_size
    return total, files


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def timed(argv):
    """Wall seconds and peak RSS (KiB, from GNU time) of a command."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode not in (0,):
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr[-1500:]}")
    rss = int(p.stderr.strip().splitlines()[-1])
    return dt, rss


def ensure_trees():
    os.makedirs(WORK, exist_ok=True)
    deb = os.path.join(WORK, "debian-rootfs")
    if not os.path.exists(os.path.join(deb, "var/lib/dpkg/status")):
        print("debootstrap bookworm (minbase), once ...", file=sys.stderr)
        shutil.rmtree(deb, ignore_errors=True)
        sh(["debootstrap", "--variant=minbase", "bookworm", deb, "http://deb.debian.org/debian"])
    node = os.path.join(WORK, "node-app")
    if not os.path.exists(os.path.join(node, "node_modules")):
        print("npm install of a node_modules-heavy app, once ...", file=sys.stderr)
        os.makedirs(node, exist_ok=True)
        with open(os.path.join(node, "package.json"), "w") as f:
            json.dump({"name": "bench-app", "version": "1.0.0", "private": True}, f)
        sh(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"] + NPM_PACKAGES, cwd=node)
    return [("debian bookworm rootfs", deb), ("node_modules-heavy app", node)]


def synthetic_corpus(n, out):
    """n OSV records made from the real ones (ids renamed, one package each)."""
    real = []
    for eco in ["pypi", "npm", "crates", "go"]:
        d = os.path.join(SHARED, "data/advisories", eco)
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if f.endswith(".json") and f != "PROVENANCE.json":
                real.append(json.load(open(p)))
            elif f.endswith(".yaml"):
                import_yaml = None
                try:
                    import yaml as import_yaml  # noqa
                except ImportError:
                    pass
                if import_yaml:
                    real.append(import_yaml.safe_load(open(p)))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(n):
            r = dict(real[i % len(real)])
            r["id"] = f"SYN-{i:07d}"
            r["aliases"] = [f"CVE-2099-{i:07d}"]
            aff = []
            for a in r.get("affected", []):
                a = dict(a)
                a["package"] = dict(a["package"], name=f"{a['package']['name']}-{i % 50000}")
                aff.append(a)
            r["affected"] = aff
            z.writestr(f"SYN-{i:07d}.json", json.dumps(r, default=str))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200000, help="synthetic corpus size")
    ap.add_argument("--skip-build", action="store_true")
    a = ap.parse_args()
    if not a.skip_build:
        sh(["cargo", "build", "--release", "-p", "caisson"], cwd=ROOT)
    trees = ensure_trees()
    tmp = tempfile.mkdtemp(prefix="caisson-bench-scan-")
    root = os.path.join(tmp, "root")
    db = os.path.join(tmp, "v.db")
    adv = os.path.join(SHARED, "data/advisories")
    t0 = time.perf_counter()
    sh([CAISSON, "--root", root, "db", "build", "-q", "--db", db] + sum((["--from", os.path.join(adv, e)] for e in ["pypi", "npm", "crates", "go"]), []))
    real_build = time.perf_counter() - t0
    syn = os.path.join(tmp, "synthetic-all.zip")
    print(f"making a synthetic corpus of {a.records} records ...", file=sys.stderr)
    synthetic_corpus(a.records, syn)
    syn_db = os.path.join(tmp, "syn.db")
    t0 = time.perf_counter()
    sh([CAISSON, "--root", root, "db", "build", "-q", "--db", syn_db, "--from", syn])
    syn_build = time.perf_counter() - t0

    print(f"\n| tree | size | files | tar floor cold | tar floor warm | caisson scan cold | caisson scan warm | warm ratio | peak RSS | packages |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, path in trees:
        size, files = tree_size(path)
        floor = ["sh", "-c", f"tar -cf - -C {path} . | cat > /dev/null"]
        scan = [CAISSON, "--root", root, "scan", "--db", db, "-f", "json", "-o", os.path.join(tmp, "out.json"), path]
        drop_caches()
        fc, _ = timed(floor)
        drop_caches()
        sc, _ = timed(scan)
        # warm: best of 3 each, interleaved
        fw, sw, rss = [], [], 0
        for _ in range(3):
            fw.append(timed(floor)[0])
            t, r = timed(scan)
            sw.append(t)
            rss = max(rss, r)
        npk = json.load(open(os.path.join(tmp, "out.json")))["packages"]
        print(f"| {name} | {size/1e6:.0f} MB | {files} | {fc:.2f} s | {min(fw):.2f} s | {sc:.2f} s | {min(sw):.2f} s | "
              f"{min(sw)/min(fw):.2f}x | {rss/1024:.0f} MiB | {npk} |")
    print(f"\n`db build`: real corpus ({adv}): {real_build:.2f} s; synthetic {a.records} records "
          f"(zip {os.path.getsize(syn)/1e6:.0f} MB): {syn_build:.1f} s (target: within 60 s)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
