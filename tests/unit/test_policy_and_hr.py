from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from iam.errors import ConfigError
from iam.hr import derive_events, end_of_day, parse_events, validate_people
from iam.model import Entitlement, Identity
from iam.policy import PolicyViolation, parse_policy

POLICY = {
    "roles": {
        "staff": {"entitlements": {"dir": ["group:staff"]}},
        "eng": {"entitlements": {"dir": ["group:eng"], "vpn": ["vpn:access"]}},
        "clerk": {"entitlements": {"dir": ["group:pay-entry"]}},
        "approver": {"entitlements": {"dir": ["group:pay-approve"]}},
    },
    "birthright": [
        {"role": "staff"},
        {"role": "eng", "when": {"department": ["Engineering"]}},
        {"role": "clerk", "when": {"title": ["Clerk"]}},
    ],
    "grants": [{"username": "ann", "role": "approver", "expires": "2026-12-31", "requester": "boss"}],
    "separation_of_duty": [{"name": "pay", "roles": ["clerk", "approver"]}],
}
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def ann(**kw) -> Identity:
    base = dict(username="ann", hr_id="1", given_name="Ann", family_name="A", department="Engineering")
    base.update(kw)
    return Identity(**base)


def test_desired_state_is_exactly_what_roles_name() -> None:
    policy = parse_policy(POLICY)
    desired = policy.desired(ann(), date(2026, 11, 22), ["dir", "vpn", "badge"])
    assert desired["dir"].entitlements == {
        Entitlement("group", "staff"),
        Entitlement("group", "eng"),
        Entitlement("group", "pay-approve"),
    }
    assert desired["vpn"].entitlements == {Entitlement("vpn", "access")}
    assert not desired["badge"].account and not desired["badge"].entitlements


def test_expired_grant_no_longer_counts() -> None:
    policy = parse_policy(POLICY)
    roles = policy.roles_of(ann(), date(2027, 1, 1))
    assert "approver" not in roles


def test_separation_of_duty_is_refused_by_name() -> None:
    policy = parse_policy(POLICY)
    with pytest.raises(PolicyViolation, match="pay"):
        policy.desired(ann(title="Clerk"), date(2026, 11, 22), ["dir"])


def test_a_review_compares_with_what_desired_gives_and_reports_conflicts_instead_of_refusing() -> None:
    """`Policy.reviewed` (one call per account of a sweep) says what `desired` says, SoD aside."""
    policy = parse_policy(POLICY)
    day = date(2026, 11, 22)
    people = [
        ann(),
        ann(title="Clerk"),
        ann(department="Sales"),
        ann(status="terminated"),
        ann(username="bo"),
    ]
    for person in people:
        for system in ("dir", "vpn", "badge"):
            wanted = policy.desired(person, day, [system], check_sod=False)[system]
            reviewed = policy.reviewed(person, day, system)
            assert (reviewed.entitlements, reviewed.account) == (wanted.entitlements, wanted.account)
    after_expiry = policy.reviewed(ann(), date(2027, 1, 1), "dir")
    assert Entitlement("group", "pay-approve") not in after_expiry.entitlements


def test_a_persons_grants_are_found_by_name_in_the_policys_order() -> None:
    grants = [
        {"username": "ann", "role": "approver", "expires": "2026-12-31", "requester": "boss"},
        {"username": "bo", "role": "eng", "expires": "2026-01-31", "requester": "boss"},
        {"username": "ann", "role": "eng", "expires": "2025-01-31", "requester": "boss"},
    ]
    policy = parse_policy({**POLICY, "grants": grants})
    assert [(g.username, g.role) for g in policy.grants_of("ann")] == [("ann", "approver"), ("ann", "eng")]
    assert [g.role for g in policy.grants_of("bo")] == ["eng"]
    assert policy.grants_of("cy") == ()
    assert parse_policy({**POLICY, "grants": []}).grants_of("ann") == ()


def test_terminated_people_have_no_roles() -> None:
    assert parse_policy(POLICY).roles_of(ann(status="terminated"), date(2026, 11, 22)) == set()


def test_policy_naming_an_unknown_role_is_a_config_error() -> None:
    bad = dict(POLICY, birthright=[{"role": "ghost"}])
    with pytest.raises(ConfigError, match="unknown role 'ghost'"):
        parse_policy(bad)


def test_last_day_ends_at_midnight_in_the_sites_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert end_of_day(date(2026, 12, 31), paris) == datetime(2027, 1, 1, tzinfo=paris)


def test_no_end_date_written_9999_12_31_ends_at_its_own_midnight_which_utc_can_hold() -> None:
    for zone in (UTC, ZoneInfo("Pacific/Pago_Pago"), ZoneInfo("Pacific/Kiritimati")):
        ends = end_of_day(date.max, zone)
        assert ends == datetime(9999, 12, 31, tzinfo=zone) and ends.astimezone(UTC).year == 9999


def test_derive_joiner_mover_leaver_and_nothing_twice() -> None:
    known = {"1": ann(), "2": ann(username="bob", hr_id="2")}
    feed = [ann(department="Finance"), ann(username="cy", hr_id="3")]
    events = derive_events(feed, known, {}, NOW)
    assert sorted((e.type, e.username) for e in events) == [
        ("joiner", "cy"),
        ("leaver", "bob"),
        ("mover", "ann"),
    ]
    settled = {"1": ann(department="Finance"), "3": ann(username="cy", hr_id="3")}
    assert derive_events(feed, settled, {}, NOW) == []


def test_future_end_date_schedules_one_leave() -> None:
    person = ann(kind="contractor", owner="boss", end_date=date(2026, 12, 31))
    events = derive_events([person], {"1": person}, {}, NOW)
    assert [(e.type, e.effective_at) for e in events] == [("leaver", datetime(2027, 1, 1, tzinfo=UTC))]
    assert derive_events([person], {"1": person}, {"ann": events[0].effective_at}, NOW) == []


def test_a_moved_end_date_is_a_mover_and_reschedules_the_leave() -> None:
    """Systems keeping a copy of the end date (badges) must follow it: a provisioning run."""
    before = ann(kind="contractor", owner="boss", end_date=date(2026, 12, 31))
    extended = ann(kind="contractor", owner="boss", end_date=date(2027, 3, 31))
    pending = {"ann": datetime(2027, 1, 1, tzinfo=UTC)}
    events = derive_events([extended], {"1": before}, pending, NOW)
    assert [(e.type, e.reason, e.effective_at) for e in events] == [
        ("mover", "HR: end_date changed", NOW),
        ("leaver", "HR: end date", datetime(2027, 4, 1, tzinfo=UTC)),
    ]


def test_rehire_of_a_terminated_person() -> None:
    events = derive_events([ann()], {"1": ann(status="terminated")}, {}, NOW)
    assert [e.type for e in events] == ["rehire"]


def test_future_start_waits() -> None:
    events = derive_events([ann(start_date=date(2027, 1, 4))], {}, {}, NOW)
    assert events[0].type == "joiner" and events[0].effective_at == datetime(2027, 1, 4, tzinfo=UTC)


def test_people_validation_reports_each_problem_with_row_and_field() -> None:
    rows = [
        (
            2,
            {
                "hr_id": "1",
                "username": "ann",
                "given_name": "A",
                "family_name": "B",
                "kind": "employee",
                "status": "active",
            },
        ),
        (
            3,
            {
                "hr_id": "1",
                "username": "dup",
                "given_name": "A",
                "family_name": "B",
                "kind": "employee",
                "status": "active",
            },
        ),
        (
            4,
            {
                "hr_id": "2",
                "username": "vic",
                "given_name": "V",
                "family_name": "B",
                "kind": "vendor",
                "status": "active",
                "owner": "ann",
            },
        ),
        (
            5,
            {
                "hr_id": "3",
                "username": "tom",
                "given_name": "T",
                "family_name": "B",
                "kind": "employee",
                "status": "active",
                "manager": "ghost",
            },
        ),
    ]
    people, errors = validate_people(rows, "feed.csv", {})
    assert [p.username for p in people] == ["ann"]
    assert [(e.row, e.field) for e in errors] == [(3, "hr_id"), (4, "end_date"), (5, "manager")]
    assert str(errors[0]).startswith("feed.csv: row 3: hr_id:")


def test_events_for_unknown_people_and_naive_times_are_rejected() -> None:
    data = {
        "events": [
            {"type": "leaver", "username": "ghost"},
            {"type": "leaver", "username": "ann", "effective_at": "2026-12-31T18:00:00"},
            {"type": "leaver", "username": "ann", "effective_at": "2026-12-31T18:00:00Z", "immediate": True},
            {"type": "sideways"},
            {"type": "leaver", "username": "ann", "reason": "left\u0000; DROP"},  # no store keeps a NUL
        ]
    }
    events, errors = parse_events(data, "x.json", {"ann": ann()}, NOW)
    assert [(e.row, e.field) for e in errors] == [
        (1, "username"),
        (2, "effective_at"),
        (4, "type"),
        (5, "reason"),
    ]
    assert len(events) == 1 and events[0].immediate


def test_an_event_naming_a_known_person_in_another_case_is_theirs() -> None:
    data = {"events": [{"type": "leaver", "username": "ANN", "immediate": True}]}
    events, errors = parse_events(data, "x.json", {"ann": ann()}, NOW)
    assert errors == [] and [e.username for e in events] == ["ann"]


def vendor(**kw) -> Identity:
    base = dict(
        username="vic",
        hr_id="9",
        given_name="Vic",
        family_name="V",
        kind="vendor",
        owner="cal",
        end_date=date(2027, 6, 30),
    )
    base.update(kw)
    return Identity(**base)


CAL_LEFT = {"3": ann(username="cal", hr_id="3", status="terminated"), "9": vendor()}


def row_of(identity: Identity, **changes: str) -> dict[str, str]:
    """The identity as a feed row: only the fields that have a value."""
    return {k: v for k, v in {**identity.to_dict(), **changes}.items() if v not in ("", None)}


def test_a_terminating_row_needs_only_the_hr_id_of_someone_known() -> None:
    """Whatever else is wrong with it (owner gone, fields missing, a new username), it terminates."""
    row = {"hr_id": "9", "username": "not valid!", "status": "terminated", "email": "x", "kind": "vendor"}
    people, errors = validate_people([(2, row)], "feed.csv", CAL_LEFT, NOW)
    assert errors == []
    assert [(p.username, p.status) for p in people] == [("vic", "terminated")]
    events = derive_events(people, CAL_LEFT, {}, NOW)
    assert [(e.type, e.username) for e in events] == [("leaver", "vic")]


def test_a_row_whose_end_date_has_passed_terminates_whatever_its_owner() -> None:
    row = row_of(vendor(), end_date="2026-11-21")
    people, errors = validate_people([(2, row)], "feed.csv", CAL_LEFT, NOW)
    assert errors == [] and [p.end_date for p in people] == [date(2026, 11, 21)]
    assert [e.type for e in derive_events(people, CAL_LEFT, {}, NOW)] == ["leaver"]


def test_an_active_row_whose_owner_left_is_still_rejected() -> None:
    people, errors = validate_people([(2, row_of(vendor()))], "feed.csv", CAL_LEFT, NOW)
    assert people == [] and [(e.row, e.field) for e in errors] == [(2, "owner")]


def test_a_broken_terminated_row_for_someone_unknown_is_still_reported() -> None:
    row = {"hr_id": "77", "username": "zed", "status": "terminated"}
    people, errors = validate_people([(2, row)], "feed.csv", CAL_LEFT, NOW)
    assert people == [] and {"given_name", "family_name", "kind"} <= {e.field for e in errors}


def test_a_duplicate_cannot_hide_a_termination() -> None:
    rows = [(2, row_of(vendor())), (3, {"hr_id": "9", "status": "terminated"})]
    people, errors = validate_people(rows, "feed.csv", CAL_LEFT, NOW)
    assert [(p.username, p.status) for p in people] == [("vic", "terminated")]
    assert [(e.row, e.field) for e in errors] == [(2, "hr_id")]


def test_nothing_is_derived_for_a_held_person() -> None:
    terminated = ann(status="terminated")
    assert derive_events([ann()], {"1": terminated}, {}, NOW, held={"ann"}) == []
    assert derive_events([ann(department="Sales")], {}, {}, NOW, held={"ann"}) == []
    assert derive_events([], {"1": ann()}, {}, NOW, held={"ann"}) == []
    assert [e.type for e in derive_events([ann()], {"1": terminated}, {}, NOW)] == ["rehire"]


def test_third_parties_of_a_leaving_owner_are_named_unless_they_leave_or_moved() -> None:
    from iam.hr import orphaned_third_parties

    people = [
        vendor(),
        vendor(username="val", hr_id="10", owner="ann"),  # HR gave her another owner
        vendor(username="vim", hr_id="11", end_date=date(2026, 11, 1)),  # past her end date: leaving anyway
        ann(username="cal", hr_id="3"),
    ]
    assert [p.username for p in orphaned_third_parties(people, {"cal"}, NOW)] == ["vic"]
    assert orphaned_third_parties(people, {"cal", "vic"}, NOW) == []


def test_a_hold_stands_while_hr_lists_the_person_and_ends_when_hr_terminates_them() -> None:
    from iam.holds import Hold, judge

    def hold(name: str) -> Hold:
        return Hold(name, NOW, "for cause", "root", "cli")

    standing = {n: hold(n) for n in ("ann", "bob", "cy", "dee", "eve")}
    feed = [
        ann(status="terminated"),  # HR agrees
        ann(username="bob", hr_id="2"),  # HR lists him active: conflict
        ann(username="cy", hr_id="3", end_date=date(2026, 11, 21)),  # last day over: HR agrees
        ann(username="eve", hr_id="5", start_date=date(2027, 1, 4)),  # a future hire of that name
    ]
    known = {"1": ann(status="terminated"), "4": ann(username="dee", hr_id="4", status="terminated")}

    verdict = judge(feed, known, standing, NOW)

    assert [h.username for h in verdict.conflicts] == ["bob", "eve"]
    assert [h.username for h in verdict.agreed] == ["ann", "cy", "dee"]  # dee: HR's row is gone
    assert judge([], {}, {"zed": hold("zed")}, NOW).agreed == []  # never in HR: the hold stays


def test_a_name_listed_under_another_hr_id_is_not_a_leaver_of_that_feed() -> None:
    """Even where no row was rejected: one feed never both joins and leaves a name."""
    from iam.hr import protected

    known = {"1": ann()}
    other = ann(hr_id="9", username="ANN", email="ann2@example.org")
    assert list(protected(known, [other], [], [])) == ["1"]
    assert protected(known, [ann(hr_id="9", username="bob")], [], []) == {}


def test_a_username_is_one_hr_ids_in_any_case_in_the_feed_and_against_everyone_known() -> None:
    rows = [(2, row_of(ann())), (3, row_of(ann(hr_id="9", username="ANN", email="other@example.org")))]
    people, errors = validate_people(rows, "feed.csv", {}, NOW)
    assert [p.hr_id for p in people] == ["1"]
    assert [(e.row, e.field) for e in errors] == [(3, "username")]
    assert "hr_id 9" in errors[0].message and "hr_id 1" in errors[0].message

    gone = {"1": ann(status="terminated")}  # their disabled account still carries the name
    people, errors = validate_people(rows[1:], "feed.csv", gone, NOW)
    assert people == [] and [(e.row, e.field) for e in errors] == [(3, "username")]
