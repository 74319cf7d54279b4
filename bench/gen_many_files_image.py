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
import sys
import tarfile

from oci_layout import write_blob, write_image


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    packages = int(sys.argv[3]) if len(sys.argv) > 3 else 0
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
    layer = write_blob(out, gzip.compress(tar_bytes, compresslevel=6, mtime=0),
                       "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {"os": "linux", "architecture": "amd64",
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    write_image(out, config, [layer])

if __name__ == "__main__":
    main()
