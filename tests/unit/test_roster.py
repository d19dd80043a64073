"""The people a sweep judges against (`iam.roster`): the same identities as one by one, held once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from iam.model import Identity
from iam.roster import Later, Roster

WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def row(
    username: str, status: str = "active", **attributes: object
) -> tuple[str, str, dict[str, object], datetime]:
    # a fresh copy of each string, as a database driver decodes each row
    fresh = {k: "".join(list(v)) if isinstance(v, str) else v for k, v in attributes.items()}
    return "".join(list(username)), "".join(list(status)), fresh, WHEN


ROWS = [
    row("zoe", department="Sales", start_date="2020-01-01", kind="contractor", end_date="2027-01-01"),
    row("ann", department="Sales", start_date="2020-01-01", email="ann@example.org", hr_id="E1"),
    row("lee", "terminating", department="Ops"),
    row("bob", "terminated", department="Ops", unknown_field="ignored", manager=None),
    row("cy", department="Sales", policy_ack_date="", policy_ack_version="2026-01"),
]


def test_each_person_is_the_identity_their_row_makes_one_by_one() -> None:
    roster = Roster.of(ROWS)
    for username, status, attributes, _ in ROWS:
        status = "terminated" if status == "terminating" else status
        assert roster[username] == Identity.from_dict({**attributes, "username": username, "status": status})
    assert roster["zoe"].end_date == date(2027, 1, 1) and roster["cy"].policy_ack_date is None


def test_repeated_values_are_one_object_each() -> None:
    roster = Roster.of(ROWS)
    ann, cy, zoe = roster["ann"], roster["cy"], roster["zoe"]
    assert ann.department is cy.department is zoe.department
    assert ann.status is cy.status and roster["lee"].status is roster["bob"].status
    assert ann.start_date is zoe.start_date


def test_people_are_in_username_order_whatever_order_the_store_gave() -> None:
    roster = Roster.of(ROWS)
    assert list(roster) == ["ann", "bob", "cy", "lee", "zoe"] and len(roster) == 5
    assert [p.username for p in roster.values()] == list(roster)
    assert [roster.index(name) for name in roster] == [0, 1, 2, 3, 4]


def test_unknown_names_are_absent_not_errors_of_the_lookup() -> None:
    roster = Roster.of(ROWS)
    assert roster.get("nobody") is None and roster.index("nobody") is None and roster.index("zzz") is None
    assert "nobody" not in roster and "ann" in roster and 3 not in roster
    with pytest.raises(KeyError):
        roster["nobody"]
    assert Roster().get("ann") is None and len(Roster()) == 0


def test_leavers_read_terminated_and_left_when_their_record_last_changed() -> None:
    roster = Roster.of(ROWS)
    assert roster["lee"].status == "terminated" and roster.left.get("lee") == WHEN
    assert roster.left.get("bob") == WHEN and roster.left.get("ann") is None
    assert dict(roster.left) == {"bob": WHEN, "lee": WHEN}


def test_a_later_roster_is_loaded_once_on_first_use_whichever_thread_asks() -> None:
    loads: list[int] = []
    start = threading.Barrier(8)

    def load() -> Roster:
        loads.append(1)
        return Roster.of(ROWS)

    later = Later(load)
    assert not later.loaded and loads == []
    got: list[Roster] = []

    def ask() -> None:
        start.wait(timeout=10)
        got.append(later.get())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and later.loaded
    assert all(r is got[0] for r in got)


def test_the_emails_index_is_built_once_for_every_review() -> None:
    roster = Roster.of(ROWS)
    assert roster.emails is roster.emails
    assert roster.emails.owner("ann@example.org") is roster["ann"]


def test_an_account_is_the_person_whatever_the_case_of_either_name() -> None:
    """Keycloak and the VPNs answer in lower case, LDAP as the entry was made: HR's Dee is dee."""
    roster = Roster.of([*ROWS, row("Dee"), row("MAX"), row("max2")])
    dee, big_max = roster.index("Dee"), roster.index("MAX")
    assert dee is not None and big_max is not None
    assert roster.index("dee") == roster.index("DEE") == roster.index("dEE") == dee
    assert roster.index("ANN") == roster.index("Ann") == roster.index("ann")
    assert roster.index("max") == big_max and roster.index("Max2") == roster.index("max2")
    assert roster.get("DEE").username == "Dee" and "ZOE" in roster and roster.index("deedee") is None
