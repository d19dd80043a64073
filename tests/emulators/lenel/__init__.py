"""An emulator of Lenel OnGuard's OpenAccess REST API (7.5), held to the vendor's swagger.

No PACS server can be installed on the test machines, so the badge connector
is tested against this: real HTTP on loopback, real state, an injected clock,
a door reader (`LenelEmulator.swipe`), and a contract test
(``tests/emulators/test_lenel_contract.py``) that checks every route and
answer against ``lenel-openaccess-7.5.swagger.yaml``.
"""

from tests.emulators.lenel.server import APPLICATION_ID, LenelEmulator
from tests.emulators.lenel.state import FakeClock
from tests.emulators.lenel.swagger import SwaggerContract

__all__ = ["APPLICATION_ID", "FakeClock", "LenelEmulator", "SwaggerContract"]
