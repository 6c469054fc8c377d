#!/usr/bin/env python3
"""Write a synthetic `docker save` archive for the image scan benchmark.

The image has LAYERS layers of incompressible random files (SIZE_MB in all)
and a last layer with /etc/os-release (Alpine 3.10) and an apk database of
a few packages at versions the Alpine secdb lists as vulnerable, so the scan
has real work: walking every layer entry, unpacking what matters, matching.
Nothing here is committed; the archive is written to OUT.

usage: mkimage.py OUT [SIZE_MB=1024] [LAYERS=4]
"""
import hashlib, io, json, os, sys, tarfile

APK_DB = """P:musl
V:1.1.22-r2
A:x86_64
o:musl
T:the musl c library
F:lib
R:ld-musl-x86_64.so.1

P:libcrypto1.1
V:1.1.1c-r0
A:x86_64
o:openssl
T:Crypto library from openssl
F:lib
R:libcrypto.so.1.1

P:busybox
V:1.30.1-r2
A:x86_64
o:busybox
T:Size optimized toolbox of many common UNIX utilities
F:bin
R:busybox

"""
OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.10.2\nPRETTY_NAME="Alpine Linux v3.10"\n'

def add_bytes(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(data))

def layer(path, fill):
    """Write one layer tar with fill(tf) and return its sha256 (the diff ID)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        fill(tf)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()

def main():
    out = sys.argv[1]
    size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    layers = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    work = out + ".d"
    os.makedirs(work, exist_ok=True)
    file_mb = 8
    per_layer = max(1, size_mb // layers // file_mb)
    paths, diff_ids = [], []
    for i in range(layers):
        def fill(tf, i=i):
            for j in range(per_layer):
                add_bytes(tf, f"data/layer{i}/blob{j}.bin", os.urandom(file_mb << 20))
        p = os.path.join(work, f"layer{i}.tar")
        diff_ids.append(layer(p, fill))
        paths.append(p)
    def fill_os(tf):
        add_bytes(tf, "etc/os-release", OS_RELEASE.encode())
        add_bytes(tf, "lib/apk/db/installed", APK_DB.encode())
    p = os.path.join(work, "os.tar")
    diff_ids.append(layer(p, fill_os))
    paths.append(p)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [d.split(":")[1] + "/layer.tar" for d in diff_ids]
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["bench/big:latest"], "Layers": names}]).encode()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        add_bytes(tf, "manifest.json", manifest)
        add_bytes(tf, config_name, config)
        for p, n in zip(paths, names):
            tf.add(p, arcname=n)
    for p in paths:
        os.remove(p)
    os.rmdir(work)

main()
