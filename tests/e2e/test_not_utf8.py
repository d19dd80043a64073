"""A file that is not UTF-8 (a Latin-1 export) is an input error naming the file and byte; nothing changes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Directory, run_iam
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
