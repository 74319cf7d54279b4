#!/usr/bin/env python3
"""Writes an OCI image layout whose single gzip layer holds N small files
(default 300,000) in nested directories: the stress case for memory that
grows with the number of entries (grype#1509). Python's tarfile, gzip and
hashlib only, so the fixture does not depend on the code it measures.
The first PACKAGES files (default 0) are npm manifests
`app/node_modules/pkg-I/package.json`, for catalogers to find.

usage: gen_many_files_image.py OUT_DIR [N [PACKAGES]]
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(out, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    packages = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for i in range(packages):
            content = b'{"name":"pkg-%d","version":"1.0.%d"}' % (i, i % 97)
            info = tarfile.TarInfo("app/node_modules/pkg-%d/package.json" % i)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
        for i in range(packages, n):
            d = "data/%03d/%03d" % (i // 100_000, (i // 1000) % 100)
            if d not in dirs:
                for j in range(1, d.count("/") + 2):
                    part = "/".join(d.split("/")[:j])
                    if part not in dirs:
                        info = tarfile.TarInfo(part)
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        tar.addfile(info)
                        dirs.add(part)
            content = b"file %d\n" % i
            info = tarfile.TarInfo("%s/f%06d.txt" % (d, i))
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    layer = blob(out, gzip.compress(tar_bytes, compresslevel=6, mtime=0),
                 "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {"os": "linux", "architecture": "amd64",
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    config_desc = blob(out, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer]}
    manifest_desc = blob(out, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


if __name__ == "__main__":
    main()
