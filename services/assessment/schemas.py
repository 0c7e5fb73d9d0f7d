"""HTTP bodies and query arguments of the assessment service (event schemas live in shared.events)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from services.assessment.domain import CallbackInput
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


__all__ = ["CallbackInput", "CallbackResultOut", "FORMATS", "RatesQuery", "ReportQuery", "VisitsQuery"]
