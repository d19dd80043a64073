"""A sweep's exit code tells "could not look" (3) from "findings" (4); one sweep writes several files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import Directory, run_iam
from tests.support import schemas


def _sweeps_recorded(config: Path) -> int:
    log = config.parent / "state/audit.jsonl"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if '"event":"review.sweep"' in line)


def test_a_sweep_that_could_not_read_a_system_exits_3(company: Path, directory: Directory) -> None:
    found = run_iam("--config", str(company), "review", "sweep", "--format", "json")
    assert found.returncode == 4, found.stderr  # alice and bob belong to nobody HR knows: findings
    directory.slapd.stop()

    blind = run_iam("--config", str(company), "review", "sweep", "--format", "json")

    assert blind.returncode == 3, blind.stderr
    result = json.loads(blind.stdout)
    assert set(result["summary"]["errors"]) == {"directory"}


def test_one_sweep_writes_html_json_and_csv_each_by_its_extension(company: Path, tmp_path: Path) -> None:
    html, data, table = tmp_path / "review.html", tmp_path / "review.json", tmp_path / "findings.CSV"

    result = run_iam(
        "--config",
        str(company),
        "review",
        "sweep",
        "--out",
        str(html),
        "--out",
        str(data),
        "--out",
        str(table),
    )

    assert result.returncode == 4, result.stderr
    assert not result.stdout
    assert _sweeps_recorded(company) == 1
    document = json.loads(data.read_text())
    schemas.validate(document, "review-sweep")
    assert html.read_text().startswith("<!doctype html>")
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert len(rows) == len(document["findings"]) > 0
    diff = run_iam("--config", str(company), "review", "diff", "--format", "json")
    assert json.loads(diff.stdout)["current"] == document["id"]


def test_an_out_file_of_unknown_format_is_refused_before_anything_is_read(
    company: Path, tmp_path: Path
) -> None:
    result = run_iam(
        "--config",
        str(company),
        "review",
        "sweep",
        "--out",
        str(tmp_path / "a.json"),
        "--out",
        str(tmp_path / "review.pdf"),
    )

    assert result.returncode == 2
    assert "review.pdf" in result.stderr and ".html" in result.stderr
    assert _sweeps_recorded(company) == 0
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "review.pdf").exists()
