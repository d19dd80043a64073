"""iam: identity lifecycle and complete access revocation.

The public API a third party builds on: the connector contract (a
`Connector` base and one mixin per capability, settings as a
`ConnectorSettings` model with `SecretSetting` fields), the errors that say whether
a retry helps, the model every part shares, and the functions the CLI calls
(a Python caller gets the same behaviour from them). Connectors install as
``iam.connectors.*`` and are found through the ``iam.connectors`` entry
points; the lab of real-protocol doubles (``iam.lab``) is built on this API,
never the other way round.

Every name is imported on first use (PEP 562 ``__getattr__``): importing
``iam``, which every ``iam.*`` module does first, loads nothing (so
``iam --help`` starts fast), and importing the contract does not load the
store, the engine or their libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iam.config import Config, load_config
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
    from iam.lifecycle import hr_sync, run_due, submit
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
    from iam.runs import execute_plan, offboard, provision, resume, status
    from iam.runtime import Runtime
    from iam.secrets import Secret, SecretSetting
    from iam.settings import ConnectorSettings

#: Imported when first asked for: name -> module.
_LAZY = {
    "Archivable": "iam.contract",
    "AttributeDelta": "iam.contract",
    "Capability": "iam.contract",
    "Connector": "iam.contract",
    "Creatable": "iam.contract",
    "CredentialRevocable": "iam.contract",
    "Deletable": "iam.contract",
    "Disableable": "iam.contract",
    "Entitling": "iam.contract",
    "Maintainable": "iam.contract",
    "Op": "iam.contract",
    "PasswordLockable": "iam.contract",
    "Readable": "iam.contract",
    "SessionRevocable": "iam.contract",
    "StepSpec": "iam.contract",
    "Terminable": "iam.contract",
    "Updatable": "iam.contract",
    "AlreadyExists": "iam.errors",
    "AmbiguousAccount": "iam.errors",
    "AuthenticationFailed": "iam.errors",
    "ConfigError": "iam.errors",
    "ConnectorError": "iam.errors",
    "ConnectTimeout": "iam.errors",
    "IamError": "iam.errors",
    "IncompleteRead": "iam.errors",
    "InputError": "iam.errors",
    "InvalidAttribute": "iam.errors",
    "NoSuchObject": "iam.errors",
    "PermanentError": "iam.errors",
    "PermissionDenied": "iam.errors",
    "RateLimited": "iam.errors",
    "StateConflict": "iam.errors",
    "TransientError": "iam.errors",
    "Unreachable": "iam.errors",
    "Unsupported": "iam.errors",
    "UserError": "iam.errors",
    "AccountState": "iam.model",
    "Credential": "iam.model",
    "DesiredAccount": "iam.model",
    "Entitlement": "iam.model",
    "Identity": "iam.model",
    "Outcome": "iam.model",
    "Result": "iam.model",
    "Session": "iam.model",
    "Secret": "iam.secrets",
    "SecretSetting": "iam.secrets",
    "ConnectorSettings": "iam.settings",
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
