"""A background loop inside a service: woken after each worker, polling otherwise.

The outbox relay and notify's sender share this shape: a managed greenthread that
does one pass of work, runs again at once while there is more, waits for a wake-up
(a worker just committed something) or the poll interval otherwise, and backs off
when a pass fails (the broker or the database is away).
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import eventlet
from eventlet.greenthread import GreenThread
from eventlet.queue import Empty, Full, LightQueue
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)


class BackgroundLoop(DependencyProvider):
    """Subclasses set ``self.poll`` and ``self.enabled`` in ``setup()`` and implement :meth:`run_once`;
    ``self.gather`` (seconds, 0: none) spaces the passes a wake-up starts: one comes at the earliest
    that long after the last began, so wake-ups in between share it."""

    identifier = "background_loop"
    poll: float = 1.0
    enabled: bool = True
    gather: float = 0.0

    def __init__(self) -> None:
        self._wake = LightQueue(maxsize=1)
        self._running = False
        self._thread: GreenThread | None = None

    def run_once(self) -> bool:
        """One pass; True when more work is waiting and the next pass should start at once."""
        raise NotImplementedError

    def next_wait(self) -> float:
        """Seconds to sleep after a pass when nothing wakes the loop (the poll interval)."""
        return self.poll

    def on_failure(self, exc: Exception) -> None:
        """Called after a failed pass, before the back-off (e.g. to drop a broken connection)."""

    def start_loop(self) -> None:
        if self.enabled:
            self._running = True
            self._thread = self.container.spawn_managed_thread(self._run, identifier=self.identifier)

    def start(self) -> None:
        self.start_loop()

    def stop(self) -> None:
        self._running = False
        self.wake()
        if self._thread is not None:
            self._thread.wait()
            self._thread = None

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    def wake(self) -> None:
        with contextlib.suppress(Full):
            self._wake.put_nowait(True)

    def worker_result(self, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None) -> None:
        self.wake()

    def _run(self) -> None:
        backoff = 0.5
        while self._running:
            began = time.monotonic()
            try:
                more = self.run_once()
                backoff = 0.5
            except Exception as exc:
                log.warning("%s of %s failed: %s", self.identifier, self.container.service_name, exc)
                self.on_failure(exc)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            if more:
                eventlet.sleep(0)
                continue
            with contextlib.suppress(Empty):
                self._wake.get(timeout=self.next_wait())
                wait = began + self.gather - time.monotonic()
                if wait > 0 and self._running:
                    eventlet.sleep(wait)

    def get_dependency(self, worker_ctx: WorkerContext) -> BackgroundLoop:
        return self
