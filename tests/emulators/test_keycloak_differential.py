"""The emulator is held to the real Keycloak: one scenario, both servers, the same observations.

The scenario is a person's life as iam drives it (a joiner's grants, a
mover's changes, logins at the token endpoint, an admin logout, a
termination and its read-back), run through the connector and the token
endpoint only; what the connector sees and what the token endpoint answers
is recorded on each server and compared. Any difference fails, named by the
step where it shows.

Both realms are imported from the same declaration (`iam.lab.keycloak.seed`).
Names that differ by construction (the realm, the URL) are replaced by
placeholders; ids and times are left out. The emulator's clock moves one
second before the logout, so there a token is always older than the
logout's not-before time; on the real server it may fall in the same
second. The observation is therefore the rule itself: a refresh is refused
exactly when the token was issued before the user's not-before time.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from iam.connectors.keycloak import KeycloakConnector
from iam.lab.keycloak import FakeClock, KeycloakEmulator
from iam.lab.keycloak.seed import ADMIN_PASSWORD, REALM, SWEEPER_SECRET, WIKI, seed

from iam import contract
from iam.model import AccountState
from iam.secrets import Secret
from tests.support.conformance import MISSING
from tests.support.keycloak import AdminAccess
from tests.support.realms import RealRealm

Observation = tuple[str, Any]


@dataclass
class Side:
    """One server, its realm, and how a second passes there."""

    realm: RealRealm
    a_second_passes: Callable[[], None]


@pytest.fixture
def emulated() -> Iterator[Side]:
    clock = FakeClock()
    with KeycloakEmulator(clock=clock, admin_password=ADMIN_PASSWORD) as kc:
        seed(kc)
        yield Side(RealRealm(AdminAccess(kc.url, "admin", ADMIN_PASSWORD), REALM), lambda: clock.advance(1))


def issued_at(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iat"])


def account(state: AccountState | None) -> Any:
    """What the connector saw of an account, without ids and times."""
    if state is None:
        return None
    return {
        "username": state.username,
        "enabled": state.enabled,
        "entitlements": sorted(str(e) for e in state.entitlements),
        "sessions": sorted(s.detail for s in state.sessions),
        "credentials": sorted((c.kind, c.id, c.detail, c.active) for c in state.credentials),
        "attributes": dict(state.attributes),
        "remaining": sorted(_without_ids(r, state) for r in state.remaining_access()),
    }


def _without_ids(text: str, state: AccountState) -> str:
    for session in state.sessions:
        text = text.replace(session.id, "<session>")
    return text


def scenario(side: Side) -> list[Observation]:
    realm = side.realm
    seen: list[Observation] = []

    def note(what: str, value: Any) -> None:
        text = json.dumps(value, default=str, sort_keys=True).replace(realm.url, "<url>")
        seen.append((what, json.loads(re.sub(rf"\b{re.escape(realm.name)}\b(?![.-])", "<realm>", text))))

    c = KeycloakConnector("sso", {**realm.settings(), "client_secret": Secret(SWEEPER_SECRET)})
    note("check", c.check())
    note("a name nobody has", account(c.read_account(MISSING)))
    # joiner: bob is given what a new role holds; mover: he leaves finance and /staff
    for text in (
        "realm-role:auditor",
        "client-role:app/editor",
        f"client-role:{WIKI}/reader",
        "group:/contractors",
    ):
        wanted = contract.parse_entitlement(text)
        note(f"grant {text}", [c.grant("bob", wanted).outcome for _ in range(2)])
    note("bob as a joiner", account(c.read_account("bob")))
    for text in ("realm-role:finance", "group:/staff"):
        note(f"revoke {text}", [c.revoke("bob", contract.parse_entitlement(text)).outcome for _ in range(2)])
    note("grant Order Viewer", c.grant("bob", contract.parse_entitlement("realm-role:Order Viewer")).outcome)
    note("bob as a mover", account(c.read_account("bob")))
    # alice logs in three ways; an admin logs her out
    tokens = [
        realm.login("alice", "portal"),
        realm.login("alice", "app", offline=True),
        realm.login("alice", "portal", offline=True),
    ]
    bobs = realm.login("bob", "app", offline=True)
    note("alice logged in", account(c.read_account("alice")))
    side.a_second_passes()
    note("end sessions", [c.end_sessions("alice").outcome for _ in range(2)])
    not_before = realm.user("alice")["notBefore"]
    note("alice logged out", account(c.read_account("alice")))
    note("online refresh after logout", realm.refresh(tokens[0]).json().get("error"))
    for t in tokens[1:]:
        refused = realm.refresh(t).status_code == 400
        note(
            f"offline {t.client}: refused exactly when older than not-before",
            refused is (issued_at(t.refresh) < not_before),
        )
    # termination and read-back
    state = c.read_account("alice")
    assert state is not None
    steps = c.termination_steps(state)
    note("termination plan", [(s.op, s.target, s.description) for s in steps])
    note("termination outcomes", [contract.perform(c, "alice", s).outcome for s in steps])
    after = c.read_account("alice")
    note("alice terminated", account(after))
    note("terminating again", [] if after is None else [s.op for s in c.termination_steps(after)])
    note("terminated steps again", [contract.perform(c, "alice", s).outcome for s in steps])
    login = realm.password_login("alice", "alice-Passw0rd")
    note("alice logs in", (login.status_code, login.json().get("error_description")))
    note("alice refreshes", [realm.refresh(t).json().get("error") for t in tokens])
    note("bob untouched", (account(c.read_account("bob")), realm.refresh(bobs).status_code))
    c.close()
    return seen


def differences(emulated: list[Observation], real: list[Observation]) -> list[str]:
    out = [
        f"{e[0]}:\n  emulator: {e[1]}\n  Keycloak: {r[1]}"
        for e, r in zip(emulated, real, strict=True)
        if e != r
    ]
    return out


def test_the_emulator_and_the_real_keycloak_show_the_connector_the_same_life(
    emulated: Side, realm: RealRealm
) -> None:
    on_emulator = scenario(emulated)
    on_keycloak = scenario(Side(realm, lambda: None))
    assert [what for what, _ in on_emulator] == [what for what, _ in on_keycloak]
    found = differences(on_emulator, on_keycloak)
    assert found == [], "\n".join(found)


def test_a_difference_is_named_by_its_step() -> None:
    """Guards the comparison itself: a difference is reported, not averaged away."""
    found = differences([("login", 200), ("refresh", 400)], [("login", 200), ("refresh", 200)])
    assert found == ["refresh:\n  emulator: 400\n  Keycloak: 200"]
