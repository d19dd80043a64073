"""Check a JSON output against its committed schema, ``schemas/<name>.schema.json``.

Plain jsonschema over the file as committed (what a user's tooling would
read): no registry of remote ids, so nothing is ever fetched.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@cache
def load(name: str) -> dict[str, Any]:
    """The committed schema ``schemas/<name>.schema.json``."""
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def validate(instance: Any, name: str) -> None:
    """Raise `jsonschema.ValidationError` unless ``instance`` follows schema ``name``."""
    jsonschema.Draft202012Validator(load(name)).validate(instance)
