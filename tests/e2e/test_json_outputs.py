"""Every JSON output has a schema, and the schemas resolve offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import jsonschema
from referencing import Registry

from iam.cli import cli
from tests.conftest import run_iam
from tests.support.company import BASE_FEED, NOW, write_feed

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

#: Each command that prints JSON -> the documents (schemas/NAME.schema.json) it may print.
OUTPUTS = {
    "offboard": {"run-report", "offboard-batch"},
    "suspend": {"run-report"},
    "restore": {"run-report"},
    "resume": {"run-report"},
    "status": {"status"},
    "runs": {"runs"},
    "hr sync": {"lifecycle-report"},
    "event submit": {"lifecycle-report"},
    "event list": {"event-list"},
    "notifications list": {"notifications"},
    "run-due": {"lifecycle-report"},
    "reinstate": {"reinstatement"},
    "plan": {"plan"},
    "review sweep": {"review-sweep"},
    "review diff": {"review-diff"},
    "review certify": {"certification-campaign", "certification-result"},
    "connectors check": {"connectors-check"},
    "evidence": {"evidence-pack"},
    "audit show": {"audit-records"},
}


def _json_commands(group: click.Group, prefix: str = "") -> set[str]:
    found = set()
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found |= _json_commands(command, path + " ")
        elif command is not None and any(
            "--format" in p.opts and isinstance(p.type, click.Choice) and "json" in p.type.choices
            for p in command.params
        ):
            found.add(path)
    return found


def test_every_command_that_prints_json_has_a_committed_schema() -> None:
    assert _json_commands(cli) == set(OUTPUTS)
    for names in OUTPUTS.values():
        for name in names:
            assert (SCHEMAS / f"{name}.schema.json").exists(), name


def _offline(instance: Any, name: str) -> None:
    """Validate with a registry that can fetch nothing: any reference outside the schema would raise."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, registry=Registry()).validate(instance)
    jsonschema.validate(instance, schema)  # and as a user's script would, with no registry at all


def test_hr_sync_and_event_list_print_json_that_follows_their_schemas_offline(
    company: Path, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)
    synced = run_iam("--config", str(company), "hr", "sync", str(feed), "--now", NOW, "--format", "json")
    assert synced.returncode == 0, synced.stderr
    _offline(json.loads(synced.stdout), "lifecycle-report")

    listed = run_iam("--config", str(company), "event", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)
    assert {e["username"] for e in events} == {p["username"] for p in BASE_FEED}
    _offline(events, "event-list")


def test_iam_schema_name_prints_the_committed_schema_and_refuses_an_unknown_name() -> None:
    for name in ("lifecycle-report", "event-list"):
        shown = run_iam("schema", name)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == (SCHEMAS / f"{name}.schema.json").read_text()

    unknown = run_iam("schema", "hr-sync")
    assert unknown.returncode == 2 and not unknown.stdout
    assert "lifecycle-report" in unknown.stderr
