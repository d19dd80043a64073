"""iam: identity lifecycle and complete access revocation.

The public API a third party builds on: the connector contract (a
`Connector` base and one mixin per capability, settings as a
`ConnectorSettings` model with `SecretSetting` fields), the errors that say whether
a retry helps, the model every part shares, and the functions the CLI calls
(a Python caller gets the same behaviour from them). Connectors install as
``iam.connectors.*`` and are found through the ``iam.connectors`` entry
points; the lab of real-protocol doubles (``iam.lab``) is built on this API,
never the other way round.

The functions that run work are imported on first use, so importing the
contract does not load the store, the engine or their libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from iam.contract import (
    Archivable,
    AttributeDelta,
    Capability,
    Connector,
    Creatable,
    CredentialRevocable,
    Deletable,
    Disableable,
    Entitling,
    Maintainable,
    Op,
    PasswordLockable,
    Readable,
    SessionRevocable,
    StepSpec,
    Terminable,
    Updatable,
)
from iam.errors import (
    AlreadyExists,
    AmbiguousAccount,
    AuthenticationFailed,
    ConfigError,
    ConnectorError,
    ConnectTimeout,
    IamError,
    IncompleteRead,
    InputError,
    InvalidAttribute,
    NoSuchObject,
    PermanentError,
    PermissionDenied,
    RateLimited,
    StateConflict,
    TransientError,
    Unreachable,
    Unsupported,
    UserError,
)
from iam.model import (
    AccountState,
    Credential,
    DesiredAccount,
    Entitlement,
    Identity,
    Outcome,
    Result,
    Session,
)
from iam.secrets import Secret, SecretSetting
from iam.settings import ConnectorSettings

if TYPE_CHECKING:
    from iam.config import Config, load_config
    from iam.lifecycle import hr_sync, run_due, submit
    from iam.runs import execute_plan, offboard, provision, resume, status
    from iam.runtime import Runtime

#: Imported when first asked for: name -> module.
_LAZY = {
    "Config": "iam.config",
    "load_config": "iam.config",
    "Runtime": "iam.runtime",
    "offboard": "iam.runs",
    "provision": "iam.runs",
    "resume": "iam.runs",
    "status": "iam.runs",
    "execute_plan": "iam.runs",
    "hr_sync": "iam.lifecycle",
    "submit": "iam.lifecycle",
    "run_due": "iam.lifecycle",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iam' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AccountState",
    "AlreadyExists",
    "AmbiguousAccount",
    "Archivable",
    "AttributeDelta",
    "AuthenticationFailed",
    "Capability",
    "Config",
    "ConfigError",
    "ConnectTimeout",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "Creatable",
    "Credential",
    "CredentialRevocable",
    "Deletable",
    "DesiredAccount",
    "Disableable",
    "Entitlement",
    "Entitling",
    "IamError",
    "Identity",
    "IncompleteRead",
    "InputError",
    "InvalidAttribute",
    "Maintainable",
    "NoSuchObject",
    "Op",
    "Outcome",
    "PasswordLockable",
    "PermanentError",
    "PermissionDenied",
    "RateLimited",
    "Readable",
    "Result",
    "Runtime",
    "Secret",
    "SecretSetting",
    "Session",
    "SessionRevocable",
    "StateConflict",
    "StepSpec",
    "Terminable",
    "TransientError",
    "Unreachable",
    "Unsupported",
    "Updatable",
    "UserError",
    "execute_plan",
    "hr_sync",
    "load_config",
    "offboard",
    "provision",
    "resume",
    "run_due",
    "status",
    "submit",
]
