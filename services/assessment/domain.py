"""Assessment's pure rules: working days, periods, callback links and decisions, rates, scores.

No nameko, no SQL, no I/O: the tests of this module run in milliseconds.

The measures are defined in ``docs/measures.md`` (the team's words for DOMAIN.md's "Measures"):
each a fraction over a period ``[start, end)`` (Asia/Shanghai boundaries), per unit, category,
district and overall. This module holds the rules the SQL of :mod:`measures` follows, as pure
functions: which dispatch counts and how (:func:`dispatch_response`), who is measured
(:func:`is_new_dispatch`, :func:`end_of_hold`, :func:`counts_for_resolution`,
:func:`is_coordination`), the colour as of an instant (:func:`colour_as_of`), the submit
deadline (:func:`submit_due`), the rates from the counts (:data:`RATES`, :func:`rates`) and the
score, ranking, rectification list and targets built on them.

"explained" and "long_term" closings are counted apart (``closed_explained``,
``closed_long_term``), never as solved. A callback not answered by its link's
expiry is ``unanswered``: it is in no satisfaction fraction at all.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared import periods, workdays
from shared.events import OUTCOMES, SATISFACTION
from shared.inputs import Bool
from shared.periods import Instant
from shared.workdays import SHANGHAI

SATISFIED = ("满意", "基本满意")
# DOMAIN.md's example (Hanzhong: a problem sheet is reported within 2 working days); a deployment's
# own submit stage is read from its profile (supervision.yaml ``stages.submit``), see submit_stage()
SUBMIT_WITHIN_WORKING_DAYS = 2
HANZHONG_SUBMIT = {"working_days": SUBMIT_WITHIN_WORKING_DAYS}


# ---------------------------------------------------------------- submitted on time
def submit_due(collected_at: datetime, within: Mapping[str, int]) -> datetime:
    """The submit deadline after collection: ``{"working_days": n}`` ends at 24:00 (Shanghai) of
    the n-th working day after the day of collection (the one calendar, 调休 included);
    ``{"days": n}`` / ``{"hours": n}`` are clock time from the moment of collection."""
    (unit, amount), = within.items()
    if unit == "working_days":
        return workdays.start_of_day(workdays.nth_working_day_after(workdays.local_date(collected_at), amount)
                                     + timedelta(days=1))
    hours = amount if unit == "hours" else 24 * amount
    return collected_at.astimezone(timezone.utc) + timedelta(hours=hours)


def submitted_on_time(collected_at: datetime, submitted_at: datetime,
                      within: Mapping[str, int] = HANZHONG_SUBMIT) -> bool:
    """Submitted before the deployment's submit deadline after collection (:func:`submit_due`;
    a deadline is the first instant that is late)."""
    return submitted_at < submit_due(collected_at, within)


def submit_stage(stages: Mapping[str, Mapping[str, int]], difficulty: str | None) -> Mapping[str, int] | None:
    """The submit duration of the profile's stage for ``difficulty``; with the difficulty not known
    yet, the one duration when every difficulty has the same (as in every shipped profile), else
    None (measured once the appeal is classified). None too when the profile sets no submit stage."""
    if not stages:
        return None
    if difficulty is not None and difficulty in stages:
        return stages[difficulty]
    distinct = {tuple(sorted(spec.items())) for spec in stages.values()}
    return dict(distinct.pop()) if len(distinct) == 1 else None


# ---------------------------------------------------------------- who is measured (docs/measures.md)
# how a unit's hold of an appeal ended
RETURNED, ESCALATED, MOVED, REPLIED = "returned", "escalated", "moved", "replied"
# what became of one dispatch for the response rate
RESPONDED, NOT_RESPONDED, PENDING, RETURNED_IN_TIME, WITHDRAWN = (
    "responded", "not_responded", "pending", "returned_in_time", "withdrawn")
COORDINATION_TYPES = ("office", "coordination")


def is_new_dispatch(unit: str | None, holding_unit: str | None, starts_acceptance: bool) -> bool:
    """Whether an ``appeal_dispatched`` is a dispatch that counts: every dispatch to another lead
    unit (first, after a return, an office reassignment, a hand-over to a rung, a reopen to
    another unit), and one that sends the holding unit back to accepting; not a reopen (重办) back
    to the unit that holds it, nor units added beside it (``shared.events.starts_acceptance``)."""
    if unit is None:
        return False  # the office's manual queue: dispatched to nobody
    return unit != holding_unit or starts_acceptance


def end_of_hold(reason: str | None) -> str:
    """How the previous unit's hold ended when the appeal is dispatched elsewhere."""
    return {"escalated": ESCALATED, "returned": RETURNED}.get(reason or "", MOVED)


@dataclass(frozen=True)
class DispatchFact:
    made_at: datetime
    accept_due_at: datetime | None = None
    accepted_at: datetime | None = None
    returned_at: datetime | None = None
    ended_at: datetime | None = None
    end_kind: str | None = None


def dispatch_response(d: DispatchFact, now: datetime) -> str:
    """What one dispatch counts as in the response rate, as of ``now`` (the report's generation).

    In this order: returned (退单) by the deadline -> ``returned_in_time`` (out of both sides,
    counted apart); accepted by its own deadline (or accepted, no deadline known) -> ``responded``;
    still held, not accepted and inside its deadline (or none known yet) -> ``pending`` (shown,
    out of both sides); moved away by the office, unaccepted, before its deadline ->
    ``withdrawn`` (out of both sides); anything else (accepted late, returned late, taken by
    escalation before acceptance, never accepted past the deadline) -> ``not_responded``.
    """
    due = d.accept_due_at
    if d.returned_at is not None and (due is None or d.returned_at <= due):
        return RETURNED_IN_TIME
    if d.accepted_at is not None and (due is None or d.accepted_at <= due):
        return RESPONDED
    if d.accepted_at is None and d.end_kind is None and (due is None or now < due):
        return PENDING
    if (d.accepted_at is None and d.end_kind == MOVED and d.ended_at is not None
            and (due is None or d.ended_at <= due)):
        return WITHDRAWN
    return NOT_RESPONDED


def counts_for_resolution(end_kinds: list[str | None]) -> bool:
    """A unit counts an appeal it held as lead in its resolution rate unless it left it by a
    return (``end_kinds``: how each of its holds of the appeal ended)."""
    return any(kind != RETURNED for kind in end_kinds)


def is_coordination(code: str | None, units: Mapping[str, Mapping[str, Any]], office: str | None = None) -> bool:
    """The supervising office and the city / province rungs: reported apart, never ranked."""
    if code is None:
        return False
    return code == office or (units.get(code) or {}).get("type") in COORDINATION_TYPES


def colour_as_of(changes: list[tuple[datetime, str | None]], instant: datetime) -> str | None:
    """The colour an appeal had just before ``instant`` (a period's end), from its changes."""
    before = [(at, colour) for at, colour in changes if at < instant]
    return max(before, key=lambda pair: pair[0])[1] if before else None


# ---------------------------------------------------------------- periods
@dataclass(frozen=True)
class Period:
    kind: str  # week / month / range
    label: str  # 2026-W47, 2026-11
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive

    @property
    def title(self) -> str:
        start = self.start.astimezone(SHANGHAI).date()
        last = (self.end.astimezone(SHANGHAI) - timedelta(days=1)).date()
        if self.kind == "week":
            year, week = self.label.split("-W")
            return f"{year}年第{int(week)}周（{start:%m月%d日}—{last:%m月%d日}）"
        if self.kind == "month":
            return f"{start.year}年{start.month}月"
        return f"{start:%Y年%m月%d日}—{last:%Y年%m月%d日}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def week_period(label: str) -> Period:
    """``2026-W47``: ISO week, Monday 00:00 to Monday 00:00, Asia/Shanghai (ValueError outside
    :mod:`shared.periods`' bounds)."""
    return _week(periods.parse_week(label))


def month_period(label: str) -> Period:
    return _month(*periods.parse_month(label))


def _week(monday: date) -> Period:
    year, week, _ = monday.isocalendar()
    return Period("week", f"{year}-W{week:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)))


def _month(year: int, month: int) -> Period:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period("month", f"{year}-{month:02d}", _midnight(first), _midnight(following))


def range_period(start: date, end_inclusive: date) -> Period:
    if end_inclusive < start:
        raise ValueError("the period ends before it starts")
    return Period("range", f"{start.isoformat()}..{end_inclusive.isoformat()}", _midnight(start),
                  _midnight(end_inclusive + timedelta(days=1)))


def previous_month(period: Period) -> Period:
    first = period.start.astimezone(SHANGHAI).date()
    last_month = (first - timedelta(days=1)).replace(day=1)
    return _month(last_month.year, last_month.month)  # may lie before the bounds a caller may ask for


def previous_weeks(period: Period, count: int) -> list[Period]:
    """The ``count`` weeks ending with the week ``period`` starts in, oldest first."""
    monday = period.start.astimezone(SHANGHAI).date()
    monday -= timedelta(days=monday.weekday())
    weeks = []
    for back in range(count - 1, -1, -1):
        weeks.append(_week(monday - timedelta(weeks=back)))
    return weeks


# ---------------------------------------------------------------- callback links
class LinkRefused(Exception):
    """A callback link that cannot be used; ``reason`` is forged / expired."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LinkClaim:
    appeal_id: str
    expires_at: datetime
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).digest())


def new_nonce() -> str:
    return secrets.token_hex(16)


def sign_link(secret: str, appeal_id: str, expires_at: datetime, nonce: str) -> str:
    """A token ``payload.signature``: HMAC-SHA256 over appeal id, expiry and a single-use nonce."""
    expiry = int(expires_at.timestamp())
    payload = _b64(f"{appeal_id}|{expiry}|{nonce}".encode())
    return f"{payload}.{_signature(secret, payload)}"


def read_link(secret: str, token: str, now: datetime) -> LinkClaim:
    """Check a token's signature and expiry; raises :class:`LinkRefused`. Single use is the caller's."""
    payload, dot, signature = (token or "").partition(".")
    # bytes: compare_digest raises TypeError on a str with non-ASCII characters (a 500, not a refusal)
    if not dot or not hmac.compare_digest(signature.encode("utf-8"), _signature(secret, payload).encode("ascii")):
        raise LinkRefused("forged", "回访链接无效（签名不符）")
    try:
        appeal_id, expiry, nonce = _unb64(payload).decode("utf-8").split("|")
        expires_at = datetime.fromtimestamp(int(expiry), tz=timezone.utc)
    except (ValueError, UnicodeDecodeError):
        raise LinkRefused("forged", "回访链接无效（内容无法读取）") from None
    if now >= expires_at:
        raise LinkRefused("expired", "回访链接已过期，请联系营商环境办")
    return LinkClaim(appeal_id, expires_at, nonce)


# ---------------------------------------------------------------- callbacks
class CallbackInput(Schema):
    class Meta:
        unknown = EXCLUDE

    solved = Bool(required=True)
    satisfaction = fields.Str(required=True, validate=validate.OneOf(SATISFACTION))
    comment = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    caller = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    called_at = Instant(load_default=None, allow_none=True, default_timezone=SHANGHAI)


FUTURE_TOLERANCE = timedelta(minutes=10)


def validate_callback(raw: Any, now: datetime) -> dict[str, Any]:
    """Load a callback answer; ``called_at`` defaults to now and cannot lie in the future."""
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    data: dict[str, Any] = CallbackInput().load(raw)
    if data["called_at"] is None:
        data["called_at"] = now
    elif data["called_at"] > now + FUTURE_TOLERANCE:
        raise ValidationError({"called_at": ["lies in the future"]})
    data["called_at"] = data["called_at"].astimezone(timezone.utc)
    return data


def callback_result(outcome: str, solved: bool, satisfaction: str) -> str:
    """``closed`` or ``reopened`` (重办).

    A *solved* reply closes when the enterprise says it is really solved and is
    satisfied (满意/基本满意). An *explained* or *long_term* reply cannot be solved
    now by its nature: it closes when the enterprise accepts it (满意/基本满意), and is
    counted as explained / long-term, never as solved; 不满意 reopens it.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if satisfaction not in SATISFACTION:
        raise ValueError(f"unknown satisfaction {satisfaction!r}")
    satisfied = satisfaction in SATISFIED
    if outcome == "solved":
        return "closed" if solved and satisfied else "reopened"
    return "closed" if satisfied else "reopened"


def reopen_reason(solved: bool, satisfaction: str) -> str:
    if not solved and satisfaction not in SATISFIED:
        return "not_solved_unsatisfied"
    return "not_solved" if not solved else "unsatisfied"


# ---------------------------------------------------------------- rates and scores
RATES: dict[str, tuple[str, str, str]] = {
    # key: (numerator count, denominator count, default Chinese label)
    "submitted_on_time": ("submitted_on_time", "collected", "按时报送率"),
    "response": ("responded", "response_counted", "响应率"),
    "resolution": ("solved", "received", "办结率"),
    "on_time": ("closed_on_time", "closed", "期限内解决率"),
    "satisfaction": ("satisfied", "answered", "满意率"),
    "solved_7d": ("solved_7d", "received", "一周内解决率"),
    "solved_60d": ("solved_60d", "received", "两月内解决率"),
}
COUNTS = ("collected", "submitted_on_time", "dispatched", "pending", "returned_in_time", "withdrawn",
          "response_counted", "responded", "not_responded", "received", "solved", "closed",
          "closed_on_time", "closed_explained", "closed_long_term", "answered", "satisfied", "unanswered",
          "solved_7d", "solved_60d", "returns", "overdue", "overdue_escalations")
COUNT_LABELS = {
    "collected": "收集数", "submitted_on_time": "按时报送数", "dispatched": "交办数", "pending": "待签收（期限内）",
    "returned_in_time": "期限内退单", "withdrawn": "签收前改派", "response_counted": "计入响应率的交办",
    "responded": "按时签收数", "not_responded": "未按时签收", "overdue": "超期次数",
    "received": "新增诉求", "solved": "已解决", "closed": "办结数", "closed_on_time": "期限内办结",
    "closed_explained": "解释说明办结", "closed_long_term": "纳入长期规划", "answered": "回访数",
    "satisfied": "满意及基本满意", "unanswered": "回访未应答", "solved_7d": "一周内解决", "solved_60d": "两月内解决",
    "returns": "退单次数", "overdue_escalations": "超期提级次数",
}
DEDUCTIONS = {"overdue_escalation": "overdue_escalations", "return": "returns"}


def fraction(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator``, or None when nothing was there to count."""
    return None if not denominator else numerator / denominator


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    return {key: fraction(int(counts.get(num) or 0), int(counts.get(den) or 0))
            for key, (num, den, _label) in RATES.items()}


def score(unit_rates: Mapping[str, float | None], counts: Mapping[str, int],
          scoring: Mapping[str, Any]) -> float | None:
    """Weighted sum of the rates on ``scale`` minus deductions; None when no weighted rate has data.

    A rate without data (nothing to count in the period) is left out and the
    other weights are rescaled, so a unit is neither rewarded nor punished for
    having had nothing of that kind.
    """
    weights: dict[str, float] = scoring["weights"]
    available = {k: (w, rate) for k, w in weights.items() if (rate := unit_rates.get(k)) is not None}
    if not available:
        return None
    total_weight = sum(weights.values())
    earned = (sum(w * rate for w, rate in available.values()) * total_weight
              / sum(w for w, _rate in available.values()))
    deducted: float = sum(points * int(counts.get(DEDUCTIONS[name]) or 0)
                   for name, points in (scoring.get("deductions") or {}).items())
    return round(float(scoring.get("scale", 100)) * earned / total_weight - deducted, 2)


@dataclass
class Ranked:
    unit: str
    group: str
    score: float | None
    rank: int | None
    previous_rank: int | None
    change: int | None  # positive: moved up this many places


def rank(scores: Mapping[str, float | None], groups: Mapping[str, str],
         previous: Mapping[str, float | None] | None = None) -> list[Ranked]:
    """Rank units by score within their group (1 = best; ties share a rank), with the change from before."""
    def ranks_of(values: Mapping[str, float | None]) -> dict[str, int]:
        out: dict[str, int] = {}
        for group in set(groups.values()):
            members = sorted(((u, s) for u, s in values.items() if groups.get(u) == group and s is not None),
                             key=lambda pair: (-pair[1], pair[0]))
            for position, (unit, value) in enumerate(members, start=1):
                tied = [out[u] for u, v in members[:position - 1] if v == value]
                out[unit] = tied[0] if tied else position
        return out

    now_ranks, before = ranks_of(scores), ranks_of(previous or {})
    result = []
    for unit in sorted(u for u in scores if u in groups):
        current, earlier = now_ranks.get(unit), before.get(unit)
        change = earlier - current if current is not None and earlier is not None else None
        result.append(Ranked(unit, groups[unit], scores[unit], current, earlier, change))
    result.sort(key=lambda r: (r.group, r.rank is None, r.rank or 0, r.unit))
    return result


def flagged(unit_rates: Mapping[str, Mapping[str, float | None]], threshold: float) -> list[tuple[str, float]]:
    """Units whose satisfaction rate in the period is under ``threshold`` (限期整改), worst first."""
    under = [(unit, satisfaction) for unit, r in unit_rates.items()
             if (satisfaction := r.get("satisfaction")) is not None and satisfaction < threshold]
    return sorted(under, key=lambda pair: (pair[1], pair[0]))


def against_targets(overall: Mapping[str, float | None], targets: Mapping[str, float]) -> list[dict[str, Any]]:
    """Baoding's 三个100%: each target rate against the actual one."""
    rows = []
    for key, target in targets.items():
        actual = overall.get(key)
        rows.append({"rate": key, "label": RATES[key][2], "target": target, "actual": actual,
                     "met": actual is not None and actual >= target - 1e-9,
                     "gap": None if actual is None else round(target - actual, 4)})
    return rows


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"
