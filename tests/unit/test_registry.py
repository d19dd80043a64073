from collections.abc import Iterator

import pytest

from iam import contract, registry
from iam.errors import ConfigError
from iam.model import AccountState
from tests.support.memory import MemoryConnector


def test_capabilities_come_from_the_mixins() -> None:
    caps = MemoryConnector.capabilities()
    assert contract.Capability.TERMINATE in caps and contract.Capability.END_SESSIONS in caps
    assert registry.load_connector_class("ldap").capabilities() >= {
        contract.Capability.READ,
        contract.Capability.TERMINATE,
        contract.Capability.ENTITLE,
    }


def test_a_class_that_is_not_a_connector_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not name an iam Connector"):
        registry.validate_connector_class(object, "x")


def test_a_connector_that_cannot_read_is_refused() -> None:
    class Blind(contract.Connector):
        def check(self) -> str:
            return ""

    with pytest.raises(ConfigError, match="cannot read"):
        registry.validate_connector_class(Blind, "blind")


def test_a_connector_claiming_termination_without_any_revocation_is_refused() -> None:
    class Hollow(contract.Connector, contract.Readable, contract.Terminable):
        def check(self) -> str:
            return ""

        def read_account(self, username: str) -> AccountState | None:
            return None

        def iter_accounts(self) -> Iterator[AccountState]:
            return iter(())

    with pytest.raises(ConfigError, match="can revoke nothing"):
        registry.validate_connector_class(Hollow, "hollow")


def test_unimplemented_operations_are_named() -> None:
    class Half(contract.Connector, contract.Readable):
        def check(self) -> str:
            return ""

        def read_account(self, username: str) -> AccountState | None:
            return None

    with pytest.raises(ConfigError, match="iter_accounts"):
        registry.validate_connector_class(Half, "half")
