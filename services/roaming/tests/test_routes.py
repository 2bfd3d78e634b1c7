"""The roaming service answers every RPC method the contracts give it, to command-api only (but
the real-time authorization the session-service asks), and receives no OCPP call."""

from __future__ import annotations

from csms_shared.contracts.rpc import RPC_METHODS
from roaming.app import router


def test_the_app_answers_every_rpc_method_the_contracts_give_it() -> None:
    owned = {m.name for m in RPC_METHODS.values() if m.service == "roaming"}
    assert owned and set(router.rpcs) == owned
    assert all(router.rpc_methods[name] is RPC_METHODS[name] for name in owned)


def test_only_command_api_may_call_it_and_it_receives_no_ocpp_call() -> None:
    callers = dict(router.rpc_callers)
    assert callers.pop("tokens.authorize") == frozenset({"session-service"})
    assert set(callers.values()) == {frozenset({"command-api"})}
    assert list(router.calls) == []
