"""The event catalogue as an AsyncAPI 3.0 document, for other platforms.

``python -m shared.asyncapi > shared/asyncapi.yaml`` writes it; a test fails when the file and
:data:`shared.events.CATALOGUE` differ, so the two cannot drift. The document describes the
Suqiu mesh as one application:

* a channel per (exchange, routing key), with its AMQP binding;
* a ``send`` operation for every event a service of the mesh publishes, and a ``receive``
  operation for every subscription (:data:`shared.topology.SUBSCRIPTIONS`), among them the
  one outside platforms publish to: ``upstream.events`` / ``appeal_submitted``;
* a message per event type (its id is its type), whose payload schema is JSON Schema (draft 7,
  AsyncAPI's default schema format: ``null`` in type arrays, no OpenAPI ``nullable``), built from
  the same marshmallow schemas the readers load with. The AMQP properties of each message
  (``message_id`` = the envelope's id, ``type`` = the event type, ``timestamp``, persistent
  delivery) are stated in the message's AMQP binding and description; the one application header
  is ``correlation_id``.
"""
from __future__ import annotations

import copy
import sys
from typing import Any

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared.events import CATALOGUE, FEEDBACK_STAGES, EnvelopeSchema, PlatformFeedbackV1
from shared.topology import SUBSCRIPTIONS, UPSTREAM, events_exchange, service_queue_name

ASYNCAPI_PATH = __file__.replace("asyncapi.py", "asyncapi.yaml")
BINDING_VERSION = "0.3.0"


def _json_schemas() -> dict[str, dict[str, Any]]:
    """The envelope and every payload schema, as JSON Schema (apispec's OpenAPI 3.1 output is JSON Schema)."""
    spec = APISpec(title="x", version="1", openapi_version="3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.schema("Envelope", schema=EnvelopeSchema)
    for event in CATALOGUE.values():
        name = event.schema.__name__
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=event.schema)
    spec.components.schema(PlatformFeedbackV1.__name__, schema=PlatformFeedbackV1)
    schemas: dict[str, dict[str, Any]] = spec.to_dict()["components"]["schemas"]
    for schema in schemas.values():
        _drop_defaults(schema)
    return schemas


def _drop_defaults(schema: dict[str, Any]) -> None:
    """A reader's ``load_default`` is no fact of the wire: a default of ``None`` or ``[]`` says nothing there."""
    for sub in (schema.get("properties") or {}).values():
        sub.pop("default", None)
        _drop_defaults(sub)


def _channel_id(exchange: str, event_type: str) -> str:
    return f"{exchange}.{event_type}"


def _message(event_type: str, envelope_fields: list[str]) -> dict[str, Any]:
    event = CATALOGUE[event_type]
    data = {"$ref": f"#/components/schemas/{event.schema.__name__}"}
    own: dict[str, Any] = {"type": "object", "properties": {
        "type": {"const": event_type}, "dataversion": {"const": event.version}, "data": data}}
    if event.producer != UPSTREAM:  # a Suqiu service writes every field (shared.events.Event.to_message)
        own["required"] = envelope_fields
    envelope = {"allOf": [{"$ref": "#/components/schemas/Envelope"}, own]}
    described = (f"{event.summary} Published by {event.producer}, persistent, with the AMQP properties "
                 f"message_id (the envelope's id, the consumers' deduplication key), type ({event_type}), "
                 "timestamp (seconds), content_type application/json, content_encoding utf-8.")
    message: dict[str, Any] = {
        "name": event_type,
        "title": event_type,
        "summary": event.summary,
        "description": described,
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {
            "correlation_id": {"type": ["string", "null"], "description": "the envelope's correlationid"}}},
        "correlationId": {"location": "$message.payload#/correlationid"},
        "payload": envelope,
        "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": event_type,
                              "bindingVersion": BINDING_VERSION}},
        "x-producer": event.producer,
        "x-version": event.version,
    }
    if event.producer == UPSTREAM:
        # an upstream platform may also send the bare appeal, without the envelope; intake takes any JSON
        # body whatever its content type says, and makes a message id of (channel, external_id) when the
        # AMQP message_id is missing (README.md, "AMQP ingress")
        message["payload"] = {"oneOf": [envelope, {**data}]}
        message["description"] = (f"{event.summary} Published by an upstream platform: the appeal in the "
                                  "envelope, or bare (with its external_id). Any AMQP client; the content type "
                                  "may be missing or say anything, the body must be a JSON object. The AMQP "
                                  "message_id, when given, is the deduplication key; else (channel, external_id).")
        message.pop("headers")
        message.pop("correlationId")
        message["bindings"]["amqp"].pop("messageType")
    return message


FEEDBACK = "appeal_feedback"
FEEDBACK_CHANNEL = "platform.feedback"


def _feedback(envelope_fields: list[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The answers intake sends back to the upstream platform an appeal came from: the channel (each
    platform's own exchange and routing keys, ``intake.yaml``), the message and the send operation."""
    described = ("What an upstream platform is told about an appeal it sent (its external_id in data and "
                 "subject): the acceptance (签收), the reply (办结反馈) and the closing (办结). Published by "
                 "intake from its outbox to the platform's own exchange, persistent, with the AMQP properties "
                 f"message_id (the envelope's id, the same for a repeat), type ({FEEDBACK}), timestamp, "
                 "content_type application/json, content_encoding utf-8.")
    message = {
        "name": FEEDBACK, "title": FEEDBACK, "summary": "The answer goes back to the platform the appeal came from.",
        "description": described, "contentType": "application/json",
        "headers": {"type": "object", "properties": {
            "correlation_id": {"type": ["string", "null"], "description": "the envelope's correlationid"}}},
        "correlationId": {"location": "$message.payload#/correlationid"},
        "payload": {"allOf": [{"$ref": "#/components/schemas/Envelope"}, {
            "type": "object", "required": envelope_fields, "properties": {
                "type": {"const": FEEDBACK}, "dataversion": {"const": 1},
                "data": {"$ref": f"#/components/schemas/{PlatformFeedbackV1.__name__}"}}}]},
        "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": FEEDBACK, "bindingVersion": BINDING_VERSION}},
        "x-producer": "intake", "x-version": 1,
    }
    channel = {
        "address": "appeal.{stage}",
        "title": "a platform's own exchange / its routing key per stage",
        "description": ("Each upstream platform of the deployment profile's intake.yaml has its own durable "
                        "topic exchange (`exchange`, declared by intake at start) and a routing key per stage "
                        "(`routing_keys`; by default appeal.accepted, appeal.replied, appeal.closed). The "
                        "platform binds a queue of its own, or intake declares one for it (`queue`). An appeal "
                        "belongs to the first platform whose `match` (submitted_by, channels) it meets and "
                        "that gave it an external_id."),
        "parameters": {"stage": {"enum": list(FEEDBACK_STAGES), "description": "accepted, replied or closed"}},
        "messages": {FEEDBACK: {"$ref": f"#/components/messages/{FEEDBACK}"}},
        "bindings": {"amqp": {"is": "routingKey", "exchange": {
            "name": "platform.<name>", "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
            "bindingVersion": BINDING_VERSION}},
    }
    operation = {
        "action": "send", "channel": {"$ref": f"#/channels/{FEEDBACK_CHANNEL}"},
        "title": f"intake publishes {FEEDBACK} to the platform",
        "summary": "An appeal's acceptance, reply and closing, back to the platform it came from.",
        "description": "From intake's outbox, with publisher confirms and mandatory routing: until the platform's "
                       "exchange routes to a queue the answers wait in the outbox, retried with back-off.",
        "messages": [{"$ref": f"#/channels/{FEEDBACK_CHANNEL}/messages/{FEEDBACK}"}],
        "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": BINDING_VERSION}},
    }
    return channel, message, operation


def document() -> dict[str, Any]:
    schemas = _json_schemas()
    channels: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    messages: dict[str, dict[str, Any]] = {}
    for event_type, event in CATALOGUE.items():
        exchange = events_exchange(event.producer).name
        channel_id = _channel_id(exchange, event_type)
        messages[event_type] = _message(event_type, sorted(schemas["Envelope"]["properties"]))
        channels[channel_id] = {
            "address": event_type,
            "title": f"{exchange} / {event_type}",
            "description": f"topic exchange {exchange}, routing key {event_type}",
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": BINDING_VERSION}},
        }
        reference = {"$ref": f"#/channels/{channel_id}/messages/{event_type}"}
        if event.producer != UPSTREAM:
            operations[f"{event.producer}.send.{event_type}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "title": f"{event.producer} publishes {event_type}",
                "summary": event.summary,
                "description": f"From {event.producer}'s outbox, with publisher confirms and mandatory routing.",
                "messages": [reference],
                "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": BINDING_VERSION}},
            }
    for sub in SUBSCRIPTIONS:
        exchange = events_exchange(sub.source).name
        channel_id = _channel_id(exchange, sub.event_type)
        queue = service_queue_name(sub.consumer)
        operations[f"{sub.consumer}.{sub.method}.{sub.event_type}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "title": f"{sub.consumer} consumes {sub.event_type}",
            "description": (f"From {sub.consumer}'s durable queue {queue}, bound to {exchange} "
                            f"with the routing key {sub.event_type}, in batches; a failed message is retried "
                            f"through {sub.queue_name}.retry and one that cannot be read or keeps failing is "
                            f"parked in {sub.queue_name}.dlq with its reason."),
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{sub.event_type}"}],
            "bindings": {"amqp": {"ack": True, "bindingVersion": BINDING_VERSION}},
            "x-queue": queue,
        }
    channel, message, operation = _feedback(sorted(schemas["Envelope"]["properties"]))
    channels[FEEDBACK_CHANNEL], messages[FEEDBACK], operations[f"intake.send.{FEEDBACK}"] = channel, message, operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Suqiu events",
            "version": "1.0.0",
            "description": (
                "Every event of the Suqiu mesh. Service X publishes to the durable topic exchange "
                "X.events with the event type as routing key, as persistent JSON messages with "
                "publisher confirms; the envelope uses CloudEvents 1.0 attribute names. "
                "Upstream platforms publish appeal_submitted to upstream.events, and get the answers to "
                "their appeals back on exchanges of their own (appeal_feedback). Readers ignore "
                "unknown fields. Generated by `python -m shared.asyncapi`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
                              "description": "a RabbitMQ broker; each deployment names its own"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def message_schema(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The payload schema of ``event_type`` in ``document``, as one JSON Schema (draft 7) whose
    references resolve against the document's components."""
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": f"#/components/messages/{event_type}/payload",
            "components": copy.deepcopy(document["components"])}


def render() -> str:
    return yaml.safe_dump(document(), allow_unicode=True, sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
