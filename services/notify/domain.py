"""Notify's pure rules: who hears an event, on which channels, when, and how it is signed.

No nameko, no SQL, no network: every function takes what it needs, time included.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from shared.workdays import SHANGHAI

URGENT_EVENTS = frozenset({"appeal_escalated"})  # SMS even in quiet hours
ADDRESS_OF = {"email": "email", "sms": "phone", "webhook": "webhook"}


@dataclass(frozen=True)
class Recipient:
    """Someone to tell: ``key`` is stable (``unit:tax``, ``leader:tax``, ``enterprise:<code>``, ``cadre:<name>``)."""

    key: str
    name: str
    audience: str  # the template family: unit, office, leader, enterprise, cadre
    contact: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    role: str | None = None  # lead / co (units of an appeal)

    def channels(self) -> list[str]:
        """The recipient's channels that have an address; the in-app inbox always."""
        wanted = list(self.contact.get("channels") or ["inbox"])
        usable = [c for c in wanted if c == "inbox" or self.contact.get(ADDRESS_OF[c])]
        return usable if "inbox" in usable else usable + ["inbox"]

    def address(self, channel: str) -> str | None:
        return None if channel == "inbox" else self.contact.get(ADDRESS_OF[channel])


class Directory:
    """Units, their leaders, the office, the cadres: from ``units.yaml`` and the notify part."""

    def __init__(self, units_part: dict[str, Any], notify_part: dict[str, Any]):
        self.office = units_part["office"]
        self.units = {u["code"]: u for u in units_part["units"]}
        self.cadres = notify_part.get("cadres") or {}
        self.enterprise_defaults = notify_part["enterprises"]
        self.escalation_leaders = notify_part.get("escalation_leaders") or {}

    def unit_name(self, code: str | None) -> str:
        unit = self.units.get(code or "")
        return unit["name"] if unit else (code or "")

    def unit(self, code: str | None, role: str | None = None) -> Recipient | None:
        unit = self.units.get(code or "")
        if unit is None or not unit.get("contact"):
            return None
        audience = "office" if code == self.office else "unit"
        return Recipient(f"unit:{code}", unit["name"], audience, dict(unit["contact"]), role)

    def leader(self, code: str | None) -> Recipient | None:
        unit = self.units.get(code or "")
        if unit is None or not unit.get("leader"):
            return None
        leader = unit["leader"]
        name = f"{unit['name']}{leader.get('name') or '负责人'}"
        return Recipient(f"leader:{code}", name, "leader", dict(leader))

    def enterprise(self, credit_code: str | None, name: str | None, contact: dict[str, Any] | None) -> Recipient | None:
        if not credit_code:
            return None
        contact = dict(contact or {})
        contact["channels"] = list(self.enterprise_defaults["channels"])
        contact["quiet_hours"] = self.enterprise_defaults["quiet_hours"]
        return Recipient(f"enterprise:{credit_code}", name or credit_code, "enterprise", contact)

    def cadre(self, name: str | None) -> Recipient | None:
        if not name:
            return None
        return Recipient(f"cadre:{name}", name, "cadre", dict(self.cadres.get(name) or {"channels": ["inbox"]}))

    def contact_of(self, key: str) -> dict[str, Any]:
        """The directory's contact for a recipient key (webhook secrets are never stored with a message)."""
        kind, _, ident = key.partition(":")
        if kind == "unit":
            return dict((self.units.get(ident) or {}).get("contact") or {})
        if kind == "leader":
            return dict((self.units.get(ident) or {}).get("leader") or {})
        if kind == "cadre":
            return dict(self.cadres.get(ident) or {})
        return {}


def _units_of_appeal(directory: Directory, lead: str | None, co_units: list[str]) -> list[Recipient]:
    found = [directory.unit(lead, "lead")] + [directory.unit(code, "co") for code in co_units if code != lead]
    return [r for r in found if r is not None]


def recipients_for(event_type: str, data: dict[str, Any], appeal: dict[str, Any] | None,
                   directory: Directory) -> list[Recipient]:
    """Who hears this event. ``appeal`` is what notify knows of the appeal (enterprise, cadre, units)."""
    appeal = appeal or {}
    found: list[Recipient | None] = []
    if event_type == "appeal_dispatched":
        if data.get("lead_unit") is None:
            found.append(directory.unit(directory.office))
        else:
            found += _units_of_appeal(directory, data["lead_unit"], data.get("co_units") or [])
    elif event_type in ("appeal_reopened", "supervision_order_issued"):
        lead = appeal.get("lead_unit") or data.get("unit")
        found += _units_of_appeal(directory, lead, appeal.get("co_units") or [])
    elif event_type == "appeal_escalated":
        lead = data.get("unit") or appeal.get("lead_unit")
        found += _units_of_appeal(directory, lead, appeal.get("co_units") or [])
        if data.get("to_unit"):
            found.append(directory.unit(data["to_unit"], "lead"))
        leader_unit = directory.escalation_leaders.get(data.get("rung"))
        if leader_unit == "$unit":
            leader_unit = lead
        found.append(directory.leader(leader_unit))
    elif event_type in ("weekly_digest_ready", "monthly_supervision_list"):
        found.append(directory.unit(data.get("recipient")))
    elif event_type in ("appeal_received", "appeal_accepted", "appeal_replied", "callback_requested",
                        "appeal_closed"):
        found.append(directory.enterprise(appeal.get("credit_code") or data.get("credit_code"),
                                          appeal.get("enterprise_name") or data.get("enterprise_name"),
                                          appeal.get("contact") or data.get("contact")))
        found.append(directory.cadre(appeal.get("cadre") or data.get("cadre")))
    elif event_type == "report_published":
        found += [directory.leader(code) for code in directory.units]
    elif event_type == "unit_flagged":
        found += [directory.leader(data.get("unit")), directory.unit(data.get("unit"))]
    unique: dict[str, Recipient] = {}
    for recipient in found:
        if recipient is not None and recipient.key not in unique:
            unique[recipient.key] = recipient
    return list(unique.values())


# ---------------------------------------------------------------- warnings before a deadline
WARNING_COLOURS = ("yellow", "red")
COLOUR_EVENTS = frozenset({"appeal_colour_changed", "appeal_deadline_set"})


def colour_warning(data: dict[str, Any], known_colour: str | None) -> str | None:
    """The colour to warn of (yellow: near its deadline, red: past it), or None.

    Both ``appeal_colour_changed`` and ``appeal_deadline_set`` (a stage that starts, a deadline
    that moves: its ``colour``) tell notify an appeal's colour; an appeal is warned when it
    turns yellow or red, once per turn: a deadline that keeps the colour notify already knew
    (a clock resumed while yellow) warns no one again. Order and rung deadlines carry no colour.
    """
    colour = data.get("colour")
    if not isinstance(colour, str) or colour not in WARNING_COLOURS or colour == known_colour:
        return None
    return colour


def warning_recipients(colour: str, unit: str | None, directory: Directory) -> list[Recipient]:
    """Yellow: the lead unit hears it; red: the unit and its leader (notify-before, as Znuny does)."""
    found = [directory.unit(unit, "lead")]
    if colour == "red":
        found.append(directory.leader(unit))
    return [r for r in found if r is not None]


def digest_sections(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The weekly reminder's lists (周提醒): a unit's items past (red) and near (yellow) their
    deadline, each by its due time; the others are only counted."""
    by_due = sorted(items, key=lambda item: (item.get("due_at") or "9999", item.get("appeal_id") or ""))
    return {"red": [i for i in by_due if i.get("colour") == "red"],
            "yellow": [i for i in by_due if i.get("colour") == "yellow"],
            "other": [i for i in by_due if i.get("colour") not in WARNING_COLOURS]}


# ---------------------------------------------------------------- quiet hours
def parse_quiet_hours(spec: str | None) -> tuple[time, time] | None:
    if not spec:
        return None
    start, _, end = spec.partition("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def quiet_until(now: datetime, spec: str | None, tz: ZoneInfo = SHANGHAI) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None when ``now`` is not in them."""
    window = parse_quiet_hours(spec)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(tz)
    clock = local.timetz().replace(tzinfo=None)
    if start == end:
        return None
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # over midnight, e.g. 22:00-07:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(timezone.utc)


def sms_not_before(now: datetime, quiet_hours: str | None, urgent: bool) -> datetime | None:
    """SMS is never sent in quiet hours, except urgent messages (escalations); None: send now."""
    return None if urgent else quiet_until(now, quiet_hours)


# ---------------------------------------------------------------- retries
def backoff_delay(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Exponential: base, 2*base, 4*base ... after the 1st, 2nd, 3rd failure; capped."""
    seconds = base_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, max_seconds))


def after_failure(attempts: int, max_attempts: int, now: datetime, base_seconds: float,
                  max_seconds: float) -> datetime | None:
    """The next attempt's time after ``attempts`` failures, or None when it has failed for good."""
    if attempts >= max_attempts:
        return None
    return now + backoff_delay(attempts, base_seconds, max_seconds)


class TokenBucket:
    """A token bucket: ``rate`` tokens a second up to ``burst``; time is a parameter (monotonic seconds)."""

    def __init__(self, rate: float, burst: int, now: float):
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.updated = now

    def _level(self, now: float) -> float:
        return min(self.burst, self.tokens + (now - self.updated) * self.rate)

    def available(self, now: float) -> int:
        """The whole tokens there at ``now`` (without taking them): how many a pass may send."""
        return int(self._level(now))

    def take(self, now: float) -> bool:
        self.tokens = self._level(now)
        self.updated = max(self.updated, now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# ---------------------------------------------------------------- webhooks
def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signing: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign}"


def body_signature(secret: str, body: bytes) -> str:
    """``X-Suqiu-Signature``: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(kind: str, notification: dict[str, Any]) -> bytes:
    """The JSON a group robot accepts (DingTalk, WeCom: a text message), or Suqiu's own."""
    text = f"{notification['subject']}\n{notification['body']}"
    if kind in ("dingtalk", "wecom"):
        payload: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
    else:
        payload = {"id": notification["id"], "event_id": notification["event_id"],
                   "event_type": notification["event_type"], "recipient": notification["recipient"],
                   "appeal_id": notification.get("appeal_id"), "subject": notification["subject"],
                   "text": notification["body"]}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- policy pushes
TARGET_FIELDS = ("district", "industry", "size")


def matches_targets(enterprise: dict[str, Any], targets: dict[str, Any]) -> bool:
    """Every criterion given must hold: district/industry/size one of the listed, one tag in common, pairing."""
    for name in TARGET_FIELDS:
        wanted = targets.get(name)
        if wanted and enterprise.get(name) not in wanted:
            return False
    tags = targets.get("tags")
    if tags and not set(tags) & set(enterprise.get("tags") or []):
        return False
    paired = targets.get("paired")
    if paired is not None and bool(enterprise.get("cadre")) != paired:
        return False
    return True


def split_text(rendered: str) -> tuple[str, str]:
    """A template renders its subject on the first line, the body after it."""
    subject, _, body = rendered.strip().partition("\n")
    return subject.strip(), body.strip()
