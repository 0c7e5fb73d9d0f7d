"""Malformed AMQP messages against every consumer queue of the five services (and the
upstream ingress ``upstream.events`` / ``appeal_submitted``).

Each kind of poison (not JSON, the wrong content type, not an envelope, an unknown type,
invalid data) is dead-lettered to ``<queue>.dlq`` with its reason in ``x-suqiu-reason``:
none is lost, none stays in its queue, and the consumer keeps working. A message parked
because the appeal it speaks of was not known yet is replayed, once that is fixed, by the
operator's command ``python -m shared.dlq replay <queue>``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from kombu import Connection
from sqlalchemy import create_engine, select

from shared import dlq
from shared.db import normalise_url
from shared.events import CATALOGUE, EventError, make_event, read_event
from shared.testing import wait_for
from shared.topology import SUBSCRIPTIONS, dead_letter_queue, events_exchange
from tests.faults.mesh import SERVICE_NAMES, publish_event, publish_raw, start

pytestmark = pytest.mark.integration

REASON_HEADER = "x-suqiu-reason"
AT = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
APPEAL_ID = "SQ20261123-0000000001"
RECEIVED = {
    "appeal_id": APPEAL_ID, "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司",
    "title": "招工难", "description": "春节后缺少熟练工人", "category": "用工", "district": "汉台区",
    "channel": "visit", "collected_at": AT, "submitted_at": AT,
}
DISPATCHED = {"appeal_id": APPEAL_ID, "lead_unit": "tax", "co_units": [], "category": "用工", "difficulty": "B",
              "nature": "个性", "level": "city", "district": "汉台区", "reason": "rule", "dispatch_count": 1}
UPSTREAM_APPEAL = {
    "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司", "title": "用工难",
    "description": "招不到熟练工",
    "district": "甲区", "channel": "message_board", "collected_at": "2026-11-20T10:00:00+08:00",
}


def invalid_data(event_type: str) -> dict:
    """Data that no reader of ``event_type`` accepts: every field of the wrong type."""
    from shared.events import _schema

    schema = _schema(CATALOGUE[event_type].schema)
    return {name: [{"wrong": True}] for name in schema.fields}


def envelope(event_type: str, data: dict, event_id: str) -> dict:
    return {"specversion": "1.0", "id": event_id, "type": event_type, "source": "suqiu/faults",
            "time": AT.isoformat(), "dataversion": 1, "data": data}


def poisons(sub) -> list[tuple[str, object, str, str]]:
    """(kind, body, content type, a word the reason must hold) for one subscription."""
    kinds = [
        ("not_json", b"\xff{{ not json", "application/json", "undecodable"),
        ("wrong_content_type", "plain words", "text/plain", "undecodable"),
        ("not_envelope", json.dumps([1, 2, 3]), "application/json", "JSON object"),
        ("unknown_type", json.dumps(envelope("no_such_event", {}, f"unknown-{sub.method}")), "application/json",
         "no_such_event"),
    ]
    if sub.source == "upstream":  # a bare appeal, whose fields the use case checks
        bad = {**UPSTREAM_APPEAL, "external_id": "X1", "credit_code": "123"}
        kinds.append(("invalid_data", json.dumps(bad, ensure_ascii=False), "application/json", "credit_code"))
    else:
        data = invalid_data(sub.event_type)
        with pytest.raises(EventError):  # the poison really is one
            read_event(envelope(sub.event_type, data, "x"), expected_type=sub.event_type)
        kinds.append(("invalid_data", json.dumps(envelope(sub.event_type, data, f"invalid-{sub.method}")),
                      "application/json", "invalid"))
    return kinds


def exchange_of(sub) -> str:
    return "upstream.events" if sub.source == "upstream" else events_exchange(sub.source).name


def take_all(amqp_uri: str, queue_name: str, expected: int, timeout: float = 30) -> list:
    """Take the ``expected`` messages of a queue (acked), waiting for them."""
    taken = []
    with Connection(amqp_uri) as connection:
        channel = connection.channel()

        def more():
            while True:
                message = channel.basic_get(queue_name, no_ack=True)
                if message is None:
                    return len(taken) >= expected
                taken.append(message)

        wait_for(more, timeout, message=f"{expected} messages in {queue_name}")
    return taken


def depth(amqp_uri: str, queue_name: str) -> int:
    with Connection(amqp_uri) as connection:
        return connection.channel().queue_declare(queue_name, passive=True).message_count


def inbox_has(database_url: str, event_id: str) -> bool:
    engine = create_engine(normalise_url(database_url))
    try:
        from sqlalchemy import column, table

        inbox = table("inbox", column("event_id"))
        with engine.connect() as connection:
            return connection.execute(select(inbox.c.event_id).where(inbox.c.event_id == event_id)).first() is not None
    finally:
        engine.dispose()


def a_valid_message(amqp_uri: str, service: str) -> str:
    """Publish one good message to one of the service's queues; the id its inbox will record."""
    if service == "intake":
        body = {**UPSTREAM_APPEAL, "external_id": "after-the-poison"}
        publish_raw(amqp_uri, "upstream.events", "appeal_submitted", body, "application/json",
                    message_id="after-the-poison")
        return "after-the-poison"
    if service == "supervision":
        return publish_event(amqp_uri, make_event("appeal_dispatched", DISPATCHED, producer="dispatch", now=AT)).id
    return publish_event(amqp_uri, make_event("appeal_received", RECEIVED, producer="intake", now=AT)).id


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_poison_is_dead_lettered_with_its_reason_and_the_consumer_keeps_working(
        service, container_factory, service_config, amqp_uri, database_url):
    start(container_factory, service, service_config)
    subs = [s for s in SUBSCRIPTIONS if s.consumer == service]
    assert subs, f"{service} has no consumer queue"
    sent: dict[str, dict[str, str]] = {}
    for sub in subs:
        sent[sub.queue_name] = {}
        for kind, body, content_type, word in poisons(sub):
            message_id = f"{kind}-{sub.method}"
            publish_raw(amqp_uri, exchange_of(sub), sub.event_type, body, content_type, message_id=message_id)
            sent[sub.queue_name][message_id] = word

    wrong = []
    for sub in subs:
        parked = take_all(amqp_uri, dead_letter_queue(sub).name, len(sent[sub.queue_name]))
        reasons = {m.properties.get("message_id"): m.headers.get(REASON_HEADER, "") for m in parked}
        if set(reasons) != set(sent[sub.queue_name]) or len(parked) != len(reasons):
            wrong.append(f"{sub.queue_name}: parked {sorted(reasons)} of {sorted(sent[sub.queue_name])}")
        for message_id, word in sent[sub.queue_name].items():
            if word not in reasons.get(message_id, ""):
                wrong.append(f"{sub.queue_name} {message_id}: reason {reasons.get(message_id)!r} lacks {word!r}")
        for queue_name in (sub.queue_name, f"{sub.queue_name}.retry"):
            if depth(amqp_uri, queue_name):
                wrong.append(f"{queue_name} still holds {depth(amqp_uri, queue_name)} message(s)")
    assert not wrong, "\n".join(wrong)

    event_id = a_valid_message(amqp_uri, service)
    wait_for(lambda: inbox_has(database_url, event_id), 20, message="the good message after the poison")


@pytest.fixture
def park_at_once(monkeypatch):
    """A failing handler parks its message at the first failure (no retries)."""
    monkeypatch.setenv("SUQIU_MAX_RETRIES", "0")
    monkeypatch.setenv("SUQIU_RETRY_DELAY_MS", "200")


def supervision_status(database_url: str, appeal_id: str) -> str | None:
    engine = create_engine(normalise_url(database_url))
    try:
        from sqlalchemy import column, table

        appeals = table("appeals", column("appeal_id"), column("status"))
        with engine.connect() as connection:
            return connection.execute(select(appeals.c.status).where(appeals.c.appeal_id == appeal_id)).scalar()
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
def test_a_parked_message_is_replayed_by_the_command_once_its_cause_is_fixed(
        park_at_once, container_factory, service_config, amqp_uri, database_url, capsys):
    start(container_factory, "supervision", service_config)
    queue = next(s for s in SUBSCRIPTIONS if (s.consumer, s.method) == ("supervision", "on_accepted"))
    accepted = publish_event(amqp_uri, make_event("appeal_accepted", {"appeal_id": APPEAL_ID, "unit": "tax"},
                                                  producer="dispatch", now=datetime(2026, 11, 23, 3, 0,
                                                                                    tzinfo=timezone.utc)))
    wait_for(lambda: depth(amqp_uri, dead_letter_queue(queue).name) == 1, 20, message="the acceptance parked")
    dlq.main(["show", queue.queue_name, "--amqp-uri", amqp_uri])
    shown = capsys.readouterr().out
    assert accepted.id in shown and "failed 1 times" in shown, shown

    publish_event(amqp_uri, make_event("appeal_dispatched", DISPATCHED, producer="dispatch", now=AT))  # the fix
    wait_for(lambda: supervision_status(database_url, APPEAL_ID) == "dispatched", 20, message="dispatched")
    dlq.main(["replay", queue.queue_name, "--amqp-uri", amqp_uri])
    assert capsys.readouterr().out.strip() == f"replayed 1 message(s) to {queue.queue_name}"
    wait_for(lambda: supervision_status(database_url, APPEAL_ID) == "accepted", 20, message="accepted on replay")
    assert depth(amqp_uri, dead_letter_queue(queue).name) == 0
