"""The AsyncAPI 3 document of `ocpp.events`, generated from the event models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from ..bus.topology import EVENTS as EVENTS_EXCHANGE
from .events import EVENT_VERSION, EVENTS, Event

REF = "#/components/schemas/{model}"


def _doc(model: type[Event]) -> str:
    return " ".join((model.__doc__ or "").split())


def _operation_id(key: str) -> str:
    words = key.replace("_", ".").split(".")
    return words[0] + "".join(word.title() for word in words[1:])


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: a channel per routing key, the service that publishes on
    it, and the JSON Schema of each body (as serialized: camelCase, `Z` times)."""
    models = sorted(EVENTS.items())
    _, schemas = models_json_schema(
        [(model, "serialization") for _, model in models], by_alias=True, ref_template=REF
    )
    exchange = {
        "name": EVENTS_EXCHANGE.name,
        "type": EVENTS_EXCHANGE.type.value,
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for key, model in models:
        name = model.__name__
        messages[name] = {
            "name": name,
            "title": key,
            "summary": _doc(model),
            "contentType": "application/json",
            "payload": {"$ref": REF.format(model=name)},
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
        channels[key] = {
            "address": key,
            "description": f"Routing key `{key}` on the `{EVENTS_EXCHANGE.name}` exchange.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {"is": "routingKey", "exchange": dict(exchange), "bindingVersion": "0.3.0"}
            },
        }
        operations[_operation_id(key)] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{_escape(key)}"},
            "summary": f"{model.emitter} publishes {key}",
            "messages": [{"$ref": f"#/channels/{_escape(key)}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CSMS events",
            "version": str(EVENT_VERSION),
            "description": (
                "Facts the suite publishes on the `ocpp.events` topic exchange, as JSON. Every "
                f'body carries `"v": {EVENT_VERSION}`, `"event"` (its name) and `"at"` (RFC '
                "3339, UTC, `Z`); a field without a value is left out. Generated from "
                "csms_shared.contracts.events by `make asyncapi`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas["$defs"]},
    }


def _escape(key: str) -> str:
    # JSON Pointer: `~` and `/` are escaped; routing keys have neither, dots are fine.
    return key.replace("~", "~0").replace("/", "~1")
