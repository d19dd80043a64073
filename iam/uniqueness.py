"""One account per person (the privacy policy's "unique user accounts"): pure checks.

Two HR identities that look like one person (same e-mail, or same name,
manager and start date) are a `duplicate_identity`; an account that maps to
more than one identity (its name is one person's, its e-mail another's) is a
`shared_account`. Each finding carries its evidence. A sync refuses a
joiner who duplicates someone who already has accounts (`duplicate_of`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise

from iam.model import AccountState, Identity
from iam.report import Finding

#: Identity statuses whose accounts are live enough to be duplicated.
_LIVE = ("active", "pending", "suspended")


def _email(value: object) -> str:
    return str(value or "").strip().casefold()


def _same_person(a: Identity, b: Identity) -> str | None:
    """Why ``a`` and ``b`` look like one person, or None."""
    if a.email and _email(a.email) == _email(b.email):
        return f"same e-mail {a.email}"
    if (
        a.given_name
        and a.family_name
        and (a.given_name.casefold(), a.family_name.casefold())
        == (b.given_name.casefold(), b.family_name.casefold())
        and a.manager == b.manager
        and a.start_date is not None
        and a.start_date == b.start_date
    ):
        return f"same name {a.display_name}, manager {a.manager or '-'} and start date {a.start_date}"
    return None


def _facts(p: Identity) -> tuple[str, str, str, str] | None:
    if not (p.given_name and p.family_name and p.start_date):
        return None
    return (p.given_name.casefold(), p.family_name.casefold(), p.manager, p.start_date.isoformat())


class People:
    """The live identities indexed by what makes two records one person: a joiner is checked
    in constant time, so a first sync of thousands stays linear."""

    def __init__(self, known: Iterable[Identity] = ()) -> None:
        self._by: dict[object, Identity] = {}
        for person in known:
            self.add(person)

    def add(self, person: Identity) -> None:
        if person.status not in _LIVE:
            return
        for key in (("email", _email(person.email)) if person.email else None, _facts(person)):
            if key is not None:
                self._by.setdefault(key, person)

    def twin(self, person: Identity) -> tuple[Identity, str] | None:
        """A live identity (another HR record) that ``person`` looks like, and why."""
        for key in (("email", _email(person.email)) if person.email else None, _facts(person)):
            other = self._by.get(key) if key is not None else None
            if other is not None and other.username != person.username and other.hr_id != person.hr_id:
                why = _same_person(person, other)
                if why:
                    return other, why
        return None


def duplicate_identities(identities: Mapping[str, Identity]) -> list[Finding]:
    """A finding per live identity that looks like another one (so each side is reviewed).

    Grouped by e-mail and by name, manager and start date: linear, however
    many people. Only a number per key (its hash) is held at first, not the
    keys: tuples of full strings for 100,000 people were some 70 MB; the few
    people whose hash another key shares are grouped by the keys themselves.
    """
    live = [p for p in identities.values() if p.status in _LIVE]
    ordered = sorted(hash(key) for p in live for key in _keys(p))
    twice = {h for h, after in pairwise(ordered) if h == after}
    del ordered
    groups: dict[object, list[Identity]] = {}
    for p in live:
        for key in _keys(p):
            if hash(key) in twice:
                groups.setdefault(key, []).append(p)
    twins: dict[str, dict[str, tuple[Identity, str]]] = {}
    by_name: dict[str, Identity] = {}
    for members in groups.values():
        for a in members:
            for b in members:
                if b.username != a.username and (why := _same_person(a, b)):
                    twins.setdefault(a.username, {}).setdefault(b.username, (b, why))
                    by_name[a.username] = a
    out = []
    for username in sorted(twins):
        a = by_name[username]
        found = [twins[username][name] for name in sorted(twins[username])]
        out.append(
            Finding(
                type="duplicate_identity",
                system=None,
                account=a.username,
                entitlement=None,
                why=f"{a.username} (HR {a.hr_id or '-'}) looks like "
                + "; ".join(f"{b.username} (HR {b.hr_id or '-'}): {why}" for b, why in found),
                since=None,
                action="review",
            )
        )
    return out


def _keys(p: Identity) -> Iterator[object]:
    """What makes two records one person: the e-mail, and name, manager and start date."""
    if p.email:
        yield ("email", _email(p.email))
    facts = _facts(p)
    if facts is not None:
        yield facts


class Emails:
    """Each person by their normalised e-mail, for `shared_account`, in 16 bytes a person.

    The hash of each e-mail, sorted, beside the person's place in ``people``
    (a dictionary of the e-mails held 100,000 strings and their table).
    Where people share an e-mail, the last of them in ``people`` (sorted by
    username) is its owner: an account carrying it that is not theirs is
    the shared one, as when a dictionary built in that order kept the last.
    """

    def __init__(self, people: Sequence[Identity]) -> None:
        self._people = people
        pairs = sorted((hash(_email(p.email)), i) for i, p in enumerate(people) if p.email)
        self._hashes = array("q", (h for h, _ in pairs))
        self._at = array("q", (i for _, i in pairs))

    def owner(self, mail: str) -> Identity | None:
        """The identity whose e-mail is ``mail`` (normalised), or None."""
        found = None
        i = bisect_left(self._hashes, hash(mail))
        while i < len(self._hashes) and self._hashes[i] == hash(mail):
            person = self._people[self._at[i]]
            if _email(person.email) == mail:
                found = person  # the same hash comes in the people's order: the last one wins
            i += 1
        return found


def shared_account(
    system: str, state: AccountState, identities: Mapping[str, Identity], emails: Emails
) -> Finding | None:
    """A finding when the account's name is one identity's and its e-mail another's; else None."""
    mail = _email(state.attributes.get("mail") or state.attributes.get("email"))
    owner = identities.get(state.username)
    other = emails.owner(mail) if mail and owner is not None else None
    if owner is None or other is None or other.username == owner.username:
        return None
    return Finding(
        type="shared_account",
        system=system,
        account=state.username,
        entitlement=None,
        why=(
            f"{state.ref} is {owner.username}'s by name but carries "
            f"{other.username}'s e-mail {other.email}: one account, two people"
        ),
        since=None,
        action="review",
    )
