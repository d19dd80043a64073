"""The JSON Schemas in schemas/ are generated from the documents' models, and say what the code does."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from iam.connectors.ldap.settings import FLAVORS, LdapSettings

from iam import schemas
from tests.conftest import run_iam

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "iam schema --write schemas"


@pytest.mark.parametrize("name", sorted(schemas.DOCUMENTS))
def test_each_committed_schema_is_the_one_its_model_generates(name: str) -> None:
    committed = REPO / "schemas" / f"{name}.schema.json"
    assert committed.exists(), f"schemas/{name}.schema.json is missing: run `{REGENERATE}`"
    # compared as JSON (0 == 0.0): pydantic releases may print a number differently, never mean another
    assert json.loads(committed.read_text(encoding="utf-8")) == schemas.schema(name), (
        f"schemas/{name}.schema.json differs from its model: run `{REGENERATE}` and commit the result"
    )


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("name", sorted(schemas.DOCUMENTS))
def test_a_schema_is_self_contained_so_no_validator_reaches_for_the_network(name: str) -> None:
    schema = schemas.schema(name)
    assert schema["$id"] == f"urn:iam:schema:{name}"
    assert all(ref.startswith("#/") for ref in _refs(schema))
    jsonschema.Draft202012Validator.check_schema(schema)


def _config_schema() -> dict[str, Any]:
    return json.loads((REPO / "schemas/config.schema.json").read_text())


@pytest.mark.parametrize("flavor", sorted(FLAVORS))
def test_the_config_schema_states_each_ldap_flavors_defaults_as_the_code_applies_them(flavor: str) -> None:
    """The documentation once promised uid/inetOrgPerson while AD code used others: never again."""
    ldap = _config_schema()["$defs"]["LdapSystem"]
    (branch,) = [b for b in ldap["allOf"] if b["if"]["properties"]["flavor"]["const"] == flavor]
    documented = {key: spec["default"] for key, spec in branch["then"]["properties"].items()}
    applied = LdapSettings.model_validate({"url": "ldaps://x", "base_dn": "dc=x", "flavor": flavor})
    assert documented == applied.model_dump(include=set(documented), exclude_none=True)
    assert documented["user_attribute"] in ldap["properties"]["user_attribute"]["description"]


def test_the_config_schema_covers_every_installed_connector_by_type() -> None:
    from iam import registry

    systems = _config_schema()["properties"]["systems"]["additionalProperties"]["oneOf"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in systems}
    types = {
        _config_schema()["$defs"][n]["properties"]["type"].get("const")
        for n in names
        if n != "DisabledSystem"
    }
    assert types == set(registry.available_types())


def test_a_secret_setting_documents_its_three_forms() -> None:
    password = _config_schema()["$defs"]["LdapSystem"]["properties"]["bind_password"]
    forms = password["oneOf"]
    assert [f.get("type") for f in forms] == ["string", "object", "object"]
    assert [f.get("required") for f in forms[1:]] == [["env"], ["file"]]


def _valid(instance: Any, name: str) -> list[str]:
    schema = json.loads((REPO / f"schemas/{name}.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in validator.iter_errors(instance)]


def test_the_examples_follow_the_committed_schemas_read_by_plain_jsonschema() -> None:
    for path in [*sorted((REPO / "examples").glob("*.yaml")), REPO / "examples/company/iam.yaml"]:
        assert _valid(yaml.safe_load(path.read_text()), "config") == [], path
    policy = yaml.safe_load((REPO / "examples/company/policy.yaml").read_text())
    for grant in policy.get("grants", []):
        grant["expires"] = str(grant["expires"])  # YAML reads an unquoted day as a date
    assert _valid(policy, "policy") == []
    with (REPO / "examples/company/hr-feed.csv").open(newline="") as handle:
        rows = [{k: v for k, v in row.items() if v} for row in csv.DictReader(handle)]
    assert _valid(rows, "hr-feed") == []


def test_the_schemas_refuse_what_the_models_refuse() -> None:
    """A contractor without an owner, an event without its person, a disable method missing its attribute."""
    contractor = {
        "hr_id": "1",
        "username": "cy",
        "given_name": "C",
        "family_name": "Y",
        "kind": "contractor",
        "status": "active",
    }
    assert _valid(contractor, "person") != []
    assert _valid({"events": [{"type": "joiner", "username": "cy"}]}, "events") != []
    assert _valid({"events": [{"type": "leaver", "username": "cy"}]}, "events") == []
    system = {"type": "ldap", "url": "ldap://x", "base_dn": "dc=x", "disable": {"method": "attribute"}}
    assert _valid({"systems": {"d": system}}, "config") != []
    assert _valid({"systems": {"Not A Name": {**system, "disable": {"method": "ppolicy"}}}}, "config") != []
    assert _valid({"systems": {"d": {"type": "ldap", "enabled": False, "anything": 1}}}, "config") == []


def test_iam_schema_prints_one_and_writes_them_all(tmp_path: Path) -> None:
    shown = run_iam("schema", "person")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["$id"] == "urn:iam:schema:person"
    written = run_iam("schema", "--write", str(tmp_path / "out"))
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{n}.schema.json" for n in schemas.DOCUMENTS
    )
    unknown = run_iam("schema", "persn")
    assert unknown.returncode == 2 and "documents: " in unknown.stderr
