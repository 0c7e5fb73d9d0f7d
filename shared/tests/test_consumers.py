"""The unit of work's pure parts, in milliseconds: reading a body, the order of handler calls,
what a failure leads to."""
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from shared.consumers import ConsumerHub, Item, NotKnownYet, PoisonMessage, read_body, waves
from shared.errors import InvalidInput
from shared.events import EventError, make_event
from shared.topology import Subscription

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
RECEIVED = Subscription("notify", "on_received", "intake", "appeal_received")
DISPATCHED = Subscription("notify", "on_dispatched", "dispatch", "appeal_dispatched")


def message(body, content_type="application/json", headers=None, tag=1):
    return SimpleNamespace(body=body, properties={"content_type": content_type, "application_headers": headers},
                           headers=headers, delivery_tag=tag, delivery_info={})


def test_a_json_body_is_read():
    assert read_body(message(b'{"a": 1}')) == {"a": 1}


@pytest.mark.parametrize("body, content_type", [(b"\xff{ not json", "application/json"),
                                                 (b"plain words", "text/plain")])
def test_what_is_not_json_is_poison_called_undecodable(body, content_type):
    with pytest.raises(PoisonMessage, match="undecodable"):
        read_body(message(body, content_type))


def item(sub, method, appeal_id):
    event_type = sub.event_type
    data = ({"appeal_id": appeal_id, "credit_code": "x", "enterprise_name": "x", "title": "t", "description": "d",
             "district": "d", "channel": "visit", "collected_at": NOW, "submitted_at": NOW}
            if event_type == "appeal_received" else
            {"appeal_id": appeal_id, "lead_unit": "hrss", "category": "用工", "difficulty": "B", "level": "city"})
    producer = sub.source
    return Item(message(b""), subscription=sub, provider=SimpleNamespace(method_name=method),
                event=make_event(event_type, data, producer=producer, now=NOW))


def test_events_about_different_appeals_share_a_call_per_subscription_in_arrival_order():
    batch = [item(RECEIVED, "on_received", "A"), item(DISPATCHED, "on_dispatched", "B"),
             item(RECEIVED, "on_received", "C")]
    calls = waves(batch)
    assert [(sub.method, [i.event.subject for i in group]) for _, sub, group in calls] == [
        ("on_received", ["A", "C"]), ("on_dispatched", ["B"])]


def test_a_second_event_about_one_appeal_waits_for_the_next_wave():
    batch = [item(RECEIVED, "on_received", "A"), item(DISPATCHED, "on_dispatched", "A"),
             item(RECEIVED, "on_received", "B"), item(DISPATCHED, "on_dispatched", "B")]
    calls = waves(batch)
    assert [(sub.method, [i.event.subject for i in group]) for _, sub, group in calls] == [
        ("on_received", ["A", "B"]), ("on_dispatched", ["A", "B"])]


def test_no_call_gets_two_events_about_one_appeal():
    batch = [item(RECEIVED, "on_received", "A"), item(RECEIVED, "on_received", "A")]
    assert [len(group) for _, _, group in waves(batch)] == [1, 1]


def settle(exc, retries=0, limit=3, monkeypatch=None):
    hub = ConsumerHub.__new__(ConsumerHub)  # no container needed for the decision
    it = item(RECEIVED, "on_received", "A")
    it.message.headers = {"x-suqiu-retries": retries}
    monkeypatch.setenv("SUQIU_MAX_RETRIES", str(limit))
    hub._settle_failure(it, exc)
    return it


@pytest.mark.parametrize("exc", [InvalidInput("never appliable"), EventError("unreadable"), PoisonMessage("bad")])
def test_what_can_never_be_applied_is_parked_at_once(exc, monkeypatch):
    it = settle(exc, monkeypatch=monkeypatch)
    assert it.park == str(exc) and it.retry is None


@pytest.mark.parametrize("exc", [NotKnownYet("appeal A"), RuntimeError("database briefly away")])
def test_other_failures_are_retried_until_the_limit_then_parked(exc, monkeypatch):
    first = settle(exc, retries=0, limit=2, monkeypatch=monkeypatch)
    assert first.retry is not None and first.park is None
    last = settle(exc, retries=2, limit=2, monkeypatch=monkeypatch)
    assert last.retry is None and last.park.startswith("failed 3 times; last error")


def fallback(n, bad, monkeypatch):
    """A batch of ``n`` where the handler fails whenever the unit of work holds one of ``bad``."""
    hub = ConsumerHub.__new__(ConsumerHub)
    hub.container = SimpleNamespace(service_name="notify")
    monkeypatch.setenv("SUQIU_MAX_RETRIES", "3")
    items = [item(RECEIVED, "on_received", f"A{i}") for i in range(n)]
    units, committed = [], []

    def apply_held(unit):
        ids = [it.event.data["appeal_id"] for it in unit]
        units.append(ids)
        if bad & set(ids):
            raise NotKnownYet("not known yet")
        committed.extend(ids)

    hub._apply_held = apply_held
    hub._apply_with_fallback(items)
    return items, units, committed


def test_a_failing_batch_is_applied_in_halves_down_to_the_one_message_that_fails(monkeypatch):
    items, units, committed = fallback(100, {"A37"}, monkeypatch)
    assert committed == [f"A{i}" for i in range(100) if i != 37]  # in arrival order
    assert [it.retry is not None for it in items] == [i == 37 for i in range(100)]
    assert ["A37"] in units and len(units) <= 2 * 7 + 1  # the whole, then two halves per level of 7
    assert all(len(unit) == 1 for unit in units if unit == ["A37"])


def test_every_message_failing_settles_each_alone(monkeypatch):
    items, units, committed = fallback(6, {f"A{i}" for i in range(6)}, monkeypatch)
    assert committed == [] and all(it.retry is not None for it in items)
    assert sorted(unit[0] for unit in units if len(unit) == 1) == [f"A{i}" for i in range(6)]
