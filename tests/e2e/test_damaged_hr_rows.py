"""A damaged HR row never terminates anyone, on a real slapd.

The feed is the truth about who left, so a row iam cannot read, or reads
as someone else, must change nothing for the person it may be about.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from iam.server import sign
from tests.conftest import Directory, run_iam
from tests.e2e.conftest import HMAC
from tests.support.company import BASE_FEED, groups_of, locked, person, sync, write_feed

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


CARLA = person("E9", "CAL", "Finance", "Payroll Clerk", given_name="Carla", email="carla@example.org")


def test_a_username_another_hr_id_holds_in_another_case_is_refused_and_changes_nothing(
    synced: Path, tmp_path: Path, directory: Directory
) -> None:
    """The directory matches uid without case: CAL would be cal's account, then terminated with CAL."""
    joined, report = sync(synced, write_feed(tmp_path / "carla.csv", [*BASE_FEED, CARLA]))

    assert joined.returncode == 2, joined.stderr
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [(6, "username")]
    assert "hr_id E9" in report["rejected"][0]["message"] and "hr_id E3" in report["rejected"][0]["message"]
    assert report["events"] == [] and groups_of(directory, "cal") == CAL_GROUPS

    carla_left = dict(CARLA, status="terminated")
    left, report = sync(synced, write_feed(tmp_path / "left.csv", [*BASE_FEED, carla_left]))

    assert left.returncode == 2 and report["events"] == []
    assert groups_of(directory, "cal") == CAL_GROUPS and not locked(directory, "cal")


def test_an_event_for_a_username_another_hr_id_holds_in_another_case_is_refused(
    synced: Path, tmp_path: Path, directory: Directory
) -> None:
    events = tmp_path / "carla.json"
    events.write_text(json.dumps({"events": [{"type": "joiner", "person": CARLA}]}))

    result = run_iam("--config", str(synced), "event", "submit", str(events), "--format", "json")

    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert [r["field"] for r in report["rejected"]] == ["person.username"]
    assert "hr_id E9" in report["rejected"][0]["message"] and "hr_id E3" in report["rejected"][0]["message"]
    assert report["events"] == [] and groups_of(directory, "cal") == CAL_GROUPS


def test_the_http_endpoint_refuses_a_username_another_hr_id_holds_in_another_case(
    event_server, directory: Directory
) -> None:
    server, clock = event_server
    now = int(clock["now"].timestamp())
    assert post(server, {"events": [{"type": "joiner", "person": BASE_FEED[2]}]}, now).status_code == 202
    assert groups_of(directory, "cal") == CAL_GROUPS

    response = post(server, {"events": [{"type": "joiner", "person": CARLA}]}, now)

    assert response.status_code == 422, response.text
    assert "hr_id E3" in response.json()["rejected"][0]["message"]
    assert groups_of(directory, "cal") == CAL_GROUPS


def post(server, document: dict, timestamp: int) -> httpx.Response:
    """A signed POST /events, as HR's system sends it."""
    body = json.dumps(document).encode()
    headers = {"X-IAM-Timestamp": str(timestamp), "X-IAM-Signature": sign(HMAC, timestamp, body)}
    return httpx.post(f"{server.url}/events", content=body, headers=headers, timeout=30)
