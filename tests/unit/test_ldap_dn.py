"""DNs compared as the directory compares them (`iam.dn`): a bulk read matches every
member value of every group to an account this way."""

from __future__ import annotations

import sys

import pytest
from ldap3.utils.dn import escape_rdn

from iam.dn import first_ava, norm, same, under, within

WHITESPACE = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("uid=ann,ou=people,dc=example,dc=org", "UID=Ann, OU=People, DC=example, DC=org"),
        ("cn=é,dc=Ä", "CN=É,DC=ä"),
    ],
)
def test_two_spellings_of_one_dn_are_one_dn(one: str, other: str) -> None:
    assert norm(one) == norm(other)


@pytest.mark.parametrize("space", WHITESPACE)
def test_any_whitespace_around_a_comma_is_not_part_of_the_dn(space: str) -> None:
    assert norm(f"uid=ann{space},{space}ou=people") == "uid=ann,ou=people"


def test_whitespace_inside_a_value_stays() -> None:
    assert norm("cn=Jane Doe,ou=people") == "cn=jane doe,ou=people"
    assert norm("cn=Jane Doe,ou=people") != norm("cn=JaneDoe,ou=people")


def test_under_is_strictly_below() -> None:
    assert under("uid=ann, OU=Leavers,dc=x", "ou=leavers,DC=x")
    assert not under("ou=leavers,dc=x", "ou=leavers,dc=x")


def test_an_escaped_comma_is_part_of_a_value_and_so_is_the_space_after_it() -> None:
    assert norm("cn=Doe\\, Jane,ou=people") == "cn=doe\\2c jane,ou=people"
    assert norm("cn=Doe\\, Jane,ou=people") != norm("cn=Doe\\,Jane,ou=people")  # two people
    assert norm("cn=Doe\\, Jane , OU=people") == norm("cn=doe\\, jane,ou=people")
    assert norm("cn=a\\\\, ou=people") == "cn=a\\5c,ou=people"  # an escaped backslash, then a separator


def test_a_value_ending_with_a_parent_s_text_is_not_below_it() -> None:
    archive = "ou=archive,dc=example,dc=org"
    assert under("uid=ann,ou=archive,dc=example,dc=org", archive)
    assert not under("uid=evil\\,ou=archive,dc=example,dc=org", archive)  # one RDN, right under dc=example
    assert not under("uid=evil\\, ou=archive,dc=example,dc=org", archive)
    assert not under(archive, archive)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("uid=eve\\,ou\\=x,ou=people,dc=org", "UID=eve\\2Cou\\3Dx,ou=People, dc=org"),  # slapd's spelling
        ("cn=\\C3\\A9,dc=org", "cn=é,dc=org"),  # hex pairs are UTF-8
        ("cn=a\\\\b,dc=org", "cn=a\\5Cb,dc=org"),
        ("cn=a\\ ,dc=org", "cn=a\\20,dc=org"),
    ],
)
def test_same_sees_one_entry_through_either_escaping(one: str, other: str) -> None:
    assert same(one, other) and same(other, one)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("uid=eve\\,ou=x,dc=org", "uid=eve,ou=x,dc=org"),  # an escaped comma is not a separator
        ("cn=a\\ ,dc=org", "cn=a,dc=org"),  # an escaped space is part of the value
        ("cn=a\\5C,dc=org", "cn=a,dc=org"),
        ("uid=a,dc=org", "cn=a,dc=org"),
    ],
)
def test_same_tells_different_entries_apart(one: str, other: str) -> None:
    assert not same(one, other) and not same(other, one)


#: Values a hostile or merely unusual name gives an RDN: every character that needs escaping,
#: spaces at the ends, non-ASCII text, a control character, bytes that are not UTF-8.
AWKWARD = [
    "Doe, Jane",
    "a+b",
    "a\\b",
    "x=y",
    '"quoted" <a>;#',
    "#hash",
    " both ends ",
    "é Ünïcode",
    "tab\there",
    "nul\x00",
    "plain",
    "Plain2",
]


def _hex(value: str) -> str:
    return "".join(f"\\{b:02X}" for b in value.encode())


@pytest.mark.parametrize("value", AWKWARD)
def test_every_escaping_of_a_value_is_one_dn(value: str) -> None:
    """As ldap3 escapes it, every byte as a hex pair, upper or lower case: one canonical spelling."""
    spellings = [
        f"cn={escape_rdn(value)},OU=Leavers,dc=example",
        f"CN = {_hex(value)} , ou=leavers,DC=Example",
        f"cn={_hex(value.upper()).lower()},ou=leavers,dc=example",
    ]
    assert len({norm(s) for s in spellings}) == 1, [norm(s) for s in spellings]
    for one in spellings:
        assert under(one, "ou=leavers,dc=example") and within(one, "OU=Leavers, DC=example")
    assert first_ava(spellings[0]) == ("cn", value) and first_ava(spellings[1]) == ("CN", value)


def test_different_values_stay_different() -> None:
    spelt = {norm(f"cn={escape_rdn(value)},dc=example") for value in AWKWARD}
    assert len(spelt) == len(AWKWARD)
    assert norm("cn=Plain,dc=x") == norm("cn=plain,dc=x")  # only case is folded
    assert norm("cn=a\\ ,dc=x") != norm("cn=a,dc=x")  # an escaped space is kept
    assert norm("cn=\\ff,dc=x") != norm("cn=\\fe,dc=x")  # two bytes that are not UTF-8
    assert norm("cn=a+sn=b,dc=x") == norm("SN=B + cn=A,dc=x")  # a multi-valued RDN, in any order
    assert norm("cn=a+sn=b,dc=x") != norm("cn=a\\+sn=b,dc=x")


def test_a_place_spelt_otherwise_still_holds_its_entries() -> None:
    """``leavers_dn`` as configured and the DN a server sends back for an entry moved there."""
    leavers = "ou=Leavers\\, former staff,dc=example,dc=org"
    moved = "uid=ann,ou=leavers\\2C former staff,DC=example,DC=org"
    assert under(moved, leavers) and not under(leavers, leavers) and within(leavers, leavers)
    assert not under("uid=ann\\,ou=leavers\\2C former staff,dc=example,dc=org", leavers)
    assert not under(moved, "ou=leavers,dc=example,dc=org")


def test_a_word_final_sigma_is_one_letter_however_its_neighbour_is_escaped() -> None:
    assert same("cn=AΣB,dc=x", "cn=AΣ\\42,dc=x")
    assert same("cn=AΣ,dc=x", "cn=\\41Σ,dc=x")


def test_a_lone_surrogate_and_an_escaped_newline_are_compared_not_a_crash() -> None:
    assert norm("cn=\ud800,dc=x") != norm("cn=x,dc=x")
    assert norm("cn=a\\\nb,dc=x") == norm("cn=a\\0Ab,dc=x") != norm("cn=ab,dc=x")


def test_every_comma_norm_writes_separates_two_rdns() -> None:
    """`Memberships` and `under` split `norm`'s result as plain text."""
    for value in AWKWARD:
        parts = norm(f"cn={escape_rdn(value)},ou=People\\, EU,dc=example").split(",")
        assert parts[1:] == ["ou=people\\2c eu", "dc=example"]


@pytest.mark.parametrize("value", ["Jane Doe", "Doe, Jane", "a+b", "x=y", "plain", "#hash", "ÄΣ"])
def test_the_quick_paths_agree_with_the_escaped_one(value: str) -> None:
    """The same DN spelt with no escape at all (where it can be) and with every byte a hex pair."""
    escaped = f"CN={_hex(value)},OU={_hex('Ünit Σ')},DC={_hex('example')}"
    if "," in value or "+" in value:
        plain = f"cn={escape_rdn(value)}, ou=Ünit Σ , dc=example"
    else:
        plain = f"cn={value}, ou=Ünit Σ , dc=example"
    assert norm(plain) == norm(escaped)
