"""The AMQP ingress reads any JSON body, whatever its content type says (README: "AMQP ingress").

Upstream platforms publish with whatever client they have; a plain py-amqp publisher here sets
the content type as such clients do (or not at all). A body that is JSON is read; one that is
not is dead-lettered with its reason, and nothing is stored.
"""
import json

import amqp
import pytest
from kombu import Connection, Queue

from services.intake.models import appeals
from services.intake.service import IntakeService
from shared.testing import count_rows as count
from shared.testing import wait_for

pytestmark = pytest.mark.integration

QUEUE = "evt-upstream-appeal_submitted--intake.receive_upstream"
APPEAL = {"credit_code": "91350100M000100Y43", "enterprise_name": "测试公司", "title": "用工难",
          "description": "招不到熟练工", "district": "甲区", "channel": "hotline",
          "collected_at": "2026-11-20T10:00:00+08:00"}


@pytest.fixture
def intake(container_factory, service_config):
    container = container_factory(IntakeService, service_config)
    container.start()
    return container


def publish(amqp_uri: str, body: bytes, **properties) -> None:
    """One message, as a plain AMQP 0-9-1 client publishes it: these properties and no others."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(amqp_uri)
    with amqp.Connection(f"{parts.hostname}:{parts.port or 5672}", userid=parts.username or "guest",
                         password=parts.password or "guest", virtual_host=unquote(parts.path[1:]) or "/") as conn:
        channel = conn.channel()
        channel.exchange_declare("upstream.events", "topic", durable=True, auto_delete=False)
        channel.basic_publish(amqp.Message(body, **properties), exchange="upstream.events",
                              routing_key="appeal_submitted")


def depth(amqp_uri: str, name: str) -> int:
    with Connection(amqp_uri) as conn:
        return Queue(name)(conn.channel()).queue_declare(passive=True).message_count


@pytest.mark.parametrize("properties", [
    {},  # no content type at all
    {"content_type": "application/json"},
    {"content_type": "application/json; charset=utf-8"},
    {"content_type": "text/json"},
    {"content_type": "text/plain"},
    {"content_type": "application/octet-stream", "content_encoding": "binary"},
    {"content_type": "application/x-whatever", "content_encoding": "utf-8"},
], ids=lambda p: p.get("content_type", "none"))
def test_a_json_appeal_is_read_whatever_its_content_type(intake, amqp_uri, db, properties):
    body = json.dumps({**APPEAL, "external_id": "CT-1"}, ensure_ascii=False).encode("utf-8")
    publish(amqp_uri, body, **properties)
    wait_for(lambda: count(db, appeals) == 1, timeout=15, message="the appeal stored")
    assert depth(amqp_uri, f"{QUEUE}.dlq") == 0


def test_an_appeal_with_a_byte_order_mark_is_read(intake, amqp_uri, db):
    body = json.dumps({**APPEAL, "external_id": "BOM-1"}, ensure_ascii=False).encode("utf-8-sig")
    publish(amqp_uri, body, content_type="text/plain")
    wait_for(lambda: count(db, appeals) == 1, timeout=15, message="the appeal stored")


@pytest.mark.parametrize("body, properties", [
    (b"not json at all", {}),
    (b"<appeal/>", {"content_type": "application/xml"}),
    (b"\xff\xfe{", {"content_type": "text/plain"}),
    (b'"a JSON string, not an appeal"', {"content_type": "text/json"}),
], ids=["words-no-type", "xml", "not-utf8", "json-string"])
def test_a_body_that_is_no_json_object_is_dead_lettered_and_nothing_stored(intake, amqp_uri, db, body, properties):
    publish(amqp_uri, body, **properties)
    wait_for(lambda: depth(amqp_uri, f"{QUEUE}.dlq") == 1, timeout=15, message="the message parked")
    assert count(db, appeals) == 0
