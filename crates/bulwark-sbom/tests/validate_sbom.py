#!/usr/bin/env python3
"""Validates an SBOM document against its OFFICIAL JSON schema.

usage: validate_sbom.py cyclonedx|spdx FILE

The schemas come from registry packages (scripts/python-requirements.txt), not
from this repository: CycloneDX 1.6 (with the SPDX licence-id and JSF schemas
it references) from cyclonedx-python-lib, SPDX 2.3 from lib4sbom. Exit codes:
0 valid, 1 invalid (errors printed), 2 the validator itself is missing.
"""
import json
import sys
from importlib import resources

try:
    import jsonschema
    from referencing import Registry, Resource
except ImportError as e:  # pragma: no cover - environment problem
    print(f"validate_sbom: {e}; run scripts/install-deps.sh", file=sys.stderr)
    sys.exit(2)


def load(package, path):
    try:
        return json.loads(resources.files(package).joinpath(path).read_text())
    except (ModuleNotFoundError, FileNotFoundError) as e:
        print(f"validate_sbom: schema {package}/{path} missing: {e}; run scripts/install-deps.sh",
              file=sys.stderr)
        sys.exit(2)


def cyclonedx():
    base = "http://cyclonedx.org/schema/"
    res = "schema/_res/"
    bom = load("cyclonedx", res + "bom-1.6.SNAPSHOT.schema.json")
    assert bom["$id"] == base + "bom-1.6.schema.json", bom["$id"]
    registry = Registry()
    for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        registry = registry.with_resource(base + name, Resource.from_contents(load("cyclonedx", res + name)))
    return bom, registry


def spdx():
    schema = load("lib4sbom", "schemas/spdx/2.3-schema.json")
    assert schema["$id"] == "http://spdx.org/rdf/terms/2.3", schema["$id"]
    return schema, Registry()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("cyclonedx", "spdx"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    schema, registry = cyclonedx() if sys.argv[1] == "cyclonedx" else spdx()
    with open(sys.argv[2]) as f:
        doc = json.load(f)
    validator = jsonschema.Draft7Validator(schema, registry=registry,
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors[:20]:
        print(f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
    if errors:
        print(f"{len(errors)} schema errors", file=sys.stderr)
        sys.exit(1)
    print(f"valid {sys.argv[1]}: {len(doc.get('components', doc.get('packages', [])))} entries")


if __name__ == "__main__":
    main()
