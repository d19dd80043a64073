"""An emulator of Keycloak's Admin REST API, held to Keycloak's OpenAPI description.

No Keycloak server can be installed on the test machines, so the Keycloak
connector is tested against this: real HTTP on loopback, real state, an
injected clock, and a contract test (``tests/emulators/test_keycloak_contract.py``)
that checks every route and answer against ``keycloak-admin-23.0.6.openapi.json``.
"""

from tests.emulators.keycloak.openapi import AdminContract
from tests.emulators.keycloak.server import KeycloakEmulator, Login
from tests.emulators.keycloak.state import FakeClock

__all__ = ["AdminContract", "FakeClock", "KeycloakEmulator", "Login"]
