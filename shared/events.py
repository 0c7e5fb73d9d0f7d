"""The event envelope and the catalogue of every event the mesh exchanges.

The envelope uses CloudEvents 1.0 attribute names where they fit:

===============  ==========================  =====================================
envelope field   CloudEvents attribute       meaning
===============  ==========================  =====================================
id               id                          unique per event, the dedup key
type             type                        e.g. ``appeal_received``
source           source                      the producer, ``suqiu/<service>``
time             time                        when it happened (RFC 3339, UTC)
subject          subject                     the appeal id (when about an appeal)
dataversion      extension ``dataversion``   the version of ``data``'s schema
correlationid    extension ``correlationid`` the chain of events it belongs to
data             data                        the payload, per the catalogue
===============  ==========================  =====================================

Readers are tolerant: unknown fields are ignored, an older version is upcast in
one place (:data:`UPCASTERS`) before its schema loads it.
"""
from __future__ import annotations

import builtins
import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from shared.schemas import FastLoadSchema

SPEC_VERSION = "1.0"

OUTCOMES = ("solved", "explained", "long_term")
SATISFACTION = ("满意", "基本满意", "不满意")
COLOURS = ("green", "yellow", "red")
DIFFICULTIES = ("A", "B", "C", "D")
NATURES = ("个性", "共性", "体制机制性")
URGENCIES = ("一般", "紧急", "特急")  # how urgent an appeal is, set at intake or by the office
CHANNELS = ("visit", "web", "qrcode", "message_board", "hotline", "platform", "sheet")
# what an appeal is about: an enterprise (credit code), a household in hardship (Wuhan's 结对帮扶
# 困难家庭) or a project (Baoding's 包联项目); the registry's key of each is its subject_id
SUBJECT_TYPES = ("enterprise", "household", "project")
PERSON_ROLES = ("cadre", "leader")


class DispatchReason(StrEnum):
    """Why dispatch (re-)dispatched an appeal: ``appeal_dispatched.reason``, which consumers branch on."""

    RULE = "rule"  # the first dispatch, by the first routing rule that matched
    MANUAL_QUEUE = "manual_queue"  # no unit: the office's manual queue (lead_unit is null)
    RETURNED = "returned"  # after a return (退单): the next candidate leads
    ASSIGNED = "assigned"  # the office assigned it (or added co-units)
    REOPENED = "reopened"  # an unsatisfied callback (重办): back to its lead
    ESCALATED = "escalated"  # supervision moved it up a rung: the rung's unit leads


DISPATCH_REASONS = tuple(reason.value for reason in DispatchReason)


def starts_acceptance(data: Mapping[str, Any], status_before: str | None) -> bool:
    """Whether an ``appeal_dispatched`` asks its lead unit to accept (签收) anew, which starts an
    acceptance deadline (supervision) and a response to measure (assessment): the one rule both
    follow. Dispatch says so in ``starts_acceptance``: a new lead on an appeal it leaves
    ``dispatched``; not a reopen (重办, the reply stage restarts), not units added beside the lead,
    not a new lead for an appeal already replied. An event from before dispatch said so is read by
    the reason and the consumer's own ``status_before``."""
    told = data.get("starts_acceptance")
    if told is not None:
        return bool(told)
    if data.get("lead_unit") is None:
        return False
    reason = data.get("reason")
    return not (reason == DispatchReason.REOPENED or (
        reason in (DispatchReason.ESCALATED, DispatchReason.ASSIGNED) and status_before in ("replied", "reopened")))


class EventError(ValueError):
    """An event that cannot be read: not an envelope, unknown type, or bad data."""

    def __init__(self, message: str, fields: Mapping[str, Any] | list[Any] | None = None) -> None:
        super().__init__(message)
        # marshmallow's messages: a dict per field, or a list for a body that is not an object
        self.fields = fields or {}


class _Tolerant(FastLoadSchema):
    class Meta:
        unknown = EXCLUDE


def _str(**kw: Any) -> fields.Str:
    return fields.Str(**kw)


# ---------------------------------------------------------------- payloads
class AppealReceivedV1(_Tolerant):
    appeal_id = _str(required=True)
    credit_code = _str(required=True)
    enterprise_name = _str(required=True)
    title = _str(required=True)
    description = _str(required=True)
    category = _str(allow_none=True, load_default=None)
    district = _str(required=True)
    channel = _str(required=True, validate=validate.OneOf(CHANNELS))
    external_id = _str(allow_none=True, load_default=None)
    collected_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(required=True)
    contact = fields.Dict(allow_none=True, load_default=None)
    industry = _str(allow_none=True, load_default=None)
    size = _str(allow_none=True, load_default=None)
    cadre = _str(allow_none=True, load_default=None)
    leader = _str(allow_none=True, load_default=None)
    urgency = _str(load_default="一般", validate=validate.OneOf(URGENCIES))


class AppealReceivedV2(AppealReceivedV1):
    """An appeal about an enterprise, a household or a project (issue 15).

    ``subject_id`` is the registry's key (an enterprise's credit code, a household's or a
    project's registry id); ``subject_name`` its name as everyone may see it (a household's
    personal data masked: 张*华). ``credit_code`` and ``enterprise_name`` are set for an
    enterprise only. The pairing (包联) comes as references: ``cadre_id`` and ``leader_id``
    name people of intake's registry (``cadre`` and ``leader`` their names), ``lead_department``
    the unit code of the subject's own lead department (四个一: 一个牵头部门), so that dispatch
    routes to it without reading intake's tables.
    """

    subject_type = _str(load_default="enterprise", validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = _str(allow_none=True, load_default=None)
    subject_name = _str(allow_none=True, load_default=None)
    credit_code = _str(allow_none=True, load_default=None)
    enterprise_name = _str(allow_none=True, load_default=None)
    cadre_id = _str(allow_none=True, load_default=None)
    leader_id = _str(allow_none=True, load_default=None)
    lead_department = _str(allow_none=True, load_default=None)
    cadre_unit = _str(allow_none=True, load_default=None)  # the paired cadre's own unit (结对干部所在单位)

    @validates_schema
    def _subject_named(self, data: dict[str, Any], **kwargs: Any) -> None:
        """An enterprise is named by its credit code and name; a household or project by its id and name."""
        needed = ("credit_code", "enterprise_name") if data.get("subject_type", "enterprise") == "enterprise" \
            else ("subject_id", "subject_name")
        missing = {name: [f"required for a {data.get('subject_type', 'enterprise')}"] for name in needed
                   if not data.get(name)}
        if missing:
            raise ValidationError(missing)

    @post_load
    def _enterprise_subject(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """An enterprise's subject is its credit code and name, whether or not the producer repeated them."""
        if data["subject_type"] == "enterprise":
            data["subject_id"] = data["subject_id"] or data["credit_code"]
            data["subject_name"] = data["subject_name"] or data["enterprise_name"]
        return data


def _appeal_received_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Every version-1 appeal was about an enterprise, paired by free-text names."""
    return {**data, "subject_type": "enterprise", "subject_id": data.get("credit_code"),
            "subject_name": data.get("enterprise_name")}


class SubjectUpdatedV1(_Tolerant):
    """A subject of the registry (enterprise, household, project) was registered or changed:
    what reports need to count pairing coverage and visits due, personal data masked."""

    subject_type = _str(required=True, validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = _str(required=True)
    name = _str(required=True)  # a household's masked
    district = _str(allow_none=True, load_default=None)
    cadre_id = _str(allow_none=True, load_default=None)
    cadre = _str(allow_none=True, load_default=None)
    leader_id = _str(allow_none=True, load_default=None)
    leader = _str(allow_none=True, load_default=None)
    lead_department = _str(allow_none=True, load_default=None)
    cadre_unit = _str(allow_none=True, load_default=None)


class VisitRecordedV1(_Tolerant):
    """A cadre visited a subject (走访): what was found, the appeals raised in it, or nothing."""

    visit_id = _str(required=True)
    subject_type = _str(required=True, validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = _str(required=True)
    subject_name = _str(required=True)  # a household's masked
    cadre_id = _str(required=True)
    cadre = _str(required=True)
    unit = _str(allow_none=True, load_default=None)  # the cadre's unit (a unit code)
    visited_on = fields.Date(required=True)  # the day of the visit, in the city's time
    findings = _str(allow_none=True, load_default=None)
    no_problem = fields.Bool(required=True)  # 未发现问题
    appeal_ids = fields.List(fields.Str(), load_default=list)


class AppealSubmittedV1(_Tolerant):
    """An appeal offered by an upstream platform on ``upstream.events``: about an enterprise
    (``credit_code``, ``enterprise_name``) or a registered household or project (``subject_type``,
    ``subject_id``; added without a new version: every earlier message still reads the same)."""

    subject_type = _str(load_default="enterprise", validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = _str(allow_none=True, load_default=None)
    credit_code = _str(allow_none=True, load_default=None)
    enterprise_name = _str(allow_none=True, load_default=None)
    title = _str(required=True)
    description = _str(required=True)
    category = _str(allow_none=True, load_default=None)
    district = _str(required=True)
    channel = _str(required=True, validate=validate.OneOf(CHANNELS))
    external_id = _str(required=True, validate=validate.Length(min=1, max=128))
    collected_at = fields.DateTime(required=True)
    contact = fields.Dict(allow_none=True, load_default=None)

    @validates_schema
    def _subject_named(self, data: dict[str, Any], **kwargs: Any) -> None:
        needed = ("credit_code", "enterprise_name") if data.get("subject_type", "enterprise") == "enterprise" \
            else ("subject_id",)
        missing = {name: [f"required for a {data.get('subject_type', 'enterprise')}"] for name in needed
                   if not data.get(name)}
        if missing:
            raise ValidationError(missing)


class EnterpriseUpdatedV1(_Tolerant):
    credit_code = _str(required=True)
    name = _str(required=True)
    district = _str(required=True)
    industry = _str(allow_none=True, load_default=None)
    size = _str(allow_none=True, load_default=None)
    cadre = _str(allow_none=True, load_default=None)
    leader = _str(allow_none=True, load_default=None)
    contact = fields.Dict(allow_none=True, load_default=None)
    tags = fields.List(fields.Str(), load_default=list)


class AppealDispatchedV1(_Tolerant):
    appeal_id = _str(required=True)
    lead_unit = _str(allow_none=True, required=True)  # None: the office's manual queue
    co_units = fields.List(fields.Str(), load_default=list)
    category = _str(required=True)
    difficulty = _str(required=True, validate=validate.OneOf(DIFFICULTIES))
    nature = _str(load_default="个性", validate=validate.OneOf(NATURES))
    level = _str(required=True)
    district = _str(allow_none=True, load_default=None)
    reason = _str(load_default=DispatchReason.RULE.value, validate=validate.OneOf(DISPATCH_REASONS))
    dispatch_count = fields.Int(load_default=1)
    urgency = _str(load_default="一般", validate=validate.OneOf(URGENCIES))
    # the code given at dispatch (赋码, e.g. 富阳's 红黄绿 by difficulty and urgency); null: none
    code = _str(allow_none=True, load_default=None, validate=validate.OneOf(COLOURS))
    # whether the lead unit must accept (签收) anew: see ``starts_acceptance``; null in events
    # published before the field existed
    starts_acceptance = fields.Bool(allow_none=True, load_default=None)


class UnitActionV1(_Tolerant):
    """accepted / progressed / escalation_requested: a unit acted on its appeal."""

    appeal_id = _str(required=True)
    unit = _str(required=True)
    note = _str(allow_none=True, load_default=None)
    actor = _str(allow_none=True, load_default=None)
    # escalation_requested only: "requested" (the unit asks) or "returns" (returned N times)
    reason = _str(allow_none=True, load_default=None)


class AppealRepliedV1(_Tolerant):
    appeal_id = _str(required=True)
    unit = _str(required=True)
    outcome = _str(required=True, validate=validate.OneOf(OUTCOMES))
    reply_text = _str(required=True)
    actor = _str(allow_none=True, load_default=None)


class AppealReturnedV1(_Tolerant):
    appeal_id = _str(required=True)
    unit = _str(required=True)
    reason = _str(required=True)
    return_count = fields.Int(required=True)


class AppealReclassifiedV1(_Tolerant):
    appeal_id = _str(required=True)
    category = _str(required=True)
    difficulty = _str(required=True, validate=validate.OneOf(DIFFICULTIES))
    nature = _str(required=True, validate=validate.OneOf(NATURES))
    # set when the office confirmed the appeal as a member of a common problem (共性问题)
    common_problem_id = _str(allow_none=True, load_default=None)
    common_problem_title = _str(allow_none=True, load_default=None)
    urgency = _str(load_default="一般", validate=validate.OneOf(URGENCIES))
    code = _str(allow_none=True, load_default=None, validate=validate.OneOf(COLOURS))


class MeetingDecisionMadeV1(_Tolerant):
    """A meeting (交办会, 调度会) decided on an appeal put to it: who leads it from now on (null: the
    lead stays), the deadline it set (null: none) and the leader who answers for it (牵头领导)."""

    appeal_id = _str(required=True)
    meeting_id = _str(required=True)
    kind = _str(required=True)  # the profile's meeting kind, e.g. 交办会 / 调度会
    held_on = fields.Date(required=True)
    lead_unit = _str(allow_none=True, load_default=None)
    co_units = fields.List(fields.Str(), load_default=list)
    due_at = fields.DateTime(allow_none=True, load_default=None)
    lead_leader = _str(allow_none=True, load_default=None)
    note = _str(allow_none=True, load_default=None)


class AppealDeadlineSetV1(_Tolerant):
    appeal_id = _str(required=True)
    stage = _str(required=True)  # accept / reply / order / escalation (a rung's deadline after overdue)
    due_at = fields.DateTime(required=True)
    working_days = fields.Float(allow_none=True, load_default=None)
    unit = _str(allow_none=True, load_default=None)
    # the colour the appeal has from this deadline on (a stage's start: green); null for
    # order and escalation deadlines, which change no colour
    colour = _str(allow_none=True, load_default=None, validate=validate.OneOf(COLOURS))


class AppealColourChangedV1(_Tolerant):
    appeal_id = _str(required=True)
    colour = _str(required=True, validate=validate.OneOf(COLOURS))
    previous = _str(allow_none=True, load_default=None)
    unit = _str(allow_none=True, load_default=None)
    stage = _str(allow_none=True, load_default=None)


class AppealEscalatedV1(_Tolerant):
    appeal_id = _str(required=True)
    rung = _str(required=True)  # unit_leader / office / city / province
    level = fields.Int(required=True)
    reason = _str(required=True)  # overdue / returns / unsatisfied / requested / order
    unit = _str(allow_none=True, load_default=None)  # the lead unit when it was escalated
    # the unit that becomes lead (the previous lead becomes a co-unit); None: the lead stays
    # (e.g. the rung "unit_leader" only alerts the unit's own leader)
    to_unit = _str(allow_none=True, load_default=None)


class SupervisionOrderIssuedV1(_Tolerant):
    appeal_id = _str(required=True)
    order_id = _str(required=True)
    unit = _str(allow_none=True, load_default=None)
    due_at = fields.DateTime(required=True)
    text = _str(required=True)


class AppealClockPausedV1(_Tolerant):
    """appeal_clock_paused / appeal_clock_resumed: the stage's clock stops while the appeal
    waits on the enterprise; on resume the deadline moves by the paused working time."""

    appeal_id = _str(required=True)
    stage = _str(required=True)
    unit = _str(allow_none=True, load_default=None)
    reason = _str(allow_none=True, load_default=None)
    actor = _str(allow_none=True, load_default=None)  # paused: who paused it (the office's approver)
    paused_at = fields.DateTime(required=True)
    # paused on a unit's request (暂停计时申请): who asked, and when the approved days end
    requested_by = _str(allow_none=True, load_default=None)
    resume_at = fields.DateTime(allow_none=True, load_default=None)
    # resumed only: the measured time the clock stood still, and the moved deadline
    paused_seconds = fields.Float(allow_none=True, load_default=None)
    due_at = fields.DateTime(allow_none=True, load_default=None)


class DigestReadyV1(_Tolerant):
    """weekly_digest_ready (per unit) and monthly_supervision_list (office)."""

    recipient = _str(required=True)
    period = _str(required=True)
    items = fields.List(fields.Dict(), load_default=list)


class CallbackRequestedV1(_Tolerant):
    appeal_id = _str(required=True)
    credit_code = _str(allow_none=True, load_default=None)
    link = _str(required=True)
    expires_at = fields.DateTime(required=True)
    reminder = fields.Bool(load_default=False)  # the one reminder of a link still unanswered
    followup = fields.Bool(load_default=False)  # a follow-up round's callback of a closed appeal


class CallbackRecordedV1(_Tolerant):
    appeal_id = _str(required=True)
    solved = fields.Bool(required=True)
    satisfaction = _str(required=True, validate=validate.OneOf(SATISFACTION))
    comment = _str(allow_none=True, load_default=None)
    caller = _str(allow_none=True, load_default=None)
    followup = fields.Bool(load_default=False)  # the answer of a follow-up round (the appeal was closed)


class PhoneCallbackListedV1(_Tolerant):
    """callback_phone_listed: the appeal is on the office's phone-callback list until a callback
    is recorded (``callback_recorded``)."""

    appeal_id = _str(required=True)
    reason = _str(required=True, validate=validate.OneOf(("expired", "round")))
    round_id = _str(allow_none=True, load_default=None)


class AppealClosedV1(_Tolerant):
    appeal_id = _str(required=True)
    outcome = _str(required=True, validate=validate.OneOf(OUTCOMES))
    satisfaction = _str(allow_none=True, load_default=None)
    unit = _str(allow_none=True, load_default=None)


class AppealReopenedV1(_Tolerant):
    appeal_id = _str(required=True)
    reason = _str(required=True)
    reopen_count = fields.Int(required=True)
    unit = _str(allow_none=True, load_default=None)


class UnitFlaggedV1(_Tolerant):
    unit = _str(required=True)
    period = _str(required=True)
    satisfaction_rate = fields.Float(required=True)
    threshold = fields.Float(required=True)
    # the rectification order (限期整改): its id, deadline and named person; how many periods in a row
    # the unit is on the list, and whether that escalates it to the leader
    order_id = _str(allow_none=True, load_default=None)
    deadline = fields.DateTime(allow_none=True, load_default=None)
    responsible = _str(allow_none=True, load_default=None)
    consecutive = fields.Int(allow_none=True, load_default=None)
    escalated = fields.Bool(load_default=False)


class ReportPublishedV1(_Tolerant):
    report = _str(required=True)  # weekly / monthly
    period = _str(required=True)
    links = fields.Dict(load_default=dict)
    summary = fields.Dict(load_default=dict)


class NotificationFailedV1(_Tolerant):
    notification_id = _str(required=True)
    event_id = _str(required=True)
    recipient = _str(required=True)
    channel = _str(required=True)
    reason = _str(required=True)
    attempts = fields.Int(required=True)


class PolicyPushedV1(_Tolerant):
    push_id = _str(required=True)
    title = _str(required=True)
    reached = fields.Dict(load_default=dict)  # channel -> count


FEEDBACK_STAGES = ("accepted", "replied", "closed")


class PlatformFeedbackV1(_Tolerant):
    """appeal_feedback: what intake tells the upstream platform an appeal came from (its acceptance,
    reply, closing), on the platform's own exchange (not an event of the mesh: no consumer here)."""

    external_id = _str(required=True)  # the platform's own id of the appeal
    appeal_id = _str(required=True)
    platform = _str(required=True)
    stage = _str(required=True, validate=validate.OneOf(FEEDBACK_STAGES))
    unit = _str(allow_none=True, load_default=None)  # the unit that accepted or replied
    outcome = _str(allow_none=True, load_default=None, validate=validate.OneOf(OUTCOMES))  # replied / closed
    reply_text = _str(allow_none=True, load_default=None)  # replied
    satisfaction = _str(allow_none=True, load_default=None)  # closed: the enterprise's rating
    at = fields.DateTime(required=True)  # when it happened


# ---------------------------------------------------------------- catalogue
@dataclass(frozen=True)
class EventSpec:
    type: str
    producer: str
    version: int
    schema: builtins.type[Schema]
    summary: str
    about_appeal: bool = True


def _specs(*specs: EventSpec) -> dict[str, EventSpec]:
    return {spec.type: spec for spec in specs}


CATALOGUE: dict[str, EventSpec] = _specs(
    EventSpec("appeal_submitted", "upstream", 1, AppealSubmittedV1,
              "An upstream platform offers an appeal (ingress).", about_appeal=False),
    EventSpec("appeal_received", "intake", 2, AppealReceivedV2,
              "An appeal was accepted into Suqiu (about an enterprise, a household or a project)."),
    EventSpec("subject_updated", "intake", 1, SubjectUpdatedV1,
              "An enterprise, household or project was registered or changed, with its pairing.",
              about_appeal=False),
    EventSpec("visit_recorded", "intake", 1, VisitRecordedV1,
              "A cadre visited an enterprise, household or project (走访).", about_appeal=False),
    EventSpec("enterprise_updated", "intake", 1, EnterpriseUpdatedV1,
              "An enterprise was registered or changed.", about_appeal=False),
    EventSpec("appeal_dispatched", "dispatch", 1, AppealDispatchedV1,
              "The appeal has a lead unit (or waits in the office's manual queue)."),
    EventSpec("appeal_accepted", "dispatch", 1, UnitActionV1, "The lead unit signed for it (签收)."),
    EventSpec("appeal_progressed", "dispatch", 1, UnitActionV1, "A progress note."),
    EventSpec("appeal_replied", "dispatch", 1, AppealRepliedV1, "The unit replied (办结反馈)."),
    EventSpec("appeal_returned", "dispatch", 1, AppealReturnedV1, "The unit returned it (退单)."),
    EventSpec("appeal_escalation_requested", "dispatch", 1, UnitActionV1,
              "The unit asks for escalation (提级申请)."),
    EventSpec("appeal_reclassified", "dispatch", 1, AppealReclassifiedV1,
              "The office changed category, difficulty, nature or urgency."),
    EventSpec("appeal_plan_submitted", "dispatch", 1, UnitActionV1,
              "The lead unit submitted its solution plan (解决方案), where the district has that stage."),
    EventSpec("appeal_deadline_set", "supervision", 1, AppealDeadlineSetV1,
              "A stage deadline, in working days."),
    EventSpec("appeal_colour_changed", "supervision", 1, AppealColourChangedV1,
              "Green, yellow or red (红黄绿)."),
    EventSpec("appeal_escalated", "supervision", 1, AppealEscalatedV1,
              "Moved one rung up the escalation ladder."),
    EventSpec("supervision_order_issued", "supervision", 1, SupervisionOrderIssuedV1,
              "The office issued a supervision order (督办单)."),
    EventSpec("meeting_decision_made", "supervision", 1, MeetingDecisionMadeV1,
              "A meeting (交办会, 调度会) decided who leads an appeal, by when, under which leader."),
    EventSpec("weekly_digest_ready", "supervision", 1, DigestReadyV1,
              "A unit's weekly reminder (周提醒).", about_appeal=False),
    EventSpec("monthly_supervision_list", "supervision", 1, DigestReadyV1,
              "The office's monthly supervision list (月督办).", about_appeal=False),
    EventSpec("appeal_clock_paused", "supervision", 1, AppealClockPausedV1,
              "The stage's clock stopped while the appeal waits on the enterprise."),
    EventSpec("appeal_clock_resumed", "supervision", 1, AppealClockPausedV1,
              "The stage's clock runs again; the deadline moved by the paused time."),
    EventSpec("callback_requested", "assessment", 1, CallbackRequestedV1,
              "The enterprise is asked to rate the reply (回访)."),
    EventSpec("callback_phone_listed", "assessment", 1, PhoneCallbackListedV1,
              "The appeal is on the office's phone-callback list (link expired unanswered, or a round)."),
    EventSpec("callback_recorded", "assessment", 1, CallbackRecordedV1,
              "The callback's answer."),
    EventSpec("appeal_closed", "assessment", 1, AppealClosedV1, "Closed and counted."),
    EventSpec("appeal_reopened", "assessment", 1, AppealReopenedV1, "Reopened for handling (重办)."),
    EventSpec("unit_flagged", "assessment", 1, UnitFlaggedV1,
              "A unit under the satisfaction threshold (限期整改).", about_appeal=False),
    EventSpec("report_published", "assessment", 1, ReportPublishedV1,
              "A weekly report or monthly bulletin.", about_appeal=False),
    EventSpec("notification_failed", "notify", 1, NotificationFailedV1,
              "A notification failed after its retries.", about_appeal=False),
    EventSpec("policy_pushed", "notify", 1, PolicyPushedV1,
              "A policy push reached its enterprises (政策推送).", about_appeal=False),
)

@functools.cache
def _schema(schema_class: type[Schema]) -> Schema:
    """One instance per schema class: building a marshmallow schema costs more than using it."""
    return schema_class()


# (type, from_version) -> function(data) -> data of from_version + 1
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("appeal_received", 1): _appeal_received_v1_to_v2,
}


# ---------------------------------------------------------------- envelope
class EnvelopeSchema(_Tolerant):
    specversion = _str(load_default=SPEC_VERSION)
    id = _str(required=True, validate=validate.Length(min=1, max=64))
    type = _str(required=True)
    source = _str(required=True)
    time = fields.DateTime(required=True)
    subject = _str(allow_none=True, load_default=None)
    dataversion = fields.Int(load_default=1)
    correlationid = _str(allow_none=True, load_default=None)
    datacontenttype = _str(load_default="application/json")
    data = fields.Dict(required=True)


@dataclass
class Event:
    type: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    subject: str | None = None
    dataversion: int = 1
    correlationid: str | None = None

    @property
    def producer(self) -> str:
        return self.source.removeprefix("suqiu/")

    def to_message(self) -> dict[str, Any]:
        """The JSON-ready envelope, data dumped through its schema."""
        spec = CATALOGUE[self.type]
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": _iso(self.time),
            "subject": self.subject,
            "dataversion": self.dataversion,
            "correlationid": self.correlationid,
            "datacontenttype": "application/json",
            "data": _schema(spec.schema).dump(self.data),
        }


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def make_event(event_type: str, data: dict[str, Any], *, producer: str, now: datetime,
               correlation_id: str | None = None, event_id: str | None = None) -> Event:
    """Build a new event of the catalogue; the data is validated now, not on the wire."""
    spec = CATALOGUE.get(event_type)
    if spec is None:
        raise EventError(f"unknown event type {event_type!r}")
    if spec.producer != producer:
        raise EventError(f"{producer} may not publish {event_type} (producer: {spec.producer})")
    payload = _schema(spec.schema).dump(data)
    errors = _schema(spec.schema).validate(payload)
    if errors:
        raise EventError(f"invalid {event_type} data", errors)
    subject = data.get("appeal_id") if spec.about_appeal else None
    return Event(
        type=event_type, data=data, id=event_id or uuid.uuid4().hex,
        source=f"suqiu/{producer}", time=now, subject=subject,
        dataversion=spec.version, correlationid=correlation_id or subject,
    )


def read_event(message: Any, expected_type: str | None = None) -> Event:
    """Read an envelope tolerantly: unknown fields ignored, old versions upcast."""
    if not isinstance(message, dict):
        raise EventError("an event must be a JSON object (an envelope)")
    try:
        envelope = _schema(EnvelopeSchema).load(message)
    except ValidationError as exc:
        raise EventError("invalid envelope", exc.messages) from None
    event_type = envelope["type"]
    if expected_type is not None and event_type != expected_type:
        raise EventError(f"expected a {expected_type} event, got {event_type}")
    spec = CATALOGUE.get(event_type)
    if spec is None:
        raise EventError(f"unknown event type {event_type!r}")
    version, data = envelope["dataversion"], envelope["data"]
    if version > spec.version:
        raise EventError(f"{event_type} version {version} is newer than this reader ({spec.version})")
    while version < spec.version:
        upcast = UPCASTERS.get((event_type, version))
        if upcast is None:
            raise EventError(f"no upcaster for {event_type} version {version}")
        data, version = upcast(data), version + 1
    try:
        loaded = _schema(spec.schema).load(data)
    except ValidationError as exc:
        raise EventError(f"invalid {event_type} data", exc.messages) from None
    return Event(
        type=event_type, data=loaded, id=envelope["id"], source=envelope["source"],
        time=envelope["time"], subject=envelope["subject"], dataversion=version,
        correlationid=envelope["correlationid"],
    )

