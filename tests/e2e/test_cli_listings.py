"""`iam runs` filters as `gh run list` does, and `iam audit show` tells which run and why."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_iam

REASON = "resigned, ticket HR-4711"


def _offboard(config: Path, user: str, *extra: str) -> str:
    result = run_iam(
        "--config", str(config), "offboard", user, "--reason", REASON, "--yes", "--format", "json", *extra
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return str(json.loads(result.stdout)["run_id"])


def _runs(config: Path, *options: str) -> list[dict[str, str]]:
    result = run_iam("--config", str(config), "runs", "--format", "json", *options)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_runs_are_filtered_by_status_user_date_and_limit(config_file: Path) -> None:
    planned = _offboard(config_file, "bob", "--dry-run")
    done = _offboard(config_file, "alice")

    assert [r["id"] for r in _runs(config_file)] == [done, planned]
    assert [r["id"] for r in _runs(config_file, "--status", "complete")] == [done]
    assert [r["id"] for r in _runs(config_file, "--status", "planned")] == [planned]
    assert [r["id"] for r in _runs(config_file, "--user", "bob")] == [planned]
    assert [r["id"] for r in _runs(config_file, "--limit", "1")] == [done]
    assert [r["id"] for r in _runs(config_file, "--since", "2000-01-01")] == [done, planned]
    assert _runs(config_file, "--since", "2999-01-01T00:00:00+00:00") == []


def test_runs_refuses_a_bad_date_status_or_limit_naming_the_option(config_file: Path) -> None:
    for options, named in (
        (("--since", "last tuesday"), "--since"),
        (("--status", "done"), "--status"),
        (("--limit", "0"), "--limit"),
    ):
        result = run_iam("--config", str(config_file), "runs", *options)
        assert result.returncode == 2, (options, result.stdout)
        assert named in result.stderr and not result.stdout


def test_audit_show_names_the_run_and_the_reason_of_every_change(config_file: Path) -> None:
    run_id = _offboard(config_file, "alice")

    result = run_iam("--config", str(config_file), "audit", "show", "--user", "alice")

    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "event" in line and "seq" in line)
    assert "run" in header and "reason" in header
    changes = [line for line in result.stdout.splitlines() if "access.changed" in line]
    assert changes
    assert all(run_id in line and REASON in line for line in changes), changes
