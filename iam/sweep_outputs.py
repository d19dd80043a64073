"""A sweep's report files, several from one sweep, each in the format its name says.

`review sweep --out review.html --out review.json` writes both from the same
read of every system: three formats are never three sweeps that `review diff`
would then compare with each other.
"""

from __future__ import annotations

import json
from pathlib import Path

from iam.errors import InputError
from iam.report import SweepResult

#: A file's extension -> the format written to it.
EXTENSIONS = {".html": "html", ".htm": "html", ".json": "json", ".csv": "csv"}


def format_of(path: Path, fallback: str) -> str:
    """The format of ``path`` by its extension; else ``fallback`` when it names a file format.

    Checked before anything is read, so a name iam cannot write changes nothing.
    """
    found = EXTENSIONS.get(path.suffix.lower())
    if found:
        return found
    if fallback in EXTENSIONS.values():
        return fallback
    known = ", ".join(sorted(EXTENSIONS))
    raise InputError(f"--out {path}: cannot tell the format from its name: use {known} (or --format)")


def text(result: SweepResult, fmt: str) -> str:
    """The sweep as a file's text: a self-contained HTML page, JSON (its schema) or CSV of findings."""
    from iam import export

    if fmt == "html":
        return export.sweep_html(result)
    if fmt == "csv":
        return export.findings_csv(result.findings)
    return json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n"
