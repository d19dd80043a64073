"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from iam.connectors.ldap import LdapConnector

from iam.config import Config, RetryPolicy, SystemConfig
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD


@pytest.fixture
def rt(directory: Directory, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime over the `directory` fixture's slapd alone, with a store and log of its own."""
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test")}
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01),
        systems=(SystemConfig("directory", "ldap", settings),),
    )
    with Runtime(config, connectors={"directory": LdapConnector("directory", settings)}) as runtime:
        yield runtime
