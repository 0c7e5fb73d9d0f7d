"""The answer goes back where the appeal came from: which platform, and what it is told.

An appeal an upstream platform sent (it carries the platform's ``external_id``) gets its
acceptance (签收), reply (办结反馈) and closing (办结) published back to that platform, on
the platform's own exchange with its routing keys (``intake.yaml``). The message is a
CloudEvents-style envelope like the mesh's own (``shared.events.PlatformFeedbackV1``).

Pure: no nameko, no SQL, no clock.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from shared.events import PlatformFeedbackV1

STAGE_OF = {"appeal_accepted": "accepted", "appeal_replied": "replied", "appeal_closed": "closed"}
FEEDBACK_TYPE = "appeal_feedback"


def platform_of(appeal: dict, platforms: list[dict]) -> dict | None:
    """The first platform whose match the appeal meets; None for an appeal without external id."""
    if not appeal.get("external_id"):
        return None
    for platform in platforms:
        match = platform["match"]
        if match["submitted_by"] and appeal["submitted_by"] not in match["submitted_by"]:
            continue
        if match["channels"] and appeal["channel"] not in match["channels"]:
            continue
        return platform
    return None


def feedback(appeal: dict, platform: dict, event_type: str, event_id: str, data: dict, at: datetime) -> dict:
    """The outbox row's parts: exchange, routing key, message id and the envelope."""
    stage = STAGE_OF[event_type]
    payload = {"external_id": appeal["external_id"], "appeal_id": appeal["id"], "platform": platform["name"],
               "stage": stage, "unit": data.get("unit"), "outcome": data.get("outcome"),
               "reply_text": data.get("reply_text") if stage == "replied" else None,
               "satisfaction": data.get("satisfaction") if stage == "closed" else None, "at": at}
    message_id = hashlib.sha256(f"{platform['name']}/{event_id}".encode()).hexdigest()[:32]
    envelope = {
        "specversion": "1.0", "id": message_id, "type": FEEDBACK_TYPE, "source": "suqiu/intake",
        "time": at.astimezone(timezone.utc).isoformat(), "subject": appeal["external_id"], "dataversion": 1,
        "correlationid": appeal.get("correlation_id") or appeal["id"], "datacontenttype": "application/json",
        "data": PlatformFeedbackV1().dump(payload)}
    return {"exchange": platform["exchange"], "routing_key": platform["routing_keys"][stage],
            "message_id": message_id, "envelope": envelope}
