"""The visit rule of a campaign and what the monthly bulletin says of visits and pairing (issue 15).

Pure: no SQL, no clock. The definitions (docs/contracts.md, "Visits and pairing"):

* **visits per cadre / per unit**: the visits (走访) whose day lies in the period, by the cadre who
  recorded them and by that cadre's unit on the day; with the distinct subjects visited, the visits
  that found no problem, and the appeals raised in them.
* **not visited within the rule**: with the rule "at least ``at_least`` visits each calendar month"
  (``every: month``), the subjects of the rule's types registered before the period ends that had
  fewer visits than that in it; with ``every: none`` the campaign states no rule and none is listed.
* **pairing coverage**: of the subjects registered before the period ends, those with a paired cadre;
  the rate is paired / registered (none when nothing is registered), and the unpaired are listed.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from marshmallow import fields, validate

from shared.events import SUBJECT_TYPES
from shared.profile import Strict

EVERY = ("month", "none")
SUBJECT_NAMES = {"enterprise": "企业", "household": "困难家庭", "project": "项目"}


class VisitsSection(Strict):
    """``visits:`` of assessment.yaml: how often each subject must be visited."""

    every = fields.Str(load_default="none", validate=validate.OneOf(EVERY))
    at_least = fields.Int(load_default=1, validate=validate.Range(min=1, max=31))
    subject_types = fields.List(fields.Str(validate=validate.OneOf(SUBJECT_TYPES)),
                                load_default=lambda: ["enterprise"], validate=validate.Length(min=1))
    label = fields.Str(load_default=None, allow_none=True)  # the rule in the campaign's words


@dataclass(frozen=True)
class VisitRule:
    every: str = "none"
    at_least: int = 1
    subject_types: tuple[str, ...] = ("enterprise",)
    label: str | None = None

    @classmethod
    def of(cls, section: dict | None) -> VisitRule:
        section = section or VisitsSection().load({})
        return cls(section["every"], section["at_least"], tuple(section["subject_types"]), section.get("label"))

    @property
    def applies(self) -> bool:
        return self.every != "none"

    def describe(self) -> str:
        if not self.applies:
            return "未规定走访频次"
        kinds = "、".join(SUBJECT_NAMES[t] for t in self.subject_types)
        return self.label or f"每个{kinds}每月至少走访{self.at_least}次"


def _tally(visits: Iterable[dict], key: str) -> dict:
    table: dict = {}
    for visit in visits:
        row = table.setdefault(visit[key], {"visits": 0, "subjects": set(), "no_problem": 0, "appeals_raised": 0})
        row["visits"] += 1
        row["subjects"].add((visit["subject_type"], visit["subject_id"]))
        row["no_problem"] += 1 if visit["no_problem"] else 0
        row["appeals_raised"] += visit["appeals_raised"]
    return table


def per_cadre(visits: list[dict]) -> list[dict]:
    """Visits in the period by cadre, most visits first (ties by cadre id)."""
    names = {v["cadre_id"]: (v["cadre"], v["unit"]) for v in visits}
    rows = [{"cadre_id": cadre_id, "cadre": names[cadre_id][0], "unit": names[cadre_id][1],
             "visits": row["visits"], "subjects": len(row["subjects"]), "no_problem": row["no_problem"],
             "appeals_raised": row["appeals_raised"]} for cadre_id, row in _tally(visits, "cadre_id").items()]
    return sorted(rows, key=lambda r: (-r["visits"], r["cadre_id"]))


def per_unit(visits: list[dict]) -> list[dict]:
    """Visits in the period by the visiting cadre's unit (``None``: a cadre of no unit)."""
    cadres: dict = {}
    for visit in visits:
        cadres.setdefault(visit["unit"], set()).add(visit["cadre_id"])
    rows = [{"unit": unit, "visits": row["visits"], "cadres": len(cadres[unit]), "subjects": len(row["subjects"]),
             "no_problem": row["no_problem"], "appeals_raised": row["appeals_raised"]}
            for unit, row in _tally(visits, "unit").items()]
    return sorted(rows, key=lambda r: (-r["visits"], r["unit"] or ""))


def registered_by(subjects: Iterable[dict], end: datetime) -> list[dict]:
    return [s for s in subjects if s["registered_at"] < end]


def not_visited(subjects: list[dict], visits: list[dict], rule: VisitRule, end: datetime) -> list[dict]:
    """The subjects the rule asks about that were visited fewer than ``at_least`` times in the period."""
    if not rule.applies:
        return []
    counts: dict = {}
    for visit in visits:
        key = (visit["subject_type"], visit["subject_id"])
        counts[key] = counts.get(key, 0) + 1
    due = [s for s in registered_by(subjects, end) if s["subject_type"] in rule.subject_types]
    short = [{**s, "visits": counts.get((s["subject_type"], s["subject_id"]), 0)} for s in due
             if counts.get((s["subject_type"], s["subject_id"]), 0) < rule.at_least]
    return sorted(short, key=lambda s: (s["subject_type"], s["subject_id"]))


def pairing_coverage(subjects: list[dict], end: datetime) -> dict:
    """Per subject type and overall: registered, paired with a cadre, the rate, the unpaired."""
    known = registered_by(subjects, end)

    def cover(group: list[dict]) -> dict:
        paired = sum(1 for s in group if s["cadre_id"])
        return {"registered": len(group), "paired": paired, "without_cadre": len(group) - paired,
                "rate": paired / len(group) if group else None}

    return {"overall": cover(known),
            "by_type": {t: cover([s for s in known if s["subject_type"] == t])
                        for t in SUBJECT_TYPES if any(s["subject_type"] == t for s in known)},
            "unpaired": sorted(({"subject_type": s["subject_type"], "subject_id": s["subject_id"], "name": s["name"],
                                 "district": s["district"]} for s in known if not s["cadre_id"]),
                               key=lambda s: (s["subject_type"], s["subject_id"]))}
