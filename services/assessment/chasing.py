"""Pure rules of the callbacks that are chased and of the follow-up rounds (no SQL, no clock).

* An unanswered callback link is reminded once, when the profile's share of its validity
  has passed (``callback.remind_at_share``, e.g. 0.5: half-way); at its expiry, still
  unanswered, the appeal goes onto the office's phone-callback list (电话回访).
* A follow-up round (回访抽查, FixMyStreet's "fixed?" weeks later) selects closed appeals by
  the period they closed in, unit, category, and optionally a random sample of N, drawn with a
  recorded seed so that the same criteria and seed always draw the same appeals.
* In a round, "not really solved" (solved = false, or 不满意) reopens the closed appeal.
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

SATISFIED = ("满意", "基本满意")


@dataclass(frozen=True)
class LinkState:
    """What the chase knows of one callback link."""

    created_at: datetime
    expires_at: datetime
    answered: bool  # used, or superseded (the office called first, a newer reply, a closing)
    reminded_at: datetime | None = None
    expired_at: datetime | None = None


def reminder_at(created_at: datetime, expires_at: datetime, share: float | None) -> datetime | None:
    """When an unanswered link is reminded: ``share`` of its validity after it was sent (None: never)."""
    if share is None:
        return None
    return created_at + (expires_at - created_at) * share


def chase_step(link: LinkState, now: datetime, share: float | None) -> str | None:
    """What the chase does to a link at ``now``: ``remind``, ``expire`` (onto the phone list) or None.

    An answered link is left alone. Past its expiry an unanswered link is listed for a phone
    callback (once), without a reminder first: a reminder of a dead link would only annoy.
    """
    if link.answered or link.expired_at is not None:
        return None
    if now >= link.expires_at:
        return "expire"
    due = reminder_at(link.created_at, link.expires_at, share)
    if link.reminded_at is None and due is not None and now >= due:
        return "remind"
    return None


def draw_seed(entropy: int) -> int:
    """A seed for a random sample from some entropy (the caller's; recorded with the round)."""
    return entropy % (2 ** 53)


def select_sample(appeal_ids: Iterable[str], size: int | None, seed: int | None) -> list[str]:
    """The round's appeals: all of them (``size`` None), or a sample of ``size`` drawn with
    ``seed`` from the candidates in a fixed order (sorted), so the draw is reproducible."""
    candidates = sorted(set(appeal_ids))
    if size is None or size >= len(candidates):
        return candidates
    if seed is None:
        raise ValueError("a random sample needs a seed")
    return sorted(random.Random(seed).sample(candidates, size))


def followup_result(solved: bool, satisfaction: str) -> str:
    """``confirmed`` (really solved and satisfied) or ``reopened`` (not really solved: 重办)."""
    return "confirmed" if solved and satisfaction in SATISFIED else "reopened"


def round_status(entries: Iterable[dict]) -> dict:
    """A round's figures: selected, answered, satisfied (满意 + 基本满意 of those answered),
    not solved (solved = false), reopened, unanswered."""
    entries = list(entries)
    answered = [e for e in entries if e.get("answered_at") is not None]
    return {"selected": len(entries), "answered": len(answered),
            "unanswered": len(entries) - len(answered),
            "satisfied": sum(1 for e in answered if e.get("satisfaction") in SATISFIED),
            "not_solved": sum(1 for e in answered if e.get("solved") is False),
            "reopened": sum(1 for e in answered if e.get("result") == "reopened")}
