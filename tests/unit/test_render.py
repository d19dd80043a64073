"""What a terminal shows of data is text, never a command to the terminal.

Every document `iam.render` draws a table for is built with a hostile
string in each of its strings (escape sequences, bidi overrides, a line
separator, markup) and printed through `render.show`, as the commands do:
no raw control character may reach the output, and the JSON stays exact.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest
from pydantic import BaseModel, RootModel

from iam import render
from iam.contract import StepSpec
from iam.plan import Plan, PlannedStep
from iam.report import AuditRecords, RunReport

#: ESC[8m hides what follows, ESC]0; retitles the window, CSI (U+009B) clears, U+202E and U+2066
#: reorder the line, U+2028 breaks it, BEL/BS/VT/FF/CR; and markup that must stay literal.
EVIL = "mallory\x1b[8m\x1b]0;owned\x07\x08\x0b\x0c\r\x9b2J\u2028\u202eabc\u2066[/][bold]x"
SHOWN = ("mallory\\x1b[8m", "\\x1b]0;owned\\x07", "\\x9b2J", "\\u2028", "\\u202eabc\\u2066", "[/][bold]x")


def sample(kind: Any, variant: int) -> Any:
    """A value of type ``kind`` whose every string is EVIL; a literal takes its ``variant``-th choice."""
    origin, args = get_origin(kind), get_args(kind)
    if kind in (str, Any):
        return EVIL
    if kind is bool:
        return variant % 2 == 0
    if kind is int:
        return 1
    if kind is datetime:
        return datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    if kind is date:
        return date(2025, 1, 2)
    if origin is Literal:
        return args[variant % len(args)]
    if origin in (Union, UnionType):
        return sample(next(a for a in args if a is not type(None)), variant)
    if origin is list:
        return [sample(args[0], variant)]
    if origin is dict:
        return {sample(args[0], variant): sample(args[1], variant)}
    if kind is AuditRecords:
        keys = ("at", "event", "username", "run_id", "reason", *render.AUDIT_DETAIL)
        return AuditRecords([{"seq": 1, **dict.fromkeys(keys, EVIL)}])
    if isinstance(kind, type) and issubclass(kind, RootModel):
        return kind(sample(kind.model_fields["root"].annotation, variant))
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind(**{name: sample(f.annotation, variant) for name, f in kind.model_fields.items()})
    if dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: sample(hints[f.name], variant) for f in dataclasses.fields(kind)})
    raise TypeError(f"no sample of {kind!r}")


def assert_shown_as_text(out: str) -> None:
    raw = sorted({f"U+{ord(c):04X}" for c in out if not c.isprintable() and c != "\n"})
    assert raw == [], f"raw control characters reached the terminal: {raw}"
    for escaped in SHOWN:
        assert escaped in out


DOCUMENTS = sorted((t for t in render.human.registry if t is not object), key=lambda t: t.__name__)


@pytest.mark.parametrize("kind", DOCUMENTS, ids=lambda t: t.__name__)
def test_every_table_shows_control_characters_as_escapes(
    kind: type, capsys: pytest.CaptureFixture[str]
) -> None:
    for variant in range(6):  # enough for each status a document branches on
        render.show(sample(kind, variant), "table")
    captured = capsys.readouterr()
    assert_shown_as_text(captured.out + captured.err)


@pytest.mark.parametrize("kind", DOCUMENTS, ids=lambda t: t.__name__)
def test_json_keeps_the_data_exactly(kind: type, capsys: pytest.CaptureFixture[str]) -> None:
    document = sample(kind, 0)
    render.show(document, "json")
    assert json.loads(capsys.readouterr().out) == document.to_json()


def test_plans_and_journals_show_control_characters_as_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    step = PlannedStep(1, EVIL, StepSpec("disable", EVIL, EVIL))
    plan = Plan("leaver", EVIL, steps=[step], errors={EVIL: EVIL}, no_account=[EVIL])
    out = render.console()
    out.print(render.plan_table(plan))
    out.print(render.batch_plan_table([plan]))
    out.print(render.remediation_table([("leaver", EVIL, plan), ("leaver", EVIL, None)]))
    out.print(render.steps_table(sample(RunReport, 3)))
    assert_shown_as_text(capsys.readouterr().out)


def test_visible_escapes_what_a_terminal_acts_on_and_keeps_the_rest() -> None:
    assert render.visible("ok Zoë 名前 \\x1b") == "ok Zoë 名前 \\x1b"
    assert render.visible("a\x1b[2Jb\u202ec\n") == "a\\x1b[2Jb\\u202ec\\n"
