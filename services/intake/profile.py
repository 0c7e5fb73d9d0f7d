"""The intake part of a deployment profile (``<PROFILE_DIR>/intake.yaml``).

The upstream platforms (a 12345 hotline, a provincial platform: seed 002) that appeals come
from, and where the answer goes back to each: its own exchange and routing keys. An appeal
belongs to the first platform whose ``match`` it meets (who submitted it, by which channel)
and that carries the platform's ``external_id``.
"""
from __future__ import annotations

from marshmallow import fields, validate, validates_schema, ValidationError

from shared.profile import Strict

STAGES = ("accepted", "replied", "closed")
NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class PlatformMatch(Strict):
    # the submitter as intake records it: "platform:upstream/<source>" for the AMQP ingress
    # (the envelope's source, or the channel of a bare appeal), "platform:<token name>" over HTTP
    submitted_by = fields.List(fields.Str(validate=validate.Length(min=1, max=128)), load_default=list)
    channels = fields.List(fields.Str(validate=validate.OneOf(
        ("visit", "web", "qrcode", "message_board", "hotline", "platform", "sheet"))), load_default=list)

    @validates_schema
    def _something(self, data: dict, **kwargs) -> None:
        if not data["submitted_by"] and not data["channels"]:
            raise ValidationError("give submitted_by or channels: which appeals came from this platform")


class RoutingKeys(Strict):
    accepted = fields.Str(load_default="appeal.accepted", validate=validate.Length(min=1, max=128))
    replied = fields.Str(load_default="appeal.replied", validate=validate.Length(min=1, max=128))
    closed = fields.Str(load_default="appeal.closed", validate=validate.Length(min=1, max=128))


class PlatformSchema(Strict):
    name = fields.Str(required=True, validate=NAME)
    title = fields.Str(load_default=None)
    match = fields.Nested(PlatformMatch, required=True)
    # a durable topic exchange of the platform's own, declared by intake at start
    exchange = fields.Str(required=True, validate=[NAME, validate.NoneOf(
        ("upstream.events", "intake.events", "dispatch.events", "supervision.events", "assessment.events",
         "notify.events", "suqiu.retry", "suqiu.dead-letter"))])
    routing_keys = fields.Nested(RoutingKeys, load_default=lambda: RoutingKeys().load({}))
    # optional: a durable queue intake declares and binds to the exchange (every routing key), so the
    # answers wait for a platform that is not connected; without it the platform binds its own queue
    # (until it does, the answers wait in intake's outbox, retried with back-off)
    queue = fields.Str(load_default=None, validate=NAME)


class IntakePart(Strict):
    platforms = fields.List(fields.Nested(PlatformSchema), load_default=list)

    @validates_schema
    def _unique(self, data: dict, **kwargs) -> None:
        names = [p["name"] for p in data["platforms"]]
        if len(names) != len(set(names)):
            raise ValidationError("a platform name is used twice", "platforms")
