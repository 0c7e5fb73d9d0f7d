"""Supervision's part of a deployment profile (``<profile>/supervision.yaml``).

    stages:                 # per stage, per difficulty A/B/C/D: one duration
      accept: {A: {hours: 24}, B: {working_days: 1}, ...}
      reply:  {A: {working_days: 3}, ..., D: {days: 60}}
    yellow: {share_used: 0.6}          # or {working_days_left: 1}
    ladder:                            # ordered rungs, the first is level 1
      - {rung: unit_leader, to_unit: null, deadline: {working_days: 3}}
      - {rung: office, to_unit: office, deadline: {working_days: 5}}
      - {rung: city, to_unit: city, meeting_agenda: true}
      - {rung: province, to_unit: province}
    escalate_after_reopens: 2
    digests:
      weekly: {weekday: 1, at: "09:00"}     # Monday 09:00 Shanghai time
      monthly: {day: 1, at: "09:00"}

A duration is exactly one of ``working_days`` (Chinese calendar), ``hours`` or
``days`` (clock time). A stage missing from ``stages`` has no deadline.

Rules that differ by urgency and by district, the city's as default (issue 15):

    urgency:                           # per urgency, stages whose duration the urgency sets
      特急: {accept: {hours: 2}, reply: {working_days: 2}}
    districts:                         # per district (the appeal's, as units.yaml names it)
      萧山区: {stages: {accept: {hours: 24}}}
      建德市:
        counted_from: dispatch         # every stage's deadline counted from the dispatch (1+3+6+10)
        stages: {accept: {days: 1}, plan: {days: 3}, reply: {days: 6}}
        urgency: {特急: {reply: {days: 3}}}
    meetings:                          # the meetings the campaign holds (交办会, 调度会)
      - {kind: 交办会, agenda: chosen}   # chosen: the office puts appeals to it
      - {kind: 调度会, agenda: ladder}   # ladder: the month's items at the meeting-agenda rung

A stage is one duration for every difficulty or one per difficulty. An appeal's
duration of a stage is, first found: its district's for its urgency, its district's,
the city's for its urgency, the city's. The ``plan`` stage (解决方案) runs between
acceptance and reply only where it has a duration: the unit's plan ends it.
"""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.profile import Strict

STAGES = ("submit", "accept", "plan", "reply")
URGENCIES = ("一般", "紧急", "特急")
DURATION_KEYS = {"working_days", "hours", "days"}
DIFFICULTIES = ("A", "B", "C", "D")
RUNGS = ("unit_leader", "office", "city", "province")


class DurationSchema(Strict):
    working_days = fields.Int(validate=validate.Range(min=1, max=365))
    hours = fields.Int(validate=validate.Range(min=1, max=24 * 365))
    days = fields.Int(validate=validate.Range(min=1, max=365))

    @validates_schema
    def _exactly_one(self, data: dict, **kwargs) -> None:
        if len(data) != 1:
            raise ValidationError("give exactly one of working_days, hours, days")


def _per_difficulty() -> fields.Dict:
    return fields.Dict(keys=fields.Str(validate=validate.OneOf(DIFFICULTIES)),
                       values=fields.Nested(DurationSchema), required=True)


class StageDurations(fields.Field):
    """A stage's duration: one (``{days: 3}``) for every difficulty, or one per difficulty."""

    def _deserialize(self, value, attr, data, **kwargs) -> dict:
        if not isinstance(value, dict) or not value:
            raise ValidationError("give a duration ({days: 3}) or one per difficulty ({A: {days: 3}, ...})")
        if set(value) <= DURATION_KEYS:
            one = DurationSchema().load(value)
            return {difficulty: one for difficulty in DIFFICULTIES}
        unknown = [key for key in value if key not in DIFFICULTIES]
        if unknown:
            raise ValidationError(f"unknown difficulty or duration {', '.join(map(str, unknown))}; "
                                  f"use {', '.join(DIFFICULTIES)} or one of {', '.join(sorted(DURATION_KEYS))}")
        missing = [d for d in DIFFICULTIES if d not in value]
        if missing:
            raise ValidationError(f"no duration for difficulty {', '.join(missing)}")
        errors, loaded = {}, {}
        for difficulty, spec in value.items():
            try:
                loaded[difficulty] = DurationSchema().load(spec if isinstance(spec, dict) else {"": spec})
            except ValidationError as exc:
                errors[difficulty] = exc.messages
        if errors:
            raise ValidationError(errors)
        return loaded


def _stage() -> StageDurations:
    return StageDurations(load_default=None)


class PartialStagesSchema(Strict):
    """A district's or an urgency's stages: only those it sets."""

    accept = _stage()
    plan = _stage()
    reply = _stage()


class DistrictSchema(Strict):
    seed = fields.Str(load_default=None)  # the seed sentence the rule encodes
    counted_from = fields.Str(load_default="fact", validate=validate.OneOf(("fact", "dispatch")))
    stages = fields.Nested(PartialStagesSchema, load_default=dict)
    urgency = fields.Dict(keys=fields.Str(validate=validate.OneOf(URGENCIES)),
                          values=fields.Nested(PartialStagesSchema), load_default=dict)


class MeetingKindSchema(Strict):
    kind = fields.Str(required=True, validate=validate.Length(min=1, max=32))  # 交办会, 调度会
    agenda = fields.Str(load_default="chosen", validate=validate.OneOf(("chosen", "ladder")))
    seed = fields.Str(load_default=None)


class StagesSchema(Strict):
    # submit: from collection to submission (Hanzhong: 2 working days), documented for the ledger
    submit = fields.Dict(keys=fields.Str(validate=validate.OneOf(DIFFICULTIES)),
                         values=fields.Nested(DurationSchema), load_default=dict)
    accept = _per_difficulty()
    plan = fields.Dict(keys=fields.Str(validate=validate.OneOf(DIFFICULTIES)),
                       values=fields.Nested(DurationSchema), load_default=dict)  # 解决方案, optional
    reply = _per_difficulty()

    @validates_schema
    def _every_difficulty(self, data: dict, **kwargs) -> None:
        for stage in ("accept", "reply"):
            missing = [d for d in DIFFICULTIES if d not in data.get(stage, {})]
            if missing:
                raise ValidationError(f"no duration for difficulty {', '.join(missing)}", stage)


class YellowSchema(Strict):
    share_used = fields.Float(validate=validate.Range(min=0.01, max=0.99))
    working_days_left = fields.Int(validate=validate.Range(min=1, max=60))

    @validates_schema
    def _exactly_one(self, data: dict, **kwargs) -> None:
        if len(data) != 1:
            raise ValidationError("give exactly one of share_used, working_days_left")


class RungSchema(Strict):
    rung = fields.Str(required=True, validate=validate.OneOf(RUNGS))
    name = fields.Str(load_default=None)  # e.g. 市级协调 (for the ledger)
    to_unit = fields.Str(required=True, allow_none=True)  # the new lead; null: the lead stays
    deadline = fields.Nested(DurationSchema, load_default=None)  # default: the stage's own duration
    meeting_agenda = fields.Bool(load_default=False)  # items at this rung form the 调度会 agenda


class WeeklySchema(Strict):
    weekday = fields.Int(load_default=1, validate=validate.Range(min=1, max=7))  # ISO: 1 = Monday
    at = fields.Str(load_default="09:00", validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))


class MonthlySchema(Strict):
    day = fields.Int(load_default=1, validate=validate.Range(min=1, max=28))
    at = fields.Str(load_default="09:00", validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))


class DigestsSchema(Strict):
    weekly = fields.Nested(WeeklySchema, load_default=lambda: WeeklySchema().load({}))
    monthly = fields.Nested(MonthlySchema, load_default=lambda: MonthlySchema().load({}))


class SupervisionPart(Strict):
    stages = fields.Nested(StagesSchema, required=True)
    yellow = fields.Nested(YellowSchema, load_default=lambda: {"share_used": 0.6})
    ladder = fields.List(fields.Nested(RungSchema), required=True, validate=validate.Length(min=1))
    escalate_after_reopens = fields.Int(load_default=2, validate=validate.Range(min=1))
    digests = fields.Nested(DigestsSchema, load_default=lambda: DigestsSchema().load({}))
    urgency = fields.Dict(keys=fields.Str(validate=validate.OneOf(URGENCIES)),
                          values=fields.Nested(PartialStagesSchema), load_default=dict)
    districts = fields.Dict(keys=fields.Str(validate=validate.Length(min=1, max=64)),
                            values=fields.Nested(DistrictSchema), load_default=dict)
    meetings = fields.List(fields.Nested(MeetingKindSchema), load_default=list)

    @validates_schema
    def _meeting_kinds_once(self, data: dict, **kwargs) -> None:
        kinds = [m["kind"] for m in data.get("meetings") or []]
        if len(kinds) != len(set(kinds)):
            raise ValidationError("a meeting kind appears twice", "meetings")

    @validates_schema
    def _ladder(self, data: dict, **kwargs) -> None:
        names = [r["rung"] for r in data.get("ladder", [])]
        if len(names) != len(set(names)):
            raise ValidationError("a rung appears twice", "ladder")
        order = [RUNGS.index(n) for n in names]
        if order != sorted(order):
            raise ValidationError(f"rungs go upwards: {' -> '.join(RUNGS)}", "ladder")

    @staticmethod
    def cross_check(part: dict, units: dict) -> list[str]:
        known = {u["code"] for u in units["units"]}
        problems = [f"ladder[{i}].to_unit: unknown unit {r['to_unit']!r}"
                    for i, r in enumerate(part["ladder"]) if r["to_unit"] and r["to_unit"] not in known]
        districts = {u["district"] for u in units["units"] if u["type"] == "locality" and u.get("district")}
        problems += [f"districts.{name}: no locality unit of units.yaml has this district"
                     for name in part.get("districts") or {} if name not in districts]
        return problems
