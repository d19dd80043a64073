"""JSON Schemas for every file a user writes and every JSON output iam prints."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
from referencing import Registry, Resource


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.schema.json`` as a dict."""
    return json.loads(files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """Every schema here, so one can $ref another by file name."""
    resources = []
    for entry in files(__name__).iterdir():
        if entry.name.endswith(".schema.json"):
            schema = json.loads(entry.read_text(encoding="utf-8"))
            resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def validate(instance: Any, name: str) -> None:
    """Raise `jsonschema.ValidationError` unless ``instance`` follows schema ``name``."""
    jsonschema.Draft202012Validator(load(name), registry=registry()).validate(instance)
