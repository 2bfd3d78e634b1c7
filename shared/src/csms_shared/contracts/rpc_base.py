"""What every RPC method's params share: the base model, paging, time ranges, string limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ..ocpp.v16.datatypes import OcppDateTime

REGISTRY = "station-registry"
SESSIONS = "session-service"
MESSAGE_LOG = "message-log"
LOAD_MANAGER = "load-manager"
ROAMING = "roaming"

BIGINT = 2**63 - 1


# Non-empty strings up to a length (no number turned into a string).
Text16 = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=16)]
Text24 = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=24)]
Text50 = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=50)]
Text100 = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100)]
Text500 = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=500)]
ChargePointId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=48)]
# An id tag of the authorization list: up to 36 characters (2.0.1 idTokens, eMAIDs); a 1.6
# station is told only those of 20 or fewer (csms_shared.vocabulary.tokens).
IdToken = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=36)]
StoredStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class RpcParams(BaseModel):
    """Base of every method's params: camelCase on the wire, nothing unknown."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class NoParams(RpcParams):
    """A method that takes nothing."""


class Paged(RpcParams):
    """A page of a list: `limit` items from `offset`."""

    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=BIGINT)


class LongPaged(RpcParams):
    """A page of a long list (meter values, report rows)."""

    limit: int = Field(default=1000, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=BIGINT)


class TimeRange(RpcParams):
    """`from` (inclusive) and `to` (exclusive); `from` must not be after `to`."""

    from_: OcppDateTime | None = Field(default=None, alias="from")
    to: OcppDateTime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError("from is after to")
        return self


P = TypeVar("P", bound=RpcParams)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RpcMethod(Generic[P, R]):
    """An RPC method: the service answering it, the model of its params and of its result.

    A caller names a method by this object (`RegistryRpc.get_charge_point`), never by a string,
    and gets its result as the model; a handler registered for it returns the model."""

    name: str
    service: str
    params: type[P]
    result: type[R]

    def encode_params(self, params: P) -> bytes:
        """The params on the wire: camelCase, the fields the caller set (None included: a
        PATCH clears a field by sending null)."""
        return params.model_dump_json(by_alias=True, exclude_unset=True).encode()

    def encode_result(self, result: R) -> Any:
        """The result on the wire: camelCase JSON, the fields the handler left out left out."""
        if not isinstance(result, self.result):
            raise TypeError(f"{self.name} returned {type(result).__name__}, not {self.result}")
        return result.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def decode_result(self, raw: Any) -> R:
        """The result an answer holds, as the model (ValidationError when it does not fit)."""
        return self.result.model_validate(raw)
