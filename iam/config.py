"""Load and check the YAML configuration; resolve secret references.

`ConfigFile` is the document as a user writes it (its JSON Schema is
generated from it, with each installed connector's settings under
``systems``); `Config` is what a command runs with: the same sections, paths
made relative to the file, secrets resolved. Every problem is a
`ConfigError` naming the file, the line, the key and what to do, so a typo
never surfaces as a traceback in the middle of a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, create_model

from iam import registry
from iam.contract import Connector
from iam.documents import Document, TimeZone, child_node, read_yaml, validate_document
from iam.errors import ConfigError
from iam.forward import SyslogSettings
from iam.notify import NotificationSettings
from iam.secrets import Secret, SecretSetting
from iam.settings import ConnectorSettings
from iam.web.settings import WebSettings

DEFAULT_PATH = "iam.yaml"


class RetryPolicy(Document):
    """How often the engine retries a transient error (timeout, refused connection, busy)."""

    attempts: int = Field(default=5, ge=1, le=20)
    initial_wait: float = Field(
        default=0.5, ge=0, description="seconds before the first retry; doubles after"
    )
    max_wait: float = Field(default=30, ge=0, description="the longest wait between two tries, in seconds")


class Safety(Document):
    """Limits that stop a bad HR export or sweep before it changes anything."""

    max_terminations: int = Field(default=20, ge=0, description="the most people one run may terminate")
    max_termination_share: float = Field(
        default=0.05, ge=0, le=1, description="the largest share of active people one run may terminate"
    )
    orphaned_third_parties: Literal["review", "terminate"] = Field(
        default="review",
        description="what a sync does to the active contractors and vendors of an owner it terminates: "
        "review lists them (and the sweep reports them as unowned_third_party); terminate terminates "
        "them in the same sync, counted in the blast-radius limit",
    )


class HttpSettings(Document):
    """The HTTP endpoint for HR's events (``iam serve``)."""

    hmac_secret: SecretSetting = Field(description="the key HR signs each request with")
    key_id: str = Field(
        default="hr",
        pattern="^[A-Za-z0-9._-]{1,64}$",
        description="names that key in the audit log: each event HR sends is recorded as acted by hr:KEY_ID",
    )
    max_skew_seconds: int = Field(default=300, ge=1, le=3600, description="how old a signed request may be")


class AuditSettings(Document):
    """The audit log's seal and its off-box copy."""

    signing_key: SecretSetting | None = Field(
        default=None,
        description="an Ed25519 private key (PEM, or 32 raw bytes in base64) that signs a checkpoint at "
        "the end of every command that wrote records; give auditors the public key "
        "(`iam audit public-key`) to check the log with `iam audit verify --public-key`",
    )
    rotate_bytes: int | None = Field(
        default=None, ge=4096, description="start a new log file once the current one reaches this size"
    )
    rotate_days: int | None = Field(
        default=None, ge=1, description="start a new log file once the current one's first record is this old"
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        description="`iam run-due` deletes rotated log files and finished runs older than this (audited); "
        "unset keeps everything",
    )
    syslog: SyslogSettings | None = Field(
        default=None,
        description="send every record, as it is written, to a syslog server (RFC 5424 over TCP/TLS)",
    )


class ReviewSettings(Document):
    """Access reviews (``iam review sweep``)."""

    dormant_days: int = Field(
        default=90, ge=1, description="an enabled account with no login for this many days is dormant"
    )
    certification_reminder_days: int = Field(
        default=3,
        ge=0,
        description="`iam run-due` tells a manager this many days before a certification is due",
    )
    max_suspension_days: int = Field(
        default=30, ge=1, description="a suspension older than this many days is a sweep finding"
    )
    delegates: dict[str, list[str]] = Field(
        default_factory=dict,
        description="who may decide a manager's certification besides the manager: manager username -> "
        'usernames; "*" names people who may decide for every manager',
    )


SystemName = Annotated[str, StringConstraints(pattern="^[a-z][a-z0-9_-]{0,39}$")]


class Retention(Document):
    """When a terminated person's account in this system is deleted: separately from the
    termination and later, so a mistaken leaver stays recoverable until then."""

    delete_after_days: int = Field(
        ge=0,
        description="`iam run-due` deletes the account this many days after a complete termination, "
        "once it is read holding nothing; absent: never deleted",
    )


class DisabledSystem(BaseModel):
    """A system kept in the file but switched off: only its type is read, its settings are not checked."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, hide_input_in_errors=True)

    type: str = Field(description="connector type, an entry point of group iam.connectors")
    enabled: Literal[False]


class ConfigFile(Document):
    """The file named by --config, IAM_CONFIG or ./iam.yaml."""

    store: str = Field(
        default="iam.db",
        min_length=1,
        description="SQLite file path or an SQLAlchemy URL such as postgresql+psycopg://host/iam",
    )
    audit_log: str = Field(
        default="iam-audit.jsonl", min_length=1, description="append-only, hash-chained JSON-lines audit log"
    )
    policy: str | None = Field(
        default=None,
        min_length=1,
        description="access policy file (roles, birthright, grants, separation of duty); "
        "see schemas/policy.schema.json",
    )
    timezone: TimeZone = Field(
        default=ZoneInfo("UTC"), description="IANA zone in which HR dates (start, last day) begin and end"
    )
    http: HttpSettings | None = None
    retry: RetryPolicy = RetryPolicy()
    safety: Safety = Safety()
    review: ReviewSettings = ReviewSettings()
    audit: AuditSettings = AuditSettings()
    web: WebSettings | None = Field(default=None, description="the web console of `iam serve`")
    notifications: NotificationSettings | None = Field(
        default=None, description="who is told when something needs them (e-mail, webhooks)"
    )
    #: Each block is checked against its type's settings model by `config_model` (which replaces this).
    systems: dict[SystemName, ConnectorSettings] = Field(
        min_length=1, description="each system by name: its connector type and that connector's settings"
    )


def _system_model(type_name: str, cls: type[Connector]) -> type[ConnectorSettings]:
    """A system's block: its connector's settings plus ``type`` (and ``enabled``, true)."""
    title = "".join(part.title() for part in type_name.replace("-", "_").split("_")) + "System"
    named: Any = Literal[type_name]  # built at run time: one literal per installed type
    return create_model(
        title,
        __base__=cls.settings_model,
        __doc__=cls.settings_model.__doc__,
        type=(named, Field(description="connector type, an entry point of group iam.connectors")),
        enabled=(Literal[True], True),
        retention=(Retention | None, None),
    )


def _tag(block: Any) -> str | None:
    if not isinstance(block, Mapping):
        return None
    return "(disabled)" if block.get("enabled") is False else block.get("type")


@cache
def config_model(types: tuple[tuple[str, type[Connector]], ...]) -> type[ConfigFile]:
    """`ConfigFile` whose ``systems`` are checked against the settings of these connector types."""
    choices: list[Any] = [Annotated[_system_model(t, cls), Tag(t)] for t, cls in types]
    choices.append(Annotated[DisabledSystem, Tag("(disabled)")])
    names = ", ".join(registry.available_types()) or "none"
    if len(choices) == 1:  # no enabled system: pydantic wants a union of two or more to discriminate
        return create_model(
            "ConfigFile",
            __base__=ConfigFile,
            __doc__=ConfigFile.__doc__,
            systems=(dict[SystemName, DisabledSystem], ConfigFile.model_fields["systems"]),
        )
    block: Any = Annotated[
        Union[tuple(choices)],  # noqa: UP007 - a union built from a list
        Discriminator(
            _tag,
            custom_error_type="system_type",
            custom_error_message=f"a system needs a type (installed types: {names})",
        ),
    ]
    return create_model(
        "ConfigFile",
        __base__=ConfigFile,
        __doc__=ConfigFile.__doc__,
        systems=(
            dict[SystemName, block],
            ConfigFile.model_fields["systems"],
        ),
    )


def installed_config_model() -> type[ConfigFile]:
    """The configuration's model with every installed connector type (for its JSON Schema)."""
    return config_model(tuple((t, registry.load_connector_class(t)) for t in registry.available_types()))


@dataclass(frozen=True)
class SystemConfig:
    name: str
    type: str
    #: The connector's settings model (from a file), or a mapping its connector validates.
    settings: ConnectorSettings | Mapping[str, Any]


@dataclass(frozen=True)
class Config:
    """The configuration a command runs with: paths relative to its file, secrets resolved."""

    path: Path | None
    store: str = ConfigFile.model_fields["store"].default
    audit_log: str = ConfigFile.model_fields["audit_log"].default
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy())
    safety: Safety = field(default_factory=lambda: Safety())
    review: ReviewSettings = field(default_factory=lambda: ReviewSettings())
    audit: AuditSettings = field(default_factory=lambda: AuditSettings())
    http: HttpSettings | None = None
    web: WebSettings | None = None
    notifications: NotificationSettings | None = None
    systems: tuple[SystemConfig, ...] = ()
    policy: str | None = None
    timezone: str = str(ConfigFile.model_fields["timezone"].default)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def max_terminations(self) -> int:
        return self.safety.max_terminations

    @property
    def max_termination_share(self) -> float:
        return self.safety.max_termination_share

    @property
    def orphaned_third_parties(self) -> str:
        """What a sync does to the third parties of an owner it terminates (review or terminate)."""
        return self.safety.orphaned_third_parties

    @property
    def dormant_days(self) -> int:
        return self.review.dormant_days

    @property
    def hmac_secret(self) -> Secret | None:
        return self.http.hmac_secret if self.http else None

    @property
    def max_skew_seconds(self) -> int:
        return (self.http or HttpSettings.model_construct()).max_skew_seconds


def config_path(explicit: str | None) -> Path:
    """--config, else IAM_CONFIG, else ./iam.yaml."""
    return Path(explicit or os.environ.get("IAM_CONFIG") or DEFAULT_PATH)


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, secrets_needed: bool = True
) -> Config:
    """Read, validate and resolve one configuration file.

    With ``secrets_needed`` off (read-only commands: `audit verify`, `runs`,
    `evidence` on an auditor's machine), a secret that cannot be resolved
    is kept as an `UnavailableSecret` instead of failing the whole file.
    """
    environ = os.environ if environ is None else environ
    if not path.exists():
        raise ConfigError(
            f"{path}: configuration file not found (give --config FILE, set IAM_CONFIG, "
            "or run `iam demo` to try iam without one)"
        )
    data, node = read_yaml(path)
    return parse_config(data, path=path, node=node, environ=environ, secrets_needed=secrets_needed)


def parse_config(
    data: Any,
    *,
    path: Path | None = None,
    node: yaml.Node | None = None,
    environ: Mapping[str, str] | None = None,
    secrets_needed: bool = True,
) -> Config:
    """Validate an already-parsed configuration document."""
    environ = os.environ if environ is None else environ
    label = str(path) if path else "<config>"
    model = config_model(_used_types(data, label, node))
    context = {"environ": environ, "defer_secrets": not secrets_needed, "base": path.parent if path else None}
    document = validate_document(model, data, label, node, context=context)
    systems = tuple(
        SystemConfig(name, block.type, block)  # type: ignore[attr-defined]  # the variant's discriminator
        for name, block in document.systems.items()
        if not isinstance(block, DisabledSystem)
    )
    base = path.parent if path else Path()
    return Config(
        path=path,
        store=_relative(document.store, base),
        audit_log=_relative(document.audit_log, base),
        retry=document.retry,
        safety=document.safety,
        review=document.review,
        audit=document.audit,
        http=document.http,
        web=document.web,
        notifications=document.notifications,
        systems=systems,
        policy=_relative(document.policy, base) if document.policy else None,
        timezone=str(document.timezone),
    )


def _used_types(data: Any, label: str, node: Any) -> tuple[tuple[str, type[Connector]], ...]:
    """The connector classes of the enabled systems, loaded (an unknown type is named with its line)."""
    systems = data.get("systems") if isinstance(data, Mapping) else None
    found: dict[str, type[Connector]] = {}
    for name, block in (systems or {}).items() if isinstance(systems, Mapping) else ():
        kind = _tag(block)
        if not isinstance(kind, str) or kind == "(disabled)" or kind in found:
            continue
        try:
            found[kind] = registry.load_connector_class(kind)
        except ConfigError as exc:
            where = child_node(node, ("systems", name, "type"))
            line = f":{where.start_mark.line + 1}" if where is not None else ""
            raise ConfigError(f"{label}{line}: systems.{name}.type: {exc}") from None
    return tuple(sorted(found.items()))


def _relative(value: str, base: Path) -> str:
    """Paths in a config file are relative to that file; URLs are kept."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str(base / value)
