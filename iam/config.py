"""Load and check the YAML configuration; resolve secret references.

Every problem is a `ConfigError` naming the file, the line, the key and what
to do, so a typo never surfaces as a traceback in the middle of a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

import schemas
from iam import registry
from iam.errors import ConfigError
from iam.secrets import SECRET_SCHEMA, is_secret_ref, resolve

DEFAULT_PATH = "iam.yaml"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 30.0


@dataclass(frozen=True)
class SystemConfig:
    name: str
    type: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Config:
    path: Path | None
    store: str = "iam.db"
    audit_log: str = "iam-audit.jsonl"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_terminations: int = 20
    max_termination_share: float = 0.05
    systems: tuple[SystemConfig, ...] = ()


def config_path(explicit: str | None) -> Path:
    """--config, else IAM_CONFIG, else ./iam.yaml."""
    return Path(explicit or os.environ.get("IAM_CONFIG") or DEFAULT_PATH)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve one configuration file."""
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found (give --config FILE, set IAM_CONFIG, "
            "or run `iam demo` to try iam without one)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, path=path, node=node, environ=environ)


def parse_config(
    data: Any,
    *,
    path: Path | None = None,
    node: yaml.Node | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate an already-parsed configuration document."""
    environ = os.environ if environ is None else environ
    label = str(path) if path else "<config>"
    _validate(data, schemas.load("config"), label, node, ())
    systems = []
    for name, block in data["systems"].items():
        if not block.get("enabled", True):
            continue
        cls = registry.load_connector_class(block["type"])
        settings = {k: v for k, v in block.items() if k not in ("type", "enabled")}
        schema = dict(cls.settings_schema)
        _validate(settings, schema, label, _child(node, ("systems", name)), ("systems", name))
        settings = _resolve_secrets(settings, schema, environ, label, name)
        systems.append(SystemConfig(name, block["type"], settings))
    retry = data.get("retry", {})
    safety = data.get("safety", {})
    base = path.parent if path else Path()
    return Config(
        path=path,
        store=_relative(data.get("store", "iam.db"), base),
        audit_log=_relative(data.get("audit_log", "iam-audit.jsonl"), base),
        retry=RetryPolicy(**retry),
        max_terminations=safety.get("max_terminations", 20),
        max_termination_share=safety.get("max_termination_share", 0.05),
        systems=tuple(systems),
    )


def _relative(value: str, base: Path) -> str:
    """Paths in a config file are relative to that file; URLs are kept."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str(base / value)


def _validate(data: Any, schema: Mapping[str, Any], label: str, node: Any, prefix: tuple) -> None:
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


def _child(node: Any, path: tuple) -> Any:
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
        found = _child(node, path)
        if found is not None:
            return found.start_mark
        path = path[:-1]
    return node.start_mark if node is not None else None


def _resolve_secrets(
    settings: dict[str, Any], schema: Mapping[str, Any], environ: Mapping[str, str], label: str, name: str
) -> dict[str, Any]:
    props = schema.get("properties", {})
    resolved = dict(settings)
    for key, value in settings.items():
        if props.get(key) == SECRET_SCHEMA or is_secret_ref(value):
            try:
                resolved[key] = resolve(value, environ)
            except KeyError as exc:
                raise ConfigError(f"{label}: systems.{name}.{key}: {exc.args[0]}") from None
            except OSError as exc:
                raise ConfigError(
                    f"{label}: systems.{name}.{key}: cannot read secret file: {exc.strerror}"
                ) from None
    return resolved
