"""The assessment part of a deployment profile (``deploy/profiles/<campaign>/assessment.yaml``).

Callback rules, the scoring scheme (weights, deductions, thresholds), targets and
report settings. Two schemes ship as profiles of the same code: the Hanzhong
annual scoring (办结率 + 满意度 with deductions, ``deploy/profiles/demo``) and a
Beijing-style three-rate scheme (响应率/解决率/满意率, ``tests/profiles/beijing``).
"""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from services.assessment.domain import DEDUCTIONS, RATES
from services.assessment.visit_rules import VisitsSection
from shared.profile import Strict

RATE_KEYS = tuple(RATES)


class CallbackSection(Strict):
    # the enterprise's link; the token is appended: <link_base_url>/<token>
    link_base_url = fields.Str(load_default="http://127.0.0.1:8104/api/v1/callback")
    # a callback not answered within this time counts as unanswered (never as satisfied)
    link_valid_hours = fields.Int(load_default=168, validate=validate.Range(min=1, max=24 * 90))
    # an unanswered link is reminded once, when this share of its validity has passed (null: never);
    # at its expiry the appeal goes onto the office's phone-callback list
    remind_at_share = fields.Float(load_default=0.5, allow_none=True,
                                   validate=validate.Range(min=0, max=1, min_inclusive=False, max_inclusive=False))


class ScoringSection(Strict):
    name = fields.Str(required=True)
    scale = fields.Float(load_default=100.0, validate=validate.Range(min=1))
    weights = fields.Dict(keys=fields.Str(validate=validate.OneOf(RATE_KEYS)),
                          values=fields.Float(validate=validate.Range(min=0, min_inclusive=False)),
                          required=True, validate=validate.Length(min=1))
    deductions = fields.Dict(keys=fields.Str(validate=validate.OneOf(tuple(DEDUCTIONS))),
                             values=fields.Float(validate=validate.Range(min=0)), load_default=dict)
    satisfaction_threshold = fields.Float(load_default=0.8, validate=validate.Range(min=0, max=1))
    labels = fields.Dict(keys=fields.Str(validate=validate.OneOf(RATE_KEYS)), values=fields.Str(),
                         load_default=dict)

    @validates_schema
    def _weights_sum_to_one(self, data: dict, **kwargs) -> None:
        total = sum(data["weights"].values())
        if abs(total - 1.0) > 1e-6:
            raise ValidationError(f"the weights add up to {total:g}; they must add up to 1", "weights")


class ReportsSection(Strict):
    trend_weeks = fields.Int(load_default=8, validate=validate.Range(min=2, max=52))
    overdue_list_limit = fields.Int(load_default=200, validate=validate.Range(min=1, max=5000))
    # where the published report can be fetched (report_published.links)
    public_base_url = fields.Str(load_default="http://127.0.0.1:8104")


class RectificationSection(Strict):
    # 限期整改: the order's deadline, in working days after the report's publication
    deadline_working_days = fields.Int(load_default=10, validate=validate.Range(min=1, max=120))
    # on the list this many periods in a row: escalated to the leader
    escalate_after = fields.Int(load_default=2, validate=validate.Range(min=2, max=12))


class AssessmentPart(Strict):
    callback = fields.Nested(CallbackSection, load_default=lambda: CallbackSection().load({}))
    scoring = fields.Nested(ScoringSection, required=True)
    # Baoding 三个100%: 100% submitted, 100% solved, 100% satisfied
    targets = fields.Dict(keys=fields.Str(validate=validate.OneOf(RATE_KEYS)),
                          values=fields.Float(validate=validate.Range(min=0, max=1)), load_default=dict)
    reports = fields.Nested(ReportsSection, load_default=lambda: ReportsSection().load({}))
    # the campaign's visit rule (走访频次) for the monthly bulletin's visits section
    visits = fields.Nested(VisitsSection, load_default=lambda: VisitsSection().load({}))
    rectification = fields.Nested(RectificationSection, load_default=lambda: RectificationSection().load({}))

    @staticmethod
    def cross_check(part: dict, units: dict) -> list[str]:
        """The ranking groups need departments and localities in the unit directory."""
        types = {u["type"] for u in units["units"]}
        return [f"units.yaml has no unit of type {t}: its ranking group would be empty"
                for t in ("department", "locality") if t not in types]
