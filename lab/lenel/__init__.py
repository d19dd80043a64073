"""An emulator of Lenel OnGuard's OpenAccess REST API (7.5), held to the vendor's swagger.

No access-control server can be installed for tests or a trial, so the badge
connector meets this: real HTTP on loopback, real state, an injected clock,
a door reader (`LenelEmulator.swipe`), and a contract test
(``tests/emulators/test_lenel_contract.py``) that checks every route and
answer against ``lenel-openaccess-7.5.swagger.yaml``.
"""

from iam.lab.lenel.server import APPLICATION_ID, LenelEmulator
from iam.lab.lenel.state import FakeClock

__all__ = ["APPLICATION_ID", "FakeClock", "LenelEmulator"]
