"""Joiners, movers and contractors on the badge system, planned by iam's own planner.

The plan comes from `iam.plan.plan_provisioning` (grants before revokes) and
is run step by step through `iam.contract.perform`, as the engine does; the
door reader then says which doors a card opens.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from iam.connectors.badge import LenelBadgeConnector
from iam.lab.lenel import APPLICATION_ID, FakeClock, LenelEmulator
from iam.lab.lenel.seed import PASSWORD, USER, Site, seed, settings

from iam import contract, errors, registry
from iam.config import parse_config
from iam.model import DesiredAccount, Entitlement, Outcome
from iam.plan import plan_provisioning
from iam.secrets import Secret
from tests.conftest import iam_env, run_iam
from tests.support import company

SYSTEM = "badges"


def levels(*names: str) -> frozenset[Entitlement]:
    return frozenset(Entitlement("access-level", n) for n in names)


@pytest.fixture
def connector(pacs: LenelEmulator, site: Site, clock: FakeClock) -> Iterator[LenelBadgeConnector]:
    c = LenelBadgeConnector(
        SYSTEM, settings(pacs, badge_type="Contractor", timezone="Etc/GMT+5", page_size=2), now=clock
    )
    yield c
    c.close()


def writes(pacs: LenelEmulator) -> list[str]:
    """Every change asked of the PACS (reads and logins are not changes)."""
    return [
        f"{e.method} {e.request}" for e in pacs.exchanges if e.template == "/instances" and e.method != "GET"
    ]


def provision(
    c: LenelBadgeConnector,
    username: str,
    want: frozenset[Entitlement],
    kind: str = "mover",
    end_date: str = "",
) -> list[str]:
    """Plan with iam's planner, perform each step; the step lines, for the reader of a failure."""
    desired = {SYSTEM: DesiredAccount(want, {"family_name": "Person", "end_date": end_date})}
    plan = plan_provisioning(kind, username, desired, {SYSTEM: c.read_account(username)}, {SYSTEM: c})
    assert plan.errors == {}
    for step in plan.steps:
        assert contract.perform(c, username, step.spec).changed, step.line()
    return [s.line() for s in plan.steps]


def test_a_joiner_gets_exactly_the_named_levels(connector: LenelBadgeConnector, pacs: LenelEmulator) -> None:
    person = pacs.add_cardholder("New", "Nora", SSNO="E2001")
    badge = pacs.add_badge(person, 6001)  # enrolled at the badging office, no levels yet
    provision(connector, "E2001", levels("Lobby", "Lab"), kind="joiner")
    state = connector.read_account("E2001")
    assert state is not None and state.entitlements == levels("Lobby", "Lab")
    assert pacs.levels_of(badge) == {"Lobby", "Lab"}
    assert [pacs.swipe(6001, d) for d in ("lobby", "lab", "server-room", "finance")] == [
        "granted",
        "granted",
        "denied",
        "denied",
    ]
    assert provision(connector, "E2001", levels("Lobby", "Lab")) == []  # nothing left to do


def test_a_mover_loses_levels_no_longer_named(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    pacs.assign(site.jane_badge, "Server Room")
    lines = provision(connector, "E1001", levels("Lobby", "Finance"))
    assert lines == [
        "badges: grant access-level Finance",
        "badges: revoke access-level Lab",
        "badges: revoke access-level Server Room",
    ]
    assert pacs.levels_of(site.jane_badge) == {"Lobby", "Finance"}
    assert pacs.swipe(5001, "lab") == "denied" and pacs.swipe(5001, "finance") == "granted"


def test_grants_reach_every_active_badge_and_no_inactive_one(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    spare = pacs.add_badge(site.jane, 5601)
    lost = pacs.add_badge(site.jane, 5602, "Lost")
    assert connector.grant("E1001", Entitlement("access-level", "Finance")).outcome == Outcome.UPDATED
    assert "Finance" in pacs.levels_of(site.jane_badge) and "Finance" in pacs.levels_of(spare)
    assert pacs.levels_of(lost) == set()
    assert connector.grant("E1001", Entitlement("access-level", "Finance")).outcome == Outcome.UNCHANGED


def test_what_cannot_be_granted_says_why(connector: LenelBadgeConnector, pacs: LenelEmulator) -> None:
    pacs.add_cardholder("Cardless", SSNO="E2002")
    with pytest.raises(errors.StateConflict, match="no active badge"):
        connector.grant("E2002", Entitlement("access-level", "Lobby"))
    with pytest.raises(errors.InvalidAttribute, match="no access level named 'Roof'"):
        connector.grant("E1001", Entitlement("access-level", "Roof"))
    with pytest.raises(errors.InvalidAttribute, match="not group"):
        connector.grant("E1001", Entitlement("group", "Lobby"))


def test_a_new_joiner_gets_a_cardholder_and_waits_for_a_badge(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    desired = {SYSTEM: DesiredAccount(levels("Lobby"), {"given_name": "Ada", "family_name": "Lovelace"})}
    plan = plan_provisioning("joiner", "E2003", desired, {SYSTEM: None}, {SYSTEM: connector})
    create, grant = (s.spec for s in plan.steps)
    assert contract.perform(connector, "E2003", create).outcome == Outcome.CREATED
    with pytest.raises(errors.StateConflict, match="issue a badge first"):
        contract.perform(connector, "E2003", grant)
    state = connector.read_account("E2003")
    assert state is not None and state.attributes["display_name"] == "Ada Lovelace" and not state.enabled
    assert contract.perform(connector, "E2003", create).outcome == Outcome.UNCHANGED


def test_a_contractor_badge_stops_at_midnight_after_the_end_date(
    connector: LenelBadgeConnector, pacs: LenelEmulator, clock: FakeClock
) -> None:
    attributes = {"given_name": "Cy", "family_name": "Temp", "end_date": "2025-03-10", "badge_id": 7003}
    assert connector.create_account("C3003", attributes).outcome == Outcome.CREATED
    connector.grant("C3003", Entitlement("access-level", "Lobby"))
    state = connector.read_account("C3003")
    assert state is not None
    (badge,) = state.credentials
    assert badge.active and "2025-03-11T00:00:00-05:00" in badge.detail
    assert pacs.swipe(7003, "lobby") == "granted"
    clock.advance(days=7, hours=13, minutes=59)  # 2025-03-10 23:59 at the site
    assert pacs.swipe(7003, "lobby") == "granted"
    clock.advance(minutes=1)
    assert pacs.swipe(7003, "lobby") == "denied"
    assert pacs.badge(int(badge.id))["TYPE"] == pacs.store.named("Lnl_BadgeType", "Contractor")["ID"]


def test_issuing_a_badge_needs_a_badge_type(pacs: LenelEmulator, site: Site, clock: FakeClock) -> None:
    c = LenelBadgeConnector(SYSTEM, settings(pacs), now=clock)
    with pytest.raises(errors.InvalidAttribute, match="badge_type"):
        c.create_account("C3004", {"badge_id": 7004})
    assert c.read_account("C3004") is None  # refused before anything was written
    c.close()


def test_a_bulk_read_joins_every_page(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    for n in range(3):
        holder = pacs.add_cardholder(f"Bulk{n}", SSNO=f"E90{n}")
        pacs.assign(pacs.add_badge(holder, 8000 + n), "Lobby")
    pacs.add_cardholder("Nokey")
    accounts = {a.username: a for a in connector.iter_accounts()}
    assert set(accounts) >= {"E1001", "E1002", "E900", "E901", "E902"}
    assert accounts["E1001"].entitlements == levels("Lobby", "Lab")
    assert accounts["E1001"].attributes["badge_ends"] == {str(site.jane_badge): None}
    assert accounts["E902"].enabled and accounts["E902"].entitlements == levels("Lobby")
    assert any(u.startswith("cardholder:") and not a.enabled for u, a in accounts.items())
    pages = [e for e in pacs.exchanges if e.query.get("type_name") == "Lnl_Cardholder"]
    assert {e.query["page_size"] for e in pages} == {"2"} and len(pages) == 3


def test_check_names_the_site_and_a_missing_status(pacs: LenelEmulator, site: Site, clock: FakeClock) -> None:
    ok = LenelBadgeConnector(SYSTEM, settings(pacs), now=clock)
    assert "OnGuard 7.5" in ok.check() and "SSNO" in ok.check()
    wrong = LenelBadgeConnector(SYSTEM, settings(pacs, terminated_status="Fired"), now=clock)
    with pytest.raises(errors.InvalidAttribute, match="'Fired' does not exist"):
        wrong.check()


def test_the_entry_point_loads_the_lenel_connector() -> None:
    cls = registry.load_connector_class("lenel")
    assert cls is LenelBadgeConnector
    assert {c.value for c in cls.capabilities()} >= {"read", "entitle", "revoke_credentials", "terminate"}


def test_a_configuration_file_resolves_the_secrets(pacs: LenelEmulator, site: Site) -> None:
    block = {
        "type": "lenel",
        "url": pacs.url,
        "application_id": {"env": "LENEL_APP"},
        "username": USER,
        "password": {"env": "LENEL_PASSWORD"},
    }
    config = parse_config(
        {"systems": {SYSTEM: block}}, environ={"LENEL_APP": APPLICATION_ID, "LENEL_PASSWORD": PASSWORD}
    )
    (system,) = config.systems
    assert isinstance(system.settings.password, Secret) and PASSWORD not in repr(system.settings)
    c = LenelBadgeConnector(system.name, system.settings)
    assert c.read_account("E1001") is not None
    c.close()


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"verify_tls": "no"}, "verify_tls"),
        ({"page_size": 500}, "page_size"),
        ({"url": "https://admin:pw@pacs.example.com"}, "url"),
        ({"match_key": 'SSNO" or 1'}, "match_key"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_settings_are_refused_by_name(overrides: dict[str, object], complaint: str) -> None:
    base = {
        "url": "https://pacs.example.com",
        "application_id": "a",
        "username": "u",
        "password": "p-Secret-1",
    }
    with pytest.raises(errors.ConfigError, match=complaint) as caught:
        LenelBadgeConnector(SYSTEM, {**base, **overrides})
    assert "p-Secret-1" not in str(caught.value)


def test_tls_is_verified_unless_turned_off_by_name(pacs: LenelEmulator) -> None:
    assert LenelBadgeConnector(SYSTEM, settings(pacs)).driver.session._verify is True  # type: ignore[attr-defined]
    off = LenelBadgeConnector(SYSTEM, settings(pacs, verify_tls=False))
    assert off.driver.session._verify is False  # type: ignore[attr-defined]


def test_time_comes_from_the_injected_clock(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    moment = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    c = LenelBadgeConnector(SYSTEM, settings(pacs), now=lambda: moment)
    c.revoke_credential("E1001", str(site.jane_badge))
    assert pacs.badge(site.jane_badge)["DEACTIVATE"] == moment - timedelta(0)
    c.close()


# contractors' end dates -------------------------------------------------------------------------


def test_a_badge_enrolled_at_the_office_takes_the_contractors_end_date(
    connector: LenelBadgeConnector, pacs: LenelEmulator, clock: FakeClock
) -> None:
    person = pacs.add_cardholder("Temp", "Cy", SSNO="C3010")
    badge = pacs.add_badge(person, 7010)  # enrolled by hand: no deactivation date
    lost = pacs.add_badge(person, 7011, "Lost")

    lines = provision(connector, "C3010", levels("Lobby"), kind="joiner", end_date="2025-03-10")

    assert lines == ["badges: update end_date to follow HR", "badges: grant access-level Lobby"]
    assert pacs.badge(badge)["DEACTIVATE"] == datetime(2025, 3, 11, 5, tzinfo=UTC)  # midnight at the site
    assert pacs.badge(lost)["DEACTIVATE"] is None and pacs.badge(lost)["STATUS_NAME"] == "Lost"
    assert provision(connector, "C3010", levels("Lobby"), end_date="2025-03-10") == []  # holds now
    clock.advance(days=7, hours=13, minutes=59)  # 2025-03-10 23:59 at the site
    assert pacs.swipe(7010, "lobby") == "granted"
    clock.advance(minutes=1)
    assert pacs.swipe(7010, "lobby") == "denied"


def test_a_moved_end_date_is_followed_either_way(
    connector: LenelBadgeConnector, pacs: LenelEmulator, clock: FakeClock
) -> None:
    attributes = {"family_name": "Temp", "end_date": "2025-03-10", "badge_id": 7020}
    connector.create_account("C3020", attributes)
    connector.grant("C3020", Entitlement("access-level", "Lobby"))

    assert provision(connector, "C3020", levels("Lobby"), end_date="2025-03-20") == [
        "badges: update end_date to follow HR"
    ]
    clock.advance(days=9)  # past the old end: the extension keeps the door open
    assert pacs.swipe(7020, "lobby") == "granted"

    assert provision(connector, "C3020", levels("Lobby"), end_date="2025-03-12") != []
    state = connector.read_account("C3020")
    assert state is not None and "2025-03-13T00:00:00-05:00" in state.credentials[0].detail
    clock.advance(days=2)  # 2025-03-14 at the site
    assert pacs.swipe(7020, "lobby") == "denied"


def test_an_employee_without_an_end_date_keeps_the_sites_own_badge_dates(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    renewal = datetime(2026, 1, 1, tzinfo=UTC)
    badge = pacs.add_badge(site.jane, 5701, deactivate=renewal)
    assert provision(connector, "E1001", levels("Lobby", "Lab")) == []
    assert pacs.badge(badge)["DEACTIVATE"] == renewal


def test_a_contractor_whose_end_date_hr_removes_keeps_the_badge_date(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    """No end date means the site's dates stand: iam never invents or clears a deactivation."""
    person = pacs.add_cardholder("Temp", SSNO="C3030")
    until = datetime(2025, 3, 11, 5, tzinfo=UTC)
    badge = pacs.add_badge(person, 7030, deactivate=until)
    assert provision(connector, "C3030", levels(), end_date="") == []
    assert pacs.badge(badge)["DEACTIVATE"] == until


def test_marked_terminated_and_expired_badges_never_follow_an_end_date(
    connector: LenelBadgeConnector, pacs: LenelEmulator, clock: FakeClock
) -> None:
    person = pacs.add_cardholder("Temp", SSNO="C3040")
    live = pacs.add_badge(person, 7040)
    expired = pacs.add_badge(person, 7041, deactivate=clock() - timedelta(days=1))  # a date edit revives it
    others = [expired, *(pacs.add_badge(person, 7042 + n, s) for n, s in enumerate(("Stolen", "Terminated")))]
    before = {k: pacs.badge(k) for k in others}

    assert provision(connector, "C3040", levels(), end_date="2025-03-20") == [
        "badges: update end_date to follow HR"
    ]

    assert pacs.badge(live)["DEACTIVATE"] == datetime(2025, 3, 21, 5, tzinfo=UTC)
    assert {k: pacs.badge(k) for k in others} == before
    assert pacs.swipe(7041, "lobby") == "denied"


def test_update_names_the_badges_it_moved_and_then_changes_nothing(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    person = pacs.add_cardholder("Temp", SSNO="C3050")
    first, second = pacs.add_badge(person, 7050), pacs.add_badge(person, 7051)
    delta = contract.AttributeDelta(replace={"end_date": ["2025-03-10"]})

    moved = connector.update_account("C3050", delta)
    assert moved.outcome == Outcome.UPDATED
    assert moved.detail == f"badge(s) {first}, {second} now end 2025-03-11T00:00:00-05:00"
    written = len(writes(pacs))
    again = connector.update_account("C3050", delta)
    assert again.outcome == Outcome.UNCHANGED and f"{first}, {second} already end" in again.detail
    assert len(writes(pacs)) == written
    assert connector.update_account("nobody-7f3a", delta).outcome == Outcome.ABSENT


def test_an_end_date_already_past_stops_the_badges_now_and_leaves_the_status_to_termination(
    connector: LenelBadgeConnector, pacs: LenelEmulator, clock: FakeClock
) -> None:
    """Refusing would leave the door open for someone HR says has left; a past date would misstate when."""
    person = pacs.add_cardholder("Temp", SSNO="C3060")
    badge = pacs.add_badge(person, 7060)
    pacs.assign(badge, "Lobby")
    assert pacs.swipe(7060, "lobby") == "granted"

    assert provision(connector, "C3060", levels("Lobby"), end_date="2025-02-28") == [
        "badges: update end_date to follow HR"
    ]

    assert pacs.badge(badge)["DEACTIVATE"] == clock() and pacs.badge(badge)["STATUS_NAME"] == "Active"
    assert pacs.swipe(7060, "lobby") == "denied"
    clock.advance(days=1)
    assert provision(connector, "C3060", levels("Lobby"), end_date="2025-02-28") == []
    assert pacs.badge(badge)["DEACTIVATE"] == clock() - timedelta(days=1)  # not moved again


def test_a_bad_end_date_on_create_is_refused_before_anything_is_written(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    before = pacs.snapshot()
    with pytest.raises(errors.InvalidAttribute, match="'31/03/2025' is not a date"):
        connector.create_account("C3070", {"end_date": "31/03/2025", "badge_id": 7070})
    assert pacs.snapshot() == before


@pytest.mark.parametrize(
    ("delta", "complaint"),
    [
        (contract.AttributeDelta(replace={"title": ["Boss"]}), "follows only a replaced end_date"),
        (
            contract.AttributeDelta(replace={"end_date": ["2025-04-01"], "title": ["Boss"]}),
            "follows only a replaced end_date",
        ),
        (contract.AttributeDelta(add={"end_date": ["2025-04-01"]}), "follows only a replaced end_date"),
        (contract.AttributeDelta(remove={"end_date": ["2025-04-01"]}), "follows only a replaced end_date"),
        (contract.AttributeDelta(replace={"end_date": ["2025-04-01", "2025-05-01"]}), "follows only"),
        (contract.AttributeDelta(replace={"end_date": ["next week"]}), "is not a date"),
        (contract.AttributeDelta(replace={"end_date": ["20250401"]}), "is not a date"),
        (contract.AttributeDelta(replace={"end_date": ["2025-02-30"]}), "is not a date"),
        (contract.AttributeDelta(replace={"end_date": [""]}), "cannot end a badge"),
    ],
)
def test_a_malformed_update_is_refused_and_changes_nothing(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site, delta, complaint: str
) -> None:
    before, written = pacs.snapshot(), len(writes(pacs))
    with pytest.raises(errors.InvalidAttribute, match=complaint):
        connector.update_account("E1001", delta)
    assert pacs.snapshot() == before and len(writes(pacs)) == written


# the same through the CLI, as HR drives it -------------------------------------------------------

#: The CLI builds the connector with the system clock (it judges whether a badge has expired), so
#: HR's dates are placed weeks after today; the door reader runs on the emulator's clock.
TODAY = datetime.now(UTC).date()
BADGE_POLICY = {
    "roles": {
        "on-site": {"entitlements": {SYSTEM: ["access-level:Lobby"]}},
        "research": {"entitlements": {SYSTEM: ["access-level:Lab"]}},
    },
    "birthright": [
        {"role": "on-site", "when": {"kind": ["employee", "contractor"]}},
        {"role": "research", "when": {"department": ["Research"]}},
    ],
}
CLI_ENV = {"IAM_TEST_LENEL_APP": APPLICATION_ID, "IAM_TEST_LENEL_PASSWORD": PASSWORD}


@dataclass
class Office:
    """A site where the badging office enrolled a contractor's cards before HR's feed reached iam."""

    config: Path
    pacs: LenelEmulator
    clock: FakeClock
    badge: int  # contractor C3010's card 7010, no deactivation date
    lost: int  # their card 7011, marked Lost
    renewal: int  # employee E1001's card 5101, expiring for renewal

    def iam(self, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
        result = run_iam("--config", str(self.config), *args, "--format", "json", env=iam_env(CLI_ENV))
        return result, json.loads(result.stdout) if result.stdout.strip() else None

    def sync(self, end_date: date, *extra: str) -> tuple[subprocess.CompletedProcess[str], Any]:
        rows = [company.person("H1", "E1001", "Research"), contractor(end_date)]
        feed = company.write_feed(self.config.parent / f"feed-{end_date}.csv", rows)
        return self.iam("hr", "sync", str(feed), "--now", self.clock().isoformat(), *extra)

    def deactivates(self) -> datetime | None:
        return self.pacs.badge(self.badge)["DEACTIVATE"]


def contractor(end_date: date) -> dict[str, str]:
    return company.person(
        "H2", "C3010", "Facilities", kind="contractor", owner="E1001", end_date=str(end_date)
    )


def site_midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(5), tzinfo=UTC)  # 00:00 at UTC-5


def run_of(report: Any, kind: str, username: str) -> dict[str, Any]:
    (event,) = [e for e in report["events"] if (e["type"], e["username"]) == (kind, username)]
    assert event["run"] is not None, event
    return event["run"]


def badge_steps(run: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    (system,) = [s for s in run["systems"] if s["system"] == SYSTEM]
    return [(s["op"], s["description"], s["outcome"]) for s in system["steps"]]


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    clock = FakeClock(datetime.combine(TODAY, time(15), tzinfo=UTC))  # 10:00 at the site
    with LenelEmulator(clock) as pacs:
        site = seed(pacs)
        renewal = pacs.add_badge(site.jane, 5101, deactivate=clock() + timedelta(days=365))
        pacs.assign(renewal, "Lobby")
        cy = pacs.add_cardholder("Temp", "Cy", SSNO="C3010")
        badge, lost = pacs.add_badge(cy, 7010), pacs.add_badge(cy, 7011, "Lost")
        (tmp_path / "policy.yaml").write_text(yaml.safe_dump(BADGE_POLICY))
        system = {
            "type": "lenel",
            "url": pacs.url,
            "application_id": {"env": "IAM_TEST_LENEL_APP"},
            "username": USER,
            "password": {"env": "IAM_TEST_LENEL_PASSWORD"},
            "timezone": "Etc/GMT+5",
            "timeout": 5,
        }
        config = {
            "store": "state/iam.db",
            "audit_log": "state/audit.jsonl",
            "policy": "policy.yaml",
            "timezone": "Etc/GMT+5",
            "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05},
            "systems": {SYSTEM: system},
        }
        (tmp_path / "iam.yaml").write_text(yaml.safe_dump(config))
        yield Office(tmp_path / "iam.yaml", pacs, clock, badge, lost, renewal)


def test_hr_sync_gives_an_office_enrolled_badge_the_end_date_with_evidence(office: Office) -> None:
    ends = TODAY + timedelta(days=30)
    lost, renewal = office.pacs.badge(office.lost), office.pacs.badge(office.renewal)

    dry, planned = office.sync(ends, "--dry-run")
    assert dry.returncode == 0, dry.stderr + dry.stdout
    assert ("update", "update end_date to follow HR", None) in badge_steps(run_of(planned, "joiner", "C3010"))
    assert office.deactivates() is None and writes(office.pacs) == []  # a dry run changes nothing

    result, report = office.sync(ends)

    assert result.returncode == 0, result.stderr + result.stdout
    assert badge_steps(run_of(report, "joiner", "C3010")) == [
        ("update", "update end_date to follow HR", "updated"),
        ("grant", "grant access-level Lobby", "updated"),
    ]
    assert badge_steps(run_of(report, "joiner", "E1001")) == []  # no end date: the renewal date stands
    assert office.deactivates() == site_midnight_after(ends)
    assert office.pacs.badge(office.lost) == lost and office.pacs.badge(office.renewal) == renewal
    audit, records = office.iam("audit", "show", "--user", "C3010")
    assert audit.returncode == 0, audit.stderr
    assert {
        (r["event"], r["op"], r["outcome"], r["description"])
        for r in records
        if r.get("system") == SYSTEM and r.get("op") == "update"
    } == {("access.changed", "update", "updated", "update end_date to follow HR")}

    written = len(writes(office.pacs))
    again, report = office.sync(ends)
    assert again.returncode == 0 and report["events"] == []
    events = office.config.parent / "mover.json"
    events.write_text(json.dumps({"events": [{"type": "mover", "person": contractor(ends)}]}))
    submitted, report = office.iam("event", "submit", str(events), "--now", office.clock().isoformat())
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    assert badge_steps(run_of(report, "mover", "C3010")) == []  # the badges hold: nothing planned
    assert len(writes(office.pacs)) == written


def test_hr_moving_the_end_date_moves_the_badge_and_the_door_follows(office: Office) -> None:
    first, extended, earlier = (TODAY + timedelta(days=n) for n in (30, 45, 35))
    assert office.sync(first)[0].returncode == 0

    result, report = office.sync(extended)

    assert result.returncode == 0, result.stderr + result.stdout
    assert badge_steps(run_of(report, "mover", "C3010")) == [
        ("update", "update end_date to follow HR", "updated")
    ]
    assert office.deactivates() == site_midnight_after(extended)
    office.clock.advance(days=31)  # the day after the first end date
    assert office.pacs.swipe(7010, "lobby") == "granted"

    result, report = office.sync(earlier)

    assert result.returncode == 0, result.stderr + result.stdout
    assert badge_steps(run_of(report, "mover", "C3010")) == [
        ("update", "update end_date to follow HR", "updated")
    ]
    assert office.deactivates() == site_midnight_after(earlier)
    office.clock.now = site_midnight_after(earlier) - timedelta(minutes=1)
    assert office.pacs.swipe(7010, "lobby") == "granted"
    office.clock.advance(minutes=1)
    assert office.pacs.swipe(7010, "lobby") == "denied"
    assert office.pacs.badge(office.lost)["DEACTIVATE"] is None
    assert office.pacs.badge(office.lost)["STATUS_NAME"] == "Lost"


def test_no_end_date_written_9999_12_31_keeps_the_badge_working_and_extends_an_end(
    connector: LenelBadgeConnector, pacs: LenelEmulator, clock: FakeClock
) -> None:
    attributes = {"family_name": "Temp", "end_date": "9999-12-31", "badge_id": 7060}
    assert connector.create_account("C3060", attributes).outcome == Outcome.CREATED
    connector.grant("C3060", Entitlement("access-level", "Lobby"))
    connector.create_account("C3061", {"family_name": "Temp", "end_date": "2025-03-10", "badge_id": 7061})
    connector.grant("C3061", Entitlement("access-level", "Lobby"))

    assert provision(connector, "C3061", levels("Lobby"), end_date="9999-12-31") == [
        "badges: update end_date to follow HR"
    ]
    clock.advance(days=3650)
    assert pacs.swipe(7060, "lobby") == "granted" and pacs.swipe(7061, "lobby") == "granted"
