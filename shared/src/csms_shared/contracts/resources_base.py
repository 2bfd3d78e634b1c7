"""The base of the resources (`resources.py`): camelCase models, and a page of a list."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from ..ocpp._base import DateTime as _DateTime
from ..ocpp._base import JsonObject as JsonObject

T = TypeVar("T")
# A time: RFC 3339, UTC, `Z` on the wire (the serializer's return type hides the format).
DateTime = Annotated[_DateTime, WithJsonSchema({"type": "string", "format": "date-time"})]


def _none(value: object) -> bool:
    return value is None


# An optional field left out of the JSON when it has no value (as OCPP leaves out an optional
# field): a handler sets it to None freely. A plain `X | None` field set to None is sent as
# null, for the few whose null says something (no next page, an unknown list).
Omit = Annotated[T | None, Field(exclude_if=_none)]
Number = int | float  # a JSON number: whole amounts stay integers, as the services send them


class Resource(BaseModel):
    """camelCase on the wire, like OCPP."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Page(Resource, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int = Field(description="Items matching the filters, on every page")
    limit: int
    offset: int
