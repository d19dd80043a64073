"""`iam --help` starts without the libraries only real work needs (issue 14: a CLI that starts in a blink).

A test on what is loaded, never on time: the command runs in a fresh
interpreter that then names every module it holds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Loaded by real work only: the store, schema checks, the connectors' libraries, rich's tables.
HEAVY = ("sqlalchemy", "jsonschema", "ldap3", "keycloak", "httpx", "pydantic", "rich", "structlog", "yaml")

RUNNER = """
import json, sys
from iam.cli import main
sys.argv = ["iam", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    """The top-level packages an `iam ARGS` process holds when it ends."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, timeout=120, check=True
    )
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return {name.split(".")[0] for name in modules} | {name for name in modules if name.startswith("iam.")}


# `--version` comes with issue 19; until then click refuses it, which must be as light
@pytest.mark.parametrize("args", [["--help"], ["offboard", "--help"], ["review", "--help"], ["--version"]])
def test_help_loads_no_store_schema_connector_or_rich(args: list[str]) -> None:
    loaded = loaded_by(*args)
    assert sorted(loaded & set(HEAVY)) == []
    assert sorted(m for m in loaded if m.startswith(("iam.connectors", "iam.store", "iam.report"))) == []


def test_a_command_that_works_still_finds_what_it_needs() -> None:
    """The lazy imports are real imports: `iam schema` loads the document models when it runs."""
    assert "iam.report" in loaded_by("schema", "run-report")


def test_importing_iam_loads_nothing_until_a_name_is_used() -> None:
    code = (
        "import sys, iam; before = set(sys.modules); iam.Connector; "
        "print('iam.contract' in before, 'iam.contract' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]
