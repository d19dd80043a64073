"""JSON Schemas generated from the models of iam's documents (never written by hand).

`DOCUMENTS` names each document's model; `schema` generates one schema,
self-contained (``$defs``) with an ``urn:iam:schema:<name>`` id so that a
plain JSON Schema validator never reaches for the network. ``iam schema
--write schemas`` regenerates the copies committed in ``schemas/``, and a
test fails while a committed copy differs from what its model generates.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from iam.errors import InputError

#: Document name -> ``"module:Model"`` (or ``"module:function"`` returning the model, for a
#: model that depends on what is installed, as the configuration does on the connectors).
#: Inputs are described as they are validated; a model declaring ``schema_mode =
#: "serialization"`` (an output) as it is written.
DOCUMENTS: dict[str, str] = {
    "config": "iam.config:installed_config_model",
    "policy": "iam.policy:PolicyFile",
    "person": "iam.hr_records:Person",
    "hr-feed": "iam.hr_records:HrFeed",
    "events": "iam.hr_records:EventsDocument",
    # what iam prints with --format json (and keeps as a run's evidence)
    "run-report": "iam.report:RunReport",
    "status": "iam.report:StatusReport",
    "plan": "iam.report:PersonPlan",
    "connectors-check": "iam.report:ConnectorChecks",
    "runs": "iam.report:RunList",
    "lifecycle-report": "iam.report:LifecycleReport",
    "event-list": "iam.report:StoredEventList",
    "notifications": "iam.report:KeptNotificationList",
    "reinstatement": "iam.report:Reinstatement",
    "review-sweep": "iam.report:SweepResult",
    "review-diff": "iam.report:SweepDiff",
    "remediation": "iam.report:Remediation",
    "certification-campaign": "iam.report:Campaign",
    "certification-result": "iam.report:CertificationResult",
    "audit-records": "iam.report:AuditRecords",
    "evidence-pack": "iam.report:EvidencePack",
    "offboard-batch": "iam.report:BatchReport",
}

DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Generator(GenerateJsonSchema):
    """pydantic's generator, for people reading the schema: no null for "absent", no field titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        if self.mode == "serialization":  # iam's output writes every key, null where there is nothing
            return super().nullable_schema(schema)
        return self.generate_inner(schema["schema"])  # leaving a key out is how a document says "none"

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if self.mode == "validation" and "default" in schema and schema["default"] is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        """A mapping with constrained keys says so (``propertyNames``), and refuses any other key."""
        out = super().dict_schema(schema)
        patterns = out.pop("patternProperties", None)
        if patterns and len(patterns) == 1:
            ((pattern, values),) = patterns.items()
            out["propertyNames"] = {"pattern": pattern}
            out["additionalProperties"] = values
        elif patterns:
            out["patternProperties"] = patterns
        return out


def model_of(name: str) -> type[BaseModel]:
    """The model of document ``name``; `InputError` naming the documents there are."""
    if name not in DOCUMENTS:
        raise InputError(f"no document named {name!r}; documents: {', '.join(sorted(DOCUMENTS))}")
    module, _, attr = DOCUMENTS[name].partition(":")
    found = getattr(import_module(module), attr)
    model = found if isinstance(found, type) else found()
    assert issubclass(model, BaseModel), f"{DOCUMENTS[name]} is not a pydantic model"
    return model


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of document ``name``, generated from its model."""
    model = model_of(name)
    mode: JsonSchemaMode = getattr(model, "schema_mode", "validation")
    body = model.model_json_schema(mode=mode, schema_generator=_Generator)
    return {"$schema": DIALECT, "$id": f"urn:iam:schema:{name}", **body}


def text(name: str) -> str:
    """The schema as it is committed: indented JSON, one trailing newline."""
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


def write_all(directory: Path) -> list[Path]:
    """Regenerate every document's schema into ``directory`` as ``<name>.schema.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(DOCUMENTS):
        path = directory / f"{name}.schema.json"
        path.write_text(text(name), encoding="utf-8")
        written.append(path)
    return written
