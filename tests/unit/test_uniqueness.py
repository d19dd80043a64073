"""One account per person (`iam.uniqueness`): shared e-mails and duplicate identities, held compactly."""

from __future__ import annotations

from datetime import date

from iam import uniqueness
from iam.model import AccountState, Identity
from iam.roster import Roster


def person(username: str, **facts: object) -> Identity:
    return Identity(username=username, hr_id=f"H-{username}", **facts)  # type: ignore[arg-type]


def account(username: str, mail: str) -> AccountState:
    return AccountState("dir", username, f"uid={username}", True, attributes={"mail": mail})


def shared(people: list[Identity], username: str, mail: str) -> str | None:
    roster = Roster(people)
    found = uniqueness.shared_account("dir", account(username, mail), roster, roster.emails)
    return found.why if found else None


def test_an_account_carrying_another_persons_email_is_shared_whatever_its_case() -> None:
    people = [person("ann", email="ann@example.org"), person("bob", email="Bob@Example.org")]
    assert shared(people, "ann", " BOB@example.ORG ") == (
        "uid=ann is ann's by name but carries bob's e-mail Bob@Example.org: one account, two people"
    )
    assert shared(people, "ann", "ann@example.org") is None
    assert shared(people, "bob", "nobody@example.org") is None
    assert shared(people, "zed", "bob@example.org") is None  # an orphan's account: the orphan finding says it


def test_with_two_people_on_one_email_the_last_by_username_owns_it() -> None:
    """Today's rule, kept: the e-mail is the last sharer's (by username), so the other's account
    is the shared one, and the owner's own account is not."""
    people = [person("quin", email="team@example.org"), person("pat", email="TEAM@example.org")]
    assert "carries quin's e-mail team@example.org" in (shared(people, "pat", "team@example.org") or "")
    assert shared(people, "quin", "team@example.org") is None
    three = [*people, person("abe", email="team@example.org")]
    assert "carries quin's" in (shared(three, "abe", "team@example.org") or "")
    assert "carries quin's" in (shared(three, "pat", "team@example.org") or "")


def test_emails_whose_hashes_meet_are_told_apart_by_the_email_itself() -> None:
    people = [person(f"p{i:04d}", email=f"p{i}@example.org") for i in range(2000)]
    emails = Roster(people).emails
    assert all(emails.owner(f"p{i}@example.org") is people[i] for i in range(0, 2000, 97))
    assert emails.owner("p2000@example.org") is None and emails.owner("") is None


def test_duplicate_identities_by_email_and_by_name_manager_and_start_date() -> None:
    start = date(2020, 1, 1)
    people = {
        p.username: p
        for p in [
            person("ann", given_name="Ann", family_name="Test", manager="cal", start_date=start),
            person("ann2", given_name="ann", family_name="TEST", manager="cal", start_date=start),
            person(
                "ann3", given_name="Ann", family_name="Test", manager="dee", start_date=start
            ),  # another manager
            person("pat", email="team@example.org"),
            person("quin", email="Team@example.org"),
            person("gone", email="team@example.org", status="terminated"),  # not live
            person("solo", email="solo@example.org", given_name="S", family_name="O", start_date=start),
        ]
    }
    found = {f.account: f.why for f in uniqueness.duplicate_identities(people)}
    same = "manager cal and start date 2020-01-01"
    assert found == {
        "ann": f"ann (HR H-ann) looks like ann2 (HR H-ann2): same name Ann Test, {same}",
        "ann2": f"ann2 (HR H-ann2) looks like ann (HR H-ann): same name ann TEST, {same}",
        "pat": "pat (HR H-pat) looks like quin (HR H-quin): same e-mail team@example.org",
        "quin": "quin (HR H-quin) looks like pat (HR H-pat): same e-mail Team@example.org",
    }
    assert uniqueness.duplicate_identities({}) == []
