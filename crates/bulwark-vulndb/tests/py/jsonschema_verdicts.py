"""Validate JSON documents against a JSON Schema with the `jsonschema` package.

Usage: jsonschema_verdicts.py SCHEMA.json DOCS.jsonl
Prints one line per input line: "ok" or "bad<TAB>message". The validator
class follows the schema's "$schema" (draft 4 to 2020-12); "format" is not
asserted, as jsonschema does by default. Local "$ref"s to sibling schema files
(CycloneDX: spdx.schema.json, jsf-0.82.schema.json) resolve from the schema's
directory.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7


def main() -> None:
    schema_path = pathlib.Path(sys.argv[1])
    schema = json.loads(schema_path.read_text())
    resources = []
    for sibling in schema_path.parent.glob("*.json"):
        try:
            doc = json.loads(sibling.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict):
            resource = Resource.from_contents(doc, default_specification=DRAFT7)
            resources.append((sibling.name, resource))
            if "$id" in doc:
                resources.append((doc["$id"], resource))
    registry = Registry().with_resources(resources)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, registry=registry)
    out = sys.stdout
    with open(sys.argv[2]) as docs:
        for line in docs:
            doc = json.loads(line)
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
            if error is None:
                out.write("ok\n")
            else:
                path = "$" + "".join(f"[{p!r}]" for p in error.absolute_path)
                out.write("bad\t" + path + ": " + error.message.replace("\n", " ")[:300] + "\n")


if __name__ == "__main__":
    main()
