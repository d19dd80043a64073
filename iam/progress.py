"""Progress of a long command (hr sync, run-due, review sweep, review certify), on a terminal only.

The core tells `Runtime.progress` what it is doing; this draws it on standard
error while it is a terminal, and never with ``--format json`` or in a pipe,
a cron log or CI, where it would only be noise.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from iam import render

if TYPE_CHECKING:  # the CLI imports this module at start: nothing heavy here
    from iam.runtime import Runtime


@contextmanager
def shown(rt: Runtime, label: str, *, enabled: bool = True) -> Iterator[None]:
    """While the block runs, a transient line on standard error: ``label``, what is being done, how many."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("({task.completed} done)"),
        console=render.console(err=True),
        transient=True,
    )
    task = progress.add_task(label, total=None)

    def tell(what: str) -> None:
        shown = escape(render.visible(f"{label}: {what}"))  # what names people: text, never markup
        progress.update(task, advance=1, description=shown)

    rt.progress = tell
    try:
        with progress:
            yield
    finally:
        rt.progress = lambda _what: None
