"""Long commands show progress on a terminal only, and every batch command ends with a one-line summary."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import iam_env, run_iam
from tests.support.company import BASE_FEED, NOW, write_feed

SYNCED = "4 joiners, 0 movers, 1 leaver: 4 applied, 1 scheduled, 0 failed"


def _last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def _stderr_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run iam with a terminal as stderr, stdout a pipe: (exit code, stdout, what the terminal saw)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iam", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=iam_env(),
    )
    os.close(follower)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the last writer has gone
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(timeout=30)
    os.close(leader)
    return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


def test_hr_sync_ends_with_a_one_line_summary(company: Path, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)

    result = run_iam("--config", str(company), "hr", "sync", str(feed), "--now", NOW)

    assert result.returncode == 0, result.stderr
    assert _last_line(result.stdout) == SYNCED
    assert "⠋" not in result.stdout + result.stderr  # no progress where there is no terminal

    again = run_iam("--config", str(company), "run-due", "--now", NOW)
    assert again.returncode == 0, again.stderr
    assert _last_line(again.stdout) == "0 joiners, 0 movers, 0 leavers: 0 failed"


def test_hr_sync_shows_progress_on_a_terminal_and_none_with_json(company: Path, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)

    quiet, out, terminal = _stderr_on_a_terminal(
        ["--config", str(company), "hr", "sync", str(feed), "--now", NOW, "--format", "json", "--dry-run"]
    )
    assert quiet == 0, terminal
    assert json.loads(out)["events"]
    assert "hr sync" not in terminal and SYNCED not in out + terminal

    code, out, terminal = _stderr_on_a_terminal(
        ["--config", str(company), "hr", "sync", str(feed), "--now", NOW]
    )
    assert code == 0, terminal
    # drawn about ten times a second, and once more when it ends: some person's run, and a count
    assert re.search(r"hr sync: joiner (ann|bea|cal|dan) \(\d done\)", terminal), terminal
    assert _last_line(out) == SYNCED


def test_review_sweep_summary_follows_the_table_or_the_written_files(company: Path, tmp_path: Path) -> None:
    shown = run_iam("--config", str(company), "review", "sweep")
    assert shown.returncode == 4, shown.stderr
    assert _last_line(shown.stdout) == "2 findings in 2 accounts of 1 system(s) (2 orphan)"

    written = run_iam("--config", str(company), "review", "sweep", "--out", str(tmp_path / "r.json"))
    assert written.returncode == 4, written.stderr
    assert not written.stdout
    assert _last_line(written.stderr) == "2 findings in 2 accounts of 1 system(s) (2 orphan)"
