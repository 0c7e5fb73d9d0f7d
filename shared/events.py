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

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

SPEC_VERSION = "1.0"

OUTCOMES = ("solved", "explained", "long_term")
SATISFACTION = ("满意", "基本满意", "不满意")
COLOURS = ("green", "yellow", "red")
DIFFICULTIES = ("A", "B", "C", "D")
NATURES = ("个性", "共性", "体制机制性")
URGENCIES = ("一般", "紧急", "特急")  # how urgent an appeal is, set at intake or by the office
CHANNELS = ("visit", "web", "qrcode", "message_board", "hotline", "platform", "sheet")


class EventError(ValueError):
    """An event that cannot be read: not an envelope, unknown type, or bad data."""

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}


class _Tolerant(Schema):
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


class AppealSubmittedV1(_Tolerant):
    """An appeal offered by an upstream platform on ``upstream.events``."""

    credit_code = _str(required=True)
    enterprise_name = _str(required=True)
    title = _str(required=True)
    description = _str(required=True)
    category = _str(allow_none=True, load_default=None)
    district = _str(required=True)
    channel = _str(required=True, validate=validate.OneOf(CHANNELS))
    external_id = _str(required=True, validate=validate.Length(min=1, max=128))
    collected_at = fields.DateTime(required=True)
    contact = fields.Dict(allow_none=True, load_default=None)


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
    reason = _str(load_default="rule")
    dispatch_count = fields.Int(load_default=1)
    urgency = _str(load_default="一般", validate=validate.OneOf(URGENCIES))
    # the code given at dispatch (赋码, e.g. 富阳's 红黄绿 by difficulty and urgency); null: none
    code = _str(allow_none=True, load_default=None, validate=validate.OneOf(COLOURS))


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
    actor = _str(allow_none=True, load_default=None)
    paused_at = fields.DateTime(required=True)
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


class CallbackRecordedV1(_Tolerant):
    appeal_id = _str(required=True)
    solved = fields.Bool(required=True)
    satisfaction = _str(required=True, validate=validate.OneOf(SATISFACTION))
    comment = _str(allow_none=True, load_default=None)
    caller = _str(allow_none=True, load_default=None)


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


# ---------------------------------------------------------------- catalogue
@dataclass(frozen=True)
class EventSpec:
    type: str
    producer: str
    version: int
    schema: type[Schema]
    summary: str
    about_appeal: bool = True


def _specs(*specs: EventSpec) -> dict[str, EventSpec]:
    return {spec.type: spec for spec in specs}


CATALOGUE: dict[str, EventSpec] = _specs(
    EventSpec("appeal_submitted", "upstream", 1, AppealSubmittedV1,
              "An upstream platform offers an appeal (ingress).", about_appeal=False),
    EventSpec("appeal_received", "intake", 1, AppealReceivedV1,
              "An appeal was accepted into Suqiu."),
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

@functools.lru_cache(maxsize=None)
def _schema(schema_class: type[Schema]) -> Schema:
    """One instance per schema class: building a marshmallow schema costs more than using it."""
    return schema_class()


# (type, from_version) -> function(data) -> data of from_version + 1
UPCASTERS: dict[tuple[str, int], Callable[[dict], dict]] = {}


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
    data: dict
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    subject: str | None = None
    dataversion: int = 1
    correlationid: str | None = None

    @property
    def producer(self) -> str:
        return self.source.removeprefix("suqiu/")

    def to_message(self) -> dict:
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


def make_event(event_type: str, data: dict, *, producer: str, now: datetime,
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


def read_payload(schema: type[Schema], body: Any) -> dict:
    """Load a bare payload (the upstream ingress accepts one without an envelope)."""
    if not isinstance(body, dict):
        raise EventError("the message must be a JSON object")
    try:
        return schema().load(body)
    except ValidationError as exc:
        raise EventError("invalid message", exc.messages) from None
