"""The intake part of a deployment profile (``deploy/profiles/<campaign>/intake.yaml``).

What a campaign registers and hears appeals about: enterprises always; households in hardship
(Wuhan's 结对帮扶困难群众, seed 000) and projects (Baoding's 包联项目, seed 004) where the
campaign pairs cadres or leaders with them. A submission, registration or visit about a subject
type the campaign does not have is refused with the reason.

The upstream platforms (a 12345 hotline, a provincial platform: seed 002) that appeals come
from, and where the answer goes back to each: its own exchange and routing keys. An appeal
belongs to the first platform whose ``match`` it meets (who submitted it, by which channel)
and that carries the platform's ``external_id``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.events import CHANNELS, SUBJECT_TYPES
from shared.profile import Strict, load_part

STAGES = ("accepted", "replied", "closed")
NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class PlatformMatch(Strict):
    # the submitter as intake records it: "platform:upstream/<source>" for the AMQP ingress
    # (the envelope's source, or the channel of a bare appeal), "platform:<token name>" over HTTP
    submitted_by = fields.List(fields.Str(validate=validate.Length(min=1, max=128)), load_default=list)
    channels = fields.List(fields.Str(validate=validate.OneOf(CHANNELS)), load_default=list)

    @validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
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
    subject_types = fields.List(fields.Str(validate=validate.OneOf(SUBJECT_TYPES)),
                                load_default=lambda: ["enterprise"], validate=validate.Length(min=1))
    platforms = fields.List(fields.Nested(PlatformSchema), load_default=list)

    @validates_schema
    def _enterprises_always(self, data: dict[str, Any], **kwargs: Any) -> None:
        types = data["subject_types"]
        if "enterprise" not in types:
            raise ValidationError("every campaign hears enterprises: list enterprise", "subject_types")
        if len(set(types)) != len(types):
            raise ValidationError("a subject type listed twice", "subject_types")

    @validates_schema
    def _unique(self, data: dict[str, Any], **kwargs: Any) -> None:
        names = [p["name"] for p in data["platforms"]]
        if len(names) != len(set(names)):
            raise ValidationError("a platform name is used twice", "platforms")


def load_intake_part(directory: str | Path) -> dict[str, Any]:
    """The campaign's intake part; a profile written before it existed hears enterprises only
    and has no upstream platform."""
    if not (Path(directory) / "intake.yaml").exists():
        part: dict[str, Any] = IntakePart().load({})
        return part
    return load_part(directory, "intake", IntakePart)
