"""Checking a connector's settings when it is built directly (not from a config file).

The config loader already validates and resolves secrets; a connector built
in code (tests, the demo, a Python caller) gets the same check here, with
secret values masked before the schema ever sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsonschema

from iam.errors import ConfigError
from iam.secrets import REDACTED, SECRET_SCHEMA, Secret


def validate_settings(
    system: str,
    settings: Mapping[str, Any],
    schema: Mapping[str, Any],
    explain: Callable[[jsonschema.ValidationError, str], str] | None = None,
) -> dict[str, Any]:
    """The settings with plain-string secrets wrapped in `Secret`; `ConfigError` naming the key if invalid."""
    secret_keys = [k for k, v in schema.get("properties", {}).items() if v == SECRET_SCHEMA]
    out = dict(settings)
    for key in secret_keys:
        if isinstance(out.get(key), str):
            out[key] = Secret(out[key], "inline")
    shown = {k: REDACTED if isinstance(v, Secret) else v for k, v in out.items()}
    problems = list(jsonschema.Draft202012Validator(schema).iter_errors(shown))
    if problems:
        err = jsonschema.exceptions.best_match(problems)
        where = ".".join(str(p) for p in err.absolute_path)
        text = explain(err, where) if explain else err.message
        raise ConfigError(f"systems.{system}{'.' + where if where else ''}: {text}")
    return out
