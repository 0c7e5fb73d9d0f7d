"""What the fault tests share: the five services, how to start one alone, its endpoints
(from its OpenAPI document), who may call each, and how to count its state.

The access table :data:`ACCESS` is the one place that says which roles each endpoint
admits; :func:`operations` reads the endpoints from each service's OpenAPI document,
and a test fails when the two disagree, so a new endpoint needs its row here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import import_module

import requests
from kombu import Connection, Producer
from sqlalchemy import create_engine, func, inspect, select, table, text

from shared.db import normalise_url
from shared.events import Event, make_event
from shared.testing import wait_for
from shared.topology import events_exchange

SERVICE_NAMES = ("intake", "dispatch", "supervision", "assessment", "notify")
SERVICE_CLASSES = {
    "intake": "IntakeService", "dispatch": "DispatchService", "supervision": "SupervisionService",
    "assessment": "AssessmentService", "notify": "NotifyService",
}
# what each service needs beyond shared.testing.service_config (as its own integration tests run it)
EXTRA_CONFIG = {
    "intake": {},
    "dispatch": {},
    "supervision": {"TICK_TIMER": False},
    "assessment": {"CALLBACK_SECRET": "faults-callback-secret"},
    "notify": {"NOTIFY_SENDER": False, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": 9,
               "SMS_GATEWAY_URL": "http://127.0.0.1:9/sms"},
}

TOKENS = {
    "office": "t-office", "unit": "t-unit-hrss", "other_unit": "t-unit-tax", "cadre": "t-cadre",
    "platform": "t-platform", "enterprise": "t-enterprise", "other_enterprise": "t-enterprise-2",
}
"""The callers of the access matrix (besides no token at all). ``unit`` is the lead unit of
the appeals the matrix seeds (hrss), ``other_unit`` another unit (tax); ``enterprise`` the seeded
appeal's enterprise (its signed link in the console), ``other_enterprise`` another one."""
ROLE_OF = {"office": "office", "unit": "unit", "other_unit": "unit", "cadre": "cadre", "platform": "platform",
           "enterprise": "enterprise", "other_enterprise": "enterprise"}

PUBLIC = "public"  # no token needed
LINK = "link"  # no token; the path carries a signed callback link (a forged one is a 403)
KEY = "api_key"  # Open311: no bearer token; an api_key argument (none or an unknown one is a 403)
ANYONE = ("office", "unit", "cadre", "platform", "enterprise")

# (method, OpenAPI path) -> the roles admitted, or PUBLIC / LINK
ACCESS: dict[str, dict[tuple[str, str], tuple[str, ...] | str]] = {
    "intake": {
        ("POST", "/api/v1/appeals"): ("office", "cadre", "platform", "enterprise"),
        ("GET", "/api/v1/appeals"): ("office", "cadre", "platform", "enterprise"),
        ("GET", "/api/v1/appeals/{appeal_id}"): ("office", "cadre", "platform", "enterprise"),
        ("POST", "/api/v1/appeals/import"): ("office", "cadre"),
        ("GET", "/api/v1/enterprises"): ("office", "cadre"),
        ("GET", "/api/v1/enterprises/{credit_code}"): ("office", "cadre"),
        ("PUT", "/api/v1/enterprises/{credit_code}"): ("office",),
        ("POST", "/api/v1/enterprises/import"): ("office",),
        ("GET", "/api/v1/people"): ("office", "cadre"),
        ("GET", "/api/v1/people/{person_id}"): ("office", "cadre"),
        ("PUT", "/api/v1/people/{person_id}"): ("office",),
        ("GET", "/api/v1/households"): ("office", "cadre"),
        ("GET", "/api/v1/households/{subject_id}"): ("office", "cadre"),
        ("PUT", "/api/v1/households/{subject_id}"): ("office",),
        ("POST", "/api/v1/households/import"): ("office",),
        ("GET", "/api/v1/projects"): ("office", "cadre"),
        ("GET", "/api/v1/projects/{subject_id}"): ("office", "cadre"),
        ("PUT", "/api/v1/projects/{subject_id}"): ("office",),
        ("POST", "/api/v1/projects/import"): ("office",),
        ("POST", "/api/v1/visits"): ("office", "cadre"),
        ("GET", "/api/v1/visits"): ("office", "cadre"),
        ("GET", "/api/v1/visits/{visit_id}"): ("office", "cadre"),
        ("GET", "/open311/v2/services.{format}"): PUBLIC,
        ("GET", "/open311/v2/services/{service_code}.{format}"): PUBLIC,
        ("POST", "/open311/v2/requests.{format}"): KEY,
        ("GET", "/open311/v2/requests.{format}"): KEY,
        ("GET", "/open311/v2/requests/{service_request_id}.{format}"): KEY,
        ("GET", "/open311/v2/tokens/{token}.{format}"): KEY,
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,
    },
    "dispatch": {
        ("GET", "/api/v1/desk"): ("unit",),
        ("GET", "/api/v1/desk/appeals/{appeal_id}"): ("unit",),
        ("POST", "/api/v1/desk/appeals/{appeal_id}/accept"): ("unit",),
        ("POST", "/api/v1/desk/appeals/{appeal_id}/progress"): ("unit",),
        ("POST", "/api/v1/desk/appeals/{appeal_id}/reply"): ("unit",),
        ("POST", "/api/v1/desk/appeals/{appeal_id}/return"): ("unit",),
        ("POST", "/api/v1/desk/appeals/{appeal_id}/escalation-request"): ("unit",),
        ("POST", "/api/v1/desk/appeals/{appeal_id}/plan"): ("unit",),
        ("GET", "/api/v1/desk/common-problems"): ("unit",),
        ("GET", "/api/v1/desk/common-problems/{problem_id}"): ("unit",),
        ("POST", "/api/v1/desk/common-problems/{problem_id}/reply"): ("unit",),
        ("GET", "/api/v1/office/common-problems/candidates"): ("office",),
        ("GET", "/api/v1/office/common-problems"): ("office",),
        ("POST", "/api/v1/office/common-problems"): ("office",),
        ("GET", "/api/v1/office/common-problems/{problem_id}"): ("office",),
        ("GET", "/api/v1/enterprise/appeals"): ("enterprise", "cadre"),
        ("GET", "/api/v1/office/queue"): ("office",),
        ("GET", "/api/v1/office/appeals"): ("office",),
        ("GET", "/api/v1/office/appeals/{appeal_id}"): ("office",),
        ("POST", "/api/v1/office/appeals/{appeal_id}/assign"): ("office",),
        ("POST", "/api/v1/office/appeals/{appeal_id}/classify"): ("office",),
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,
    },
    "supervision": {
        ("POST", "/api/v1/tick"): ("office",),
        ("GET", "/api/v1/appeals/{appeal_id}"): ("office", "unit"),
        ("POST", "/api/v1/appeals/{appeal_id}/pause"): ("office",),
        ("POST", "/api/v1/appeals/{appeal_id}/pause-requests"): ("unit",),
        ("GET", "/api/v1/pause-requests"): ("office", "unit"),
        ("POST", "/api/v1/pause-requests/{request_id}/approve"): ("office",),
        ("POST", "/api/v1/pause-requests/{request_id}/refuse"): ("office",),
        ("POST", "/api/v1/appeals/{appeal_id}/resume"): ("office", "unit"),
        ("POST", "/api/v1/appeals/{appeal_id}/orders"): ("office",),
        ("GET", "/api/v1/ledger"): ("office", "unit"),
        ("GET", "/api/v1/ledger.csv"): ("office", "unit"),
        ("GET", "/api/v1/ledger.xlsx"): ("office", "unit"),
        ("GET", "/api/v1/meeting-agenda"): ("office",),
        ("POST", "/api/v1/meetings"): ("office",),
        ("GET", "/api/v1/meetings"): ("office",),
        ("GET", "/api/v1/meetings/{meeting_id}"): ("office",),
        ("POST", "/api/v1/meetings/{meeting_id}/decisions"): ("office",),
        ("GET", "/api/v1/meetings/{meeting_id}/minutes.csv"): ("office",),
        ("GET", "/api/v1/meetings/{meeting_id}/minutes.xlsx"): ("office",),
        ("GET", "/api/v1/meetings/{meeting_id}/minutes.md"): ("office",),
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,
    },
    "assessment": {
        ("POST", "/api/v1/appeals/{appeal_id}/callback"): ("office",),
        ("POST", "/api/v1/callbacks/chase"): ("office",),
        ("GET", "/api/v1/callbacks/phone-list"): ("office",),
        ("POST", "/api/v1/callback-rounds"): ("office",),
        ("GET", "/api/v1/callback-rounds"): ("office",),
        ("GET", "/api/v1/callback-rounds/{round_id}"): ("office",),
        ("GET", "/api/v1/appeals/{appeal_id}/assessment"): ("office",),
        ("GET", "/api/v1/callback/{token}"): LINK,
        ("POST", "/api/v1/callback/{token}"): LINK,
        ("GET", "/api/v1/enterprise/callbacks"): ("enterprise",),
        ("GET", "/api/v1/rates"): ("office", "unit"),
        ("GET", "/api/v1/reports/weekly"): ("office", "unit"),
        ("GET", "/api/v1/reports/monthly"): ("office", "unit"),
        ("GET", "/api/v1/reports/visits"): ("office", "unit"),
        ("POST", "/api/v1/reports/weekly/publish"): ("office",),
        ("POST", "/api/v1/reports/monthly/publish"): ("office",),
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,
    },
    "notify": {
        ("POST", "/api/v1/policy-pushes"): ("office",),
        ("GET", "/api/v1/deliveries"): ("office",),
        ("GET", "/api/v1/inbox"): ("office", "unit", "cadre"),
        ("POST", "/api/v1/send-due"): ("office",),
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,
    },
}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str  # the OpenAPI path, with {name} placeholders
    spec: dict  # the operation object
    document: dict  # the whole OpenAPI document (for $ref)

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def access(self):
        return ACCESS[self.service][self.key]

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def service_class(name: str):
    return getattr(import_module(f"services.{name}.service"), SERVICE_CLASSES[name])


def openapi_document(name: str) -> dict:
    return import_module(f"services.{name}.service").openapi_document()


def operations(name: str, document: dict | None = None) -> list[Operation]:
    document = document or openapi_document(name)
    found = []
    for path, item in document["paths"].items():
        for method, spec in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append(Operation(name, method.upper(), path, spec, document))
    return found


def resolve(document: dict, schema: dict | None) -> dict:
    """The schema with its top-level ``$ref`` followed."""
    while schema and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema or {}


def start(container_factory, name: str, service_config: dict, **extra) -> str:
    """Run service ``name`` in-process on this test's vhost and database; its base URL."""
    config = {**service_config, **EXTRA_CONFIG[name], **extra}
    container = container_factory(service_class(name), config)
    container.start()
    return f"http://{config['WEB_SERVER_ADDRESS']}"


def row_counts(database_url: str) -> dict[str, int]:
    """Rows in every table of the service's database (its whole state)."""
    engine = create_engine(normalise_url(database_url))
    try:
        names = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
        with engine.connect() as connection:
            return {n: connection.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names}
    finally:
        engine.dispose()


def publish_event(amqp_uri: str, event: Event) -> Event:
    with Connection(amqp_uri) as connection:
        Producer(connection.channel()).publish(
            event.to_message(), exchange=events_exchange(event.producer), routing_key=event.type,
            serializer="json", delivery_mode=2, message_id=event.id)
    return event


def publish_raw(amqp_uri: str, exchange: str, routing_key: str, body, content_type: str,
                message_id: str | None = None) -> None:
    from kombu import Exchange

    target = Exchange(exchange, type="topic", durable=True)
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False, default=str)
    with Connection(amqp_uri) as connection:
        Producer(connection.channel()).publish(
            raw, exchange=target, routing_key=routing_key, content_type=content_type, content_encoding="utf-8",
            delivery_mode=2, message_id=message_id, declare=[target])


AT = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
APPEAL_ID = "SQ20261123-0000000001"
CODE = "91350100M000100Y43"
# 用工 in 汉台区: dispatch's demo rules make hrss the lead (TOKENS["unit"]); tax is another unit
LABOUR = {"appeal_id": APPEAL_ID, "credit_code": CODE, "enterprise_name": "测试公司", "title": "招工难",
          "description": "春节后缺少熟练工人", "category": "用工", "district": "汉台区", "channel": "visit",
          "collected_at": AT, "submitted_at": AT}
DISPATCHED = {"appeal_id": APPEAL_ID, "lead_unit": "hrss", "co_units": [], "category": "用工", "difficulty": "B",
              "nature": "个性", "level": "city", "district": "汉台区", "reason": "rule", "dispatch_count": 1}
APPEAL = {"credit_code": CODE, "enterprise_name": "测试公司", "title": "用工难", "description": "招不到熟练工",
          "district": "甲区", "channel": "visit", "collected_at": "2026-11-20T10:00:00+08:00"}


def seed(service: str, base: str, amqp_uri: str) -> str:
    """One appeal of the unit (hrss; at intake, the cadre's) where the service keeps appeals; its id."""
    office = {"Authorization": f"Bearer {TOKENS['office']}"}
    if service == "intake":
        response = requests.post(f"{base}/api/v1/appeals", json=APPEAL,
                                 headers={"Authorization": f"Bearer {TOKENS['cadre']}"}, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["id"]
    if service == "dispatch":
        publish_event(amqp_uri, make_event("appeal_received", LABOUR, producer="intake", now=AT))
        wait_for(lambda: requests.get(f"{base}/api/v1/office/appeals/{APPEAL_ID}", headers=office).ok, 20,
                 message="the appeal dispatched")
        return APPEAL_ID
    if service == "supervision":
        publish_event(amqp_uri, make_event("appeal_dispatched", DISPATCHED, producer="dispatch", now=AT))
        wait_for(lambda: requests.get(f"{base}/api/v1/appeals/{APPEAL_ID}", headers=office).ok, 20,
                 message="the appeal under supervision")
        return APPEAL_ID
    return APPEAL_ID  # assessment's appeal endpoints are the office's alone; notify keeps none


def outbox_drained(database_url: str) -> bool:
    """Every event the service recorded has been published."""
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table("outbox"))
                                      .where(text("sent_at IS NULL"))).scalar_one() == 0
    finally:
        engine.dispose()


def sql_scalar(url: str, query: str, application_name: str | None = None, **params):
    """The one value ``query`` answers in the database at ``url`` (an engine of its own, disposed;
    ``application_name`` names the test's connection, so a count of the mesh's can leave it out)."""
    connect_args = {"application_name": application_name} if application_name else {}
    engine = create_engine(normalise_url(url), connect_args=connect_args)
    try:
        with engine.connect() as connection:
            return connection.execute(text(query), params).scalar()
    finally:
        engine.dispose()


LOAD_CODES = ["916107001590830106", "91610700913909960G", "91610700819482190E", "916107000937865708"]


def load_appeal(n: int, channel: str, firm: str) -> dict:
    """The ``n``-th appeal of a load test (four enterprises named ``firm`` 0-3, labour in 汉台区)."""
    return {"credit_code": LOAD_CODES[n % 4], "enterprise_name": f"{firm}{n % 4}", "title": f"用工问题 {n}",
            "description": "招工难，需要人社部门协助对接", "category": "用工", "district": "汉台区",
            "channel": channel, "collected_at": datetime.now(timezone.utc).isoformat()}


def publish_upstream(amqp_uri: str, count: int, firm: str, prefix: str) -> None:
    """``count`` load appeals as an upstream platform publishes them (``appeal_submitted`` on
    ``upstream.events``, external ids ``prefix``-n), each confirmed before the next: a plain AMQP client."""
    import amqp

    info = Connection(amqp_uri).info()
    connection = amqp.Connection(host=f"{info['hostname']}:{info['port']}", userid=info["userid"],
                                 password=info["password"], virtual_host=info["virtual_host"])
    connection.connect()
    channel = connection.channel()
    channel.confirm_select()
    for n in range(count):  # basic_publish_confirm: each confirmed before the next
        body = {**load_appeal(n, "platform", firm), "external_id": f"{prefix}-{n}"}
        channel.basic_publish_confirm(
            amqp.Message(json.dumps(body, ensure_ascii=False).encode(), content_type="application/json",
                         delivery_mode=2, message_id=f"{prefix}-{n}"),
            exchange="upstream.events", routing_key="appeal_submitted")
    connection.close()


def submit_http(intake_url: str, count: int, offset: int, firm: str) -> None:
    """Load appeals ``offset`` .. ``offset + count - 1`` submitted over HTTP, as the office's clerk would."""
    session = requests.Session()
    for n in range(offset, offset + count):
        response = session.post(f"{intake_url}/api/v1/appeals", json=load_appeal(n, "web", firm), timeout=60,
                                headers={"Authorization": "Bearer t-office"})
        assert response.status_code == 201, response.text


def loop_progress(databases: dict[str, str], scalar=sql_scalar) -> dict[str, int]:
    """How far the load got: appeals each service holds, notified as dispatched, with their
    acceptance deadline known to assessment, and the outbox rows each service has not sent."""
    progress = {f"{name} appeals": scalar(url, "SELECT count(*) FROM appeal_facts" if name == "assessment"
                                          else "SELECT count(*) FROM appeals") for name, url in databases.items()}
    progress["notified"] = scalar(databases["notify"], "SELECT count(DISTINCT appeal_id) FROM notifications "
                                                       "WHERE event_type = 'appeal_dispatched'")
    progress["assessed"] = scalar(databases["assessment"],
                                  "SELECT count(*) FROM appeal_facts WHERE accept_due_at IS NOT NULL")
    progress.update({f"{name} unsent": scalar(url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                     for name, url in databases.items()})
    return progress


def loop_through(databases: dict[str, str], total: int, scalar=sql_scalar) -> bool:
    """All ``total`` appeals through the loop: notified as dispatched, their acceptance deadline
    known to assessment, and every outbox empty."""
    progress = loop_progress(databases, scalar)
    return (progress["notified"] == total and progress["assessed"] == total
            and not any(count for name, count in progress.items() if name.endswith("unsent")))
