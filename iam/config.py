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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

import schemas
from iam import registry
from iam.documents import child_node, read_yaml, validate_document
from iam.errors import ConfigError
from iam.secrets import SECRET_SCHEMA, Secret, is_secret_ref, resolve

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
    policy: str | None = None
    timezone: str = "UTC"
    hmac_secret: Secret | None = None
    max_skew_seconds: int = 300
    dormant_days: int = 90
    #: What a sync does to the third parties of an owner it terminates (review or terminate).
    orphaned_third_parties: str = field(
        default_factory=lambda: schema_default("safety", "orphaned_third_parties")
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def schema_default(*keys: str) -> Any:
    """A setting's default, written once: in schemas/config.schema.json."""
    node: dict[str, Any] = schemas.load("config")
    for key in keys:
        node = node["properties"][key]
    return node["default"]


def config_path(explicit: str | None) -> Path:
    """--config, else IAM_CONFIG, else ./iam.yaml."""
    return Path(explicit or os.environ.get("IAM_CONFIG") or DEFAULT_PATH)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve one configuration file."""
    environ = os.environ if environ is None else environ
    if not path.exists():
        raise ConfigError(
            f"{path}: configuration file not found (give --config FILE, set IAM_CONFIG, "
            "or run `iam demo` to try iam without one)"
        )
    data, node = read_yaml(path)
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
    validate_document(data, schemas.load("config"), label, node, ())
    systems = []
    for name, block in data["systems"].items():
        if not block.get("enabled", True):
            continue
        cls = registry.load_connector_class(block["type"])
        settings = {k: v for k, v in block.items() if k not in ("type", "enabled")}
        schema = dict(cls.settings_schema)
        validate_document(settings, schema, label, child_node(node, ("systems", name)), ("systems", name))
        settings = _resolve_secrets(settings, schema, environ, label, name)
        systems.append(SystemConfig(name, block["type"], settings))
    timezone = data.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{label}: timezone: unknown time zone {timezone!r} (e.g. UTC, Europe/Paris)"
        ) from None
    http = data.get("http", {})
    hmac_secret = None
    if http:
        try:
            hmac_secret = resolve(http["hmac_secret"], environ)
        except KeyError as exc:
            raise ConfigError(f"{label}: http.hmac_secret: {exc.args[0]}") from None
        except OSError as exc:
            raise ConfigError(f"{label}: http.hmac_secret: cannot read secret file: {exc.strerror}") from None
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
        policy=_relative(data["policy"], base) if "policy" in data else None,
        timezone=timezone,
        hmac_secret=hmac_secret,
        max_skew_seconds=http.get("max_skew_seconds", 300),
        dormant_days=data.get("review", {}).get("dormant_days", 90),
        orphaned_third_parties=safety.get("orphaned_third_parties")
        or schema_default("safety", "orphaned_third_parties"),
    )


def _relative(value: str, base: Path) -> str:
    """Paths in a config file are relative to that file; URLs are kept."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str(base / value)


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
