"""What HR writes: a person (a row of the feed, or the identity in an event) and events.

One model per document; `iam.hr` checks each row or event with it and
reports a bad one by row and field (`iam.hr.RowError`), never by a traceback.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    RootModel,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from iam.documents import Day, Document, required

EventType = Literal["joiner", "mover", "leaver", "rehire"]
Username = Annotated[str, StringConstraints(pattern="^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")]
Text = Annotated[str, StringConstraints(min_length=1)]


#: Contractors and vendors: people another company employs, sponsored by one of ours.
THIRD_PARTY_KINDS = ("contractor", "vendor")
#: What a third party's row must say (who sponsors them, and until when).
THIRD_PARTY_NEEDS = ("owner", "end_date")


class Person(Document):
    """A person as HR knows them (one row of the HR feed, or the identity in an event)."""

    model_config = {
        "json_schema_extra": {
            "allOf": [
                {
                    "if": {"properties": {"kind": {"enum": list(THIRD_PARTY_KINDS)}}, "required": ["kind"]},
                    "then": {"required": list(THIRD_PARTY_NEEDS)},
                }
            ]
        }
    }

    hr_id: str = Field(min_length=1, max_length=128, description="stable id from HR; never reused")
    username: Username
    given_name: Text
    family_name: Text
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    department: str | None = None
    title: str | None = None
    manager: str | None = Field(default=None, description="the manager's username")
    kind: Literal["employee", "contractor", "vendor"]
    status: Literal["active", "terminated"]
    start_date: Day | None = None
    end_date: Day | None = Field(
        default=None, description="the last working day; contractors and vendors need one"
    )
    site: str | None = None
    owner: str | None = Field(
        default=None, description="sponsoring employee's username (contractors and vendors)"
    )
    policy_ack_version: str | None = Field(
        default=None, description="policy_ack: the policy version the person acknowledged (signed)"
    )
    policy_ack_date: Day | None = Field(default=None, description="policy_ack: the day they acknowledged it")

    @model_validator(mode="after")
    def _third_parties_have_an_owner_and_an_end(self) -> Person:
        if self.kind in THIRD_PARTY_KINDS:
            for key in THIRD_PARTY_NEEDS:
                if getattr(self, key) is None:
                    raise required(key, f" for a {self.kind}")
        return self


class HrFeed(RootModel[list[Person]]):
    """HR feed: HR's full export, the source of truth (JSON form; CSV uses the same column names)."""


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("moment", "not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise PydanticCustomError("moment", "not an ISO 8601 date and time")
    if value.tzinfo is None:
        raise PydanticCustomError("moment", "needs a time zone (e.g. 2026-12-31T18:00Z)")
    return value


#: A moment with its time zone, written in ISO 8601.
Moment = Annotated[
    datetime,
    PlainValidator(_moment),
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


#: The events that carry the person (a leaver needs only their username).
WITH_PERSON = ("joiner", "mover", "rehire")


class EventEntry(Document):
    """One explicit joiner, mover, leaver or rehire."""

    model_config = {
        "json_schema_extra": {
            "allOf": [
                {
                    "if": {"properties": {"type": {"enum": list(WITH_PERSON)}}},
                    "then": {"required": ["person"]},
                },
                {
                    "if": {"properties": {"type": {"const": "leaver"}}},
                    "then": {"anyOf": [{"required": ["username"]}, {"required": ["person"]}]},
                },
            ]
        }
    }

    type: EventType
    effective_at: Moment | None = Field(
        default=None,
        description="ISO 8601 with a time zone; default now. A leaver is applied at this moment, not before",
    )
    immediate: bool = Field(
        default=False, description="apply now whatever effective_at says (termination for cause)"
    )
    reason: str = Field(default="", max_length=1000, pattern="^[^\\x00]*$")
    username: str | None = Field(default=None, description="enough for a leaver of a known person")
    person: Person | None = None

    @model_validator(mode="after")
    def _says_who(self) -> EventEntry:
        if self.type in WITH_PERSON and self.person is None:
            raise required("person", f" for a {self.type}")
        if self.username is None and self.person is None:
            raise required("username", f" (or person) for a {self.type}")
        return self


class EventsDocument(Document):
    """Explicit joiner / mover / leaver / rehire events (iam event submit, POST /events)."""

    events: list[EventEntry] = Field(min_length=1)
