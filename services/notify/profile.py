"""The notify part of a deployment profile (``<PROFILE_DIR>/notify.yaml``).

Units and their leaders are reached through ``units.yaml``; this part adds what
only notify needs: how enterprises and cadres are reached, retries, rate limits.
"""
from __future__ import annotations

from marshmallow import fields, validate

from shared.profile import ContactSchema, Strict

QUIET = validate.Regexp(r"^\d{2}:\d{2}-\d{2}:\d{2}$")
CHANNELS = ("email", "webhook", "sms", "inbox")


class EnterpriseDefaults(Strict):
    # the channels tried for an enterprise, when its registry contact has the address
    channels = fields.List(fields.Str(validate=validate.OneOf(("email", "sms", "inbox"))),
                           load_default=lambda: ["sms", "email", "inbox"])
    quiet_hours = fields.Str(load_default="22:00-08:00", validate=QUIET)


class RateLimit(Strict):
    rate = fields.Float(required=True, validate=validate.Range(min=0.01))  # messages per second
    burst = fields.Int(required=True, validate=validate.Range(min=1))


class Backoff(Strict):
    base_seconds = fields.Float(load_default=30.0, validate=validate.Range(min=0))
    max_seconds = fields.Float(load_default=3600.0, validate=validate.Range(min=0))


class NotifyPart(Strict):
    enterprises = fields.Nested(EnterpriseDefaults, load_default=lambda: EnterpriseDefaults().load({}))
    # the paired cadres (包联干部) by the name the registry carries
    cadres = fields.Dict(keys=fields.Str(), values=fields.Nested(ContactSchema), load_default=dict)
    max_attempts = fields.Int(load_default=5, validate=validate.Range(min=1, max=50))
    backoff = fields.Nested(Backoff, load_default=lambda: Backoff().load({}))
    rate_limits = fields.Dict(keys=fields.Str(validate=validate.OneOf(CHANNELS)), values=fields.Nested(RateLimit),
                              load_default=dict)
    # the escalation rungs that reach a unit's leader: rung -> unit code ("$unit": the lead unit)
    escalation_leaders = fields.Dict(keys=fields.Str(), values=fields.Str(),
                                     load_default=lambda: {"unit_leader": "$unit"})

    @staticmethod
    def cross_check(part: dict, units: dict) -> list[str]:
        known = {u["code"] for u in units["units"]}
        return [f"escalation_leaders.{rung}: unknown unit {code!r}"
                for rung, code in part["escalation_leaders"].items() if code != "$unit" and code not in known]
