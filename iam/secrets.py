"""Secrets: read from the environment or a file, never printed.

`Secret` hides its value from ``str``/``repr`` so an accidental log line or
error message shows ``***``; every revealed value is also registered so the
audit log's redaction processor can scrub it from any text.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

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


class UnavailableSecret(Secret):
    """A secret a read-only command was not given (an auditor's machine has none): harmless until
    something tries to use it, which is then an error saying which secret and why."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        super().__init__("", "unavailable")
        self.why = why

    def reveal(self) -> str:
        from iam.errors import ConfigError

        raise ConfigError(f"this needs a secret that is not available here: {self.why}")


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


#: The forms a secret setting takes, as its JSON Schema says them to the user.
SECRET_FORMS = "a secret must be {env: VARIABLE}, {file: PATH} or a string"

_SECRET_JSON_SCHEMA: dict[str, Any] = {
    "title": "Secret",
    "description": "{env: VARIABLE} or {file: PATH} (recommended), or the value itself inline",
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "the value itself (keep such a file private)"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["env"],
            "properties": {"env": {"type": "string", "minLength": 1, "description": "environment variable"}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["file"],
            "properties": {"file": {"type": "string", "minLength": 1, "description": "file holding it"}},
        },
    ],
}


def is_secret_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(next(iter(value.values())), str)
        and bool(next(iter(value.values())))
        and ("env" in value or "file" in value)
    )


def _validate(value: Any, info: ValidationInfo) -> Secret:
    """A `Secret` from any accepted form; errors say what is wrong, never the value."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str) and value:
        return Secret(value, "inline")
    if not is_secret_ref(value):
        raise PydanticCustomError("secret_form", SECRET_FORMS)
    context = info.context or {}
    environ = context.get("environ", os.environ)
    try:
        return resolve(value, environ, context.get("base"))
    except KeyError as exc:
        if context.get("defer_secrets"):
            return UnavailableSecret(str(exc.args[0]))
        raise PydanticCustomError("secret_unset", str(exc.args[0])) from None
    except OSError as exc:
        if context.get("defer_secrets"):
            return UnavailableSecret(f"cannot read secret file: {exc.strerror}")
        raise PydanticCustomError("secret_unreadable", f"cannot read secret file: {exc.strerror}") from None


#: A secret setting: a `Secret`, or ``{env: NAME}``, ``{file: PATH}`` or an inline string, resolved
#: against the ``environ`` of the validation context (the process environment without one).
SecretSetting = Annotated[
    Secret,
    PlainValidator(_validate),
    PlainSerializer(lambda secret: REDACTED, return_type=str),
    WithJsonSchema(_SECRET_JSON_SCHEMA),
]


def resolve(value: Any, environ: Any, base: Path | None = None) -> Secret:
    """Turn a secret setting into a `Secret`; raises KeyError/OSError with no value in the text.

    A relative ``{file: PATH}`` is relative to ``base``, the configuration file's folder, like
    every other path in the file (else to the working directory, where a command happens to run).
    """
    if isinstance(value, str):
        return Secret(value, "inline")
    if "env" in value:
        name = value["env"]
        if name not in environ or not environ[name]:
            raise KeyError(f"environment variable {name} is not set")
        return Secret(environ[name], f"env:{name}")
    path = value["file"]
    if base is not None and not Path(path).is_absolute():
        path = str(base / path)
    with open(path, encoding="utf-8") as handle:
        return Secret(handle.read().strip(), f"file:{path}")
