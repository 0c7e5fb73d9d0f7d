"""HTTP bodies of the intake service (event schemas live in shared.events)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from services.intake.domain import SHANGHAI, AppealInput, ContactSchema, EnterpriseInput
from shared.periods import Instant


class AppealOut(Schema):
    id = fields.Str()
    credit_code = fields.Str()
    enterprise_name = fields.Str()
    title = fields.Str()
    description = fields.Str()
    category = fields.Str(allow_none=True)
    district = fields.Str()
    channel = fields.Str()
    external_id = fields.Str(allow_none=True)
    collected_at = fields.DateTime()
    submitted_at = fields.DateTime()
    contact = fields.Nested(ContactSchema, allow_none=True)
    industry = fields.Str(allow_none=True)
    size = fields.Str(allow_none=True)
    cadre = fields.Str(allow_none=True)
    leader = fields.Str(allow_none=True)
    urgency = fields.Str()
    submitted_by = fields.Str()


class EnterpriseOut(EnterpriseInput):
    updated_at = fields.DateTime()


class AppealFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    credit_code = fields.Str()
    district = fields.Str()
    category = fields.Str()
    channel = fields.Str()
    submitted_from = Instant(default_timezone=SHANGHAI)
    submitted_to = Instant(default_timezone=SHANGHAI)


class Open311Query(Schema):
    """GET /open311/v2/requests: the specification's filters (api_key is read apart)."""

    class Meta:
        unknown = EXCLUDE

    service_request_id = fields.Str(load_default="", metadata={"description": "comma-separated ids"})
    service_code = fields.Str()
    start_date = Instant()
    end_date = Instant()
    status = fields.Str(validate=validate.OneOf(("open", "closed")))

    @post_load
    def _ids(self, data: dict, **kwargs) -> dict:
        data["service_request_id"] = [i.strip() for i in data["service_request_id"].split(",") if i.strip()]
        return data


class RowReportOut(Schema):
    row = fields.Int()
    status = fields.Str(metadata={"description": "accepted, duplicate, updated or refused"})
    appeal_id = fields.Str(allow_none=True)
    errors = fields.Dict(allow_none=True)


appeal_out = AppealOut()
enterprise_out = EnterpriseOut()

__all__ = ["AppealInput", "EnterpriseInput", "AppealOut", "EnterpriseOut", "AppealFilters", "RowReportOut"]
