"""HTTP bodies of the dispatch service (event schemas live in shared.events)."""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from services.dispatch.domain import STATES
from shared.events import COLOURS, DIFFICULTIES, NATURES, OUTCOMES, URGENCIES
from shared.inputs import Bool, strip_strings, text


class _Body(Schema):
    """A request body: unknown keys are refused (a typo must not pass silently); texts checked as
    sent, stored without the white space around them."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _an_object(self, data: Any, **kwargs) -> Any:
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object")
        return data

    @post_load
    def _strip(self, data: Any, **kwargs) -> Any:
        return strip_strings(data)


def _text(max_length: int = 2000, **kw) -> fields.Str:
    return text(max_length, **kw)


class AcceptInput(_Body):
    note = _text(load_default=None, allow_none=True)


class ProgressInput(_Body):
    note = _text(required=True)


class ReplyInput(_Body):
    outcome = fields.Str(required=True, validate=validate.OneOf(OUTCOMES))
    reply_text = _text(5000, required=True)


class ReturnInput(_Body):
    reason = _text(required=True)


class EscalationRequestInput(_Body):
    note = _text(required=True)


class PlanInput(_Body):
    plan = _text(5000, required=True, metadata={"description": "the solution plan (解决方案)"})


class AssignInput(_Body):
    lead = text(64, required=True)
    co_units = fields.List(text(64), load_default=list)
    replace_lead = Bool(load_default=False, metadata={
        "description": "with first_responder on, replace the lead instead of adding co-units"})
    note = _text(load_default=None, allow_none=True)


class ClassifyInput(_Body):
    category = text(32, load_default=None)
    difficulty = fields.Str(load_default=None, validate=validate.OneOf(DIFFICULTIES))
    nature = fields.Str(load_default=None, validate=validate.OneOf(NATURES))
    urgency = fields.Str(load_default=None, validate=validate.OneOf(URGENCIES))

    @validates_schema
    def _something_to_change(self, data: dict, **kwargs) -> None:
        if all(data.get(name) is None for name in ("category", "difficulty", "nature", "urgency")):
            raise ValidationError("give at least one of category, difficulty, nature, urgency")


class CommonProblemInput(_Body):
    """The office confirms a common problem (共性问题): its name, the appeals, the one lead unit."""

    title = text(200, required=True)
    lead_unit = text(64, required=True)
    appeal_ids = fields.List(text(32), required=True, validate=validate.Length(min=2, max=500),
                             metadata={"uniqueItems": True, "description": "each appeal once"})


class CandidateFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    category = fields.Str()
    district = fields.Str()


class MemberOut(Schema):
    id = fields.Str()
    credit_code = fields.Str()
    enterprise_name = fields.Str()
    title = fields.Str()
    status = fields.Str()
    lead_unit = fields.Str(allow_none=True)


class CandidateMemberOut(Schema):
    id = fields.Str()
    credit_code = fields.Str()
    enterprise_name = fields.Str()
    title = fields.Str()
    lead_unit = fields.Str(allow_none=True)


class CandidateOut(Schema):
    category = fields.Str()
    district = fields.Str(allow_none=True)
    enterprises = fields.Int()
    similarity = fields.Float(metadata={"description": "the weakest link's similarity inside the group"})
    members = fields.List(fields.Nested(CandidateMemberOut))


class CommonProblemOut(Schema):
    id = fields.Str()
    title = fields.Str()
    category = fields.Str()
    district = fields.Str(allow_none=True)
    lead_unit = fields.Str()
    status = fields.Str(metadata={"description": "open replied"})
    confirmed_at = fields.DateTime()
    confirmed_by = fields.Str()
    outcome = fields.Str(allow_none=True)
    reply_text = fields.Str(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    replied_by = fields.Str(allow_none=True)
    members = fields.List(fields.Nested(MemberOut))


class CommonReplyOut(Schema):
    problem = fields.Nested(CommonProblemOut)
    replied = fields.List(fields.Str(), metadata={"description": "the members that got the reply"})
    skipped = fields.List(fields.Str(), metadata={
        "description": "members already replied or closed, or led by another unit now"})


common_problem_out = CommonProblemOut()
candidate_out = CandidateOut()
common_reply_out = CommonReplyOut()


class DeskFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.Str(validate=validate.OneOf(STATES))
    colour = fields.Str(validate=validate.OneOf(COLOURS))
    category = fields.Str()
    difficulty = fields.Str(validate=validate.OneOf(DIFFICULTIES))
    nature = fields.Str(validate=validate.OneOf(NATURES))
    district = fields.Str()
    urgency = fields.Str(validate=validate.OneOf(URGENCIES))
    code = fields.Str(validate=validate.OneOf(COLOURS), metadata={"description": "赋码 at dispatch"})
    overdue = fields.Bool(truthy={"true"}, falsy={"false"})


class OfficeFilters(DeskFilters):
    unit = fields.Str()


class HistoryOut(Schema):
    at = fields.DateTime()
    action = fields.Str()
    actor = fields.Str(allow_none=True)
    unit = fields.Str(allow_none=True)
    status_from = fields.Str(allow_none=True)
    status_to = fields.Str()
    note = fields.Str(allow_none=True)
    details = fields.Dict()


class AppealOut(Schema):
    id = fields.Str()
    subject_type = fields.Str(metadata={"description": "enterprise, household or project"})
    subject_id = fields.Str(allow_none=True)
    credit_code = fields.Str(allow_none=True, metadata={"description": "an enterprise's; null for a household "
                                                                          "or project"})
    enterprise_name = fields.Str(metadata={"description": "the subject's name (a household's masked)"})
    title = fields.Str()
    description = fields.Str()
    district = fields.Str(allow_none=True)
    channel = fields.Str(allow_none=True)
    industry = fields.Str(allow_none=True)
    cadre = fields.Str(allow_none=True)
    leader = fields.Str(allow_none=True)
    category = fields.Str()
    category_source = fields.Str()
    difficulty = fields.Str()
    nature = fields.Str()
    urgency = fields.Str(metadata={"description": "一般 紧急 特急"})
    code = fields.Str(allow_none=True, metadata={"description": "赋码 at dispatch (红黄绿: green yellow red)"})
    lead_leader = fields.Str(allow_none=True, metadata={"description": "牵头领导, as a meeting decided"})
    status = fields.Str(metadata={"description": "queued dispatched accepted replied reopened closed"})
    lead_unit = fields.Str(allow_none=True)
    co_units = fields.List(fields.Str())
    return_count = fields.Int()
    dispatch_count = fields.Int()
    reopen_count = fields.Int()
    outcome = fields.Str(allow_none=True)
    reply_text = fields.Str(allow_none=True)
    colour = fields.Str(allow_none=True)
    overdue = fields.Method("_overdue")
    received_at = fields.DateTime()
    dispatched_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()

    def _overdue(self, appeal: dict) -> bool:
        return appeal.get("colour") == "red"


class AppealDetailOut(AppealOut):
    history = fields.List(fields.Nested(HistoryOut))


appeal_out = AppealOut()
appeal_detail_out = AppealDetailOut()
