"""Documents a user writes (configuration, policy, HR rows, events), as typed models.

Each document has one pydantic model: it validates, holds the defaults, and
generates the JSON Schema in ``schemas/`` (`iam.schemas`). A validation
error names the file, the line and the dotted key (YAML), so the user can
go straight to the mistake; a value is never echoed (it may be a secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from iam.errors import ConfigError, InputError

M = TypeVar("M", bound=BaseModel)

#: The context key naming the field a model-level check is about (see `invalid`).
KEY = "key"


class Document(BaseModel):
    """Base of every model of a document a user writes: unknown keys are refused by name."""

    #: strict: "no" is not a boolean, "30" not a number (YAML already types what it reads).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """An unknown key is named with the keys allowed there (a typo is the usual cause)."""
        if isinstance(data, Mapping):
            allowed = sorted(f.alias or name for name, f in cls.model_fields.items())
            unknown = [str(k) for k in data if k not in allowed]
            if unknown:
                raise invalid(unknown[0], f"unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}")
        return data


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, str) and value:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise PydanticCustomError("time_zone", f"unknown time zone {value!r} (e.g. UTC, Europe/Paris)")


#: An IANA time zone name, as a `ZoneInfo`.
TimeZone = Annotated[
    ZoneInfo,
    PlainValidator(_zone),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "minLength": 1, "description": "an IANA time zone, e.g. Europe/Paris"}),
]

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("day", f"not a date (YYYY-MM-DD): {value!r}")


#: A calendar day, written YYYY-MM-DD (YAML may already have read it as a date).
Day = Annotated[
    date,
    PlainValidator(_day),
    PlainSerializer(date.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"}),
]


def invalid(key: str | None, message: str) -> PydanticCustomError:
    """An error of a model-level check, about the field ``key`` (None: about the whole object)."""
    return PydanticCustomError("invalid", message, {KEY: key} if key else None)


def required(key: str, because: str = "") -> PydanticCustomError:
    """A field required only in some cases (``because`` says which), reported on that field."""
    return invalid(key, f"{key!r} is a required property{because}")


def check_dependencies(model: BaseModel, dependencies: Mapping[str, Sequence[str]]) -> None:
    """JSON Schema's ``dependentRequired`` for a model: a key given needs the keys it names.

    The same mapping goes into the model's schema (``json_schema_extra``), so the
    rule is written once.
    """
    for key, needs in dependencies.items():
        if getattr(model, key) is not None:
            for need in needs:
                if getattr(model, need) is None:
                    raise required(need, f" with {key}")


@dataclass(frozen=True)
class Problem:
    """One validation error: where (keys and indexes into the document) and what."""

    where: tuple[str | int, ...]
    message: str
    #: The key that is missing (its object is ``where``), if that is the problem.
    missing: str | None = None

    @property
    def field(self) -> str:
        """The dotted key the problem is about: the missing key itself, if one is missing."""
        return ".".join(str(p) for p in (*self.where, *([self.missing] if self.missing else [])))


def problems(exc: ValidationError, data: Any) -> list[Problem]:
    """pydantic's errors, located in the document as the user wrote it.

    pydantic's ``loc`` also names union members and tags (``ldap`` in
    ``systems.directory.ldap.url``) that the document does not hold: only
    the parts found in ``data`` are kept. A missing key is reported on the
    object that lacks it, as ``'name' is a required property``.
    """
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        where: list[str | int] = []
        node = data
        loc = list(error["loc"])
        for part in loc:
            if not _holds(node, part):
                continue  # a union member or tag pydantic names, not a key of the document
            node = node[part]
            where.append(part)
        if error["type"] == "missing":
            out.append(Problem(tuple(where), f"{loc[-1]!r} is a required property", str(loc[-1])))
            continue
        key = (error.get("ctx") or {}).get(KEY)
        if key is not None:
            where.append(key)
        out.append(Problem(tuple(where), error["msg"]))
    return out


def _holds(node: Any, part: str | int) -> bool:
    """Whether ``part`` is a key (or an index) of ``node`` in the document."""
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def validate_document(
    model: type[M],
    data: Any,
    label: str,
    node: Any = None,
    prefix: tuple[str | int, ...] = (),
    context: Mapping[str, Any] | None = None,
) -> M:
    """The document as ``model``, or a `ConfigError` naming file, line and key of the first problem."""
    try:
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as exc:
        first = problems(exc, data)[0]
        mark = _mark(node, first.where)
        key = ".".join(str(p) for p in prefix + first.where) or "(top level)"
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{label}{line}: {key}: {first.message}") from None


def read_text(path: Path, what: str, encoding: str = "utf-8") -> str:
    """A file a user hands iam, as text read the way `open` reads it (any newline is ``\\n``).

    What cannot be read is an `InputError` (exit 2) naming the file: text that
    is not UTF-8 (a Latin-1 export) says at which byte and line, so it is found.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        where = not_utf8(data, exc)
        raise InputError(f"{path}: cannot read {what}: {where}; save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def not_utf8(data: bytes, exc: UnicodeDecodeError) -> str:
    """Where ``data`` stops being UTF-8, counted from its first byte: a person can find it."""
    at = len(data) - len(exc.object) + exc.start  # the decoder may have been handed data after a BOM
    line = data.count(b"\n", 0, at) + 1
    return f"byte {at} (0x{data[at]:02X}, line {line}) is not UTF-8"


#: libyaml's parser where PyYAML was built with it (a large policy parses ten times faster), with
#: the same safe constructor and resolver as `yaml.safe_load`.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed document and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return _parse(text, _Loader)
    except yaml.YAMLError:
        pass
    try:  # PyYAML's own parser says what is wrong more plainly than libyaml ("found character '\t'")
        return _parse(text, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _parse(text: str, loader_class: Any) -> tuple[Any, yaml.Node | None]:
    """One parse gives both the document and its nodes (safe_load and compose would parse twice)."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()


def child_node(node: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node


def _key_node(node: Any, path: tuple[str | int, ...]) -> Any:
    """The node of the last key of ``path`` itself (an unknown key has no value worth pointing at)."""
    parent = child_node(node, path[:-1])
    if isinstance(parent, yaml.MappingNode):
        return next((k for k, _ in parent.value if k.value == str(path[-1])), None)
    return None


def _mark(node: Any, path: tuple[str | int, ...]) -> Any:
    while path:
        found = child_node(node, path) or _key_node(node, path)
        if found is not None:
            return found.start_mark
        path = path[:-1]
    return node.start_mark if node is not None else None
