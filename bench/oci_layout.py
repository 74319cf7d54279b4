"""Writing OCI image layouts for the bench fixture generators (Python's
hashlib and json only, so fixtures do not depend on the code they measure)."""
import hashlib
import json
import os


def write_blob(out, data, media_type):
    """Stores `data` under OUT/blobs/sha256 and returns its descriptor."""
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def write_image(out, config, layers):
    """Writes `config` and a manifest of the `layers` descriptors, and an
    index naming that manifest."""
    config_desc = write_blob(out, json.dumps(config).encode(),
                             "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": layers}
    desc = write_blob(out, json.dumps(manifest).encode(),
                      "application/vnd.oci.image.manifest.v1+json")
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
