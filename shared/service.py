"""What every service has: a clock, health and metrics endpoints.

Time is a dependency: entrypoints ask ``self.clock()`` for "now" and hand it to
the pure rules, which never read the system clock themselves.
"""
from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from kombu import Connection
from nameko.containers import ServiceContainer, WorkerContext
from nameko.extensions import DependencyProvider
from sqlalchemy import text
from werkzeug.wrappers import Request, Response

from shared.config import flag
from shared.db import Database
from shared.errors import InvalidInput
from shared.metrics import EntrypointMetrics, exposition
from shared.web import http, json_response

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


SIMULATED_NOW_HEADER = "X-Suqiu-Now"


def parse_instant(value: str, what: str) -> datetime:
    """An ISO 8601 time with its zone, as aware UTC; InvalidInput otherwise."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{what} needs a time zone")
    return moment.astimezone(timezone.utc)


class Clock(DependencyProvider):
    """The service's one clock: injects ``now(request=None)``, the current aware UTC time.

    Entrypoints and the service's background loops (the supervision timer, notify's
    sender) read "now" here and hand it to the pure rules, which never read a clock.

    * ``SIMULATED_CLOCK: true`` (simulations and end-to-end tests only, never
      production): an HTTP request may carry the time it happens at in the
      ``X-Suqiu-Now`` header (ISO 8601), so a campaign of weeks replays in seconds.
    * ``CLOCK_START`` (ISO 8601 with zone; trials and tests): the clock reads that
      instant when the service starts and runs on from there, so a service can be
      tried at 23:30 on a Sunday, or in a year the calendar does not know yet,
      whatever the machine's time.

    Event handlers take the time of the fact from the event itself (``event.time``).
    """

    def setup(self) -> None:
        config = self.container.config
        self.simulated = flag(config.get("SIMULATED_CLOCK", "false"))
        start = config.get("CLOCK_START") or None
        self.offset = parse_instant(start, "CLOCK_START") - utcnow() if start else timedelta(0)

    def current(self) -> datetime:
        """Now, by this service's clock (the machine's, shifted by ``CLOCK_START``)."""
        return utcnow() + self.offset

    def now(self, request: Request | None = None) -> datetime:
        if self.simulated and request is not None:
            value = request.headers.get(SIMULATED_NOW_HEADER)
            if value:
                return parse_instant(value, SIMULATED_NOW_HEADER)
        return self.current()

    def get_dependency(self, worker_ctx: WorkerContext) -> Callable[..., datetime]:
        return self.now


def clock_of(container: ServiceContainer) -> Clock:
    """The :class:`Clock` of a service container (for its background loops)."""
    for dependency in container.dependencies:
        if isinstance(dependency, Clock):
            return dependency
    raise RuntimeError(f"{container.service_name} has no shared.service.Clock dependency")


class Health(DependencyProvider):
    """Checks that the service's database and broker answer and its event consumer consumes its
    queues (a service is ready only then: an event sent before would wait unseen), and says which
    process answers.

    ``instance`` is ``SUQIU_INSTANCE_ID`` (config or environment; a random id otherwise): whoever
    started the process passes a fresh one and so knows the answer comes from its own process,
    not from another one that holds the port (issue 11).
    """

    def setup(self) -> None:
        self.amqp_uri = self.container.config.get("AMQP_URI")
        self.instance = str(self.container.config.get("SUQIU_INSTANCE_ID")
                            or os.environ.get("SUQIU_INSTANCE_ID") or uuid.uuid4().hex)

    def check(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        database = next((d for d in self.container.dependencies if isinstance(d, Database)), None)
        if database is not None and database.engine is not None:
            try:
                with database.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                checks["database"] = "ok"
            except Exception as exc:
                checks["database"] = f"down: {type(exc).__name__}"
        hub = self._consumer_hub()
        if hub is not None:  # ready once it consumes its queues (declared): an event sent then is taken
            checks["consumer"] = "ok" if hub.consuming else "down: not consuming yet"
        if self.amqp_uri:
            try:
                with Connection(self.amqp_uri, connect_timeout=2) as connection:
                    connection.ensure_connection(max_retries=1, timeout=2)
                checks["broker"] = "ok"
            except Exception as exc:
                checks["broker"] = f"down: {type(exc).__name__}"
        return checks

    def _consumer_hub(self) -> Any:
        """The service's event consumer (shared.consumers.ConsumerHub), if it has one."""
        return next((ext for ext in self.container.subextensions if hasattr(ext, "consuming")), None)

    def get_dependency(self, worker_ctx: WorkerContext) -> Health:
        return self


class OperableService:
    """Mixin: ``GET /healthz`` (503 when a dependency is down) and ``GET /metrics``."""

    health = Health()
    timing = EntrypointMetrics()
    clock = Clock()

    @http("GET", "/healthz")
    def healthz(self, request: Request) -> Response:
        checks = self.health.check()
        healthy = all(value == "ok" for value in checks.values())
        return json_response({"status": "ok" if healthy else "unavailable", "checks": checks,
                              "instance": self.health.instance}, status=200 if healthy else 503)

    @http("GET", "/metrics")
    def metrics(self, request: Request) -> Response:
        relay = getattr(self, "relay", None)  # shared.outbox.OutboxRelay: the outbox's backlog, read now
        if relay is not None and hasattr(relay, "observe_backlog"):
            try:
                relay.observe_backlog()
            except Exception as exc:  # the database is down: the other metrics still answer
                log.warning("could not read the outbox backlog: %s", exc)
        payload, content_type = exposition()
        return Response(payload, status=200, content_type=content_type)
