"""Supervision's rules: stage deadlines, colours, the escalation ladder, digests.

Pure: no nameko, no SQL, no clock. Every function takes "now" (or the time of
the fact) as a parameter.

Choices, documented in ``services/supervision/README.md``:

* a stage runs from the time of its fact (``appeal_dispatched``, ``appeal_accepted``,
  ``appeal_reopened``), for the profile's duration of the appeal's difficulty;
* colour: green, yellow from the yellow threshold, red from the due time;
* when a stage's due time passes, the appeal turns red and climbs one rung
  (reason ``overdue``); the stage then gets the rung's deadline (or, without one,
  the stage's own duration again) counted from the missed due time. The appeal
  stays red (it is late); when that deadline passes too it climbs the next rung.
  At the top rung nothing further happens but the red colour;
* a paused clock moves the due time (and the yellow time) by the paused time,
  measured like the stage (working time for working-day stages).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from shared import periods, workdays

COLOURS = ("green", "yellow", "red")
COLOUR_NAMES = {"green": "绿", "yellow": "黄", "red": "红", None: ""}
QUEUED, DISPATCHED, ACCEPTED, REPLIED, REOPENED, CLOSED = (
    "queued", "dispatched", "accepted", "replied", "reopened", "closed")
STATUSES = (QUEUED, DISPATCHED, ACCEPTED, REPLIED, REOPENED, CLOSED)
STATUS_NAMES = {QUEUED: "待派单", DISPATCHED: "已派单", ACCEPTED: "已签收", REPLIED: "已反馈",
                REOPENED: "重办", CLOSED: "已办结"}
# the statuses in which a unit still owes the appeal something (a supervision order's due time
# passing in one of them climbs a rung)
AWAITING_UNIT = (QUEUED, DISPATCHED, ACCEPTED, REOPENED)
# a supervision order (督办单): open until the reply meets it, or overdue when its due time passes
ORDER_OPEN, ORDER_MET, ORDER_OVERDUE = "open", "met", "overdue"
STAGE_NAMES = {"accept": "签收", "plan": "解决方案", "reply": "办理反馈", None: ""}
RUNG_NAMES = {"unit_leader": "单位领导督办", "office": "督办办公室督办", "city": "市级协调",
              "province": "省级协调"}
OPEN_STATUSES = (QUEUED, DISPATCHED, ACCEPTED, REPLIED, REOPENED)


class RuleError(ValueError):
    """A request the rules refuse in the appeal's present state (answered 409)."""


# ---------------------------------------------------------------- durations
@dataclass(frozen=True)
class Duration:
    unit: str  # working_days / hours / days
    amount: int

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Duration:
        (unit, amount), = spec.items()
        return cls(unit, int(amount))

    @property
    def measure(self) -> str:
        """How time of this stage is measured: ``working`` (Chinese calendar) or ``clock``."""
        return "working" if self.unit == "working_days" else "clock"

    @property
    def working_days(self) -> float | None:
        return float(self.amount) if self.unit == "working_days" else None

    def due(self, start: datetime) -> datetime:
        if self.unit == "working_days":
            return workdays.add_working_days(start, self.amount)
        hours = self.amount if self.unit == "hours" else 24 * self.amount
        return start.astimezone(timezone.utc) + timedelta(hours=hours)


def elapsed(measure: str, start: datetime, end: datetime) -> float:
    """Seconds of measured time in [start, end)."""
    if measure == "working":
        return workdays.working_seconds_between(start, end)
    return max(0.0, (end - start).total_seconds())


def shift(measure: str, moment: datetime, seconds: float) -> datetime:
    """``moment`` moved later by ``seconds`` of measured time."""
    if measure == "working":
        return workdays.add_working_seconds(moment, seconds)
    return moment + timedelta(seconds=seconds)


# ---------------------------------------------------------------- policy
@dataclass(frozen=True)
class Rung:
    rung: str
    to_unit: str | None
    deadline: Duration | None = None
    name: str | None = None
    meeting_agenda: bool = False


Stages = dict[str, dict[str, Duration]]  # stage -> difficulty -> duration


def _stages(specs: dict[str, Any] | None) -> Stages:
    return {stage: {d: Duration.of(spec) for d, spec in per.items()}
            for stage, per in (specs or {}).items() if per}


@dataclass(frozen=True)
class DistrictRules:
    """What one district sets apart from the city: stages, per urgency, and where deadlines count from."""

    stages: Stages = field(default_factory=dict)
    urgency: dict[str, Stages] = field(default_factory=dict)
    counted_from: str = "fact"  # fact: each stage from its own fact; dispatch: every stage from the dispatch


@dataclass(frozen=True)
class MeetingKind:
    kind: str
    agenda: str = "chosen"  # chosen: the office puts appeals to it; ladder: the month's agenda-rung items


@dataclass(frozen=True)
class Policy:
    stages: Stages
    ladder: tuple[Rung, ...]
    yellow_share: float | None = 0.6
    yellow_working_days_left: int | None = None
    escalate_after_reopens: int = 2
    weekly: tuple[int, time] = (1, time(9))
    monthly: tuple[int, time] = (1, time(9))
    urgency: dict[str, Stages] = field(default_factory=dict)
    districts: dict[str, DistrictRules] = field(default_factory=dict)
    counted_from: str = "fact"
    meetings: tuple[MeetingKind, ...] = ()

    @classmethod
    def from_profile(cls, part: dict[str, Any]) -> Policy:
        stages = _stages(part["stages"])
        ladder = tuple(Rung(r["rung"], r["to_unit"], Duration.of(r["deadline"]) if r.get("deadline") else None,
                            r.get("name"), bool(r.get("meeting_agenda"))) for r in part["ladder"])
        yellow = part.get("yellow") or {"share_used": 0.6}
        digests = part.get("digests") or {}
        weekly = digests.get("weekly") or {"weekday": 1, "at": "09:00"}
        monthly = digests.get("monthly") or {"day": 1, "at": "09:00"}
        return cls(stages=stages, ladder=ladder, yellow_share=yellow.get("share_used"),
                   yellow_working_days_left=yellow.get("working_days_left"),
                   escalate_after_reopens=part.get("escalate_after_reopens", 2),
                   weekly=(weekly["weekday"], time.fromisoformat(weekly["at"])),
                   monthly=(monthly["day"], time.fromisoformat(monthly["at"])),
                   urgency={u: _stages(per) for u, per in (part.get("urgency") or {}).items()},
                   districts={name: DistrictRules(_stages(d.get("stages")),
                                                  {u: _stages(per) for u, per in (d.get("urgency") or {}).items()},
                                                  d.get("counted_from") or "fact")
                              for name, d in (part.get("districts") or {}).items()},
                   meetings=tuple(MeetingKind(m["kind"], m.get("agenda") or "chosen")
                                  for m in part.get("meetings") or []))

    def for_appeal(self, district: str | None, urgency: str | None) -> Policy:
        """The policy of one appeal: its district's stages over the city's, its urgency's over its
        difficulty's. First found: the district's for the urgency, the district's, the city's for
        the urgency, the city's."""
        own = self.districts.get(district or "")
        if own is None and not self.urgency.get(urgency or ""):
            return self
        stages = {stage: dict(per) for stage, per in self.stages.items()}
        layers = [self.urgency.get(urgency or "") or {}]
        if own is not None:
            layers += [own.stages, own.urgency.get(urgency or "") or {}]
        for layer in layers:
            for stage, per in layer.items():
                stages[stage] = {**stages.get(stage, {}), **per}
        return replace(self, stages=stages, urgency={}, districts={},
                       counted_from=own.counted_from if own is not None else self.counted_from)

    def has_stage(self, stage: str) -> bool:
        return bool(self.stages.get(stage))

    def after_acceptance(self) -> str:
        """The stage acceptance starts: the solution plan where it has a deadline, else the reply."""
        return "plan" if self.has_stage("plan") else "reply"

    def meeting_kind(self, kind: str) -> MeetingKind | None:
        return next((m for m in self.meetings if m.kind == kind), None)

    def duration(self, stage: str, difficulty: str | None) -> Duration | None:
        per = self.stages.get(stage) or {}
        return per.get(difficulty or "B") or per.get("B")

    def next_rung(self, level: int) -> Rung | None:
        """The rung above ``level`` (0: not escalated yet), or None at the top."""
        return self.ladder[level] if level < len(self.ladder) else None

    def agenda_rungs(self) -> set[str]:
        marked = {r.rung for r in self.ladder if r.meeting_agenda}
        return marked or {"city"}


# ---------------------------------------------------------------- a watched stage
@dataclass(frozen=True)
class Watch:
    """The running stage of one appeal, as far as the rules need it."""

    stage: str | None = None
    measure: str | None = None
    difficulty: str | None = None
    started_at: datetime | None = None
    due_at: datetime | None = None
    yellow_at: datetime | None = None
    colour: str | None = None
    paused_at: datetime | None = None
    paused_seconds: float = 0.0
    level: int = 0

    @property
    def running(self) -> bool:
        return self.stage is not None and self.due_at is not None


def yellow_time(policy: Policy, measure: str, start: datetime, due: datetime) -> datetime:
    if policy.yellow_working_days_left:
        return max(start, workdays.subtract_working_days(due, policy.yellow_working_days_left))
    total = elapsed(measure, start, due)
    return shift(measure, start, total * (policy.yellow_share or 0.6))


def colour_at(watch: Watch, now: datetime) -> str | None:
    if watch.stage is None or watch.due_at is None:  # no stage runs
        return None
    if now >= watch.due_at:
        return "red"
    if watch.yellow_at is not None and now >= watch.yellow_at:
        return "yellow"
    return "green"


def next_check(watch: Watch, policy: Policy) -> datetime | None:
    """When the tick must next look at this appeal (None: nothing can change by itself)."""
    if watch.stage is None or watch.due_at is None or watch.paused_at is not None:
        return None
    if watch.colour == "green" and watch.yellow_at is not None and watch.yellow_at < watch.due_at:
        return watch.yellow_at
    if watch.colour == "red" and policy.next_rung(watch.level) is None:
        return None
    return watch.due_at


def start_stage(policy: Policy, stage: str, difficulty: str | None, start: datetime, level: int,
                dispatched_at: datetime | None = None) -> Watch:
    """A stage starting at ``start`` (the time of its fact): green, until its yellow time.

    Where the policy counts from the dispatch (建德 1+3+6+10), the due time is the stage's
    duration from ``dispatched_at``: the plan is due 3 days after the dispatch, whenever the
    unit signed for it."""
    duration = policy.duration(stage, difficulty)
    if duration is None:
        return Watch(level=level, difficulty=difficulty)
    anchor = dispatched_at if policy.counted_from == "dispatch" and dispatched_at is not None else start
    due = max(duration.due(anchor), start)
    return Watch(stage=stage, measure=duration.measure, difficulty=difficulty, started_at=start, due_at=due,
                 yellow_at=yellow_time(policy, duration.measure, start, due), colour="green", level=level)


def reclassify(policy: Policy, watch: Watch, difficulty: str, now: datetime,
               dispatched_at: datetime | None = None) -> Watch:
    """The running stage recomputed for a new difficulty (or urgency: ``policy`` is the appeal's),
    from its start, keeping paused time."""
    if watch.stage is None or watch.due_at is None or watch.started_at is None:  # no stage runs
        return replace(watch, difficulty=difficulty)
    fresh = start_stage(policy, watch.stage, difficulty, watch.started_at, watch.level, dispatched_at)
    if fresh.due_at is None or fresh.yellow_at is None or fresh.measure is None:
        return replace(watch, difficulty=difficulty)
    due = shift(fresh.measure, fresh.due_at, watch.paused_seconds)
    yellow = shift(fresh.measure, fresh.yellow_at, watch.paused_seconds)
    moved = replace(watch, difficulty=difficulty, measure=fresh.measure, due_at=due, yellow_at=yellow)
    if watch.paused_at is not None or watch.colour == "red":  # red stays red until the stage ends
        return moved
    return replace(moved, colour=colour_at(moved, now))


def pause(watch: Watch, now: datetime) -> Watch:
    if not watch.running:
        raise RuleError("no running deadline to pause")
    if watch.paused_at is not None:
        raise RuleError("the clock is already paused")
    return replace(watch, paused_at=now)


def resume(watch: Watch, now: datetime) -> tuple[Watch, float]:
    """The clock running again; the deadline moves by the paused (measured) time."""
    if watch.paused_at is None:
        raise RuleError("the clock is not paused")
    if now < watch.paused_at:
        raise RuleError("cannot resume before the pause")
    if watch.measure is None or watch.due_at is None:
        raise RuleError("no running deadline to resume")
    paused = elapsed(watch.measure, watch.paused_at, now)
    return replace(watch, paused_at=None, paused_seconds=watch.paused_seconds + paused,
                   due_at=shift(watch.measure, watch.due_at, paused),
                   yellow_at=shift(watch.measure, watch.yellow_at, paused) if watch.yellow_at else None), paused


PAUSE_PENDING, PAUSE_APPROVED, PAUSE_REFUSED = "pending", "approved", "refused"  # a pause request
PAUSE_STATUSES = (PAUSE_PENDING, PAUSE_APPROVED, PAUSE_REFUSED)
PAUSE_DAYS_MAX = 60


def may_request_pause(watch: Watch, pending: bool) -> None:
    """A lead unit may ask for a pause (暂停计时申请) while its stage's clock runs, unpaused,
    with no other request of the appeal waiting for the office."""
    if not watch.running:
        raise RuleError("no running deadline to pause")
    if watch.paused_at is not None:
        raise RuleError("the clock is already paused")
    if pending:
        raise RuleError("a pause request of this appeal is already waiting for the office")


def may_decide_pause(status: str) -> None:
    if status != PAUSE_PENDING:
        raise RuleError(f"the pause request is already {status}")


def pause_resumes_at(approved_at: datetime, days: int) -> datetime:
    """An approved pause of N working days ends at 24:00 of the N-th working day after the
    approval (the clock resumes then, unless the unit resumed it earlier)."""
    return workdays.add_working_days(approved_at, days)


@dataclass(frozen=True)
class Escalation:
    rung: str
    level: int
    reason: str
    to_unit: str | None


def escalate(policy: Policy, level: int, reason: str) -> Escalation | None:
    """One rung up from ``level``; None at the top of the ladder."""
    rung = policy.next_rung(level)
    if rung is None:
        return None
    return Escalation(rung.rung, level + 1, reason, rung.to_unit)


def reopen_escalates(policy: Policy, reopen_count: int) -> bool:
    return reopen_count >= policy.escalate_after_reopens


@dataclass
class Advance:
    watch: Watch
    colour_change: tuple[str | None, str | None] | None = None
    escalations: list[Escalation] = field(default_factory=list)
    new_due: datetime | None = None


def advance(policy: Policy, watch: Watch, now: datetime) -> Advance:
    """What the passing of time up to ``now`` does to a running stage.

    Green -> yellow at the yellow time; red at the due time with one escalation
    (overdue), after which the stage gets the rung's deadline from the missed due
    time; each further missed deadline climbs one more rung. One colour change at
    most (the colour now), one escalation per missed deadline.
    """
    if watch.stage is None or watch.due_at is None or watch.paused_at is not None:
        return Advance(watch)
    result = Advance(watch)
    current, due = watch, watch.due_at
    while now >= due:
        step = escalate(policy, current.level, "overdue")
        if step is None:
            break
        rung = policy.ladder[step.level - 1]
        duration = rung.deadline or policy.duration(watch.stage, current.difficulty)
        if duration is None:  # the profile no longer times this stage: no further deadline
            break
        result.escalations.append(step)
        due = duration.due(due)
        current = replace(current, level=step.level, due_at=due, measure=duration.measure)
        result.new_due = due
    # red stays red until the stage ends: the stage is late, whatever deadline a rung gave it
    late = result.escalations or now >= due or watch.colour == "red"
    colour = "red" if late else colour_at(current, now)
    if colour != watch.colour:
        result.colour_change = (watch.colour, colour)
    result.watch = replace(current, colour=colour)
    return result


# ---------------------------------------------------------------- digests
def weekly_period(now: datetime, policy: Policy) -> tuple[str, datetime]:
    """This ISO week's digest: its period name and the instant it is due."""
    local = now.astimezone(workdays.SHANGHAI)
    year, week, _ = local.isocalendar()
    weekday, at = policy.weekly
    day = date.fromisocalendar(year, week, weekday)
    return f"{year}-W{week:02d}", datetime.combine(day, at, workdays.SHANGHAI).astimezone(timezone.utc)


def monthly_period(now: datetime, policy: Policy) -> tuple[str, datetime]:
    local = now.astimezone(workdays.SHANGHAI)
    day, at = policy.monthly
    moment = datetime.combine(date(local.year, local.month, day), at, workdays.SHANGHAI)
    return f"{local.year}-{local.month:02d}", moment.astimezone(timezone.utc)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` -> [start, end) in Shanghai time, as UTC instants."""
    year, number = periods.parse_month(month)  # ValueError: not a month within the bounds
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return workdays.start_of_day(first), workdays.start_of_day(following)
