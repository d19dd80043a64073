"""A system's settings: the model every connector declares, and its one check.

A configuration file and a connector built in code (tests, the lab, a Python
caller) go through the same model, so a setting is checked, defaulted and
its secrets resolved the same way wherever it comes from. Errors name
``systems.<name>.<key>`` and never show a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from iam.documents import Document, problems
from iam.errors import ConfigError


class ConnectorSettings(Document):
    """Base of a connector's settings model (``Connector.settings_model``); holds nothing itself."""


S = TypeVar("S", bound=ConnectorSettings)


def validate_settings(
    system: str,
    model: type[S],
    settings: Mapping[str, Any] | ConnectorSettings,
    environ: Mapping[str, str] | None = None,
) -> S:
    """``settings`` as ``model``: validated, with defaults and `Secret`s; `ConfigError` naming the key."""
    if isinstance(settings, model):
        return settings
    if isinstance(settings, ConnectorSettings):  # another connector's: a mistake in code, not in a file
        raise ConfigError(
            f"systems.{system}: {type(settings).__name__} given where {model.__name__} is needed"
        )
    data = dict(settings)
    try:
        return model.model_validate(data, context={"environ": os.environ if environ is None else environ})
    except ValidationError as exc:
        first = problems(exc, data)[0]
        where = "".join(f".{p}" for p in first.where)
        raise ConfigError(f"systems.{system}{where}: {first.message}") from None
