"""DNs compared as the directory compares them (`connectors.ldap.dn`): a bulk read matches every
member value of every group to an account this way."""

from __future__ import annotations

import sys

import pytest
from iam.connectors.ldap.dn import norm, under

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
