"""YAML documents a user writes, checked against a JSON Schema.

Errors name the file, the line and the dotted key, so the user can go
straight to the mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from iam.errors import ConfigError
from iam.secrets import SECRET_SCHEMA


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed document and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def validate_document(
    data: Any, schema: Mapping[str, Any], label: str, node: Any, prefix: tuple = ()
) -> None:
    """Raise a `ConfigError` naming file, line and key of the first problem."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    where = tuple(err.absolute_path)
    mark = _mark(node, where)
    key = ".".join(str(p) for p in prefix + where) or "(top level)"
    line = f":{mark.line + 1}" if mark else ""
    raise ConfigError(f"{label}{line}: {key}: {_explain(err)}")


def _explain(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        return f"{err.message}; allowed keys: {', '.join(allowed)}"
    if err.schema == SECRET_SCHEMA:
        return "a secret must be {env: VARIABLE}, {file: PATH} or a string"
    return err.message


def child_node(node: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node


def _mark(node: Any, path: tuple) -> Any:
    while path:
        found = child_node(node, path)
        if found is not None:
            return found.start_mark
        path = path[:-1]
    return node.start_mark if node is not None else None
