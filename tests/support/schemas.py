"""Check a JSON output against its committed schema, ``schemas/<name>.schema.json``.

Plain jsonschema over the files as committed (what a user's tooling would
read). A reference to a sibling file (``run-report.schema.json#/...``) is
read from ``schemas/``; nothing is ever fetched from the network.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@cache
def load(name: str) -> dict[str, Any]:
    """The committed schema ``schemas/<name>.schema.json``."""
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def _sibling(uri: str) -> Resource:
    """A schema another one names by file: the committed copy, never a download."""
    file = uri.rsplit("/", 1)[-1]
    if not file.endswith(".schema.json") or not (SCHEMAS / file).exists():
        raise NoSuchResource(ref=uri)
    return Resource.from_contents(load(file.removesuffix(".schema.json")))


def validate(instance: Any, name: str) -> None:
    """Raise `jsonschema.ValidationError` unless ``instance`` follows schema ``name``."""
    registry: Registry = Registry(retrieve=_sibling)  # type: ignore[call-arg]
    jsonschema.Draft202012Validator(load(name), registry=registry).validate(instance)
