"""Hold emulator exchanges to Lenel's own swagger 2.0 description of OpenAccess 7.5.

Checked, per exchange: the route (method and template under ``basePath``) is
described; every query parameter sent is declared, every required one is
sent; the security headers the operation lists are present; a request body
validates against the ``in: body`` parameter; the answer validates against
the response described for its status (``default`` for errors), with every
``$ref`` resolved and ``date-time`` values checked. Strict by default: an
object schema that lists its properties admits no others (``allOf`` branches
are merged first, so ``Instance`` = ``SharedResponseDefinition`` +
``InstanceDefinition`` is closed as a whole), so an invented field fails.

Two documented readings of the description's own prose:

- "input parameters can be placed either in the request body or in the URL":
  a declared query parameter found in a body counts as sent, not as a stray
  body property;
- ``GET /version`` is "an unauthenticated operation": it needs no security
  header, although no ``security`` override says so.

What it cannot check: ``property_value_map`` is ``type: object`` with no
properties, so OnGuard's property names are outside the description.
"""

from __future__ import annotations

import copy
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from iam.lab.lenel.api import Exchange

from tests.support import specs

SPEC_NAME = "lenel-openaccess-7.5.swagger.yaml"

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339: a date, a time and an offset."""
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None and "T" in value


def find_spec() -> Path:
    """``$IAM_LENEL_SWAGGER``, else the team's shared/specs beside the checkout."""
    return specs.find_spec(SPEC_NAME, "IAM_LENEL_SWAGGER")


def _closed(schema: Any) -> Any:
    """A copy where ``allOf`` object branches are merged and every listed-properties object is closed."""
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: (_closed(v) if k != "properties" else {n: _closed(s) for n, s in v.items()})
        for k, v in schema.items()
    }
    branches = out.get("allOf")
    if isinstance(branches, list) and all(isinstance(b, dict) and "properties" in b for b in branches):
        del out["allOf"]
        required: set[str] = set(out.get("required", []))
        for branch in branches:
            out.setdefault("properties", {}).update(branch["properties"])
            required |= set(branch.get("required", []))
        if required:
            out["required"] = sorted(required)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class SwaggerContract:
    """The description, loaded once, answering "is this what OpenAccess documents?"."""

    def __init__(self, spec: dict[str, Any], *, strict: bool = True) -> None:
        self.spec = spec
        self.strict = strict

    @classmethod
    def load(cls, path: Path | None = None, *, strict: bool = True) -> SwaggerContract:
        return cls(yaml.safe_load((path or find_spec()).read_text()), strict=strict)

    @property
    def base_path(self) -> str:
        return str(self.spec.get("basePath", ""))

    def _pointer(self, ref: str) -> Any:
        node: Any = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def inline(self, schema: Any, depth: int = 0) -> Any:
        """``schema`` with every ``$ref`` replaced by what it names (the description has no cycles)."""
        assert depth < 40, "a $ref cycle"
        if isinstance(schema, dict):
            if "$ref" in schema:
                return self.inline(copy.deepcopy(self._pointer(schema["$ref"])), depth + 1)
            return {k: self.inline(v, depth + 1) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.inline(v, depth + 1) for v in schema]
        return schema

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        return self.spec["paths"].get(template, {}).get(method.lower())

    def check_route(self, method: str, template: str) -> list[str]:
        if self.operation(method, template) is None:
            return [f"{method} {self.base_path}{template} is not in the description"]
        return []

    def parameters(self, template: str, op: dict[str, Any]) -> list[dict[str, Any]]:
        shared = self.spec["paths"][template].get("parameters", [])
        return [self.inline(p) for p in [*shared, *op.get("parameters", [])]]

    @cached_property
    def _security_headers(self) -> dict[str, str]:
        return {name: d["name"].lower() for name, d in self.spec.get("securityDefinitions", {}).items()}

    def validate(self, schema: dict[str, Any], instance: Any) -> list[str]:
        """Errors of ``instance`` against ``schema`` (refs resolved; closed when strict)."""
        resolved = self.inline(schema)
        validator = jsonschema.Draft4Validator(
            _closed(resolved) if self.strict else resolved, format_checker=_formats
        )
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        ]

    def check_exchange(self, ex: Exchange) -> list[str]:
        """Everything about one exchange the description contradicts."""
        if ex.template is None:
            return [f"{ex.method} {ex.path} was not served by a vendor route"]
        op = self.operation(ex.method, ex.template)
        if op is None:
            return self.check_route(ex.method, ex.template)
        params = self.parameters(ex.template, op)
        problems = (
            self._check_query(ex, params) + self._check_headers(ex, op) + self._check_request(ex, params)
        )
        problems += self._check_response(ex, op)
        return [f"{ex.method} {ex.template} -> {ex.status}: {p}" for p in problems]

    def _check_query(self, ex: Exchange, params: list[dict[str, Any]]) -> list[str]:
        declared = {p["name"]: p for p in params if p.get("in") == "query"}
        sent = set(ex.query) | (
            {k for k in ex.request if k in declared} if isinstance(ex.request, dict) else set()
        )
        problems = [f"query parameter {n!r} is not declared" for n in sorted(set(ex.query) - set(declared))]
        problems += [
            f"required parameter {n!r} is missing"
            for n, p in declared.items()
            if p.get("required") and n not in sent
        ]
        return problems

    def _check_headers(self, ex: Exchange, op: dict[str, Any]) -> list[str]:
        if "unauthenticated operation" in " ".join(op.get("description", "").lower().split()):
            return []
        required = op.get("security", self.spec.get("security", []))
        names = [self._security_headers[name] for req in required for name in req]
        return [f"security header {n!r} is missing" for n in names if n not in ex.headers]

    def _check_request(self, ex: Exchange, params: list[dict[str, Any]]) -> list[str]:
        body_param = next((p for p in params if p.get("in") == "body"), None)
        if ex.request is None:
            return (
                ["the described request body is missing"] if body_param and body_param.get("required") else []
            )
        if body_param is None:
            return ["a request body was sent where none is described"]
        query_names = {p["name"] for p in params if p.get("in") == "query"}
        body = (
            {k: v for k, v in ex.request.items() if k not in query_names}
            if isinstance(ex.request, dict)
            else ex.request
        )
        return [f"request {p}" for p in self.validate(body_param["schema"], body)]

    def _check_response(self, ex: Exchange, op: dict[str, Any]) -> list[str]:
        responses = {str(code): self.inline(r) for code, r in op.get("responses", {}).items()}
        described = responses.get(str(ex.status))
        if described is None and not 200 <= ex.status < 300:
            described = responses.get("default")
        if described is None:
            return [f"a {ex.status} answer is not described (described: {sorted(responses)})"]
        if "schema" not in described:
            return [] if ex.response in (None, {}) else ["answered a body where none is described"]
        return self.validate(described["schema"], ex.response)
