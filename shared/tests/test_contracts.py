"""The contracts between services: event bodies, RPC params, the AsyncAPI document."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from csms_shared.bus.router import Router
from csms_shared.bus.rpc import RpcError, read_params
from csms_shared.contracts.events import (
    EVENTS,
    CommandCompleted,
    ConnectorStatus,
    InvalidEvent,
    SecurityEvent,
    SignedFirmwareStatus,
    StationSeen,
    read_event,
)
from csms_shared.contracts.resources import Resource
from csms_shared.contracts.rpc import RPC_METHODS, CreateIdTag, ListMeterValues, ListTransactions
from csms_shared.ocpp.version import OcppVersion

from .fakes import fake_runtime

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def test_a_body_is_the_envelope_and_what_its_emitter_set() -> None:
    event = SecurityEvent(at=AT, charge_point_id="CP-1", type="X", tech_info=None, source="csms")
    assert orjson.loads(event.encode()) == {
        "v": 1,
        "event": "security.event",
        "at": "2026-05-01T12:00:00.250Z",
        "chargePointId": "CP-1",
        "type": "X",
        "techInfo": None,  # set, if to nothing: consumers have always seen it
        "source": "csms",
    }
    completed = CommandCompleted(
        command_id="c", charge_point_id="CP-1", action="Reset", request={}, status="result"
    )
    assert "requestedBy" not in orjson.loads(completed.encode())


def test_a_body_read_back_is_the_event_that_was_sent() -> None:
    sent = ConnectorStatus(
        at=AT,
        charge_point_id="CP-1",
        connector_id=1,
        status="Available",
        error_code="NoError",
        ocpp_version=OcppVersion.V16,
    )
    received = read_event("connector.status", sent.encode())
    assert received == sent
    assert isinstance(received, ConnectorStatus)


def test_routing_keys_and_event_names() -> None:
    assert SignedFirmwareStatus.key() == "signed.firmware.status"
    assert SignedFirmwareStatus(charge_point_id="c", kind="k", status="s").event == (
        "signed_firmware.status"
    )
    assert StationSeen.key() == "station.seen"
    assert all(model.key() == key and model.emitter for key, model in EVENTS.items())


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"event": "connector.status", "chargePointId": "CP-1"}', "connectorId: Field required"),
        (
            b'{"event": "connector.status", "chargePointId": "CP-1", "connectorId": "one",'
            b' "status": "Available", "errorCode": "NoError"}',
            "connectorId: Input should be a valid integer",
        ),
        (b'{"event": "station.booted"}', "event: Input should be 'connector.status'"),
    ],
)
def test_an_invalid_event_names_what_is_wrong(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidEvent, match=problem):
        read_event("connector.status", body)


def test_an_unknown_routing_key_is_read_as_the_envelope() -> None:
    event = read_event("something.new", b'{"v": 2, "event": "something.new", "x": 1}')
    assert (event.v, event.event) == (2, "something.new")


def test_rpc_params_are_read_as_their_model() -> None:
    params = read_params(ListTransactions, b'{"limit": "5", "active": "true", "idTag": "T"}')
    assert isinstance(params, ListTransactions)
    assert (params.limit, params.offset, params.active, params.id_tag) == (5, 0, True, "T")


@pytest.mark.parametrize(
    ("model", "body", "problem"),
    [
        (ListTransactions, b"[]", "params must be a JSON object"),
        (ListTransactions, b"{", "params are not JSON"),
        (ListTransactions, b'{"limit": 0}', "limit: Input should be greater than or equal to 1"),
        (ListTransactions, b'{"idTag": "x\\u0000"}', "params.idTag: strings may not contain"),
        (ListTransactions, b'{"isComplete": true}', "isComplete: Extra inputs are not permitted"),
        (
            ListTransactions,
            b'{"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"}',
            "from is after to",
        ),
        (ListMeterValues, b"{}", "transactionId or chargePointId is required"),
        (CreateIdTag, b'{"idTag": "A", "parentIdTag": "a"}', "cannot be its own parent"),
    ],
)
def test_invalid_rpc_params_are_refused_with_what_is_wrong(
    model: type, body: bytes, problem: str
) -> None:
    with pytest.raises(RpcError, match=problem) as refused:
        read_params(model, body)
    assert refused.value.code == "invalid"


def test_every_rpc_method_names_its_service_and_the_model_of_its_result() -> None:
    services = {m.service for m in RPC_METHODS.values()}
    assert services == {
        "station-registry",
        "session-service",
        "message-log",
        "load-manager",
        "roaming",
    }
    assert all(m.result is not Resource and m.result.model_fields for m in RPC_METHODS.values())


def test_a_result_is_read_as_its_model() -> None:
    page = RPC_METHODS["list_id_tags"].result.model_validate(
        {"items": [], "total": 0, "limit": 50, "offset": 0, "newerField": 1}
    )
    assert page.model_dump(by_alias=True) == {"items": [], "total": 0, "limit": 50, "offset": 0}


def _asyncapi_script() -> object:
    spec = importlib.util.spec_from_file_location("asyncapi", ROOT / "scripts" / "asyncapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_asyncapi_document_is_current() -> None:
    script = _asyncapi_script()
    committed = (ROOT / "docs" / "events.asyncapi.yaml").read_text()
    assert committed == script.render(), "docs/events.asyncapi.yaml is stale: run `make asyncapi`"  # type: ignore[attr-defined]


def test_the_asyncapi_document_describes_every_event() -> None:
    document = _asyncapi_script().document()  # type: ignore[attr-defined]
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == set(EVENTS)
    schemas = document["components"]["schemas"]
    for key, model in EVENTS.items():
        schema = schemas[model.__name__]
        assert schema["required"][:3] == ["v", "event", "at"], key
        assert schema["properties"]["at"]["format"] == "date-time", key
        assert schema["properties"]["event"]["const"] == model.model_fields["event"].default


class EventMessage:
    """An event as the runtime's consumer receives it."""

    def __init__(self, key: str, body: bytes) -> None:
        self.exchange = "ocpp.events"
        self.user_id = "guest"
        self.routing_key = key
        self.body = body
        self.headers: dict[str, str] = {}
        self.reply_to = None
        self.correlation_id = None
        self.outcome: str | None = None

    async def ack(self) -> None:
        self.outcome = "ack"

    async def reject(self, requeue: bool = False) -> None:
        self.outcome = f"reject requeue={requeue}"

    async def nack(self, requeue: bool = True) -> None:
        self.outcome = f"nack requeue={requeue}"


async def test_an_invalid_event_is_dead_lettered_and_the_next_one_followed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router(service="contract-test")
    followed: list[ConnectorStatus] = []

    @router.event("connector.status")
    async def follow(event: ConnectorStatus, ctx: object) -> None:
        followed.append(event)

    runtime = fake_runtime(router, [])
    bad = EventMessage("connector.status", b'{"event": "connector.status", "chargePointId": "X"}')
    sent = ConnectorStatus(
        at=AT,
        charge_point_id="CP-1",
        connector_id=2,
        status="Faulted",
        error_code="OtherError",
        ocpp_version=OcppVersion.V16,
    )
    good = EventMessage("connector.status", sent.encode())
    await runtime.on_event(bad)  # type: ignore[arg-type]
    await runtime.on_event(good)  # type: ignore[arg-type]
    assert bad.outcome == "reject requeue=False"  # the queue dead-letters it
    assert "invalid event on connector.status: connectorId: Field required" in caplog.text
    assert good.outcome == "ack"
    assert followed == [sent]
