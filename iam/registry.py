"""Find connectors through the ``iam.connectors`` entry-point group.

The core never imports a connector by name: a third party adds a system by
declaring an entry point. Loading checks the class honours the contract
(pluggy-style validation at registration), so a broken plugin fails at
start-up with a clear message, not half-way through an offboarding.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from iam.contract import Capability, Connector
from iam.errors import ConfigError

GROUP = "iam.connectors"


def available_types() -> list[str]:
    """The connector type names installed on this machine."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load_connector_class(type_name: str) -> type[Connector]:
    """The connector class registered as ``type_name``, validated."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == type_name]
    if not found:
        raise ConfigError(
            f"unknown system type {type_name!r}; installed types: {', '.join(available_types()) or 'none'}"
        )
    try:
        cls = found[0].load()
    except Exception as exc:  # a plugin that cannot import is a setup problem
        raise ConfigError(f"system type {type_name!r} cannot be loaded: {exc}") from exc
    validate_connector_class(cls, type_name)
    connector_class: type[Connector] = cls
    return connector_class


def validate_connector_class(cls: object, type_name: str) -> None:
    """Refuse a class that does not honour the contract."""
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"system type {type_name!r} does not name an iam Connector class")
    caps = cls.capabilities()
    if Capability.READ not in caps:
        raise ConfigError(f"system type {type_name!r} cannot read accounts; every connector must")
    if Capability.TERMINATE in caps and not caps & {
        Capability.DISABLE,
        Capability.ENTITLE,
        Capability.REVOKE_CREDENTIALS,
    }:
        raise ConfigError(f"system type {type_name!r} claims termination but can revoke nothing")
    abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
    if abstract:
        raise ConfigError(f"system type {type_name!r} leaves {', '.join(sorted(abstract))} unimplemented")
