"""A file that is not UTF-8 (a Latin-1 export) is an input error naming the file and byte; nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from iam.server import sign
from tests.conftest import Directory, run_iam
from tests.e2e.conftest import HMAC
from tests.support.company import BASE_FEED, changes, groups_of, locked, sync, write_feed


def test_a_latin1_hr_feed_is_refused_at_its_byte_and_terminates_nobody(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "first.csv", BASE_FEED))[0].returncode == 0
    before = changes(company)
    without_cal = [p for p in BASE_FEED if p["username"] != "cal"]
    feed = write_feed(tmp_path / "latin1.csv", without_cal)
    data = feed.read_text().replace(",Ann,", ",Ann\u00e9,", 1).encode("latin-1")
    feed.write_bytes(data)

    result, report = sync(company, feed)

    assert result.returncode == 2 and report is None
    at = data.index(b"\xe9")
    assert f"{feed}: cannot read the HR feed: byte {at} (0xE9, line 2)" in result.stderr
    assert "unexpected" not in result.stderr
    assert changes(company) == before and not locked(directory, "cal")


def test_a_latin1_events_file_is_refused_at_its_byte_and_terminates_nobody(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "first.csv", BASE_FEED))[0].returncode == 0
    events = tmp_path / "leaver.json"
    data = '{"events": [{"type": "leaver", "username": "ann", "reason": "d\u00e9part"}]}'.encode("latin-1")
    events.write_bytes(data)

    result = run_iam("--config", str(company), "event", "submit", str(events), "--format", "json")

    assert result.returncode == 2 and result.stdout == ""
    at = data.index(b"\xe9")
    assert f"{events}: cannot read the events: byte {at} (0xE9, line 1)" in result.stderr
    assert groups_of(directory, "ann") and not locked(directory, "ann")


def test_a_latin1_body_posted_to_the_events_endpoint_is_refused_at_its_byte(
    event_server, directory: Directory
) -> None:
    server, clock = event_server
    now = int(clock["now"].timestamp())
    joiner = {"events": [{"type": "joiner", "person": BASE_FEED[0]}]}
    assert post(server, json.dumps(joiner).encode(), now).status_code == 202
    body = '{"events": [{"type": "leaver", "username": "ann", "reason": "d\u00e9part"}]}'.encode("latin-1")

    response = post(server, body, now)

    assert response.status_code == 400, response.text
    at = body.index(b"\xe9")
    assert response.json()["error"].startswith(f"byte {at} (0xE9, line 1) is not UTF-8")
    assert groups_of(directory, "ann") and not locked(directory, "ann")


def post(server, body: bytes, timestamp: int) -> httpx.Response:
    """A signed POST /events, as HR's system sends it."""
    headers = {"X-IAM-Timestamp": str(timestamp), "X-IAM-Signature": sign(HMAC, timestamp, body)}
    return httpx.post(f"{server.url}/events", content=body, headers=headers, timeout=30)
