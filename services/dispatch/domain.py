"""Dispatch's pure rules: classify, route, and what a unit and the office may do with an appeal.

No nameko, no SQL, no I/O, no clock: the tests of this module run in milliseconds.
An :class:`Appeal` records the events and history lines each change causes
(cosmicpython's ``model.py``); the use cases in ``handlers`` store them.

首派负责制 (first responder), as implemented when the profile's ``first_responder``
is true: the unit an appeal is first dispatched to (by a rule or by the office)
stays its lead and coordinates it. An office re-assignment then keeps that lead
and adds the named units as co-units, unless the office says ``replace_lead``.
The lead is released only when it returns the appeal itself (退单: the next
candidate, or the office queue, takes it) or when supervision escalates it (the
unit one rung up leads, the previous lead becomes a co-unit). With
``first_responder`` false a re-assignment simply replaces lead and co-units.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.dispatch.profile import LOCALITY, PAIRED_UNITS
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import DIFFICULTIES, NATURES, OUTCOMES, URGENCIES, DispatchReason

QUEUED, DISPATCHED, ACCEPTED, REPLIED, REOPENED, CLOSED = (
    "queued", "dispatched", "accepted", "replied", "reopened", "closed")
STATES = (QUEUED, DISPATCHED, ACCEPTED, REPLIED, REOPENED, CLOSED)
STATE_NAMES = {QUEUED: "待人工派单", DISPATCHED: "已派单", ACCEPTED: "已签收", REPLIED: "已办结反馈",
               REOPENED: "重办", CLOSED: "已办结"}

# action -> the states it may be taken from (illegal otherwise: 409, nothing changes)
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "accept": frozenset({DISPATCHED, REOPENED}),
    "progress": frozenset({ACCEPTED}),
    "reply": frozenset({ACCEPTED}),
    "return": frozenset({DISPATCHED, ACCEPTED, REOPENED}),
    "escalation_request": frozenset({DISPATCHED, ACCEPTED, REOPENED}),
    "assign": frozenset({QUEUED, DISPATCHED, ACCEPTED, REOPENED}),
    "classify": frozenset({QUEUED, DISPATCHED, ACCEPTED, REPLIED, REOPENED}),
    "plan": frozenset({ACCEPTED, REOPENED}),
}
ACTION_NAMES = {"accept": "签收", "progress": "进展反馈", "reply": "办结反馈", "return": "退单",
                "escalation_request": "提级申请", "assign": "派单", "classify": "调整分类",
                "plan": "提交解决方案"}


class IllegalTransition(Conflict):
    code = "illegal_transition"


class NotYours(Forbidden):
    code = "not_your_appeal"


class NotVisible(NotFound):
    """Another unit's appeal: answered as if it did not exist (404), as every service does, so a
    unit learns nothing of appeals it neither leads nor co-handles."""


# ---------------------------------------------------------------- reference data
@dataclass(frozen=True)
class Candidate:
    """One routing rule's answer for an appeal: a lead and its co-units, concrete unit codes."""

    rule: str
    lead: str
    co_units: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "lead": self.lead, "co_units": list(self.co_units)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(data["rule"], data["lead"], tuple(data.get("co_units") or ()))


@dataclass(frozen=True)
class Facts:
    """What routing looks at."""

    category: str
    district: str | None = None
    cadre: str | None = None
    leader: str | None = None
    channel: str | None = None
    text: str = ""
    # the subject's pairing as appeal_received carries it (intake's registry): its own lead
    # department (四个一 / 六个一) and its paired cadre's unit (结对干部所在单位)
    subject_type: str = "enterprise"
    lead_department: str | None = None
    cadre_unit: str | None = None
    nature: str | None = None
    difficulty: str | None = None
    urgency: str | None = None


@dataclass(frozen=True)
class Classification:
    category: str
    category_source: str  # submitter / keywords / default / office
    difficulty: str
    nature: str


class Rules:
    """The dispatch part of the profile with the unit directory, ready to apply."""

    def __init__(self, part: dict[str, Any], units: dict[str, Any]):
        self.part = part
        self.units = {u["code"]: u for u in units["units"]}
        self.office = units["office"]
        self.first_responder: bool = part["first_responder"]
        self.max_returns: int = part["max_returns"]
        self.categories = [c["code"] for c in part["categories"]]
        self.default_category = part["default_category"]
        self._spellings: dict[str, str] = {}
        for category in part["categories"]:
            for spelling in [category["code"], *category["aliases"], *category["code"].split("/")]:
                self._spellings.setdefault(spelling.strip(), category["code"])
        self._locality_by_district = {u["district"]: u["code"] for u in units["units"]
                                      if u["type"] == "locality" and u.get("district")}
        self.codes: list[dict[str, Any]] = part.get("codes") or []

    # -- units
    def knows(self, unit: str) -> bool:
        return unit in self.units

    def level_of(self, unit: str | None) -> str:
        level: str = self.units[unit or self.office]["level"]
        return level

    def locality_of(self, district: str | None) -> str | None:
        return self._locality_by_district.get(district or "")

    # -- classification
    def category_of(self, given: str | None, text: str) -> tuple[str, str]:
        """The category and where it came from: the submitter's, suggested by keywords, or the default."""
        if given and given.strip() in self._spellings:
            return self._spellings[given.strip()], "submitter"
        haystack = f"{given or ''} {text}"
        best, hits = None, 0
        for category in self.part["categories"]:
            count = sum(1 for word in category["keywords"] if word in haystack)
            if count > hits:
                best, hits = category["code"], count
        if best is not None:
            return best, "keywords"
        return self.default_category, "default"

    @property
    def spellings(self) -> list[str]:
        """Every spelling of a category that :meth:`normalise_category` knows."""
        return sorted(self._spellings)

    def normalise_category(self, value: str) -> str | None:
        return self._spellings.get(value.strip())

    def _level(self, part: str, category: str, text: str) -> str:
        levels = self.part[part]
        for rule in levels["rules"]:
            if (category in rule["categories"]) or any(word in text for word in rule["keywords"]):
                return str(rule["value"])
        return str(levels["default_value"])

    def classify(self, given_category: str | None, title: str, description: str) -> Classification:
        text = f"{title} {description}"
        category, source = self.category_of(given_category, text)
        return Classification(category, source, self._level("difficulty", category, text),
                              self._level("nature", category, text))

    # -- 赋码
    def code_for(self, district: str | None, difficulty: str, urgency: str) -> str | None:
        """The code an appeal gets at dispatch: the district's rules first, then the city's (no
        district named); the first whose non-empty lists hold the appeal's values; none: no code."""
        own = [r for r in self.codes if district and district in r["districts"]]
        city = [r for r in self.codes if not r["districts"]]
        for rule in [*own, *city]:
            if rule["difficulties"] and difficulty not in rule["difficulties"]:
                continue
            if rule["urgencies"] and urgency not in rule["urgencies"]:
                continue
            return str(rule["code"])
        return None

    # -- routing
    def candidates(self, facts: Facts) -> list[Candidate]:
        """Every rule that matches, in profile order, one per lead unit; empty: the office's queue."""
        found: list[Candidate] = []
        for rule in self.part["routing"]:
            if not _matches(rule["match"], facts):
                continue
            lead = self._resolve(rule["lead"], facts)
            if lead is None or any(c.lead == lead for c in found):
                continue  # "locality" with no locality unit for this district: the next rule decides
            co_units = []
            for name in rule["co_units"]:
                unit = self._resolve(name, facts)
                if unit is not None and unit != lead and unit not in co_units:
                    co_units.append(unit)
            found.append(Candidate(rule["name"], lead, tuple(co_units)))
        return found

    def _resolve(self, name: str, facts: Facts) -> str | None:
        if name == LOCALITY:
            return self.locality_of(facts.district)
        if name in PAIRED_UNITS:  # the subject's own unit; none (or one not in units.yaml): the next rule decides
            unit = getattr(facts, name)
            return unit if unit in self.units else None
        return name if name in self.units else None


def _matches(match: dict[str, Any], facts: Facts) -> bool:
    checks = (("categories", facts.category), ("districts", facts.district), ("cadres", facts.cadre),
              ("leaders", facts.leader), ("channels", facts.channel), ("subject_types", facts.subject_type),
              ("natures", facts.nature), ("difficulties", facts.difficulty), ("urgencies", facts.urgency))
    for key, value in checks:
        if match.get(key) and value not in match[key]:
            return False
    if match.get("keywords") and not any(word in facts.text for word in match["keywords"]):
        return False
    return True


# ---------------------------------------------------------------- the appeal and its rules
@dataclass
class Change:
    """One history line: what happened, by which unit, from which state to which."""

    action: str
    status_from: str | None
    status_to: str
    unit: str | None = None
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Appeal:
    id: str
    status: str
    category: str
    difficulty: str
    nature: str
    category_source: str = "submitter"  # submitter / keywords / default / office
    district: str | None = None
    urgency: str = "一般"
    code: str | None = None  # 赋码 at dispatch (红黄绿), from the profile's codes
    lead_leader: str | None = None  # 牵头领导, as a meeting decided
    lead_unit: str | None = None
    co_units: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    returned_by: list[str] = field(default_factory=list)
    return_count: int = 0
    dispatch_count: int = 0
    reopen_count: int = 0
    outcome: str | None = None
    reply_text: str | None = None
    colour: str | None = None
    colour_stage: str | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    # -- who
    def readable_by(self, unit: str) -> bool:
        return unit == self.lead_unit or unit in self.co_units

    def require_readable(self, unit: str) -> None:
        if not self.readable_by(unit):
            raise NotVisible(f"没有诉求 {self.id}")  # the same answer as an appeal that does not exist

    def require_lead(self, unit: str, action: str) -> None:
        self.require_readable(unit)
        if unit != self.lead_unit:
            raise NotYours(f"只有牵头单位才能{ACTION_NAMES[action]}；本单位（{unit}）是协办单位")

    def require_state(self, action: str) -> None:
        if self.status not in ALLOWED_FROM[action]:
            raise IllegalTransition(
                f"诉求当前状态为“{STATE_NAMES[self.status]}”，不能{ACTION_NAMES[action]}",
                {"status": [self.status], "allowed_from": sorted(ALLOWED_FROM[action])})

    # -- dispatching
    def _dispatch(self, rules: Rules, lead: str | None, co_units: Iterable[str], reason: DispatchReason,
                  status: str | None = None, unit: str | None = None, note: str | None = None) -> None:
        before, lead_before = self.status, self.lead_unit
        self.lead_unit = lead
        self.co_units = [u for u in dict.fromkeys(co_units) if u != lead]
        if lead is None:
            self.co_units, reason, status = [], DispatchReason.MANUAL_QUEUE, QUEUED
        self.status = status or DISPATCHED
        self.dispatch_count += 1
        # the lead must accept anew: a new lead, or the same one sent back to accepting
        starts = self.status == DISPATCHED and (lead != lead_before or before != DISPATCHED)
        self.events.append(("appeal_dispatched", {
            "appeal_id": self.id, "lead_unit": lead, "co_units": list(self.co_units), "category": self.category,
            "difficulty": self.difficulty, "nature": self.nature, "level": rules.level_of(lead),
            "district": self.district, "reason": reason.value, "dispatch_count": self.dispatch_count,
            "urgency": self.urgency, "code": self.code, "starts_acceptance": starts}))
        self.changes.append(Change("dispatched", before, self.status, unit=unit, note=note, details={
            "reason": reason.value, "lead_unit": lead, "co_units": list(self.co_units),
            "dispatch_count": self.dispatch_count}))

    def route(self, rules: Rules, facts: Facts) -> None:
        """The first dispatch: the first matching rule leads; none: the office's manual queue."""
        self.candidates = rules.candidates(facts)
        first = self.candidates[0] if self.candidates else None
        details = {"rule": first.rule} if first else {}
        self._dispatch(rules, first.lead if first else None, first.co_units if first else (),
                       DispatchReason.RULE)
        self.changes[-1].details.update(details)

    def next_candidate(self) -> Candidate | None:
        """The next rule's unit that has not had (and returned) this appeal."""
        for candidate in self.candidates:
            if candidate.lead != self.lead_unit and candidate.lead not in self.returned_by:
                return candidate
        return None

    # -- the lead unit's desk
    def accept(self, unit: str, actor: str | None = None) -> None:
        self.require_lead(unit, "accept")
        self.require_state("accept")
        before, self.status = self.status, ACCEPTED
        self.events.append(("appeal_accepted", {"appeal_id": self.id, "unit": unit, "actor": actor}))
        self.changes.append(Change("accepted", before, ACCEPTED, unit=unit))

    def progress(self, unit: str, note: str, actor: str | None = None) -> None:
        self.require_lead(unit, "progress")
        self.require_state("progress")
        self.events.append(("appeal_progressed", {"appeal_id": self.id, "unit": unit, "note": note,
                                                  "actor": actor}))
        self.changes.append(Change("progressed", self.status, self.status, unit=unit, note=note))

    def reply(self, unit: str, outcome: str, reply_text: str, actor: str | None = None) -> None:
        self.require_lead(unit, "reply")
        self.require_state("reply")
        if outcome not in OUTCOMES:
            raise InvalidInput("invalid reply", {"outcome": [f"must be one of {', '.join(OUTCOMES)}"]})
        before, self.status = self.status, REPLIED
        self.outcome, self.reply_text = outcome, reply_text
        self.colour, self.colour_stage = None, None  # the reply ends the stage: nothing runs late now
        self.events.append(("appeal_replied", {"appeal_id": self.id, "unit": unit, "outcome": outcome,
                                               "reply_text": reply_text, "actor": actor}))
        self.changes.append(Change("replied", before, REPLIED, unit=unit, note=reply_text,
                                   details={"outcome": outcome}))

    def return_(self, rules: Rules, unit: str, reason: str) -> None:
        """退单: the next candidate leads, else the office's queue; every N-th return asks to escalate."""
        self.require_lead(unit, "return")
        self.require_state("return")
        self.return_count += 1
        if unit not in self.returned_by:
            self.returned_by.append(unit)
        self.events.append(("appeal_returned", {"appeal_id": self.id, "unit": unit, "reason": reason,
                                                "return_count": self.return_count}))
        self.changes.append(Change("returned", self.status, self.status, unit=unit, note=reason,
                                   details={"return_count": self.return_count}))
        following = self.next_candidate()
        self._dispatch(rules, following.lead if following else None, following.co_units if following else (),
                       DispatchReason.RETURNED, unit=unit)
        if following:
            self.changes[-1].details["rule"] = following.rule
        if self.return_count % rules.max_returns == 0:
            self.events.append(("appeal_escalation_requested", {
                "appeal_id": self.id, "unit": unit, "reason": "returns",
                "note": f"已退单 {self.return_count} 次（上限 {rules.max_returns} 次）"}))
            self.changes.append(Change("escalation_requested", self.status, self.status, unit=unit,
                                       details={"reason": "returns", "return_count": self.return_count}))

    def request_escalation(self, unit: str, note: str, actor: str | None = None) -> None:
        self.require_lead(unit, "escalation_request")
        self.require_state("escalation_request")
        self.events.append(("appeal_escalation_requested", {"appeal_id": self.id, "unit": unit, "note": note,
                                                            "actor": actor, "reason": "requested"}))
        self.changes.append(Change("escalation_requested", self.status, self.status, unit=unit, note=note,
                                   details={"reason": "requested"}))

    def submit_plan(self, unit: str, plan: str, actor: str | None = None) -> None:
        """解决方案: the lead unit's plan (建德 1+3+6+10: a solution within 3 days); where the
        district has a plan stage, supervision watches it and starts the reply stage on it."""
        self.require_lead(unit, "plan")
        self.require_state("plan")
        self.events.append(("appeal_plan_submitted", {"appeal_id": self.id, "unit": unit, "note": plan,
                                                      "actor": actor}))
        self.changes.append(Change("plan_submitted", self.status, self.status, unit=unit, note=plan))

    # -- the office
    def assign(self, rules: Rules, lead: str, co_units: list[str], replace_lead: bool = False,
               note: str | None = None) -> None:
        """Manual (re-)assignment; see the module docstring for 首派负责制."""
        self.require_state("assign")
        unknown = [u for u in [lead, *co_units] if not rules.knows(u)]
        if unknown:
            raise InvalidInput("unknown units", {"units": [f"unknown unit code: {u}" for u in unknown]})
        if self.lead_unit is not None and rules.first_responder and not replace_lead and lead != self.lead_unit:
            added = [u for u in [lead, *co_units] if u != self.lead_unit]
            self._dispatch(rules, self.lead_unit, [*self.co_units, *added], DispatchReason.ASSIGNED, status=self.status,
                           note=note)
            self.changes[-1].details["first_responder_kept"] = True
            return
        status = self.status if lead == self.lead_unit else DISPATCHED
        self._dispatch(rules, lead, co_units, DispatchReason.ASSIGNED, status=status, note=note)

    def reclassify(self, rules: Rules, category: str | None = None, difficulty: str | None = None,
                   nature: str | None = None, urgency: str | None = None) -> None:
        self.require_state("classify")
        errors = {}
        if category is not None:
            normal = rules.normalise_category(category)
            if normal is None:
                errors["category"] = [f"must be one of {', '.join(rules.categories)}"]
            category = normal
        if difficulty is not None and difficulty not in DIFFICULTIES:
            errors["difficulty"] = [f"must be one of {', '.join(DIFFICULTIES)}"]
        if nature is not None and nature not in NATURES:
            errors["nature"] = [f"must be one of {', '.join(NATURES)}"]
        if urgency is not None and urgency not in URGENCIES:
            errors["urgency"] = [f"must be one of {', '.join(URGENCIES)}"]
        if errors:
            raise InvalidInput("invalid classification", errors)
        before = {"category": self.category, "difficulty": self.difficulty, "nature": self.nature,
                  "urgency": self.urgency, "code": self.code}
        self.category = category or self.category
        if category is not None:
            self.category_source = "office"
        self.difficulty = difficulty or self.difficulty
        self.nature = nature or self.nature
        self.urgency = urgency or self.urgency
        self.code = rules.code_for(self.district, self.difficulty, self.urgency)
        after = {"category": self.category, "difficulty": self.difficulty, "nature": self.nature,
                 "urgency": self.urgency, "code": self.code}
        self.events.append(("appeal_reclassified", {"appeal_id": self.id, **after}))
        self.changes.append(Change("reclassified", self.status, self.status,
                                   details={"before": before, "after": after}))

    # -- common problems (共性问题)
    def join_common_problem(self, rules: Rules, problem_id: str, title: str, lead: str) -> None:
        """The office confirmed this appeal as a member of a common problem: its nature becomes
        共性, and the problem's lead unit leads it (a re-dispatch when it had another lead). The
        group's lead replaces a first responder (首派负责制): one unit takes the common problem
        over, as the bureau did for 22 firms' land titles (seed 001)."""
        if self.status not in (QUEUED, DISPATCHED, ACCEPTED, REOPENED):
            raise IllegalTransition(f"诉求当前状态为“{STATE_NAMES[self.status]}”，不能归入共性问题",
                                    {"status": [self.status]})
        before = {"category": self.category, "difficulty": self.difficulty, "nature": self.nature}
        self.nature = "共性"
        after = {"category": self.category, "difficulty": self.difficulty, "nature": self.nature}
        self.events.append(("appeal_reclassified", {"appeal_id": self.id, **after, "common_problem_id": problem_id,
                                                    "common_problem_title": title}))
        self.changes.append(Change("common_problem", self.status, self.status, unit=lead, note=title, details={
            "common_problem_id": problem_id, "before": before, "after": after}))
        if lead != self.lead_unit:
            self._dispatch(rules, lead, [], DispatchReason.ASSIGNED, note=f"共性问题统一办理：{title}")

    def reply_as_member(self, unit: str, outcome: str, reply_text: str, actor: str | None = None) -> bool:
        """The lead's reply to the common problem reaches this member: signed for first when it was not
        yet (the acceptance is then as late as the reply). False when there is nothing to answer:
        already replied or closed, or led by another unit now (an escalation moved it)."""
        if self.status in (REPLIED, CLOSED) or self.lead_unit != unit:
            return False
        if self.status in (DISPATCHED, REOPENED):
            self.accept(unit, actor)
        self.reply(unit, outcome, reply_text, actor)
        return True

    # -- what other services report
    def reopen(self, rules: Rules, reason: str, reopen_count: int, unit: str | None = None) -> bool:
        """重办: back to its lead unit. A closed appeal reopened by a follow-up round goes to
        ``unit`` (the unit that replied, or another the office named). False (nothing moves)
        unless it was replied or closed."""
        if self.status not in (REPLIED, CLOSED):
            self.changes.append(Change("reopen_ignored", self.status, self.status,
                                       details={"reason": reason, "reopen_count": reopen_count}))
            return False
        self.reopen_count = max(self.reopen_count + 1, reopen_count)
        lead = (unit or self.lead_unit) if self.status == CLOSED else self.lead_unit
        co_units = [u for u in self.co_units if u != lead]
        self._dispatch(rules, lead, co_units, DispatchReason.REOPENED, status=REOPENED, note=reason)
        return True

    def close(self, outcome: str | None, satisfaction: str | None) -> bool:
        if self.status == CLOSED:
            return False
        before, self.status = self.status, CLOSED
        self.outcome = outcome or self.outcome
        self.colour, self.colour_stage = None, None  # closed: off the desk's colour and overdue filters
        self.changes.append(Change("closed", before, CLOSED, details={"outcome": outcome,
                                                                      "satisfaction": satisfaction}))
        return True

    def escalate(self, rules: Rules, to_unit: str | None, rung: str, reason: str) -> bool:
        """Supervision moved it up a rung: ``to_unit`` leads, the previous lead becomes a co-unit."""
        details = {"rung": rung, "reason": reason, "to_unit": to_unit}
        if self.status == CLOSED or to_unit is None or to_unit == self.lead_unit:
            self.changes.append(Change("escalated", self.status, self.status, details=details))
            return False
        if not rules.knows(to_unit):
            raise InvalidInput(f"appeal_escalated names an unknown unit {to_unit!r}")
        previous = [self.lead_unit] if self.lead_unit else []
        status = {ACCEPTED: DISPATCHED, QUEUED: DISPATCHED}.get(self.status, self.status)
        self._dispatch(rules, to_unit, [*previous, *self.co_units], DispatchReason.ESCALATED, status=status)
        self.changes[-1].details.update(details)
        return True

    def set_colour(self, colour: str, stage: str | None) -> None:
        """Supervision's colour of the running stage; a replied or closed appeal runs no stage (a
        colour published before supervision heard of the reply changes nothing)."""
        if self.status in (REPLIED, CLOSED):
            return
        self.colour, self.colour_stage = colour, stage

    def apply_meeting_decision(self, rules: Rules, decision: dict[str, Any]) -> bool:
        """A meeting (交办会, 调度会) decided: the named unit leads (the meeting overrides the first
        responder: the previous lead leaves unless named a co-unit), under the named leader.
        An appeal already replied or closed keeps its units; the decision is recorded."""
        details = {key: decision.get(key) for key in ("meeting_id", "kind", "lead_unit", "co_units",
                                                      "lead_leader")}
        details["held_on"] = str(decision.get("held_on"))
        details["due_at"] = decision["due_at"].isoformat() if decision.get("due_at") else None
        note = f"{decision.get('kind')}（{details['held_on']}）决定"
        lead, co_units = decision.get("lead_unit"), list(decision.get("co_units") or [])
        if (lead is not None or co_units) and self.status not in ALLOWED_FROM["assign"]:
            self.changes.append(Change("meeting_decision_ignored", self.status, self.status, note=note,
                                       details=details))
            return False
        unknown = [u for u in [lead, *co_units] if u and not rules.knows(u)]
        if unknown:
            raise InvalidInput(f"meeting_decision_made names unknown units {unknown!r}")
        if decision.get("lead_leader"):
            self.lead_leader = decision["lead_leader"]
        self.changes.append(Change("meeting_decided", self.status, self.status, note=note, details=details))
        if lead is not None and lead != self.lead_unit:
            self._dispatch(rules, lead, co_units, DispatchReason.ASSIGNED, status=DISPATCHED, note=note)
        elif self.lead_unit is not None and any(u not in self.co_units and u != self.lead_unit for u in co_units):
            # the lead stays, the named units join it
            self._dispatch(rules, self.lead_unit, [*self.co_units, *co_units], DispatchReason.ASSIGNED,
                           status=self.status, note=note)
        else:
            return True
        self.changes[-1].details["meeting_id"] = decision.get("meeting_id")
        return True


def new_appeal(rules: Rules, data: dict[str, Any]) -> Appeal:
    """An appeal_received's data, classified and routed."""
    classification = rules.classify(data.get("category"), data["title"], data["description"])
    urgency = data.get("urgency") or "一般"
    appeal = Appeal(id=data["appeal_id"], status=QUEUED, category=classification.category,
                    difficulty=classification.difficulty, nature=classification.nature,
                    category_source=classification.category_source, district=data.get("district"),
                    urgency=urgency, code=rules.code_for(data.get("district"), classification.difficulty, urgency))
    appeal.changes.append(Change("received", None, QUEUED, details={
        "category": classification.category, "category_source": classification.category_source,
        "difficulty": classification.difficulty, "nature": classification.nature, "urgency": urgency,
        "code": appeal.code}))
    facts = Facts(category=classification.category, district=data.get("district"), cadre=data.get("cadre"),
                  leader=data.get("leader"), channel=data.get("channel"),
                  text=f"{data['title']} {data['description']}", subject_type=data.get("subject_type", "enterprise"),
                  lead_department=data.get("lead_department"), cadre_unit=data.get("cadre_unit"),
                  nature=classification.nature, difficulty=classification.difficulty, urgency=urgency)
    appeal.route(rules, facts)
    return appeal
