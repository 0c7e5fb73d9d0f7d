"""What a crash loses: nothing.

The five services run as separate ``nameko run`` processes (:class:`scripts.mesh.Mesh`).
A load generator submits ``FAULTS_APPEALS`` appeals (default 600) to intake at
``FAULTS_RATE`` appeals/s (default 100), as a cadre's client would: a submission that
fails (connection refused, 5xx, timeout) is retried with the same ``Idempotency-Key``
until intake accepts it. While the appeals flow, one fault per scenario:

1. ``kill -9`` of each service in turn (intake, dispatch, supervision, assessment, notify),
   each restarted before the next is killed;
2. a restart of RabbitMQ (a private node of this test: stop, start on the same data);
3. a crash and restart of PostgreSQL (a private cluster of this test: ``pg_ctl stop -m
   immediate``, start, recovery from the WAL).

Then the mesh must drain by itself, and a tenth of the appeals are scripted further
(accepted -> replied -> callback 满意 -> closed). The checks:

* no appeal is missing: intake, dispatch, supervision, assessment and notify each know
  every submitted appeal, and intake no other (a retried submission is one appeal);
* every appeal reached its script's state: ``dispatched`` to the lead unit its category
  routes to (or ``closed`` for the scripted ones), with one dispatch line in its history;
* no state transition happened twice: tap queues bound to ``intake.events``,
  ``dispatch.events`` and ``assessment.events`` (durable, so they survive the broker's
  restart) see, per appeal, exactly one event id of ``appeal_received``, of
  ``appeal_dispatched`` (with ``dispatch_count`` 1) and, for the scripted appeals, of
  ``appeal_accepted``, ``appeal_replied``, ``callback_requested`` and ``appeal_closed``
  (the same event id published twice by a relay that crashed before marking it sent is one
  transition, counted and reported as a redelivery);
* no notification happened twice: notify's delivery log holds exactly one row per (event,
  recipient, channel), every one sent, the lead unit notified by email of each
  dispatch; the SMTP sink (a separate process) received every sent email by its
  ``Message-ID`` and no other; a repeat of the same ``Message-ID`` is the documented
  at-least-once window of a sender killed between sending and recording (at most one per
  kill of notify), so it is allowed only in the scenario that kills notify;
* nothing was parked in a dead-letter queue, and every outbox is empty.

Run: ``timeout 900 .venv/bin/python -m pytest -q tests/faults/test_crashes.py`` (see README.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import eventlet
import pytest
import requests
import yaml
from kombu import Connection, Exchange, Queue
from sqlalchemy import create_engine, text
from stdnum.cn import uscc

from scripts.client import CADRE_TOKEN, MeshError, Suqiu, write_tokens
from scripts.mesh import Mesh
from shared.db import normalise_url
from shared.profile import load_units
from shared.testing import free_port
from tests.faults.mesh import sql_scalar

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APPEALS = int(os.environ.get("FAULTS_APPEALS", "600"))
RATE = float(os.environ.get("FAULTS_RATE", "100"))
DRAIN_TIMEOUT = float(os.environ.get("FAULTS_DRAIN_TIMEOUT", "240"))
SCRIPTED_EVERY = 10  # every tenth appeal goes on to accepted -> replied -> callback -> closed
SERVICES = ("intake", "dispatch", "supervision", "assessment", "notify")
REPORT = Path(os.environ.get("FAULTS_REPORT_DIR", ROOT / "var" / "faults"))

# category -> (title, description, district, the lead unit the demo profile's rules give)
KINDS = [
    ("用工", "春节后招工难", "技术工人招聘难，希望人社部门协助", "汉台区", "hrss"),
    ("审批", "环评审批进度慢", "新建车间的环评许可迟迟未批", "南郑区", "approval"),
    ("市场", "产品销路不畅", "订单下滑，希望对接市场", "城固县", "market"),
    ("法律", "合同纠纷欠款", "下游企业拖欠货款，合同纠纷待仲裁", "洋县", "justice"),
]



# ---------------------------------------------------------------- the outside world
class Sinks:
    """An SMTP server and an HTTP sink in a process of their own, logging what they receive."""

    def __init__(self, folder: Path):
        self.mail_log, self.http_log = folder / "mail.jsonl", folder / "http.jsonl"
        self.smtp_port, self.http_port = free_port(), free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.sinks", str(self.mail_log), str(self.http_log), str(self.smtp_port),
             str(self.http_port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the sinks did not start: {line}{self.process.stdout.read()[:2000]}")

    def env(self) -> dict:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.smtp_port),
                "SMS_GATEWAY_URL": f"http://127.0.0.1:{self.http_port}/sms"}

    def mails(self) -> list[dict]:
        if not self.mail_log.exists():
            return []
        return [json.loads(line) for line in self.mail_log.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


# ---------------------------------------------------------------- tapping the events
TAPPED = ("intake", "dispatch", "assessment")


def tap_name(service: str) -> str:
    return f"faults.tap.{service}"


def declare_taps(amqp_uri: str) -> None:
    """Durable queues bound to the services' exchanges: they keep every event, across a broker restart."""
    with Connection(amqp_uri, connect_timeout=10) as connection:
        channel = connection.channel()
        for service in TAPPED:
            exchange = Exchange(f"{service}.events", type="topic", durable=True)
            Queue(tap_name(service), exchange=exchange, routing_key="#", durable=True)(channel).declare()


def read_taps(amqp_uri: str) -> list[dict]:
    """Every event the tapped services published (a repeat of one event id included)."""
    events = []
    with Connection(amqp_uri, connect_timeout=10) as connection:
        channel = connection.channel()
        for service in TAPPED:
            while True:
                message = channel.basic_get(tap_name(service), no_ack=True)
                if message is None:
                    break
                events.append(json.loads(message.body))
    return events


# ---------------------------------------------------------------- the load
def credit_code(n: int) -> str:
    body = f"91610700{n:09d}"
    return body + uscc.calc_check_digit(body)


def the_appeals(scenario: str, count: int) -> list[dict]:
    appeals = []
    for i in range(count):
        category, title, description, district, lead = KINDS[i % len(KINDS)]
        appeals.append({
            "key": f"faults-{scenario}-{i:05d}", "lead": lead, "scripted": i % SCRIPTED_EVERY == 0,
            "body": {"credit_code": credit_code(i + 1), "enterprise_name": f"故障测试企业{i:05d}",
                     "title": title, "description": description, "category": category, "district": district,
                     "channel": "visit", "collected_at": "2026-11-20T09:00:00+08:00"}})
    return appeals


@dataclass
class Load:
    ids: dict[str, str] = field(default_factory=dict)  # idempotency key -> appeal id
    retries: int = 0
    failures: Counter = field(default_factory=Counter)  # what the retried attempts saw
    duplicates_answered: int = 0  # a retry answered 200: intake had taken the first try
    started: float = 0.0
    finished: float = 0.0


def submit_all(intake_url: str, appeals: list[dict], rate: float, load: Load, give_up_after: float = 180) -> None:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    headers = {"Authorization": f"Bearer {CADRE_TOKEN}"}

    def submit(appeal: dict) -> None:
        deadline = time.monotonic() + give_up_after
        first = True
        while True:
            if not first:
                load.retries += 1
            first = False
            try:
                response = session.post(f"{intake_url}/api/v1/appeals", json=appeal["body"], timeout=10,
                                        headers={**headers, "Idempotency-Key": appeal["key"]})
                if response.status_code in (200, 201):
                    load.ids[appeal["key"]] = response.json()["id"]
                    if response.status_code == 200:
                        load.duplicates_answered += 1
                    return
                if 400 <= response.status_code < 500:  # a refusal is a bug of this test or of intake
                    raise AssertionError(f"intake refused {appeal['key']}: {response.status_code} {response.text}")
                load.failures[f"HTTP {response.status_code}"] += 1
            except requests.RequestException as exc:
                load.failures[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{appeal['key']} not accepted in {give_up_after}s: {dict(load.failures)}")
            eventlet.sleep(0.2)

    pool = eventlet.GreenPool(64)
    load.started = time.monotonic()
    for i, appeal in enumerate(appeals):
        wait = load.started + i / rate - time.monotonic()
        if wait > 0:
            eventlet.sleep(wait)
        pool.spawn(submit, appeal)
    pool.waitall()
    load.finished = time.monotonic()


def run_load_with_fault(intake_url: str, appeals: list[dict], fault) -> tuple[Load, list]:
    """Submit the appeals; ``fault(load)`` runs alongside (it may look at ``load`` to time itself)."""
    load = Load()
    fault_thread = eventlet.spawn(fault, load)
    errors = []
    try:
        submit_all(intake_url, appeals, RATE, load)
    finally:
        try:
            timeline = fault_thread.wait()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            timeline = []
    if errors:
        raise errors[0]
    return load, timeline


def wait_submitted(load: Load, fraction: float, total: int) -> None:
    while len(load.ids) < fraction * total and not load.finished:
        eventlet.sleep(0.05)


# ---------------------------------------------------------------- the mesh of one scenario
class Scenario:
    def __init__(self, name: str, amqp_uri: str, database_urls: dict[str, str], tmp_path: Path):
        self.name = name
        self.amqp_uri = amqp_uri
        self.database_urls = database_urls
        self.folder = tmp_path
        self.sinks = Sinks(tmp_path)
        self.profile = make_profile(tmp_path / "profile")
        tokens = write_tokens(load_units(str(self.profile))["units"], tmp_path / "tokens.yaml")
        declare_taps(amqp_uri)
        self.mesh = Mesh(list(SERVICES), amqp_uri=amqp_uri, database_urls=database_urls,
                         ports={name: free_port() for name in SERVICES}, var_dir=tmp_path / "var",
                         env={"PROFILE_DIR": str(self.profile), "SIMULATED_CLOCK": "true",
                              "AUTH_TOKENS_FILE": str(tokens), "OUTBOX_POLL_SECONDS": "0.2",
                              "TICK_TIMER": "false", "NOTIFY_POLL_SECONDS": "0.5",
                              "CALLBACK_SECRET": "faults-callback-secret",
                              "LOG_LEVEL": os.environ.get("FAULTS_LOG_LEVEL", "INFO"), **self.sinks.env()})
        self.client = None

    def start(self) -> Scenario:
        self.mesh.start(timeout=180)
        self.client = Suqiu({name: self.mesh.url(name) for name in SERVICES}, self.amqp_uri)
        return self

    def close(self) -> None:
        try:
            for name in SERVICES:  # the test is over: no need for a graceful stop
                self.mesh.kill(name)
        finally:
            self.sinks.close()

    def logs(self) -> str:
        return str(self.mesh.var_dir / "log")

    def wait_back(self, name: str, timeout: float = 120) -> None:
        """Until the restarted service answers ``/healthz`` 200, however busy (the clients' retries
        queue up in front of it: a 2 s probe like ``Mesh.healthy`` would time out for many seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            process = self.mesh.processes[name]
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}; logs in {self.logs()}")
            try:
                if requests.get(f"{self.mesh.url(name)}/healthz", timeout=30).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not come back in {timeout}s; logs in {self.logs()}")
            eventlet.sleep(0.3)


def make_profile(folder: Path) -> Path:
    """The demo profile, with notify's email rate limit raised to what the load needs.

    The demo's 20 emails/s would make the drain of a few hundred dispatch notices the whole
    run; the limiter is not what these tests are about (notify's own tests cover it).
    """
    source = ROOT / "deploy" / "profiles" / "demo"
    folder.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    notify = yaml.safe_load((folder / "notify.yaml").read_text(encoding="utf-8"))
    notify["rate_limits"]["email"] = {"rate": 1000, "burst": 1000}
    (folder / "notify.yaml").write_text(yaml.safe_dump(notify, allow_unicode=True), encoding="utf-8")
    return folder


def sql_column(url: str, query: str) -> list:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def busy(scenario: Scenario, expected: int) -> str | None:
    """What the mesh is still doing (None: drained)."""
    try:
        scenario.client.quiesce(timeout=3, settle=2, interval=0.2)
    except MeshError as exc:
        return str(exc)
    for name, url in scenario.database_urls.items():
        unsent = sql_scalar(url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        if unsent:
            return f"{unsent} events unsent in {name}'s outbox"
    pending = sql_scalar(scenario.database_urls["notify"],
                         "SELECT count(*) FROM notifications WHERE status = 'pending'")
    if pending:
        return f"{pending} notifications pending"
    known = sql_scalar(scenario.database_urls["dispatch"], "SELECT count(*) FROM appeals")
    if known < expected:
        return f"dispatch knows {known} of {expected} appeals"
    return None


def wait_drained(scenario: Scenario, expected: int, timeout: float = DRAIN_TIMEOUT) -> dict:
    """Wait until the mesh is idle (twice in a row); what is parked in dead-letter queues."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while True:
        try:
            doing = busy(scenario, expected)
        except Exception as exc:  # noqa: BLE001 - a server still coming back
            doing = f"{type(exc).__name__}: {exc}"
        quiet = quiet + 1 if doing is None else 0
        if quiet >= 2:  # a worker between its commit and its ack is not "drained"
            return {n: c for n, c in scenario.client.queue_depths().items() if c and n.endswith(".dlq")}
        if time.monotonic() > deadline:
            raise AssertionError(f"{scenario.name}: the mesh did not drain in {timeout}s: {doing}; "
                                 f"logs in {scenario.logs()}")
        eventlet.sleep(0.5)


# ---------------------------------------------------------------- the script after the fault
def script_the_rest(scenario: Scenario, appeals: list[dict], load: Load) -> list[str]:
    client = scenario.client
    now = datetime.now(timezone.utc)
    scripted = [(load.ids[a["key"]], a["lead"]) for a in appeals if a["scripted"]]
    pool = eventlet.GreenPool(8)
    list(pool.imap(lambda item: client.accept(item[1], item[0], now), scripted))
    list(pool.imap(lambda item: client.reply(item[1], item[0], "solved", "已协调解决", now), scripted))
    wait_drained(scenario, len(appeals))
    results = list(pool.imap(lambda item: client.callback(item[0], True, "满意", now)["result"], scripted))
    assert results == ["closed"] * len(scripted), Counter(results)
    return [appeal_id for appeal_id, _ in scripted]


# ---------------------------------------------------------------- the checks
def check_everything(scenario: Scenario, appeals: list[dict], load: Load, *, mail_repeats_allowed: int) -> dict:
    client = scenario.client
    urls = scenario.database_urls
    ids = {load.ids[a["key"]]: a for a in appeals}
    assert len(load.ids) == len(appeals) and len(ids) == len(appeals), "every submission has its own appeal"

    # no appeal missing, none extra (a retried submission is one appeal)
    intake_ids = {a["id"] for a in client.intake_appeals()}
    assert intake_ids == set(ids), (len(intake_ids), len(ids))
    dispatch_view = {a["id"]: a for a in client.appeals()}
    assert set(dispatch_view) == set(ids), (len(dispatch_view), len(ids))
    for service, query in (("supervision", "SELECT appeal_id FROM appeals"),
                           ("assessment", "SELECT appeal_id FROM appeal_facts"),
                           ("notify", "SELECT appeal_id FROM appeals")):
        known = sql_column(urls[service], query)
        assert len(known) == len(set(known)) and set(known) == set(ids), \
            f"{service} knows {len(set(known))} of {len(ids)} appeals"

    # every appeal where its script says, each dispatched once
    pool = eventlet.GreenPool(10)
    views = dict(pool.imap(lambda appeal_id: (appeal_id, client.appeal(appeal_id)), list(ids)))
    wrong = []
    for appeal_id, view in views.items():
        appeal = ids[appeal_id]
        status = "closed" if appeal["scripted"] else "dispatched"
        dispatches = [line for line in view["history"] if line["status_to"] == "dispatched"]
        actions = Counter((line["action"], line["status_from"], line["status_to"]) for line in view["history"])
        if (view["status"], view["lead_unit"], view["dispatch_count"]) != (status, appeal["lead"], 1) \
                or len(dispatches) != 1 or any(count > 1 for count in actions.values()):
            wrong.append((appeal_id, view["status"], view["lead_unit"], view["dispatch_count"], view["history"]))
    assert not wrong, f"{len(wrong)} appeals not as scripted, e.g. {wrong[:2]}"

    # no transition twice: per appeal, one event id of each kind
    events = read_taps(scenario.amqp_uri)
    per_id = Counter(e["id"] for e in events)
    kinds = defaultdict(set)  # (appeal, type) -> event ids
    for e in events:
        kinds[(e["data"].get("appeal_id"), e["type"])].add(e["id"])
        if e["type"] == "appeal_dispatched":
            assert e["data"]["dispatch_count"] == 1 and e["data"]["lead_unit"] == ids[e["data"]["appeal_id"]]["lead"]
    expected_kinds = {"appeal_received": lambda a: True, "appeal_dispatched": lambda a: True,
                      "appeal_accepted": lambda a: a["scripted"], "appeal_replied": lambda a: a["scripted"],
                      "callback_requested": lambda a: a["scripted"], "appeal_closed": lambda a: a["scripted"]}
    twice = []
    for appeal_id, appeal in ids.items():
        for kind, expected in expected_kinds.items():
            if len(kinds.get((appeal_id, kind), ())) != (1 if expected(appeal) else 0):
                twice.append((appeal_id, kind, sorted(kinds.get((appeal_id, kind), ()))))
    assert not twice, f"{len(twice)} transitions not exactly once, e.g. {twice[:5]}"
    unexpected = {t for (a, t) in kinds if a not in ids}
    assert not unexpected, f"events about unknown appeals: {unexpected}"

    # no notification twice; every one sent; the lead unit told of each dispatch by email
    deliveries = client.deliveries()
    notification_keys = Counter((d["event_id"], d["recipient"], d["channel"]) for d in deliveries)
    assert max(notification_keys.values()) == 1, [k for k, c in notification_keys.items() if c > 1][:5]
    assert {d["status"] for d in deliveries} == {"sent"}, Counter(d["status"] for d in deliveries)
    phantom = {d["event_id"] for d in deliveries if d["event_type"] in expected_kinds} - set(per_id)
    assert not phantom, f"notifications of events never published: {sorted(phantom)[:3]}"
    lead_mails = {(d["appeal_id"], d["recipient"]) for d in deliveries
                  if d["event_type"] == "appeal_dispatched" and d["channel"] == "email"}
    missing = [(i, a["lead"]) for i, a in ids.items() if (i, f"unit:{a['lead']}") not in lead_mails]
    assert not missing, f"{len(missing)} lead units not notified, e.g. {missing[:3]}"
    for appeal_id in ids:
        assert len([d for d in deliveries if d["appeal_id"] == appeal_id and d["event_type"] == "appeal_dispatched"
                    and d["recipient"] == f"unit:{ids[appeal_id]['lead']}"]) == 2  # email + in-app
    # what the SMTP server received, by Message-ID
    sent_mails = {f"<{d['id']}@suqiu.notify>" for d in deliveries if d["channel"] == "email"}
    received = Counter(m["message_id"] for m in scenario.sinks.mails())
    assert set(received) == sent_mails, (len(set(received)), len(sent_mails),
                                         list(set(received) ^ sent_mails)[:3])
    repeats = sum(count - 1 for count in received.values())
    assert repeats <= mail_repeats_allowed, f"{repeats} emails received twice (allowed {mail_repeats_allowed})"
    return {"appeals": len(ids), "events": len(events), "event_redeliveries": sum(c - 1 for c in per_id.values()),
            "deliveries": len(deliveries), "emails": len(sent_mails), "email_repeats": repeats,
            "duplicate_appeals": len(intake_ids) - len(ids), "duplicate_transitions": len(twice),
            "duplicate_notifications": sum(c - 1 for c in notification_keys.values())}


def run_scenario(scenario: Scenario, fault, *, mail_repeats_allowed: int = 0) -> dict:
    appeals = the_appeals(scenario.name, APPEALS)
    began = time.monotonic()
    scenario.start()
    started = time.monotonic()
    load, timeline = run_load_with_fault(scenario.mesh.url("intake"), appeals, fault)
    for name in SERVICES:  # every service up and answering by itself, none exited
        scenario.wait_back(name, timeout=180)
    parked = wait_drained(scenario, len(appeals))
    drain_seconds = time.monotonic() - load.finished
    assert parked == {}, f"parked messages: {parked}; logs in {scenario.logs()}"
    script_the_rest(scenario, appeals, load)
    parked = wait_drained(scenario, len(appeals))
    assert parked == {}, f"parked messages: {parked}; logs in {scenario.logs()}"
    figures = check_everything(scenario, appeals, load, mail_repeats_allowed=mail_repeats_allowed)
    figures.update({
        "scenario": scenario.name, "rate": RATE, "submission_retries": load.retries,
        "retried_because": dict(load.failures), "retries_answered_as_duplicate": load.duplicates_answered,
        "submit_seconds": round(load.finished - load.started, 1), "drain_seconds": round(drain_seconds, 1),
        "mesh_start_seconds": round(started - began, 1), "total_seconds": round(time.monotonic() - began, 1),
        "fault_timeline": timeline})
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / f"{scenario.name}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"\n{scenario.name}: {json.dumps(figures, ensure_ascii=False)}")
    return figures


# ---------------------------------------------------------------- the scenarios
@pytest.fixture
def scenario_of(tmp_path):
    made = []

    def make(name: str, amqp_uri: str, database_urls: dict[str, str]) -> Scenario:
        scenario = Scenario(name, amqp_uri, database_urls, tmp_path / name)
        made.append(scenario)
        return scenario

    yield make
    for scenario in made:
        scenario.close()


@pytest.mark.timeout(480)
def test_kill_9_of_each_service_in_turn_loses_nothing(amqp_uri, make_database_url, scenario_of):
    scenario = scenario_of("kill-each-service", amqp_uri, {name: make_database_url() for name in SERVICES})

    def fault(load: Load) -> list:
        timeline = []
        for index, name in enumerate(SERVICES):
            # spread over the load; never before the previous victim is back (one at a time)
            wait_submitted(load, (index + 0.5) / (len(SERVICES) + 0.5), APPEALS)
            at, submitted = time.monotonic() - load.started, len(load.ids)
            scenario.mesh.kill(name)
            scenario.mesh.spawn(name)
            scenario.wait_back(name)
            timeline.append({"killed": name, "at_s": round(at, 2), "submitted_then": submitted,
                             "back_after_s": round(time.monotonic() - load.started - at, 2)})
        return timeline

    # notify killed between sending an email and recording it sends it again, same Message-ID
    figures = run_scenario(scenario, fault, mail_repeats_allowed=1)
    assert [step["killed"] for step in figures["fault_timeline"]] == list(SERVICES)
    assert figures["fault_timeline"][0]["submitted_then"] < APPEALS  # the first crash while appeals flow


@pytest.mark.timeout(480)
def test_a_rabbitmq_restart_loses_nothing(private_rabbitmq, make_database_url, scenario_of):
    scenario = scenario_of("restart-rabbitmq", private_rabbitmq.uri, {name: make_database_url() for name in SERVICES})

    def fault(load: Load) -> list:
        wait_submitted(load, 0.4, APPEALS)
        at, submitted = time.monotonic() - load.started, len(load.ids)
        private_rabbitmq.restart(down_for=2.0)
        return [{"restarted": "rabbitmq", "at_s": round(at, 2), "submitted_then": submitted,
                 "back_after_s": round(time.monotonic() - load.started - at, 2)}]

    figures = run_scenario(scenario, fault)
    assert figures["fault_timeline"][0]["submitted_then"] < APPEALS  # the broker went while appeals flowed


@pytest.mark.timeout(480)
def test_a_postgresql_crash_and_restart_loses_nothing(amqp_uri, private_postgres, scenario_of):
    urls = {name: private_postgres.create_database(f"suqiu_{name}") for name in SERVICES}
    scenario = scenario_of("restart-postgresql", amqp_uri, urls)

    def fault(load: Load) -> list:
        wait_submitted(load, 0.4, APPEALS)
        at, submitted = time.monotonic() - load.started, len(load.ids)
        private_postgres.restart("immediate", down_for=2.0)
        return [{"restarted": "postgresql (immediate: a crash)", "at_s": round(at, 2), "submitted_then": submitted,
                 "back_after_s": round(time.monotonic() - load.started - at, 2)}]

    # the sender may have sent one email and crashed with the database before recording it:
    # it is sent again with the same Message-ID (the documented window, sender.py)
    figures = run_scenario(scenario, fault, mail_repeats_allowed=1)
    assert figures["fault_timeline"][0]["submitted_then"] < APPEALS  # the database went while appeals flowed
