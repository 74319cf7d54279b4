#!/usr/bin/env python3
"""Writes an OCI image layout: the bulwark-sbom Debian fixture image (SRC, an
OCI layout, blobs hard-linked) plus one gzip layer that moves the dpkg
database behind a symbolic link, as `mv /var/lib/dpkg /opt/dpkg && ln -s
/opt/dpkg /var/lib/dpkg` would: `opt/dpkg/status` (the fixture's own status
file, read from its unpacked ROOTFS) before the link `var/lib/dpkg ->
/opt/dpkg` in the tar. The case where the final links decide which files are
package databases. Python's tarfile, gzip and hashlib only.

usage: gen_linked_db_image.py SRC_OCI ROOTFS OUT_DIR
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

from oci_layout import write_blob, write_image


def read_blob(root, digest):
    with open(os.path.join(root, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


def layer(status):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("opt", "opt/dpkg"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("opt/dpkg/status")
        info.size = len(status)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(status))
        info = tarfile.TarInfo("var/lib/dpkg")
        info.type = tarfile.SYMTYPE
        info.linkname = "/opt/dpkg"
        tar.addfile(info)
    return raw.getvalue()


def main():
    src, rootfs, out = sys.argv[1:4]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    for name in os.listdir(os.path.join(src, "blobs", "sha256")):
        target = os.path.join(out, "blobs", "sha256", name)
        if not os.path.exists(target):
            os.link(os.path.join(src, "blobs", "sha256", name), target)
    index = json.load(open(os.path.join(src, "index.json")))
    manifest = json.loads(read_blob(src, index["manifests"][0]["digest"]))
    config = json.loads(read_blob(src, manifest["config"]["digest"]))
    with open(os.path.join(rootfs, "var/lib/dpkg/status"), "rb") as f:
        tar_bytes = layer(f.read())
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
    config.setdefault("history", []).append({"created_by": "mv /var/lib/dpkg /opt/dpkg && ln -s /opt/dpkg /var/lib/dpkg"})
    layers = manifest["layers"] + [write_blob(out, gzip.compress(tar_bytes, mtime=0),
                                              "application/vnd.oci.image.layer.v1.tar+gzip")]
    write_image(out, config, layers)

if __name__ == "__main__":
    main()
