#!/usr/bin/env python3
"""Compare osv-scanner JSON with `kubeward scan fs -o json` findings.

A finding is (ecosystem, package, version, vulnerability); a vulnerability is
the set of IDs osv-scanner groups as one (its "groups" aliases) or kubeward
merges into one finding (advisory_id + aliases). Two findings agree when the
package matches and the ID sets overlap. Prints one line per difference and
a summary; exit status 1 when there is any difference.

usage: compare.py OSV_JSON KUBEWARD_JSON
"""
import json, sys

def osv_findings(path):
    out = []
    for res in json.load(open(path)).get("results") or []:
        for p in res.get("packages") or []:
            pk = p["package"]
            key = (pk["ecosystem"], pk["name"], pk["version"])
            for g in p.get("groups") or []:
                out.append((key, set(g["ids"]) | set(g.get("aliases") or [])))
    return out

def kw_findings(path):
    out = []
    for f in json.load(open(path))["findings"]:
        pk = f["package"]
        key = (pk["ecosystem"], pk["name"], pk["version"])
        out.append((key, {f["advisory_id"], *f.get("aliases", [])}))
    return out

def norm(key):
    eco, name, version = key
    if eco == "Go":
        version = version.lstrip("v")
    if eco == "PyPI":
        name = name.lower().replace("_", "-").replace(".", "-")
    return (eco, name, version)

def unmatched(a, b):
    return [(k, ids) for k, ids in a
            if not any(norm(k) == norm(k2) and ids & ids2 for k2, ids2 in b)]

def main():
    o, k = osv_findings(sys.argv[1]), kw_findings(sys.argv[2])
    only_osv, only_kw = unmatched(o, k), unmatched(k, o)
    for key, ids in only_osv:
        print("only osv-scanner:", "/".join(key), ",".join(sorted(ids)))
    for key, ids in only_kw:
        print("only kubeward:   ", "/".join(key), ",".join(sorted(ids)))
    print(f"osv-scanner {len(o)} findings, kubeward {len(k)}, "
          f"only osv-scanner {len(only_osv)}, only kubeward {len(only_kw)}")
    sys.exit(1 if only_osv or only_kw else 0)

main()
