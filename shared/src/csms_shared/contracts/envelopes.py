"""The envelopes on the bus besides events and RPC params: a call's reply (alone or a bundle's),
the calls of a bundle, a command and its outcome, an RPC's reply, and the gateways' control
message. Each side writes and reads them through these models, but for the two read and written
once per call at a fleet's peak: a bundle's calls and a call's reply go through their msgspec
twins in csms_shared.bus.fast_envelopes, which tests hold to these models."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from ..ocpp._base import DateTime, JsonObject
from ..ocpp.errors import OcppError, error_for
from ..ocpp.version import OcppVersion
from . import problems


class BadEnvelope(ValueError):
    """A body that is not the envelope its message should carry; says what is wrong with it."""


class Envelope(BaseModel):
    """camelCase on the wire, absent fields left out; fields a newer sender adds are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def encode(self) -> bytes:
        """The body as published (JSON)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_none=True)

    @classmethod
    def decode(cls, body: bytes | str) -> Self:
        """The envelope in `body` (raises BadEnvelope naming what is wrong)."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise BadEnvelope(f"not a {cls.__name__}: {problems(exc)}") from None


# -- call replies (service -> gateway, on the gateway's queue) -------------------------------


class CallErrorBody(Envelope):
    """A CALLERROR: its OCPP error code, description and details."""

    code: str
    description: str = ""
    details: JsonObject | None = None


class CallReply(Envelope):
    """A decision call's answer: the CALLRESULT payload, or the CALLERROR (exactly one)."""

    payload: JsonObject | None = None
    error: CallErrorBody | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CallReply:
        if (self.payload is None) == (self.error is None):
            raise ValueError("a call reply holds either a payload or an error")
        return self

    @classmethod
    def refusal(cls, exc: OcppError) -> CallReply:
        """The reply of a call refused with `exc`."""
        error = CallErrorBody(code=str(exc.code), description=exc.description, details=exc.details)
        return cls(error=error)

    def result(self) -> JsonObject:
        """The CALLRESULT payload; raises the CALLERROR as its OcppError."""
        if self.error is not None:
            raise error_for(self.error.code, self.error.description, self.error.details)
        assert self.payload is not None
        return self.payload


class BundleReply(Envelope):
    """The answer to a bundle of decision calls: one call reply per item, in the items' order;
    or, without items, one error that refuses the whole bundle (an unreadable delivery)."""

    items: list[CallReply] | None = None
    error: CallErrorBody | None = None

    def replies(self, count: int) -> list[CallReply]:
        """One reply per call of a bundle of `count` (raises BadEnvelope when they differ)."""
        if self.items is None:
            if self.error is None:
                raise BadEnvelope("a bundle's reply holds items or an error")
            return [CallReply(error=self.error)] * count
        if len(self.items) != count:
            raise BadEnvelope(f"a reply to a bundle of {count} holds {len(self.items)} items")
        return self.items


# -- bundles of calls (gateway -> service, on ocpp.calls) -------------------------------------


class BundledCall(Envelope):
    """One call of a bundle: what a message of its own would carry in its headers and body."""

    cp: str  # the charge point id
    id: str  # the OCPP message id
    at: str  # the gateway's receive time, ISO 8601
    payload: Any = Field(...)  # as the CP sent it (required, may be anything JSON)
    tp: str | None = None  # the call's `traceparent`, when traces are on


BUNDLED_CALLS: TypeAdapter[list[BundledCall]] = TypeAdapter(list[BundledCall])


# -- commands (command-api -> gateway, on ocpp.commands) and their outcomes --------------------


class CommandRequest(Envelope):
    """A CS->CP command: the action, its request payload, how long to wait for the CP, and the
    OCPP version the asker checked it against: a gateway whose connection of the CP speaks
    another one (the CP reconnected with another version meanwhile) rejects it unsent."""

    action: str
    payload: JsonObject
    timeout: float | None = Field(default=None, description="Seconds; the gateway's default")
    ocpp_version: OcppVersion | None = Field(
        default=None, description="The version the payload was checked against; any if absent"
    )


# What a gateway answers, then what command-api records when no gateway could: the CP was not
# connected (`offline`), never seen (`unknown_charge_point`), or the gateway never answered.
CommandStatus = Literal[
    "result",
    "error",
    "invalid",
    "timeout",
    "disconnected",
    "busy",
    "rejected",
    "offline",
    "unknown_charge_point",
]


class CommandOutcome(Envelope):
    """What became of a command at the gateway: the CP's answer (`result`), its CALLERROR
    (`error`), an answer breaking the schema (`invalid`), or why there is none."""

    status: CommandStatus
    response: JsonObject | None = None
    error_code: str | None = None
    error_description: str | None = None  # as the CP sent it (redacted)
    error_details: JsonObject | None = None
    latency_ms: float | None = None
    reason: str | None = None  # why the gateway refused it (`rejected`)

    def document(self) -> JsonObject:
        """The outcome as a JSON-ready document (camelCase, absent fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- RPC replies (service -> caller, on the caller's reply queue) ----------------------------


class RpcErrorBody(Envelope):
    """Why an RPC failed: `not_found`, `forbidden`, `invalid`, `internal`, ..."""

    code: str = "internal"
    message: str = ""


class RpcReply(Envelope):
    """An RPC's answer: the method's result (JSON), or its error."""

    result: Any = None
    error: RpcErrorBody | None = None


# -- control (gateway -> every gateway, on ocpp.control) --------------------------------------


class Presence(Envelope):
    """A CP connected to `gateway`: any other gateway holding an older connection of it closes
    that one (takeover)."""

    charge_point_id: str
    gateway: str
    connection_id: str
    connected_at: DateTime


# -- owner beacons (every process consuming OCPP calls -> every gateway, on ocpp.owners) ------


class OwnerBeacon(Envelope):
    """A process that consumes OCPP calls is alive: the lanes it consumes (exchange -> routing
    keys), whether its database answers, and how long this beacon holds unless renewed. The last
    one a process sends as it stops says `leaving`."""

    service: str = Field(min_length=1, max_length=100)
    process: str = Field(min_length=1, max_length=200)
    # Bounded: a gateway keeps every key it is told of.
    lanes: dict[
        Annotated[str, Field(max_length=100)],
        Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=1000)],
    ] = Field(max_length=8)
    ready: bool
    lifetime: float = Field(gt=0, le=60)
    leaving: bool = False
