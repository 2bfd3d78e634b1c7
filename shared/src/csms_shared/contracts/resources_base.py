"""The base of the resources (`resources.py`): camelCase models, and a page of a list."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")
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
