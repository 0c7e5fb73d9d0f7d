"""The sender: claims due notifications in batches, sends them, records the result.

A pass claims up to ``limit`` due rows in one transaction (``FOR UPDATE SKIP
LOCKED``: replicas never send the same row) and sends them in order over channels
that keep their connection open (one SMTP session, HTTP keep-alive). The moment a
channel takes a message, a receipt is committed on a second connection; at the end
of the pass the claimed rows are settled in bulk (sent, deferred, retried, failed)
and the receipts dropped, in the claim's transaction. A crash mid-pass leaves the
rows pending and the receipts behind: the next pass settles a row with a receipt
without sending it again, so at most the one message that was on the wire when the
process died is sent twice, with the same id (``Message-ID`` / ``Idempotency-Key``)
for the receiver to drop.

SMS in the recipient's quiet hours (Asia/Shanghai) waits until they end, except
for urgent messages (escalations). A token bucket per channel caps the rate; a
row over the limit waits for the next pass. A failure is retried with
exponential backoff; after ``max_attempts`` the row is ``failed`` with its reason
and ``notification_failed`` goes into the outbox in the same transaction.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from services.notify import domain
from services.notify.channels import EmailChannel, SmsChannel, WebhookChannel
from services.notify.models import notifications, outbox, receipts
from services.notify.profile import NotifyPart
from services.notify.templates import Renderer
from shared.config import flag
from shared.db import database_of
from shared.events import make_event
from shared.loops import BackgroundLoop
from shared.outbox import add_events
from shared.profile import load_part, load_units, profile_dir
from shared.service import clock_of

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
    claimed: int = 0
    ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "errors": self.errors, "failed": self.failed, "deferred": self.deferred,
                "rate_limited": self.rate_limited}


# a channel's due rows in order, through ix_notifications_channel_due: a pass reads as many rows as
# it claims, whatever the backlog (one query over every channel, ordered, joined to the receipts
# and excluding the channels over their rate, sorted the whole backlog: a third of PostgreSQL's
# time at 300 appeals/s, with a backlog of 15,000 emails waiting for their rate)
_CLAIM = (select(notifications)
          .where(notifications.c.status == "pending", notifications.c.channel == bindparam("channel"),
                 notifications.c.next_attempt_at <= bindparam("now"))
          .order_by(notifications.c.next_attempt_at, notifications.c.id).limit(bindparam("limit")))
_RECEIPTS_OF = select(receipts.c.notification_id, receipts.c.sent_at).where(
    receipts.c.notification_id.in_(bindparam("ids", expanding=True)))
_SETTLE_SENT = (update(notifications).where(notifications.c.id == bindparam("_id"))
                .values(status="sent", sent_at=bindparam("_at"), attempts=notifications.c.attempts + 1,
                        next_attempt_at=None, last_error=None))
_RESCHEDULE = (update(notifications).where(notifications.c.id == bindparam("_id"))
               .values(next_attempt_at=bindparam("_next")))
_RETRY = (update(notifications).where(notifications.c.id == bindparam("_id"))
          .values(attempts=bindparam("_attempts"), last_error=bindparam("_error"), next_attempt_at=bindparam("_next")))
_FAIL = (update(notifications).where(notifications.c.id == bindparam("_id"))
         .values(attempts=bindparam("_attempts"), last_error=bindparam("_error"), status="failed",
                 next_attempt_at=None))
_RECEIPT = insert(receipts)


def send_due(engine: Engine, *, now: datetime, channels: dict, directory: domain.Directory, settings: Settings,
             buckets: dict[str, domain.TokenBucket], monotonic=time.monotonic, limit: int = 100,
             receipt_connection: Connection | None = None) -> PassReport:
    """One pass: send what is due at ``now`` (at most ``limit`` rows). ``receipt_connection``: an AUTOCOMMIT
    connection for the receipts (the loop keeps one), else one is taken from the pool for the pass."""
    report = PassReport()
    with (engine.connect() as claim,
          contextlib.nullcontext(receipt_connection) if receipt_connection is not None else
          engine.connect().execution_options(isolation_level="AUTOCOMMIT") as receipt,
          claim.begin()):
            query = _CLAIM
            if claim.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = []
            for channel in sorted(set(domain.ADDRESS_OF) | set(channels)):
                # a channel claims no more rows than its rate lets it send now: over its rate, none
                # (claiming 100 to send 2 locked, read and left 98 on every pass of a backlog)
                bucket = buckets.get(channel)
                room = limit if bucket is None else min(limit, bucket.available(monotonic()))
                if room > 0:
                    rows += claim.execute(query, {"channel": channel, "now": now, "limit": room}).fetchall()
            rows = sorted(rows, key=lambda row: (row.next_attempt_at, row.id))[:limit]  # the rest: next pass
            receipts_at = dict(claim.execute(_RECEIPTS_OF, {"ids": [row.id for row in rows]}).all()) if rows else {}
            report.claimed = len(rows)
            sent: list[dict] = []
            rescheduled: list[dict] = []
            failures: list[tuple[dict, str]] = []
            exhausted: set[str] = set()
            for row in rows:
                message = dict(row._mapping)
                receipt_at = receipts_at.get(message["id"])
                channel = message["channel"]
                if receipt_at is not None:  # sent before a crash, never recorded: settle, do not send again
                    sent.append({"_id": message["id"], "_at": receipt_at})
                    continue
                if channel == "sms":
                    not_before = domain.sms_not_before(now, message["quiet_hours"], message["urgent"])
                    if not_before is not None:
                        rescheduled.append({"_id": message["id"], "_next": not_before})
                        NOTIFICATIONS.labels(channel, "deferred").inc()
                        report.deferred += 1
                        continue
                bucket = buckets.get(channel)
                if channel in exhausted or (bucket is not None and not bucket.take(monotonic())):
                    exhausted.add(channel)  # the rest of this channel waits for the next pass, in order
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
                    failures.append((message, f"{type(exc).__name__}: {exc}"[:1000]))
                    continue
                SEND_SECONDS.labels(channel).observe(time.perf_counter() - started)
                receipt.execute(_RECEIPT, {"notification_id": message["id"], "sent_at": now})
                sent.append({"_id": message["id"], "_at": now})
                NOTIFICATIONS.labels(channel, "sent").inc()
                report.sent += 1
                report.ids.append(message["id"])
            if sent:
                claim.execute(_SETTLE_SENT, sent)
                claim.execute(delete(receipts).where(receipts.c.notification_id.in_([s["_id"] for s in sent])))
            if rescheduled:
                claim.execute(_RESCHEDULE, rescheduled)
            _record_failures(claim, failures, now, settings, report)
    return report


def _record_failures(conn, failures: list[tuple[dict, str]], now: datetime, settings: Settings,
                     report: PassReport) -> None:
    retries, given_up, events = [], [], []
    for message, reason in failures:
        attempts = message["attempts"] + 1
        channel = message["channel"]
        next_at = domain.after_failure(attempts, settings.max_attempts, now, settings.backoff_base,
                                       settings.backoff_max)
        if next_at is not None:
            retries.append({"_id": message["id"], "_attempts": attempts, "_error": reason, "_next": next_at})
            RETRIES.labels(channel).inc()
            NOTIFICATIONS.labels(channel, "error").inc()
            report.errors += 1
            log.warning("notification %s on %s failed (%s); attempt %d, next at %s", message["id"], channel,
                        reason, attempts, next_at.isoformat())
            continue
        given_up.append({"_id": message["id"], "_attempts": attempts, "_error": reason})
        events.append(make_event("notification_failed", {
            "notification_id": message["id"], "event_id": message["event_id"], "recipient": message["recipient"],
            "channel": channel, "reason": reason, "attempts": attempts}, producer="notify", now=now))
        NOTIFICATIONS.labels(channel, "failed").inc()
        report.failed += 1
        log.error("notification %s on %s failed for good after %d attempts: %s", message["id"], channel,
                  attempts, reason)
    if retries:
        conn.execute(_RETRY, retries)
    if given_up:
        conn.execute(_FAIL, given_up)
        add_events(conn, outbox, events)


class Notifier(BackgroundLoop):
    """The directory, the templates, the channels and the sender loop of the notify service.

    Config: ``PROFILE_DIR``, ``TEMPLATES_DIR`` (overrides, searched first), ``SMTP_HOST``,
    ``SMTP_PORT``, ``SMTP_FROM``, ``SMS_GATEWAY_URL``, ``NOTIFY_SENDER`` (true: run the loop),
    ``NOTIFY_POLL_SECONDS`` (1), ``NOTIFY_GATHER_MS`` (50: a pass a worker's end starts comes at the
    earliest that long after the last one began, so the notifications of several units of work go out
    in one pass), ``NOTIFY_BATCH`` (100 rows a pass), ``NOTIFY_MAX_ATTEMPTS`` /
    ``NOTIFY_BACKOFF_SECONDS`` (override the profile's ``max_attempts`` / ``backoff.base_seconds``).
    """

    identifier = "notify_sender"

    def setup(self) -> None:
        config = self.container.config
        self._held: Connection | None = None  # the loop's receipt connection (_receipts)
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
        self.gather = float(config.get("NOTIFY_GATHER_MS", 50)) / 1000.0
        self.batch = int(config.get("NOTIFY_BATCH", 100))
        self.simulated_clock = flag(config.get("SIMULATED_CLOCK", "false"))

    def stop(self) -> None:
        super().stop()
        for channel in self.channels.values():
            channel.close()
        self._drop_receipts()

    def send_due(self, now: datetime, limit: int = 100, receipt_connection: Connection | None = None) -> PassReport:
        return send_due(database_of(self.container).engine, now=now, channels=self.channels,
                        directory=self.directory, settings=self.settings, buckets=self.buckets, limit=limit,
                        receipt_connection=receipt_connection)

    def _receipts(self) -> Connection:
        """The loop's AUTOCOMMIT connection for receipts, kept from pass to pass (one of the pool's):
        taking one from the pool for each pass and giving it back switched the pooled connections
        between autocommit and transactions, a ``SET default_transaction_isolation`` at each return."""
        held = self._held
        if held is None or held.closed or held.invalidated:
            engine = database_of(self.container).engine
            held = self._held = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return held

    def _drop_receipts(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):  # pragma: no cover - a broken connection
                held.close()

    def on_failure(self, exc: Exception) -> None:
        self._drop_receipts()  # the database may have gone: a new one next time

    def run_once(self) -> bool:
        report = self.send_due(clock_of(self.container).current(), limit=self.batch,
                               receipt_connection=self._receipts())
        # a full batch that moved something, or SMS put off to the end of quiet hours (a channel
        # claims at most its tokens, and a deferral takes none): more may be due; a pass held by
        # rate limits waits a poll
        return (report.claimed >= self.batch or report.deferred > 0) and report.claimed > report.rate_limited
