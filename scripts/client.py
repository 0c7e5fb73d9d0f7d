"""A client of the Suqiu mesh through its public interfaces only (HTTP and AMQP).

Used by the campaign simulator, the end-to-end tests and the fault tests, as an
upstream platform, a cadre, the office and the units would use the mesh. Every
call may say when it happens (``now``), which the services honour with
``SIMULATED_CLOCK: true``: a campaign of weeks replays in seconds.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import requests
import yaml
from kombu import Connection, Exchange, Producer
from prometheus_client.parser import text_string_to_metric_families

from shared.auth import token_hash
from shared.metrics import CONSUMER_HELD_NAME
from shared.service import SIMULATED_NOW_HEADER
from shared.topology import all_queue_names

UPSTREAM = Exchange("upstream.events", type="topic", durable=True)
OFFICE_TOKEN = "sim-office-token"
CADRE_TOKEN = "sim-cadre-token"
PLATFORM_TOKEN = "sim-platform-token"


def unit_token(code: str) -> str:
    return f"sim-unit-{code}-token"


def write_tokens(units: list[dict], path: Path) -> Path:
    """A token file for a profile: the office, a cadre, a platform and every unit."""
    entries = [{"sha256": token_hash(OFFICE_TOKEN), "role": "office", "name": "督办"},
               {"sha256": token_hash(CADRE_TOKEN), "role": "cadre", "name": "助企干部"},
               {"sha256": token_hash(PLATFORM_TOKEN), "role": "platform", "name": "12345",
                "upstream": ["hotline"]}]
    entries += [{"sha256": token_hash(unit_token(u["code"])), "role": "unit", "unit": u["code"], "name": u["name"]}
                for u in units]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"tokens": entries}, allow_unicode=True), encoding="utf-8")
    return path


class MeshError(RuntimeError):
    pass


class Suqiu:
    def __init__(self, urls: dict[str, str], amqp_uri: str):
        self.urls = urls
        self.amqp_uri = amqp_uri
        self.http = requests.Session()

    # ------------------------------------------------------------ plumbing
    def _call(self, method: str, service: str, path: str, token: str, now: datetime | None = None,
              expect: tuple[int, ...] = (200, 201), **kwargs):
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        if now is not None:
            headers[SIMULATED_NOW_HEADER] = now.isoformat()
        response = self.http.request(method, f"{self.urls[service]}{path}", headers=headers, timeout=60, **kwargs)
        if response.status_code not in expect:
            raise MeshError(f"{method} {service}{path} -> {response.status_code}: {response.text[:500]}")
        return response

    def _all(self, service: str, path: str, token: str, **params) -> list[dict]:
        items, page = [], 1
        while True:
            body = self._call("GET", service, path, token, params={**params, "page": page, "page_size": 200}).json()
            items += body["items"]
            if len(items) >= body["total"] or not body["items"]:
                return items
            page += 1

    # ------------------------------------------------------------ intake
    def register_enterprises(self, csv_text: str) -> dict:
        return self._call("POST", "intake", "/api/v1/enterprises/import", OFFICE_TOKEN,
                          data=csv_text.encode("utf-8"), headers={"Content-Type": "text/csv"}).json()

    def submit(self, appeal: dict, now: datetime, key: str | None = None, token: str = CADRE_TOKEN) -> str:
        headers = {"Idempotency-Key": key} if key else {}
        return self._call("POST", "intake", "/api/v1/appeals", token, now, json=appeal, headers=headers).json()["id"]

    def publish_upstream(self, appeal: dict, message_id: str, now: datetime | None = None) -> None:
        """An upstream platform offers an appeal on ``upstream.events`` (plain AMQP).

        ``now`` goes in the message's AMQP ``timestamp``: when the platform offered it."""
        extra = {"timestamp": int(now.timestamp())} if now is not None else {}
        with Connection(self.amqp_uri) as conn:
            Producer(conn.channel()).publish(appeal, exchange=UPSTREAM, routing_key="appeal_submitted",
                                             serializer="json", delivery_mode=2, message_id=message_id,
                                             declare=[UPSTREAM], **extra)

    def intake_appeals(self, **filters) -> list[dict]:
        return self._all("intake", "/api/v1/appeals", OFFICE_TOKEN, **filters)

    # ------------------------------------------------------------ dispatch
    def appeals(self, **filters) -> list[dict]:
        """Every appeal as dispatch sees it (the office's view), e.g. status="replied"."""
        return self._all("dispatch", "/api/v1/office/appeals", OFFICE_TOKEN, **filters)

    def appeal(self, appeal_id: str) -> dict:
        return self._call("GET", "dispatch", f"/api/v1/office/appeals/{appeal_id}", OFFICE_TOKEN).json()

    def queue(self) -> list[dict]:
        return self._all("dispatch", "/api/v1/office/queue", OFFICE_TOKEN)

    def assign(self, appeal_id: str, lead: str, now: datetime, co_units: list[str] | None = None) -> dict:
        return self._call("POST", "dispatch", f"/api/v1/office/appeals/{appeal_id}/assign", OFFICE_TOKEN, now,
                          json={"lead": lead, "co_units": co_units or []}).json()

    def desk(self, unit: str, **filters) -> list[dict]:
        return self._all("dispatch", "/api/v1/desk", unit_token(unit), **filters)

    def _desk_action(self, unit: str, appeal_id: str, action: str, now: datetime, body: dict | None = None,
                     expect: tuple[int, ...] = (200, 201)) -> requests.Response:
        return self._call("POST", "dispatch", f"/api/v1/desk/appeals/{appeal_id}/{action}", unit_token(unit), now,
                          expect=expect, json=body or {})

    def accept(self, unit: str, appeal_id: str, now: datetime) -> None:
        self._desk_action(unit, appeal_id, "accept", now)

    def progress(self, unit: str, appeal_id: str, note: str, now: datetime) -> None:
        self._desk_action(unit, appeal_id, "progress", now, {"note": note})

    def reply(self, unit: str, appeal_id: str, outcome: str, text: str, now: datetime) -> None:
        self._desk_action(unit, appeal_id, "reply", now, {"outcome": outcome, "reply_text": text})

    def return_(self, unit: str, appeal_id: str, reason: str, now: datetime) -> None:
        self._desk_action(unit, appeal_id, "return", now, {"reason": reason})

    def request_escalation(self, unit: str, appeal_id: str, note: str, now: datetime) -> None:
        self._desk_action(unit, appeal_id, "escalation-request", now, {"note": note})

    # ------------------------------------------------------------ supervision
    def tick(self, now: datetime) -> dict:
        return self._call("POST", "supervision", "/api/v1/tick", OFFICE_TOKEN, now,
                          json={"now": now.isoformat()}).json()

    def ledger(self, **filters) -> list[dict]:
        return self._all("supervision", "/api/v1/ledger", OFFICE_TOKEN, **filters)

    def supervised(self, appeal_id: str) -> dict:
        return self._call("GET", "supervision", f"/api/v1/appeals/{appeal_id}", OFFICE_TOKEN).json()

    # ------------------------------------------------------------ assessment
    def callback(self, appeal_id: str, solved: bool, satisfaction: str, now: datetime, comment: str = "") -> dict:
        body = {"solved": solved, "satisfaction": satisfaction, "caller": "回访专员"}
        if comment:
            body["comment"] = comment
        return self._call("POST", "assessment", f"/api/v1/appeals/{appeal_id}/callback", OFFICE_TOKEN, now,
                          json=body).json()

    def report(self, kind: str, period: str, fmt: str = "json", now: datetime | None = None):
        key = "week" if kind == "weekly" else "month"
        response = self._call("GET", "assessment", f"/api/v1/reports/{kind}", OFFICE_TOKEN, now,
                              params={key: period, "format": fmt})
        return response.json() if fmt == "json" else response.content

    def publish_report(self, kind: str, period: str, now: datetime) -> dict:
        key = "week" if kind == "weekly" else "month"
        return self._call("POST", "assessment", f"/api/v1/reports/{kind}/publish", OFFICE_TOKEN, now,
                          expect=(200, 201, 409), params={key: period}).json()

    # ------------------------------------------------------------ notify
    def deliveries(self, **filters) -> list[dict]:
        return self._all("notify", "/api/v1/deliveries", OFFICE_TOKEN, **filters)

    def send_due(self, now: datetime) -> dict:
        return self._call("POST", "notify", "/api/v1/send-due", OFFICE_TOKEN, now, json={"now": now.isoformat()}).json()

    # ------------------------------------------------------------ the broker
    def queue_depths(self) -> dict[str, int]:
        """Messages ready in every consumer, retry and parking queue of the mesh (exact, via AMQP)."""
        depths = {}
        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            for queue in all_queue_names():  # each service's queue, each subscription's
                for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
                    try:
                        depths[name] = channel.queue_declare(name, passive=True).message_count
                    except Exception:  # not declared yet: no service of that kind started
                        channel = conn.channel()
        return depths

    def held_messages(self) -> dict[str, int]:
        """Messages each service's consumer has taken and not yet settled (``/metrics``): a batch
        filling or being applied is unacked, so no queue counts it. A service that does not answer
        holds none: its unacked messages went back to their queues."""
        held = {}
        for name, url in self.urls.items():
            try:
                response = self.http.get(f"{url}/metrics", timeout=5)
            except requests.RequestException:
                continue
            if response.status_code != 200:
                continue
            for family in text_string_to_metric_families(response.text):
                if family.name == CONSUMER_HELD_NAME:
                    held[name] = int(sum(sample.value for sample in family.samples))
        return held

    def quiesce(self, timeout: float = 60.0, settle: int = 3, interval: float = 0.15) -> dict[str, int]:
        """Wait until no consumer or retry queue holds a message and no consumer holds one it took,
        ``settle`` polls in a row.

        Parked messages (``.dlq``) do not count: they are returned so the caller can see them.
        The polls in a row cover an event between a commit and its relay's publish.
        """
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            depths = self.queue_depths()
            busy = {n: c for n, c in depths.items() if c and not n.endswith(".dlq")}
            busy.update({f"{n} (held)": c for n, c in self.held_messages().items() if c})
            quiet = quiet + 1 if not busy else 0
            if quiet >= settle:
                return {n: c for n, c in depths.items() if c and n.endswith(".dlq")}
            if time.monotonic() > deadline:
                raise MeshError(f"the mesh did not drain in {timeout}s: {json.dumps(busy)}")
            time.sleep(interval)
