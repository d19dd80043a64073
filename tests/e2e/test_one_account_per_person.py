"""One account per person, end to end on a real slapd: a sync refuses a joiner who duplicates
someone who has accounts, and the sweep reports identities and accounts that stand for two people."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Directory, run_iam
from tests.e2e.test_retention_delete import entry
from tests.support.company import BASE_FEED, person, sync, write_feed


def test_a_joiner_with_the_email_of_someone_who_has_accounts_is_refused(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    twin = person("E9", "bea2", "Finance", "Payroll Clerk", manager="ann", email="BEA@example.org")
    named = person("E8", "ann2", "Engineering", given_name="Ann", manager="", start_date="2020-01-01")

    first = person("E10", "eve", "Sales", email="eve@example.org")
    second = person("E11", "eve2", "Sales", email="eve@example.org")  # the same person, twice in one feed

    result, report = sync(company, write_feed(tmp_path / "v2.csv", [*BASE_FEED, twin, named, first, second]))

    assert result.returncode == 2, result.stdout + result.stderr
    outcomes = {e["username"]: e for e in report["events"]}
    assert outcomes["bea2"]["status"] == "rejected" and outcomes["ann2"]["status"] == "rejected"
    assert "looks like bea" in outcomes["bea2"]["error"] and "same e-mail" in outcomes["bea2"]["error"]
    assert "looks like ann" in outcomes["ann2"]["error"] and "same name" in outcomes["ann2"]["error"]
    assert entry(directory, "bea2") is None and entry(directory, "ann2") is None
    assert outcomes["eve"]["status"] == "applied" and outcomes["eve2"]["status"] == "rejected"
    assert "looks like eve" in outcomes["eve2"]["error"] and entry(directory, "eve2") is None


def test_the_sweep_reports_a_duplicate_identity_and_a_shared_account_with_evidence(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    # another Ann Test who started the same day, under cal: two people, so far
    namesake = person("E8", "ann2", "Sales", given_name="Ann", manager="cal", start_date="2020-01-01")
    assert sync(company, write_feed(tmp_path / "v1.csv", [*BASE_FEED, namesake]))[0].returncode == 0
    # HR moves her under ann's manager (none): now nothing tells the two records apart
    result, _ = sync(company, write_feed(tmp_path / "v2.csv", [*BASE_FEED, dict(namesake, manager="")]))
    assert result.returncode == 0, result.stdout + result.stderr
    # and someone gives cal's directory entry bea's address
    admin = directory.slapd.admin()
    assert admin.modify(entry(directory, "cal"), {"mail": [("MODIFY_REPLACE", ["bea@example.org"])]})
    admin.unbind()

    result = run_iam("--config", str(company), "review", "sweep", "--format", "json")

    assert result.returncode == 4, result.stderr
    findings = json.loads(result.stdout)["findings"]
    duplicates = {f["account"]: f["why"] for f in findings if f["type"] == "duplicate_identity"}
    assert set(duplicates) == {"ann", "ann2"}
    assert "ann2 (HR E8): same name Ann Test, manager - and start date 2020-01-01" in duplicates["ann"]
    [shared] = [f for f in findings if f["type"] == "shared_account"]
    assert (shared["system"], shared["account"]) == ("directory", "cal")
    assert "carries bea's e-mail bea@example.org" in shared["why"] and "uid=cal" in shared["why"]
