"""HTTP bodies of the supervision service, and the ledger's exports with Chinese headings."""
from __future__ import annotations

import csv
import io

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from services.supervision import domain
from shared.events import URGENCIES
from shared.exports import xlsx_safe
from shared.inputs import Bool, Integer
from shared.periods import MONTH_PATTERN, Instant
from shared.workdays import SHANGHAI


class LedgerFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    unit = fields.Str()
    status = fields.Str(validate=validate.OneOf(domain.STATUSES))
    colour = fields.Str(validate=validate.OneOf(domain.COLOURS))
    category = fields.Str()
    difficulty = fields.Str(validate=validate.OneOf(("A", "B", "C", "D")))
    urgency = fields.Str(validate=validate.OneOf(URGENCIES))
    code = fields.Str(validate=validate.OneOf(domain.COLOURS), metadata={"description": "赋码 at dispatch (红黄绿)"})
    level = fields.Int(validate=validate.Range(min=0, max=10),
                       metadata={"description": "escalation level: rungs climbed (0 = none)"})
    overdue = fields.Bool(truthy={"true"}, falsy={"false"}, metadata={"description": "true: red (past its deadline)"})
    phone_callback = fields.Bool(truthy={"true"}, falsy={"false"},
                                 metadata={"description": "true: on the office's phone-callback list (电话回访)"})


class TickInput(Schema):
    class Meta:
        unknown = EXCLUDE

    now = Instant(required=True, metadata={"description": "ISO 8601 with a zone"})


class PauseInput(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.Str(load_default=None, validate=validate.Length(max=500),
                        metadata={"description": "e.g. 等待企业补充材料"})


class PauseRequestInput(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500),
                        metadata={"description": "why the clock should stop, e.g. 等待企业补充材料"})
    days = Integer(required=True, validate=validate.Range(min=1, max=domain.PAUSE_DAYS_MAX),
                   metadata={"description": "working days asked for"})


class PauseDecisionInput(Schema):
    class Meta:
        unknown = EXCLUDE

    note = fields.Str(load_default=None, validate=validate.Length(max=500),
                      metadata={"description": "the office's note on its decision"})


class PauseRequestFilters(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.Str(validate=validate.OneOf(domain.PAUSE_STATUSES))


class PauseRequestOut(Schema):
    request_id = fields.Str()
    appeal_id = fields.Str()
    stage = fields.Str()
    unit = fields.Str(allow_none=True)
    reason = fields.Str()
    days = fields.Int()
    status = fields.Str(metadata={"description": "pending, approved or refused"})
    requested_by = fields.Str()
    requested_at = fields.DateTime()
    decided_by = fields.Str(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.Str(allow_none=True)
    resume_at = fields.DateTime(allow_none=True, metadata={"description": "approved: when the clock resumes"})
    ended_at = fields.DateTime(allow_none=True)


class OrderInput(Schema):
    class Meta:
        unknown = EXCLUDE

    text = fields.Str(required=True, validate=validate.Length(min=1, max=4000))
    due_at = Instant(default_timezone=SHANGHAI)
    working_days = Integer(validate=validate.Range(min=1, max=365))
    escalate = Bool(load_default=False, metadata={"description": "also climb one rung (reason order)"})

    @validates_schema
    def _one_deadline(self, data: dict, **kwargs) -> None:
        if ("due_at" in data) == ("working_days" in data):
            raise ValidationError("give exactly one of due_at, working_days", "due_at")


class MeetingInput(Schema):
    class Meta:
        unknown = EXCLUDE

    kind = fields.Str(required=True, validate=validate.Length(min=1, max=32),
                      metadata={"description": "a meeting kind of the profile, e.g. 交办会 or 调度会"})
    held_on = fields.Date(required=True)
    title = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    chair = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    attendees = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), load_default=list,
                            validate=validate.Length(max=500))
    appeal_ids = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), load_default=list,
                             validate=validate.Length(max=1000))
    agenda_month = fields.Str(validate=validate.Regexp(MONTH_PATTERN), metadata={
        "description": "also put the month's items at the meeting-agenda rung (a kind whose agenda is ladder)"})


class DecisionInput(Schema):
    class Meta:
        unknown = EXCLUDE

    appeal_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    lead_unit = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                           metadata={"description": "the unit that leads from now on; null: the lead stays"})
    co_units = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), load_default=list,
                           validate=validate.Length(max=50),
                           metadata={"description": "units that join (with lead_unit: its co-units)"})
    due_at = Instant(default_timezone=SHANGHAI)
    working_days = Integer(validate=validate.Range(min=1, max=365))
    lead_leader = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                             metadata={"description": "牵头领导"})
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _a_decision(self, data: dict, **kwargs) -> None:
        if "due_at" in data and "working_days" in data:
            raise ValidationError("give at most one of due_at, working_days", "due_at")
        if not (data.get("lead_unit") or data.get("co_units") or data.get("lead_leader") or "due_at" in data
                or "working_days" in data):
            raise ValidationError("decide something: lead_unit, co_units, a deadline (due_at or working_days) "
                                  "or lead_leader", "lead_unit")


class MeetingItemOut(Schema):
    position = fields.Int()
    appeal_id = fields.Str()
    status = fields.Str()
    category = fields.Str(allow_none=True)
    difficulty = fields.Str(allow_none=True)
    urgency = fields.Str(allow_none=True)
    lead_unit_before = fields.Str(allow_none=True)
    current_lead_unit = fields.Str(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    lead_unit = fields.Str(allow_none=True)
    co_units = fields.List(fields.Str(), allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    lead_leader = fields.Str(allow_none=True)
    note = fields.Str(allow_none=True)
    order_id = fields.Str(allow_none=True)


class MeetingOut(Schema):
    meeting_id = fields.Str()
    kind = fields.Str()
    held_on = fields.Date()
    title = fields.Str(allow_none=True)
    chair = fields.Str()
    attendees = fields.List(fields.Str())
    created_at = fields.DateTime()
    created_by = fields.Str()
    items = fields.List(fields.Nested(MeetingItemOut))


class MeetingSummaryOut(MeetingOut):
    class Meta:
        exclude = ("items",)


class EscalationOut(Schema):
    level = fields.Int()
    rung = fields.Str()
    reason = fields.Str()
    unit = fields.Str(allow_none=True)
    to_unit = fields.Str(allow_none=True)
    escalated_at = fields.DateTime()


class OrderOut(Schema):
    order_id = fields.Str()
    appeal_id = fields.Str()
    unit = fields.Str(allow_none=True)
    text = fields.Str()
    due_at = fields.DateTime()
    issued_at = fields.DateTime()
    issued_by = fields.Str()
    status = fields.Str(metadata={"description": "open, met or overdue"})
    settled_at = fields.DateTime(allow_none=True)


class PauseOut(Schema):
    stage = fields.Str()
    paused_at = fields.DateTime()
    resumed_at = fields.DateTime(allow_none=True)
    paused_seconds = fields.Float(allow_none=True)
    reason = fields.Str(allow_none=True)
    paused_by = fields.Str()
    resumed_by = fields.Str(allow_none=True)


class LedgerEntryOut(Schema):
    appeal_id = fields.Str()
    status = fields.Str()
    lead_unit = fields.Str(allow_none=True)
    co_units = fields.List(fields.Str(), allow_none=True)
    category = fields.Str(allow_none=True)
    difficulty = fields.Str(allow_none=True)
    nature = fields.Str(allow_none=True)
    urgency = fields.Str(allow_none=True)
    code = fields.Str(allow_none=True, metadata={"description": "赋码 at dispatch (红黄绿: green yellow red)"})
    district = fields.Str(allow_none=True)
    unit_level = fields.Str(allow_none=True)
    stage = fields.Str(allow_none=True)
    stage_started_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    yellow_at = fields.DateTime(allow_none=True)
    colour = fields.Str(allow_none=True)
    paused_at = fields.DateTime(allow_none=True)
    paused_seconds = fields.Float()
    level = fields.Int()
    rung = fields.Str(allow_none=True)
    overdue_count = fields.Int()
    reopen_count = fields.Int()
    dispatched_at = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    plan_submitted_at = fields.DateTime(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    phone_listed_at = fields.DateTime(allow_none=True)


class AppealDetailOut(LedgerEntryOut):
    escalations = fields.List(fields.Nested(EscalationOut))
    orders = fields.List(fields.Nested(OrderOut))
    pauses = fields.List(fields.Nested(PauseOut))
    pause_requests = fields.List(fields.Nested(PauseRequestOut))


ledger_entry_out = LedgerEntryOut()
appeal_detail_out = AppealDetailOut()

# ---------------------------------------------------------------- exports (台账)
HEADINGS = ("诉求编号", "牵头单位", "协办单位", "问题类别", "难度", "办理状态", "当前阶段", "办理时限",
            "颜色", "督办层级", "督办级别", "超期次数", "重办次数", "暂停计时", "派单时间", "签收时间",
            "反馈时间", "办结时间", "紧急程度", "赋码", "解决方案时间")


def _local(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def export_row(entry: dict) -> list:
    return [entry["appeal_id"], entry["lead_unit"] or "（办公室待派）", "、".join(entry.get("co_units") or []),
            entry["category"] or "", entry["difficulty"] or "",
            domain.STATUS_NAMES.get(entry["status"], entry["status"]),
            domain.STAGE_NAMES.get(entry["stage"], entry["stage"]), _local(entry["due_at"]),
            domain.COLOUR_NAMES.get(entry["colour"], entry["colour"]),
            domain.RUNG_NAMES.get(entry["rung"], entry["rung"] or "") if entry["rung"] else "",
            entry["level"], entry["overdue_count"], entry["reopen_count"], "是" if entry["paused_at"] else "否",
            _local(entry["dispatched_at"]), _local(entry["accepted_at"]), _local(entry["replied_at"]),
            _local(entry["closed_at"]), entry.get("urgency") or "",
            domain.COLOUR_NAMES.get(entry.get("code"), entry.get("code") or ""),
            _local(entry.get("plan_submitted_at"))]


def ledger_csv(entries: list[dict]) -> bytes:
    """UTF-8 with a BOM, so that Excel opens the Chinese headings correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADINGS)
    for entry in entries:
        writer.writerow(export_row(entry))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def ledger_xlsx(entries: list[dict]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "督办台账"
    sheet.append(list(HEADINGS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for entry in entries:
        sheet.append(xlsx_safe(export_row(entry)))
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
