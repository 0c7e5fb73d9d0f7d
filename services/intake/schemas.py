"""HTTP bodies of the intake service (event schemas live in shared.events)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from services.intake.domain import (
    SHANGHAI,
    AppealInput,
    ContactSchema,
    EnterpriseInput,
    PersonInput,
    SubjectInput,
    VisitInput,
)
from shared.events import PERSON_ROLES, SUBJECT_TYPES
from shared.inputs import text
from shared.periods import Instant


class AppealOut(Schema):
    id = fields.Str()
    subject_type = fields.Str(metadata={"enum": list(SUBJECT_TYPES)})
    subject_id = fields.Str(allow_none=True)
    subject_name = fields.Str(allow_none=True, metadata={"description": "a household's masked (张*华) for all "
                                                                         "but the office and its paired cadre"})
    credit_code = fields.Str(allow_none=True)
    enterprise_name = fields.Str(allow_none=True)
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
    cadre_id = fields.Str(allow_none=True)
    leader_id = fields.Str(allow_none=True)
    lead_department = fields.Str(allow_none=True)
    cadre_unit = fields.Str(allow_none=True)
    urgency = fields.Str()
    submitted_by = fields.Str()


class EnterpriseOut(EnterpriseInput):
    updated_at = fields.DateTime()


class HouseholdBody(SubjectInput):
    """A household's body (the path names it): its community is required."""

    community = text(100, required=True)


class PersonOut(PersonInput):
    updated_at = fields.DateTime()


class SubjectOut(SubjectInput):
    """A household or project; a household's name and phone masked (张*华, 138****5678) for all
    but the office and its paired cadre."""

    phone = fields.Str(allow_none=True)
    cadre = fields.Str(allow_none=True)
    leader = fields.Str(allow_none=True)
    cadre_unit = fields.Str(allow_none=True)
    updated_at = fields.DateTime()


class VisitOut(Schema):
    id = fields.Str()
    subject_type = fields.Str()
    subject_id = fields.Str()
    cadre_id = fields.Str()
    unit = fields.Str(allow_none=True)
    visited_on = fields.Date()
    findings = fields.Str(allow_none=True)
    no_problem = fields.Bool()
    appeal_ids = fields.List(fields.Str())
    recorded_by = fields.Str()
    recorded_at = fields.DateTime()


class PeopleFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.Str(validate=validate.OneOf(PERSON_ROLES))
    unit = fields.Str()


class SubjectFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    district = fields.Str()
    community = fields.Str()
    cadre_id = fields.Str()


class VisitFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    subject_type = fields.Str(validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = fields.Str()
    cadre_id = fields.Str()
    unit = fields.Str()
    visited_from = fields.Date()
    visited_to = fields.Date()


class AppealFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    credit_code = fields.Str()
    subject_type = fields.Str(validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = fields.Str()
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
person_out = PersonOut()
subject_out = SubjectOut()
visit_out = VisitOut()

__all__ = ["AppealInput", "EnterpriseInput", "AppealOut", "EnterpriseOut", "AppealFilters", "RowReportOut",
           "PersonInput", "PersonOut", "SubjectInput", "SubjectOut", "VisitInput", "VisitOut", "PeopleFilters",
           "SubjectFilters", "VisitFilters"]
