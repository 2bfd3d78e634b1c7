"""Events of transactions and meter values, commands, webhooks and the message log."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)

from ..ocpp._base import DateTime, json_number
from ..ocpp.v16.datatypes import MeterValue
from ..ocpp.v16.enums import Measurand, UnitOfMeasure
from ..ocpp.version import OcppVersion
from ..vocabulary.connectors import ChargingState
from ..vocabulary.readings import Reading
from .event_base import Event
from .resources import JsonObject, Tariff, Transaction

Q = TypeVar("Q", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class TransactionStarted(Transaction, Event):
    """A StartTransaction was accepted and recorded: the transaction as the API shows it."""

    emitter = "session-service"

    event: Literal["transaction.started"] = "transaction.started"


class TransactionStopped(Transaction, Event):
    """A transaction ended, by the CP's StopTransaction or closed by an operator: the
    transaction as the API shows it."""

    emitter = "session-service"

    event: Literal["transaction.stopped"] = "transaction.stopped"


class TransactionChargingStateChanged(Event):
    """A running transaction's charging state changed, whichever version its station speaks
    (docs/vocabulary.md): 2.0.1's the chargingState of its newest TransactionEvent (by seqNo),
    1.6's the one its newest StatusNotification (by the station's time) on the transaction's
    connector says, so a report sent late changes nothing. A 1.6 state said while no
    transaction is open on the connector (Preparing before the StartTransaction) is none of a
    transaction's: only `connector.status` tells it."""

    emitter = "session-service"

    event: Literal["transaction.charging_state_changed"] = "transaction.charging_state_changed"
    charge_point_id: str
    connector_id: int = Field(description="The EVSE (what 1.6 calls a connector)")
    evse_connector_id: int | None = Field(
        default=None, description="The connector of the EVSE, when the station said (1.6: 1)"
    )
    transaction_id: int = Field(description="Ours, as transaction.started gave it")
    station_transaction_id: str = Field(
        description="The transactionId the station knows: 2.0.1's own, 1.6's ours (as a string)"
    )
    charging_state: ChargingState = Field(
        description="Charging, EVConnected, SuspendedEV, SuspendedEVSE or Idle"
    )
    ocpp_version: OcppVersion


# When the 1.6-shaped `meterValue` of `meter.values` goes (docs/vocabulary.md): read `readings`.
METER_VALUE_RETIRED_ON = "2027-06-30"


class MeterValues(Event):
    """A station's meter readings, with the CP and EVSE they came from: `readings` in our terms
    (every measurand of both versions, signed data kept), and until METER_VALUE_RETIRED_ON
    `meterValue`, the readings in 1.6's terms (values 1.6 cannot name left out)."""

    emitter = "session-service"

    event: Literal["meter.values"] = "meter.values"
    charge_point_id: str
    connector_id: int = Field(description="The EVSE (what 1.6 calls a connector)")
    evse_id: int | None = Field(default=None, description="The EVSE (0: the station's meter)")
    transaction_id: int | None = Field(default=None, description="As the CP sent it")
    readings: list[Reading] = Field(
        default_factory=list,
        description="Every sampled value in our terms (docs/vocabulary.md, Reading)",
    )
    meter_value: list[MeterValue] = Field(
        description=f"Deprecated, published until {METER_VALUE_RETIRED_ON}: the readings as 1.6"
        " spells them (a 2.0.1 station's measurands and units 1.6 cannot name left out, no"
        " signed data); read `readings`",
        json_schema_extra={"deprecated": True},
    )
    ocpp_version: OcppVersion = Field(
        description="The version the station spoke (2.0.1: its EVSE as connectorId, our"
        " transactionId)",
    )

    def body(self) -> JsonObject:
        """The body, `meterValue` and `readings` as the station's readings have them: absent
        values left out, whether unset or sent as null."""
        body = self.model_dump(
            mode="json",
            by_alias=True,
            exclude_unset=True,
            exclude={"meter_value", "readings"},
        )
        body["meterValue"] = _METER_VALUES.dump_python(
            self.meter_value, mode="json", by_alias=True, exclude_none=True
        )
        body["readings"] = _READINGS.dump_python(
            self.readings, mode="json", by_alias=True, exclude_none=True
        )
        return body

    def encode(self) -> bytes:
        """The body as published on ocpp.events (JSON)."""
        return orjson.dumps(self.body())


_METER_VALUES: TypeAdapter[list[MeterValue]] = TypeAdapter(list[MeterValue])
_READINGS: TypeAdapter[list[Reading]] = TypeAdapter(list[Reading])


# A reading's magnitude beyond this is carried as this: a JSON number holds it, and no EVSE draws
# it (the load-manager ignores such a reading as implausible, and raises it). Unbounded, a whole
# number such as 1E+9999999 would take minutes to write as a JSON integer.
MAX_READING = Decimal("1E+15")

# Amps as read (any number of decimals), a JSON number on the wire.
Amps = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    PlainSerializer(json_number, return_type=int | float, when_used="json"),
    WithJsonSchema({"type": "number"}),
]


class MeterCurrent(Event):
    """What an EVSE draws: the highest Current.Import (A, on any phase) of the newest reading
    of a `meter.values` that has one, published beside it. A narrow event for who follows the
    current alone (the load-manager's allocator): readings without a current, the most of them,
    cost such a follower nothing, and one that has it need not read the whole document."""

    emitter = "session-service"

    event: Literal["meter.current"] = "meter.current"
    charge_point_id: str
    connector_id: int = Field(description="The connector (2.0.1: the EVSE)")
    transaction_id: int | None = Field(default=None, description="As `meter.values` has it")
    amps: Amps = Field(description="The highest Current.Import of the reading, in A")
    read_at: DateTime = Field(description="The reading's timestamp, as the station sent it")
    ocpp_version: OcppVersion

    @classmethod
    def of(cls, event: MeterValues) -> MeterCurrent | None:
        """The current of `event`'s newest reading, or None when it has no finite
        Current.Import in A (or none at all)."""
        if not event.meter_value:
            return None
        newest = max(event.meter_value, key=lambda value: value.timestamp)
        amps: list[Decimal] = []
        for sample in newest.sampled_value:
            if sample.measurand is not Measurand.CURRENT_IMPORT:
                continue
            if sample.unit is not None and sample.unit is not UnitOfMeasure.A:
                continue
            try:
                value = Decimal(sample.value)
            except InvalidOperation:
                continue
            if value.is_finite():
                amps.append(max(-MAX_READING, min(value, MAX_READING)))
        if not amps:
            return None
        current = cls(
            at=event.at,
            charge_point_id=event.charge_point_id,
            connector_id=event.connector_id,
            amps=max(amps),
            read_at=newest.timestamp,
            ocpp_version=event.ocpp_version,
        )
        if event.transaction_id is not None:
            current.transaction_id = event.transaction_id
        return current


class CommandCompleted(Event):
    """A command to a CP finished: its answer (`result`), a CALLERROR, or no answer."""

    emitter = "command-api"

    event: Literal["command.completed"] = "command.completed"
    # A back office's request refused before it became a command names what it still could.
    command_id: str | None = Field(default=None, description="Absent when refused unsent")
    charge_point_id: str | None = None
    action: str | None = None
    request: JsonObject | None = None
    status: str = Field(description="result, error, timeout, offline, ...")
    requested_by: str | None = None
    response: JsonObject | None = None
    error_code: str | None = None
    reason: str | None = Field(default=None, description="Why there is no answer: offline, ...")
    request_id: str | None = Field(
        default=None, description="The back office's id, for commands from ocpp.command-requests"
    )
    batch_id: str | None = None
    ocpp_version: OcppVersion | None = Field(
        default=None, description="The version the command was sent in (absent: not sent)"
    )

    def read(self, request: type[Q], response: type[R]) -> tuple[Q, R]:
        """The command's request and the CP's answer through their models (pydantic's
        ValidationError when either breaks its model)."""
        return request.model_validate(self.request or {}), response.model_validate(
            self.response or {}
        )


class SessionWarning(Event):
    """Input session-service accepted but found wrong (meterStop below meterStart, a
    transactionId of another CP, a timestamp ahead of the clock), or a transaction flagged
    stale: what the system log (`GET /api/v1/logs`) shows as a WARNING."""

    emitter = "session-service"

    event: Literal["session.warning"] = "session.warning"
    charge_point_id: str
    subject: str = Field(description="What it is about: `StopTransaction 42`, `MeterValues`, ...")
    message: str
    transaction_id: int | None = None


class IdTagChanged(Event):
    """An entry of the authorization list was added, changed (blocked, unblocked, ...) or
    removed: `parentIdTag` as it is now, `previousParentIdTag` as it was (so a CP whose local
    list holds either group can be brought up to date)."""

    emitter = "session-service"

    event: Literal["id_tag.changed"] = "id_tag.changed"
    id_tag: str
    change: Literal["created", "updated", "deleted"]
    status: str | None = Field(default=None, description="None once deleted")
    parent_id_tag: str | None = None
    previous_parent_id_tag: str | None = None


class TariffChanged(Event):
    """A tariff was created, changed (its prices, validity, default flag or whom it prices) or
    deleted: the tariff as it is now, none once deleted."""

    emitter = "session-service"

    event: Literal["tariff.changed"] = "tariff.changed"
    tariff_id: int
    change: Literal["created", "updated", "deleted"]
    tariff: Tariff | None = Field(default=None, description="Absent once deleted")


class WebhookDisabled(Event):
    """A webhook failed too long (or an admin disabled it): its pending deliveries cancelled."""

    emitter = "command-api"

    event: Literal["webhook.disabled"] = "webhook.disabled"
    webhook_id: str
    url: str
    reason: str


class WebhookTest(Event):
    """What `POST /api/v1/webhooks/{id}/test` sends to the webhook's URL (never on the bus)."""

    emitter = "command-api"

    event: Literal["webhook.test"] = "webhook.test"
    webhook_id: str


class MessageLogLevelChanged(Event):
    """An admin set how much of a CP's traffic the message log keeps (null: the default)."""

    emitter = "message-log"

    event: Literal["message_log.level_changed"] = "message_log.level_changed"
    charge_point_id: str
    level: str | None
