"""DNs compared as the directory compares them (`connectors.ldap.dn`): a bulk read matches every
member value of every group to an account this way."""

from __future__ import annotations

import sys

import pytest
from iam.connectors.ldap.dn import norm, same, under

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
    assert norm("cn=Doe\\, Jane,ou=people") == "cn=doe\\, jane,ou=people"
    assert norm("cn=Doe\\, Jane,ou=people") != norm("cn=Doe\\,Jane,ou=people")  # two people
    assert norm("cn=Doe\\, Jane , OU=people") == norm("cn=doe\\, jane,ou=people")
    assert norm("cn=a\\\\, ou=people") == "cn=a\\\\,ou=people"  # an escaped backslash, then a separator


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
