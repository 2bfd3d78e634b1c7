"""The envelope every event body carries (`v`, `event`, `at`) and the base model of events."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from ..ocpp._base import DateTime, utcnow

EVENT_VERSION = 1
# Fields every body carries, whether or not its emitter named them.
_ENVELOPE = ("v", "event", "at")
# A time on the wire: RFC 3339, UTC, `Z` (the serializer's return type hides the format).
At = Annotated[DateTime, WithJsonSchema({"type": "string", "format": "date-time"})]


def _envelope_required(schema: dict[str, Any]) -> None:
    required = schema.setdefault("required", [])
    schema["required"] = [*_ENVELOPE, *(name for name in required if name not in _ENVELOPE)]


class Event(BaseModel):
    """The envelope: the version of the body, the event's name, when it happened."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        json_schema_extra=_envelope_required,
    )
    # The routing key on ocpp.events; the name in `event` unless a subclass says otherwise.
    routing_key: ClassVar[str] = ""
    # The service that publishes it (documented in docs/events.asyncapi.yaml).
    emitter: ClassVar[str] = ""

    v: int = Field(default=EVENT_VERSION, ge=1)
    event: str
    at: At = Field(default_factory=utcnow)

    @field_validator("at", mode="before")
    @classmethod
    def _now_if_none(cls, value: Any) -> Any:
        return utcnow() if value is None else value

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.update(_ENVELOPE)

    def encode(self) -> bytes:
        """The body as published on ocpp.events (JSON): the envelope and every field the
        emitter set."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_unset=True)

    @classmethod
    def key(cls) -> str:
        """The routing key of this event on ocpp.events."""
        return cls.routing_key or str(cls.model_fields["event"].default)
