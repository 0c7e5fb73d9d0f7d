"""HTTP bodies and query arguments of the assessment service (event schemas live in shared.events)."""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from services.assessment.domain import CallbackInput
from shared.inputs import text
from shared.periods import Day

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


__all__ = ["AdjustmentInput", "AnnualQuery", "CallbackInput", "CallbackResultOut", "FORMATS", "RatesQuery",
           "RectificationQuery", "ReportQuery", "VisitsQuery"]
