"""The sender: claims due notifications, sends them, records the result.

One row per transaction: the row is claimed ``FOR UPDATE SKIP LOCKED`` (replicas
never send the same row together), sent, and its result committed. A crash
between the send and the commit leaves the row pending, so it is sent once more
with the same id (``Message-ID`` / ``Idempotency-Key``) for the receiver to drop.

SMS in the recipient's quiet hours (Asia/Shanghai) waits until they end, except
for urgent messages (escalations). A token bucket per channel caps the rate; a
row over the limit waits for the next pass. A failure is retried with
exponential backoff; after ``max_attempts`` the row is ``failed`` with its reason
and ``notification_failed`` goes into the outbox in the same transaction.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from services.notify import domain
from services.notify.channels import EmailChannel, SmsChannel, WebhookChannel
from services.notify.models import notifications, outbox
from services.notify.profile import NotifyPart
from services.notify.templates import Renderer
from shared.config import flag
from shared.db import database_of
from shared.events import make_event
from shared.loops import BackgroundLoop
from shared.service import clock_of
from shared.outbox import add_event
from shared.profile import load_part, load_units, profile_dir

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter("suqiu_notifications_total", "Notifications by channel and result.",
                        ["channel", "result"])  # sent, failed (for good), error (will retry), deferred
RETRIES = Counter("suqiu_notification_retries_total", "Failed sends that will be retried.", ["channel"])
SEND_SECONDS = Histogram("suqiu_notification_send_seconds", "Time to hand one message to its channel.",
                         ["channel"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


@dataclass
class Settings:
    max_attempts: int
    backoff_base: float
    backoff_max: float


@dataclass
class PassReport:
    sent: int = 0
    errors: int = 0
    failed: int = 0
    deferred: int = 0
    rate_limited: int = 0
    ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "errors": self.errors, "failed": self.failed, "deferred": self.deferred,
                "rate_limited": self.rate_limited}


def send_due(engine: Engine, *, now: datetime, channels: dict, directory: domain.Directory, settings: Settings,
             buckets: dict[str, domain.TokenBucket], monotonic=time.monotonic, limit: int = 100) -> PassReport:
    """One pass: send what is due at ``now`` (at most ``limit`` rows)."""
    report = PassReport()
    skipped: set[str] = set()
    exhausted: set[str] = set()
    for _ in range(limit):
        with engine.connect() as conn, conn.begin():
            query = (select(notifications).where(notifications.c.status == "pending",
                                                 notifications.c.next_attempt_at <= now)
                     .order_by(notifications.c.next_attempt_at, notifications.c.id).limit(1))
            if skipped:
                query = query.where(notifications.c.id.notin_(skipped))
            if exhausted:
                query = query.where(notifications.c.channel.notin_(exhausted))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                break
            message = dict(row._mapping)
            channel = message["channel"]
            if channel == "sms":
                not_before = domain.sms_not_before(now, message["quiet_hours"], message["urgent"])
                if not_before is not None:
                    conn.execute(update(notifications).where(notifications.c.id == message["id"])
                                 .values(next_attempt_at=not_before))
                    NOTIFICATIONS.labels(channel, "deferred").inc()
                    report.deferred += 1
                    continue
            bucket = buckets.get(channel)
            if bucket is not None and not bucket.take(monotonic()):
                exhausted.add(channel)
                report.rate_limited += 1
                continue
            sender = channels.get(channel)
            started = time.perf_counter()
            try:
                if sender is None:
                    raise RuntimeError(f"no sender for the channel {channel!r}")
                sender.send(message, directory.contact_of(message["recipient"]))
            except Exception as exc:
                SEND_SECONDS.labels(channel).observe(time.perf_counter() - started)
                _record_failure(conn, message, f"{type(exc).__name__}: {exc}"[:1000], now, settings, report)
                skipped.add(message["id"])
                continue
            SEND_SECONDS.labels(channel).observe(time.perf_counter() - started)
            conn.execute(update(notifications).where(notifications.c.id == message["id"]).values(
                status="sent", sent_at=now, attempts=notifications.c.attempts + 1, next_attempt_at=None,
                last_error=None))
            NOTIFICATIONS.labels(channel, "sent").inc()
            report.sent += 1
            report.ids.append(message["id"])
    return report


def _record_failure(conn, message: dict, reason: str, now: datetime, settings: Settings, report: PassReport) -> None:
    attempts = message["attempts"] + 1
    channel = message["channel"]
    next_at = domain.after_failure(attempts, settings.max_attempts, now, settings.backoff_base, settings.backoff_max)
    if next_at is not None:
        conn.execute(update(notifications).where(notifications.c.id == message["id"]).values(
            attempts=attempts, last_error=reason, next_attempt_at=next_at))
        RETRIES.labels(channel).inc()
        NOTIFICATIONS.labels(channel, "error").inc()
        report.errors += 1
        log.warning("notification %s on %s failed (%s); attempt %d, next at %s", message["id"], channel, reason,
                    attempts, next_at.isoformat())
        return
    conn.execute(update(notifications).where(notifications.c.id == message["id"]).values(
        attempts=attempts, last_error=reason, status="failed", next_attempt_at=None))
    add_event(conn, outbox, make_event("notification_failed", {
        "notification_id": message["id"], "event_id": message["event_id"], "recipient": message["recipient"],
        "channel": channel, "reason": reason, "attempts": attempts}, producer="notify", now=now))
    NOTIFICATIONS.labels(channel, "failed").inc()
    report.failed += 1
    log.error("notification %s on %s failed for good after %d attempts: %s", message["id"], channel, attempts, reason)


class Notifier(BackgroundLoop):
    """The directory, the templates, the channels and the sender loop of the notify service.

    Config: ``PROFILE_DIR``, ``TEMPLATES_DIR`` (overrides, searched first), ``SMTP_HOST``,
    ``SMTP_PORT``, ``SMTP_FROM``, ``SMS_GATEWAY_URL``, ``NOTIFY_SENDER`` (true: run the loop),
    ``NOTIFY_POLL_SECONDS`` (1), ``NOTIFY_MAX_ATTEMPTS`` / ``NOTIFY_BACKOFF_SECONDS`` (override
    the profile's ``max_attempts`` / ``backoff.base_seconds``).
    """

    identifier = "notify_sender"

    def setup(self) -> None:
        config = self.container.config
        folder = profile_dir(config)
        self.part = load_part(folder, "notify", NotifyPart)
        self.directory = domain.Directory(load_units(folder), self.part)
        self.renderer = Renderer(config.get("TEMPLATES_DIR") or None)
        backoff = self.part["backoff"]
        self.settings = Settings(
            max_attempts=int(config.get("NOTIFY_MAX_ATTEMPTS") or self.part["max_attempts"]),
            backoff_base=float(config.get("NOTIFY_BACKOFF_SECONDS") or backoff["base_seconds"]),
            backoff_max=float(backoff["max_seconds"]))
        self.channels = {
            "email": EmailChannel(config.get("SMTP_HOST") or "", int(config.get("SMTP_PORT") or 25),
                                  config.get("SMTP_FROM") or "suqiu@localhost"),
            "webhook": WebhookChannel(),
            "sms": SmsChannel(config.get("SMS_GATEWAY_URL") or ""),
        }
        now = time.monotonic()
        self.buckets = {channel: domain.TokenBucket(limit["rate"], limit["burst"], now)
                        for channel, limit in self.part["rate_limits"].items()}
        self.enabled = flag(config.get("NOTIFY_SENDER", "true"))
        self.poll = float(config.get("NOTIFY_POLL_SECONDS", 1.0))
        self.simulated_clock = flag(config.get("SIMULATED_CLOCK", "false"))

    def send_due(self, now: datetime, limit: int = 100) -> PassReport:
        return send_due(database_of(self.container).engine, now=now, channels=self.channels,
                        directory=self.directory, settings=self.settings, buckets=self.buckets, limit=limit)

    def run_once(self) -> bool:
        report = self.send_due(clock_of(self.container).current())
        return report.sent + report.errors + report.failed >= 100
