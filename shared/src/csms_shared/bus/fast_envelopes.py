"""A bundle's calls and a call's reply as msgspec Structs: how the hot path reads and writes them.

`contracts.envelopes` is the contract: its pydantic models are the schema, the documentation and
what every other reader uses. These Structs mirror `BundledCall`, `CallReply` and
`CallErrorBody` field for field, because a bundle is read and a reply made once per call at a
fleet's peak, where the models cost two to four times what msgspec does (bench/envelopes.py).
shared/tests/test_fast_envelopes.py holds them to the models: the same bodies read, the same
refused, the same JSON written.

Reading is narrower than the model, never wider: no field the model does not know (it ignores
them) and no payload nested deeper than PAYLOAD_DEPTH (the model's JSON parser refuses about 200
levels, msgspec's only near Python's recursion limit). Whatever the fast reader refuses is read
again by the model (csms_shared.bus.bundle), which accepts it or names what is wrong with it.
Writing falls back to the model too, for a value msgspec cannot write (a lone surrogate).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from ..contracts.envelopes import BundledCall, CallErrorBody, CallReply
from ..ocpp.errors import OcppError

# As deep as the deepest OCPP 1.6 or 2.0.1 request nests without customData (2.0.1
# ReportChargingProfiles: 12 levels); a deeper payload is read by the model. Each level doubles
# the decoder's type tree (an array or an object of the level below): 12 builds in under 0.1 s.
PAYLOAD_DEPTH = 12


def _json_nested(levels: int) -> Any:
    """JSON values with at most `levels` arrays and objects inside each other."""
    value: Any = str | int | float | bool | None
    for _ in range(levels):
        value = str | int | float | bool | list[value] | dict[str, value] | None
    return value


if TYPE_CHECKING:
    _Payload = Any
else:
    _Payload = _json_nested(PAYLOAD_DEPTH)


class FastBundledCall(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`BundledCall`: one call of a bundle."""

    cp: str
    id: str
    at: str
    payload: _Payload
    tp: str | None = None

    def model(self) -> BundledCall:
        """The call as its contract's model."""
        return BundledCall(cp=self.cp, id=self.id, at=self.at, payload=self.payload, tp=self.tp)


class FastCallErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """`CallErrorBody`; its description is always written, as the model writes it."""

    code: str
    description: str
    details: dict[str, Any] | None = None


class FastCallReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """`CallReply`: a decision call's CALLRESULT payload, or its CALLERROR (exactly one)."""

    payload: dict[str, Any] | None = None
    error: FastCallErrorBody | None = None

    def __post_init__(self) -> None:
        if (self.payload is None) == (self.error is None):
            raise ValueError("a call reply holds either a payload or an error")

    @classmethod
    def refusal(cls, exc: OcppError) -> FastCallReply:
        """The reply of a call refused with `exc`."""
        return cls(error=FastCallErrorBody(str(exc.code), exc.description, exc.details))

    def model(self) -> CallReply:
        """The reply as its contract's model."""
        if self.error is None:
            return CallReply(payload=self.payload)
        error = self.error
        body = CallErrorBody(code=error.code, description=error.description, details=error.details)
        return CallReply(error=body)

    def encode(self) -> bytes:
        """The body as published (JSON), as `CallReply.encode` writes it."""
        return write(self, lambda: self.model().encode())


_ENCODER = msgspec.json.Encoder()


def write(value: object, model_json: Callable[[], bytes]) -> bytes:
    """msgspec's JSON of `value`; for a value msgspec cannot write (a lone surrogate), what the
    model writes of it (`model_json()`), or its error."""
    try:
        return _ENCODER.encode(value)
    except (msgspec.EncodeError, TypeError, UnicodeEncodeError):
        return model_json()


@functools.cache
def _calls_decoder() -> msgspec.json.Decoder[list[FastBundledCall]]:
    # Built on first use: the gateways write bundles but never read one.
    return msgspec.json.Decoder(list[FastBundledCall])


def decode_bundled_calls(body: bytes) -> list[FastBundledCall]:
    """The calls of a bundle's body; raises msgspec.DecodeError for anything else, which the
    model then reads (see the module's docstring)."""
    try:
        return _calls_decoder().decode(body)
    except UnicodeDecodeError as exc:  # a string's bytes not UTF-8: msgspec lets Python's through
        raise msgspec.DecodeError(str(exc)) from None
