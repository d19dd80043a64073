"""An emulator of Keycloak's Admin REST API, held to Keycloak's OpenAPI description.

Real HTTP on loopback, real state, an injected clock: the demo's SSO, the
lab's (`iam lab up`) and the fault tests'. A contract test
(``tests/emulators/test_keycloak_contract.py``) checks every route and answer
against ``keycloak-admin-23.0.6.openapi.json``, and a differential test
(``tests/emulators/test_keycloak_differential.py``) runs one scenario here and
on a real Keycloak 26 and fails on any difference the connector would see.
"""

from iam.lab.keycloak.server import KeycloakEmulator, Login
from iam.lab.keycloak.state import FakeClock

__all__ = ["FakeClock", "KeycloakEmulator", "Login"]
