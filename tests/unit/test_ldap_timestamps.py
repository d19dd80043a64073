"""LDAP time values as the LDAP connector reads them (every account of a bulk read has one or two)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from iam.connectors.ldap.connector import _timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20261202160315Z", datetime(2026, 12, 2, 16, 3, 15, tzinfo=UTC)),  # OpenLDAP GeneralizedTime
        ("20261202160315.123Z", datetime(2026, 12, 2, 16, 3, 15, tzinfo=UTC)),  # with a fraction
        ("20261202160315.0Z", datetime(2026, 12, 2, 16, 3, 15, tzinfo=UTC)),  # AD whenCreated
        ("133456789012345678", datetime(2023, 11, 28, 21, 1, 41, 234567, tzinfo=UTC)),  # AD FILETIME
    ],
)
def test_a_time_the_directory_sends_reads_as_an_aware_utc_datetime(value: str, expected: datetime) -> None:
    assert _timestamp(value) == expected


@pytest.mark.parametrize("value", [None, "", "0", "20261332160315Z", "2026120216031Z", "yesterday"])
def test_no_time_or_one_that_is_not_a_time_reads_as_none(value: str | None) -> None:
    """An AD value of 0 means "never"; a malformed value is no date rather than a wrong one."""
    assert _timestamp(value) is None
