"""The session-service registers every call it owns when it starts."""

from __future__ import annotations

from csms_shared.contracts.rpc import RPC_METHODS
from session_service import follow_roaming_tokens
from session_service.app import router


def test_the_app_registers_the_calls_the_session_service_owns() -> None:
    assert sorted(router.calls) == [
        "v16.Authorize",
        "v16.MeterValues",
        "v16.StartTransaction",
        "v16.StopTransaction",
        "v201.Authorize",
        "v201.MeterValues",
        "v201.ReservationStatusUpdate",
        "v201.TransactionEvent",
    ]


def test_the_app_answers_every_rpc_method_the_contracts_give_it() -> None:
    owned = {m.name for m in RPC_METHODS.values() if m.service == "session-service"}
    assert set(router.rpcs) == owned
    assert all(router.rpc_methods[name] is RPC_METHODS[name] for name in owned)


def test_it_follows_the_tokens_emsps_push() -> None:
    assert router.events["roaming.token_changed"] is follow_roaming_tokens.roaming_token_changed
