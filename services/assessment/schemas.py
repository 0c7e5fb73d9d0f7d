"""HTTP bodies and query arguments of the assessment service (event schemas live in shared.events)."""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from services.assessment.domain import CallbackInput
from shared.inputs import Integer, text
from shared.periods import Day, Instant

FORMATS = ("json", "html", "xlsx", "csv")


class ReportQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.Str(load_default="json", validate=validate.OneOf(FORMATS))


class VisitsQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.Str(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))


class RatesQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    start = Day(required=True, data_key="from")
    end = Day(required=True, data_key="to", metadata={"description": "the last day (inclusive), not before from"})
    by = fields.Str(load_default="unit", validate=validate.OneOf(("unit", "category", "district", "overall")))


class CallbackResultOut(Schema):
    appeal_id = fields.Str()
    result = fields.Str(metadata={"description": "closed / reopened"})
    outcome = fields.Str()
    satisfaction = fields.Str()
    reopen_count = fields.Int()


class AnnualQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    year = fields.Int(required=True, strict=False, validate=validate.Range(min=2000, max=2999))
    format = fields.Str(load_default="json", validate=validate.OneOf(("json", "xlsx")))


class AdjustmentInput(Schema):
    """A manual deduction (negative points) or bonus (positive) of the year's score, with its reason."""

    class Meta:
        unknown = RAISE

    year = fields.Int(required=True, strict=True, validate=validate.Range(min=2000, max=2999))
    unit = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    points = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-100, max=100))
    reason = text(1000, required=True)

    @pre_load
    def _an_object(self, data, **kwargs):
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object")
        return data


class RectificationQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    escalated = fields.Bool(truthy={"true"}, falsy={"false"})
    unit = fields.Str()


class PhoneListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.Str(validate=validate.OneOf(("expired", "round")),
                        metadata={"description": "expired: the link expired unanswered; round: a follow-up round"})
    unit = fields.Str(validate=validate.Length(min=1, max=64), metadata={"description": "the lead unit"})


class PhoneEntryOut(Schema):
    appeal_id = fields.Str()
    reason = fields.Str(metadata={"description": "expired / round"})
    round_id = fields.Str(allow_none=True)
    listed_at = fields.DateTime()
    title = fields.Str(allow_none=True)
    enterprise_name = fields.Str(allow_none=True)
    credit_code = fields.Str(allow_none=True)
    contact = fields.Dict(allow_none=True)
    lead_unit = fields.Str(allow_none=True)
    outcome = fields.Str(allow_none=True)
    status = fields.Str()
    replied_at = fields.DateTime(allow_none=True)
    callback_expires_at = fields.DateTime(allow_none=True)


class PhoneCallbackExtra(Schema):
    """What the office's callback may add to the answer (``CallbackInput``)."""

    class Meta:
        unknown = EXCLUDE

    channel = fields.Str(load_default="phone", validate=validate.OneOf(("phone",)),
                         metadata={"description": "how the office reached the enterprise: phone"})
    reopen_unit = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                             metadata={"description": "a follow-up round's reopen goes to this unit instead of "
                                                      "the unit that replied"})


class OfficeCallbackInput(CallbackInput):
    """The office's callback as documented: the answer and what the office may add."""

    channel = PhoneCallbackExtra._declared_fields["channel"]
    reopen_unit = PhoneCallbackExtra._declared_fields["reopen_unit"]


class FollowupResultOut(Schema):
    appeal_id = fields.Str()
    round_id = fields.Str()
    result = fields.Str(metadata={"description": "confirmed / reopened"})
    outcome = fields.Str(allow_none=True)
    satisfaction = fields.Str()
    reopen_count = fields.Int()


class ChaseInput(Schema):
    class Meta:
        unknown = EXCLUDE

    now = Instant(load_default=None, allow_none=True,
                  metadata={"description": "the time to chase at (a time in the future needs SIMULATED_CLOCK)"})


class RoundInput(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.Str(required=True, validate=validate.Length(min=1, max=200),
                      metadata={"examples": ["2026年第四季度回访抽查"]})
    closed_from = Day(required=True, metadata={"description": "closed on or after this day (Asia/Shanghai)"})
    closed_to = Day(required=True, metadata={"description": "closed on or before this day (inclusive; before "
                                                           "closed_from: no day, nothing matches)"})
    unit = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    category = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))
    sample = Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=1000),
                     metadata={"description": "a random sample of this many (随机抽查); none: every appeal"})
    seed = Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=2 ** 53 - 1),
                   metadata={"description": "the sample's seed (drawn and recorded when not given)"})


class RoundOut(Schema):
    round_id = fields.Str()
    name = fields.Str()
    criteria = fields.Dict()
    seed = fields.Int(allow_none=True)
    created_by = fields.Str()
    created_at = fields.DateTime()
    status = fields.Dict(keys=fields.Str(), values=fields.Int(),
                         metadata={"description": "selected, answered, unanswered, satisfied, not_solved, reopened"})
    appeals = fields.List(fields.Dict())


__all__ = ["AdjustmentInput", "AnnualQuery", "CallbackInput", "CallbackResultOut", "ChaseInput", "FORMATS",
           "FollowupResultOut", "OfficeCallbackInput", "PhoneCallbackExtra", "PhoneEntryOut", "PhoneListQuery",
           "RatesQuery", "RectificationQuery", "ReportQuery", "RoundInput", "RoundOut", "VisitsQuery"]
