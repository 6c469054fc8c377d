#!/usr/bin/env python3
"""Lay out the shared OSV records as osv-scanner's offline database.

osv-scanner --offline reads <root>/osv-scanner/<Ecosystem>/all.zip (v2.5 also
looks under <root>/osv-scalibr/): one zip of OSV JSON records per ecosystem.
The Go vulndb records are JSON already; the PyPA records are YAML and are
converted one to one. Records are grouped by the ecosystem of their affected
packages, so osv-scanner and kubeward see exactly the same advisories.

usage: mkosvdb.py DATA_DIR OUT_ROOT
"""
import io, json, os, sys, tarfile, zipfile
import yaml

def records(data):
    for name, conv in (("golang-vulndb-osv.tar.gz", json.loads), ("pypa-advisories-osv-yaml.tar.gz", yaml.safe_load)):
        with tarfile.open(os.path.join(data, "osv", name)) as tf:
            for m in tf:
                if not m.isfile() or not m.name.endswith((".json", ".yaml", ".yml")):
                    continue
                rec = conv(tf.extractfile(m).read())
                if isinstance(rec, dict) and rec.get("id"):
                    yield rec

def rfc3339(o):
    """YAML timestamps become RFC 3339 strings, as OSV JSON spells them."""
    if hasattr(o, "isoformat"):
        s = o.isoformat()
        if getattr(o, "tzinfo", None) is None:
            return s + "Z"
        return s.replace("+00:00", "Z")
    raise TypeError(f"cannot encode {type(o)}")

def main():
    data, root = sys.argv[1], sys.argv[2]
    by_eco = {}
    for rec in records(data):
        ecos = {a.get("package", {}).get("ecosystem", "") for a in rec.get("affected", [])}
        for eco in ecos - {""}:
            by_eco.setdefault(eco.split(":")[0], []).append(rec)
    # The shared Cargo.lock and package-lock.json have no advisories in the
    # shared data (kubeward's database has none either): empty databases,
    # so osv-scanner scans them instead of failing on a missing one.
    for eco in ("crates.io", "npm"):
        by_eco.setdefault(eco, [])
    for sub in ("osv-scanner", "osv-scalibr"):
        for eco, recs in by_eco.items():
            d = os.path.join(root, sub, eco)
            os.makedirs(d, exist_ok=True)
            with zipfile.ZipFile(os.path.join(d, "all.zip"), "w", zipfile.ZIP_DEFLATED) as z:
                for r in recs:
                    z.writestr(r["id"] + ".json", json.dumps(r, default=rfc3339))
    for eco, recs in sorted(by_eco.items()):
        print(f"{eco}: {len(recs)} records", file=sys.stderr)

main()
