"""Independent oracle for the PyPI scan test: which OSV records of
../shared/data/advisories/pypi affect the distributions installed in a
directory. Versions are compared with `packaging` (the PyPA reference
implementation of PEP 440); ranges are evaluated as the OSV schema specifies.
Prints one JSON list of [package, [ids...]] (each flaw's record ids + aliases,
records of one package sharing an id merged), sorted."""
import glob, json, os, sys
import yaml
from packaging.version import Version, InvalidVersion
from packaging.utils import canonicalize_name
from importlib.metadata import distributions

records_dir, site = sys.argv[1], sys.argv[2]
records = []
for f in sorted(glob.glob(os.path.join(records_dir, "*.yaml"))):
    d = yaml.safe_load(open(f))
    if d.get("withdrawn"):
        continue
    records.append(d)

def affected(v, entry):
    if str(v) in [str(x) for x in entry.get("versions", [])]:
        return True
    for r in entry.get("ranges", []):
        if r["type"] not in ("ECOSYSTEM", "SEMVER"):
            continue
        evs = []
        for e in r["events"]:
            (k, x), = e.items()
            evs.append((k, x))
        def key(e):
            return (0, None) if e[1] == "0" else (1, Version(e[1]))
        evs.sort(key=key)
        a = False
        for k, x in evs:
            if k == "introduced" and (x == "0" or v >= Version(x)):
                a = True
            elif k == "fixed" and v >= Version(x):
                a = False
            elif k == "last_affected" and v > Version(x):
                a = False
            elif k == "limit" and v >= Version(x):
                a = False
                break
        if a:
            return True
    return False

out = []
for dist in distributions(path=[site]):
    name = canonicalize_name(dist.metadata["Name"])
    v = Version(dist.version)
    hits = []
    for d in records:
        for e in d.get("affected", []):
            if e["package"]["ecosystem"] != "PyPI" or canonicalize_name(e["package"]["name"]) != name:
                continue
            if affected(v, e):
                hits.append(set([d["id"]] + d.get("aliases", [])))
                break
    # merge records that share an id
    groups = []
    for h in hits:
        for g in [g for g in groups if g & h]:
            groups.remove(g)
            h |= g
        groups.append(h)
    for g in groups:
        out.append([name, sorted(g)])
print(json.dumps(sorted(out)))
