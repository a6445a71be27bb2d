// Independent oracle for the npm and crates.io scan tests: which OSV records
// affect the packages of an npm package-lock.json (v2/v3) or a Cargo.lock. Versions
// are compared with npm's own `semver` package; ranges are evaluated as the OSV
// schema specifies. Prints a JSON list of [name, version, [ids...]] sorted.
// usage: node semver_oracle.js <semver module dir> <records dir> <lockfile>
const fs = require("fs");
const path = require("path");
const semver = require(process.argv[2]);
const recordsDir = process.argv[3];
const lock = process.argv[4];

const records = fs.readdirSync(recordsDir)
  .filter((f) => f.endsWith(".json") && f !== "PROVENANCE.json")
  .map((f) => JSON.parse(fs.readFileSync(path.join(recordsDir, f), "utf8")))
  .filter((r) => !r.withdrawn);

let pkgs = []; // [ecosystem, name, version]
if (lock.endsWith("package-lock.json")) {
  const l = JSON.parse(fs.readFileSync(lock, "utf8"));
  for (const [k, v] of Object.entries(l.packages || {})) {
    if (k === "" || v.link) continue;
    const name = v.name || k.slice(k.lastIndexOf("node_modules/") + "node_modules/".length);
    pkgs.push(["npm", name, v.version]);
  }
} else if (lock.endsWith(".gobin.txt")) {
  // `go version -m BINARY` (Go's own reader of build info)
  const lines = fs.readFileSync(lock, "utf8").split("\n");
  const m = lines[0].match(/: go(\S+)/);
  pkgs.push(["Go", "stdlib", "v" + m[1]]);
  for (const l of lines.slice(1)) {
    const f = l.trim().split("\t");
    if ((f[0] === "dep" || f[0] === "mod") && f[2] && f[2] !== "(devel)") pkgs.push(["Go", f[1], f[2]]);
  }
} else {
  const text = fs.readFileSync(lock, "utf8");
  for (const block of text.split("[[package]]").slice(1)) {
    const get = (k) => (block.match(new RegExp(`^${k} = "([^"]*)"`, "m")) || [])[1];
    const src = get("source");
    if (src && src.startsWith("registry+")) pkgs.push(["crates.io", get("name"), get("version")]);
  }
}

const cmp = (a, b) => semver.compare(a, b);
function inRange(v, events) {
  const evs = events.map((e) => Object.entries(e)[0]);
  evs.sort((a, b) => (a[1] === "0" ? -1 : b[1] === "0" ? 1 : cmp(a[1], b[1])));
  let aff = false;
  for (const [k, x] of evs) {
    if (k === "introduced" && (x === "0" || cmp(v, x) >= 0)) aff = true;
    else if (k === "fixed" && cmp(v, x) >= 0) aff = false;
    else if (k === "last_affected" && cmp(v, x) > 0) aff = false;
    else if (k === "limit" && cmp(v, x) >= 0) return false;
  }
  return aff;
}
const norm = (x) => (semver.valid(x) ? x : semver.coerce(x).version); // "1.0" → "1.0.0"

const out = [];
const seen = new Set();
for (const [eco, name, version] of pkgs) {
  const key = `${eco} ${name} ${version}`;
  if (seen.has(key)) continue;
  seen.add(key);
  const groups = [];
  for (const r of records) {
    const hit = (r.affected || []).some((a) =>
      a.package.ecosystem === eco && a.package.name === name &&
      ((a.versions || []).includes(version) ||
        (a.ranges || []).some((rg) => (rg.type === "SEMVER" || rg.type === "ECOSYSTEM") &&
          inRange(version, rg.events.map((e) => Object.fromEntries(Object.entries(e).map(([k, x]) => [k, x === "0" ? x : norm(x)])))))));
    if (!hit) continue;
    let ids = new Set([r.id, ...(r.aliases || [])]);
    for (let i = groups.length - 1; i >= 0; i--) {
      if ([...groups[i]].some((x) => ids.has(x))) { ids = new Set([...ids, ...groups[i]]); groups.splice(i, 1); }
    }
    groups.push(ids);
  }
  for (const g of groups) out.push([name, version, [...g].sort()]);
}
out.sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
console.log(JSON.stringify(out));
