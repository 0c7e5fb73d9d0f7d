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
"""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.profile import Strict

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


class StagesSchema(Strict):
    # submit: from collection to submission (Hanzhong: 2 working days), documented for the ledger
    submit = fields.Dict(keys=fields.Str(validate=validate.OneOf(DIFFICULTIES)),
                         values=fields.Nested(DurationSchema), load_default=dict)
    accept = _per_difficulty()
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
        return [f"ladder[{i}].to_unit: unknown unit {r['to_unit']!r}"
                for i, r in enumerate(part["ladder"]) if r["to_unit"] and r["to_unit"] not in known]
