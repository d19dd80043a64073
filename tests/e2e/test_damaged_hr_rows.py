"""A damaged HR row never terminates anyone, on a real slapd.

The feed is the truth about who left, so a row iam cannot read, or reads
as someone else, must change nothing for the person it may be about.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Directory
from tests.support.company import BASE_FEED, groups_of, locked, sync, write_feed

CAL_GROUPS = {"staff", "sales"}


@pytest.fixture
def synced(company: Path, tmp_path: Path, directory: Directory) -> Path:
    """The sample company's four people provisioned from a first sync."""
    assert sync(company, write_feed(tmp_path / "first.csv", BASE_FEED))[0].returncode == 0
    assert groups_of(directory, "cal") == CAL_GROUPS and not locked(directory, "cal")
    return company


def with_cal(**changed: str) -> list[dict[str, str]]:
    """The base feed with cal's row (E3) changed."""
    rows = [dict(p) for p in BASE_FEED]
    rows[2].update(changed)
    return rows


def test_spaces_of_any_kind_around_an_hr_id_are_trimmed_and_change_nothing(
    synced: Path, tmp_path: Path, directory: Directory
) -> None:
    feed = write_feed(tmp_path / "nbsp.csv", with_cal(hr_id="\u00a0E3\u00a0", username="cal\u2003"))

    result, report = sync(synced, feed)

    assert result.returncode == 0, result.stderr
    assert report["rejected"] == [] and report["events"] == []
    assert groups_of(directory, "cal") == CAL_GROUPS and not locked(directory, "cal")


@pytest.mark.parametrize(
    "damage",
    [
        {"hr_id": "E3\t"},  # a stray tab: refused as a control character
        {"hr_id": ""},  # a lost cell: refused as required
        {"hr_id": "", "username": "c\tal"},  # only the e-mail still says whose row it is
        {"hr_id": "", "username": "", "email": ""},  # nothing says whose row it is
    ],
)
def test_a_rejected_row_never_terminates_the_person_it_may_be_about(
    synced: Path, tmp_path: Path, directory: Directory, damage: dict[str, str]
) -> None:
    result, report = sync(synced, write_feed(tmp_path / "damaged.csv", with_cal(**damage)))

    assert result.returncode == 2, result.stderr
    assert {r["row"] for r in report["rejected"]} == {4}
    assert report["events"] == []
    assert [(p["username"], p["hr_id"]) for p in report["protected"]] == [("cal", "E3")]
    assert "rejected row 4" in report["protected"][0]["why"]
    assert groups_of(directory, "cal") == CAL_GROUPS and not locked(directory, "cal")
