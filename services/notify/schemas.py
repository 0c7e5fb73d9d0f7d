"""HTTP bodies of the notify service (event schemas live in shared.events)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from shared.inputs import Bool, Integer
from shared.periods import Instant


class _Input(Schema):
    class Meta:
        unknown = RAISE


def _listify(value):
    return [value] if isinstance(value, str) else value


class TargetsInput(_Input):
    district = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), load_default=None)
    industry = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), load_default=None)
    size = fields.List(fields.Str(validate=validate.Length(min=1, max=16)), load_default=None)
    tags = fields.List(fields.Str(validate=validate.Length(min=1, max=32)), load_default=None)
    paired = Bool(load_default=None, allow_none=True)

    @pre_load
    def _strings_as_lists(self, data, **kwargs):
        if isinstance(data, dict):
            return {k: _listify(v) if k in ("district", "industry", "size", "tags") else v for k, v in data.items()}
        return data


class PolicyPushInput(_Input):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    body = fields.Str(required=True, validate=validate.Length(min=1, max=2000))
    targets = fields.Nested(TargetsInput, load_default=lambda: TargetsInput().load({}))


class SendDueInput(_Input):
    now = Instant(load_default=None)
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DeliveryFilters(_Input):
    recipient = fields.Str()
    channel = fields.Str(validate=validate.OneOf(("email", "webhook", "sms", "inbox")))
    status = fields.Str(validate=validate.OneOf(("pending", "sent", "failed")))
    event_type = fields.Str()
    event_id = fields.Str()
    appeal_id = fields.Str()
    since = Instant()
    until = Instant()
    page = fields.Int()
    page_size = fields.Int()


class InboxQuery(_Input):
    credit_code = fields.Str()
    recipient = fields.Str()
    page = fields.Int()
    page_size = fields.Int()


class DeliveryOut(Schema):
    id = fields.Str()
    event_id = fields.Str()
    event_type = fields.Str()
    appeal_id = fields.Str(allow_none=True)
    recipient = fields.Str()
    recipient_name = fields.Str()
    channel = fields.Str()
    address = fields.Str(allow_none=True)
    subject = fields.Str()
    status = fields.Str()
    attempts = fields.Int()
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.Str(allow_none=True)


class InboxMessageOut(Schema):
    id = fields.Str()
    event_type = fields.Str()
    appeal_id = fields.Str(allow_none=True)
    recipient = fields.Str()
    subject = fields.Str()
    body = fields.Str()
    created_at = fields.DateTime()


def load(schema: Schema, body) -> dict:
    from shared.errors import InvalidInput

    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise InvalidInput("invalid input", exc.messages) from None
