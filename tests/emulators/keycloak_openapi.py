"""Hold emulator exchanges to Keycloak's own OpenAPI description of its Admin API.

Checked, per exchange: the route (method and template) is described; every
query parameter sent is declared for it; a JSON request body validates; a
success body validates against the documented response schema with every
``$ref`` resolved into the description's components. Strict by default: an
object schema that lists its properties admits no others, so a misspelt or
invented field in the emulator fails.

Three documented leniencies, each where Keycloak's generated description
disagrees with Keycloak itself (and with python-keycloak, which follows the
server):

- a bodyless success: the description labels void JAX-RS methods 200 or 201
  (``putUser`` 200, ``postLogout`` 201) while the server answers 204 and
  python-keycloak expects 204, so any bodyless 2xx matches a bodyless one;
- a ``List<X>`` request body is described as ``X`` (``RoleRepresentation``
  for the role-mapping POST and DELETE): an array matches when every item does;
- a ``Map<String, Object>`` is described as an object whose values are
  objects (``getBruteForceUser``), while the server answers ``false``, ``0``
  or ``"n/a"`` there: its values may be of any JSON type.

Error answers are not in the description; they must have Keycloak's error
shape (`ERROR_SCHEMA`).
"""

from __future__ import annotations

import copy
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
from iam.lab.keycloak.admin import Exchange

from tests.support import specs

SPEC_NAME = "keycloak-admin-23.0.6.openapi.json"
PREFIX = "/admin/realms"

#: ``{"error": ...}`` from the admin API, ``{"error", "error_description"}`` from OIDC.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "errorMessage": {"type": "string"},
    },
}


def find_spec() -> Path:
    """``$IAM_KEYCLOAK_OPENAPI``, else the team's shared/specs beside the checkout."""
    return specs.find_spec(SPEC_NAME, "IAM_KEYCLOAK_OPENAPI")


#: How the description spells Java's ``Map<String, Object>``.
_MAP_OF_OBJECTS = {"type": "object", "additionalProperties": {"type": "object"}}


def _maps_take_any_value(schema: Any) -> Any:
    """A copy where a ``Map<String, Object>`` admits values of any type, as the server answers them."""
    if schema == _MAP_OF_OBJECTS:
        return {"type": "object"}
    if isinstance(schema, dict):
        return {k: _maps_take_any_value(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_maps_take_any_value(v) for v in schema]
    return schema


def _closed(schema: Any) -> Any:
    """A copy where every object schema that lists properties forbids others."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


class AdminContract:
    """The description, loaded once, answering "is this what Keycloak documents?"."""

    def __init__(self, spec: dict[str, Any], *, strict: bool = True) -> None:
        self.spec = spec
        self.strict = strict

    @classmethod
    def load(cls, path: Path | None = None, *, strict: bool = True) -> AdminContract:
        return cls(json.loads((path or find_spec()).read_text()), strict=strict)

    @cached_property
    def _components(self) -> dict[str, Any]:
        components = _maps_take_any_value(copy.deepcopy(self.spec.get("components", {})))
        return _closed(components) if self.strict else components

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        return self.spec["paths"].get(template, {}).get(method.lower())

    def check_route(self, method: str, template: str) -> list[str]:
        if self.operation(method, template) is None:
            return [f"{method} {PREFIX}{template} is not in the description"]
        return []

    def validate(self, schema: dict[str, Any], instance: Any) -> list[str]:
        """Errors of ``instance`` against a schema whose ``$ref``s point into the components."""
        schema = _maps_take_any_value(schema)
        root = {"allOf": [_closed(schema) if self.strict else schema], "components": self._components}
        validator = jsonschema.Draft4Validator(root)
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        ]

    def check_exchange(self, ex: Exchange) -> list[str]:
        """Everything about one admin exchange the description contradicts."""
        if ex.template is None:
            return [f"{ex.method} {ex.path} was not served by an admin route"]
        where = f"{ex.method} {ex.template} -> {ex.status}"
        op = self.operation(ex.method, ex.template)
        if op is None:
            return self.check_route(ex.method, ex.template)
        problems = [f"{where}: {p}" for p in self._check_query(ex, op) + self._check_request(ex, op)]
        problems += [f"{where}: {p}" for p in self._check_response(ex, op)]
        return problems

    def _check_query(self, ex: Exchange, op: dict[str, Any]) -> list[str]:
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        return [f"query parameter {name!r} is not declared" for name in sorted(set(ex.query) - declared)]

    def _check_request(self, ex: Exchange, op: dict[str, Any]) -> list[str]:
        if ex.request is None:
            return []
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return ["a request body was sent where none is described"]
        items = ex.request if isinstance(ex.request, list) and schema.get("type") != "array" else [ex.request]
        return [f"request {p}" for item in items for p in self.validate(schema, item)]

    def _check_response(self, ex: Exchange, op: dict[str, Any]) -> list[str]:
        if not 200 <= ex.status < 300:
            return [f"error body {p}" for p in self.validate(ERROR_SCHEMA, ex.response)]
        successes = {code: r for code, r in op.get("responses", {}).items() if code.startswith("2")}
        if ex.response is None:
            if any("content" in r for r in successes.values()):
                return ["answered without a body where the description documents one"]
            return []
        described = successes.get(str(ex.status), {}).get("content", {}).get("application/json")
        if described is None:
            return [f"a {ex.status} body is not described (described: {sorted(successes)})"]
        return self.validate(described["schema"], ex.response)
