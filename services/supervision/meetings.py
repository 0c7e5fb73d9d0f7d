"""Meetings as records: Huainan's 交办会 and Hanzhong's monthly 调度会.

A meeting (date, kind, chair, attendees) has the appeals put to it: chosen by the office,
or, for a kind whose agenda is ``ladder``, the month's items at the meeting-agenda rung
(:func:`ledger.meeting_agenda`). Its decision on an appeal (the unit that leads from now on,
a deadline, the leader who answers for it) is applied as events in the decision's transaction:
``meeting_decision_made`` (dispatch makes the named unit lead) and, with a deadline, a
supervision order (``supervision_order_issued`` and ``appeal_deadline_set`` stage ``order``;
the tick climbs a rung when it is missed). The minutes export as CSV, XLSX and Markdown.
"""
from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.ledger import meeting_agenda
from services.supervision.models import appeals, meeting_items, meetings, orders
from services.supervision.rows import emit, locked_row
from shared import workdays
from shared.auth import Principal
from shared.errors import Conflict, InvalidInput, NotFound
from shared.exports import xlsx_safe


def _not_found(meeting_id: str) -> NotFound:
    return NotFound(f"没有会议 {meeting_id}")


def create_meeting(session: Session, policy: domain.Policy, data: dict, principal: Principal,
                   now: datetime) -> dict:
    kind = policy.meeting_kind(data["kind"])
    if kind is None:
        known = "、".join(m.kind for m in policy.meetings) or "（本活动的配置没有会议）"
        raise InvalidInput(f"本活动没有“{data['kind']}”这种会议", {"kind": [f"must be one of: {known}"]})
    appeal_ids = list(dict.fromkeys(data.get("appeal_ids") or []))
    month, given = data.get("agenda_month"), "agenda_month" in data
    if not given and kind.agenda == "ladder" and not appeal_ids:
        month = f"{data['held_on'].year:04d}-{data['held_on'].month:02d}"  # a 调度会 takes up its month's agenda
    if month:
        try:
            agenda = meeting_agenda(session, policy, month)
        except ValueError as exc:
            if given:
                raise InvalidInput(str(exc), {"agenda_month": [str(exc)]}) from None
            agenda = []  # a date outside the calendar's years has no escalations to take up
        appeal_ids += [item["appeal_id"] for item in agenda if item["appeal_id"] not in appeal_ids]
    rows = {row.appeal_id: row for row in session.execute(
        select(appeals).where(appeals.c.appeal_id.in_(appeal_ids))).fetchall()} if appeal_ids else {}
    unknown = [appeal_id for appeal_id in appeal_ids if appeal_id not in rows]
    if unknown:
        raise NotFound(f"不在督办台账中的诉求：{'、'.join(unknown)}")
    meeting_id = uuid.uuid4().hex
    session.execute(insert(meetings).values(
        meeting_id=meeting_id, kind=kind.kind, held_on=data["held_on"], title=data.get("title"),
        chair=data["chair"], attendees=list(data.get("attendees") or []), created_at=now,
        created_by=principal.actor))
    if appeal_ids:
        session.execute(insert(meeting_items), [
            {"meeting_id": meeting_id, "appeal_id": appeal_id, "position": position,
             "lead_unit_before": rows[appeal_id].lead_unit, "status_before": rows[appeal_id].status}
            for position, appeal_id in enumerate(appeal_ids, start=1)])
    return get_meeting(session, meeting_id)


def get_meeting(session: Session, meeting_id: str) -> dict:
    row = session.execute(select(meetings).where(meetings.c.meeting_id == meeting_id)).first()
    if row is None:
        raise _not_found(meeting_id)
    meeting = dict(row._mapping)
    items = session.execute(
        select(meeting_items, appeals.c.status, appeals.c.category, appeals.c.difficulty, appeals.c.urgency,
               appeals.c.lead_unit.label("current_lead_unit"))
        .join(appeals, appeals.c.appeal_id == meeting_items.c.appeal_id)
        .where(meeting_items.c.meeting_id == meeting_id).order_by(meeting_items.c.position)).fetchall()
    meeting["items"] = [dict(item._mapping) for item in items]
    return meeting


def list_meetings(session: Session, kind: str | None, month: str | None) -> list[dict]:
    query = select(meetings).order_by(meetings.c.held_on.desc(), meetings.c.created_at.desc())
    if kind:
        query = query.where(meetings.c.kind == kind)
    if month is not None:  # present but empty or not a month: 400
        year, number = month_of(month)
        first = date(year, number, 1)
        following = date(year + (number == 12), number % 12 + 1, 1)
        query = query.where(meetings.c.held_on >= first, meetings.c.held_on < following)
    return [dict(row._mapping) for row in session.execute(query).fetchall()]


def month_of(month: str) -> tuple[int, int]:
    from shared import periods
    try:
        return periods.parse_month(month)
    except ValueError as exc:
        raise InvalidInput(str(exc), {"month": [str(exc)]}) from None


def decide(session: Session, policy: domain.Policy, meeting_id: str, data: dict, principal: Principal,
           now: datetime, units: set[str]) -> dict:
    """The meeting's decision on one appeal put to it, applied as events; once per appeal."""
    meeting = session.execute(select(meetings).where(meetings.c.meeting_id == meeting_id)).first()
    if meeting is None:
        raise _not_found(meeting_id)
    appeal_id = data["appeal_id"]
    item = session.execute(select(meeting_items).where(meeting_items.c.meeting_id == meeting_id,
                                                       meeting_items.c.appeal_id == appeal_id)
                           .with_for_update()).first()
    if item is None:
        raise NotFound(f"诉求 {appeal_id} 没有提交本次会议")
    if item.decided_at is not None:
        raise Conflict(f"本次会议已对诉求 {appeal_id} 作出决定")
    unknown = [u for u in [data.get("lead_unit"), *data.get("co_units", [])] if u and u not in units]
    if unknown:
        raise InvalidInput("unknown units", {"lead_unit": [f"unknown unit code: {u}" for u in unknown]})
    row = locked_row(session, appeal_id)
    if row.status == "closed":
        raise Conflict(f"诉求 {appeal_id} 已办结")
    due = data.get("due_at") or (workdays.add_working_days(now, data["working_days"])
                                 if data.get("working_days") else None)
    if due is not None and due <= now:
        raise InvalidInput("the deadline must be later than now", {"due_at": ["must be in the future"]})
    due = due.astimezone(timezone.utc) if due is not None else None
    lead = data.get("lead_unit")
    note = data.get("note")
    label = f"{meeting.kind}（{meeting.held_on.isoformat()}）"
    order_id = None
    if due is not None:
        order_id = uuid.uuid4().hex
        text = f"{label}决定限期办结" + (f"：{note}" if note else "")
        unit = lead or row.lead_unit
        session.execute(insert(orders).values(order_id=order_id, appeal_id=appeal_id, unit=unit, text=text,
                                              due_at=due, issued_at=now, issued_by=principal.actor, status="open",
                                              next_check_at=due))
        emit(session, "supervision_order_issued", {"appeal_id": appeal_id, "order_id": order_id, "unit": unit,
                                                    "due_at": due, "text": text}, now, row.correlation_id)
        emit(session, "appeal_deadline_set", {"appeal_id": appeal_id, "stage": "order", "due_at": due,
                                               "working_days": data.get("working_days"), "unit": unit},
              now, row.correlation_id)
    emit(session, "meeting_decision_made", {
        "appeal_id": appeal_id, "meeting_id": meeting_id, "kind": meeting.kind, "held_on": meeting.held_on,
        "lead_unit": lead, "co_units": list(data.get("co_units") or []), "due_at": due,
        "lead_leader": data.get("lead_leader"), "note": note}, now, row.correlation_id)
    session.execute(update(meeting_items).where(meeting_items.c.meeting_id == meeting_id,
                                                meeting_items.c.appeal_id == appeal_id).values(
        decided_at=now, lead_unit=lead, co_units=list(data.get("co_units") or []), due_at=due,
        lead_leader=data.get("lead_leader"), note=note, order_id=order_id))
    return get_meeting(session, meeting_id)


# ---------------------------------------------------------------- minutes (会议纪要)
MINUTES_HEADINGS = ("序号", "诉求编号", "问题类别", "难度", "紧急程度", "原牵头单位", "会议交办单位", "协办单位",
                    "办结时限", "牵头领导", "会议意见", "当前状态")


def _local(moment: datetime | None) -> str:
    return moment.astimezone(workdays.SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def minutes_rows(meeting: dict, names: dict[str, str]) -> list[list]:
    name = lambda code: names.get(code, code) if code else ""  # noqa: E731
    rows = []
    for item in meeting["items"]:
        decided = item["decided_at"] is not None
        rows.append([item["position"], item["appeal_id"], item["category"] or "", item["difficulty"] or "",
                     item["urgency"] or "", name(item["lead_unit_before"]) or "（办公室待派）",
                     name(item["lead_unit"]) if item["lead_unit"] else ("维持原牵头单位" if decided else "（未决定）"),
                     "、".join(name(u) for u in item["co_units"] or []), _local(item["due_at"]),
                     item["lead_leader"] or "", item["note"] or "",
                     domain.STATUS_NAMES.get(item["status"], item["status"])])
    return rows


def _header(meeting: dict) -> list[tuple[str, str]]:
    return [("会议", meeting["title"] or meeting["kind"]), ("类别", meeting["kind"]),
            ("日期", meeting["held_on"].isoformat()), ("主持", meeting["chair"]),
            ("参会", "、".join(meeting["attendees"] or [])), ("议题数", str(len(meeting["items"])))]


def minutes_csv(meeting: dict, names: dict[str, str]) -> bytes:
    """UTF-8 with a BOM (Excel reads the Chinese): the meeting's lines, a blank line, the table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for key, value in _header(meeting):
        writer.writerow([key, value])
    writer.writerow([])
    writer.writerow(MINUTES_HEADINGS)
    writer.writerows(minutes_rows(meeting, names))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def minutes_xlsx(meeting: dict, names: dict[str, str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "会议纪要"
    for key, value in _header(meeting):
        sheet.append(xlsx_safe([key, value]))
        sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append([])
    sheet.append(list(MINUTES_HEADINGS))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in minutes_rows(meeting, names):
        sheet.append(xlsx_safe(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _md(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def minutes_markdown(meeting: dict, names: dict[str, str]) -> str:
    lines = [f"# {_md(meeting['title'] or meeting['kind'])}纪要", ""]
    lines += [f"- **{key}**：{_md(value)}" for key, value in _header(meeting)[1:]]
    lines += ["", "| " + " | ".join(MINUTES_HEADINGS) + " |", "|" + "---|" * len(MINUTES_HEADINGS)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in minutes_rows(meeting, names)]
    return "\n".join(lines) + "\n"
