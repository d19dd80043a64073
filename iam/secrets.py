"""Secrets: read from the environment or a file, never printed.

`Secret` hides its value from ``str``/``repr`` so an accidental log line or
error message shows ``***``; every revealed value is also registered so the
audit log's redaction processor can scrub it from any text.
"""

from __future__ import annotations

import threading
from typing import Any

REDACTED = "***"

_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A secret value; call `reveal()` only where it is sent to a system."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value = value
        self.source = source
        register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def register(value: str) -> None:
    """Remember a value that must never appear in output."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Replace every known secret in ``text`` with ``***``."""
    for value in _known:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts and lists."""
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


#: JSON Schema of a secret setting: an ``{env: NAME}`` or ``{file: PATH}``
#: reference (recommended) or an inline string.
SECRET_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["env"],
            "properties": {"env": {"type": "string", "minLength": 1}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["file"],
            "properties": {"file": {"type": "string", "minLength": 1}},
        },
    ]
}


def is_secret_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("env" in value or "file" in value)


def resolve(value: Any, environ: Any) -> Secret:
    """Turn a secret setting into a `Secret`; raises KeyError/OSError with no value in the text."""
    if isinstance(value, str):
        return Secret(value, "inline")
    if "env" in value:
        name = value["env"]
        if name not in environ or not environ[name]:
            raise KeyError(f"environment variable {name} is not set")
        return Secret(environ[name], f"env:{name}")
    path = value["file"]
    with open(path, encoding="utf-8") as handle:
        return Secret(handle.read().strip(), f"file:{path}")
