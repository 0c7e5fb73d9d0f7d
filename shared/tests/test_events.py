from datetime import datetime, timezone

import pytest

from shared import events
from shared.events import EventError, make_event, read_event, starts_acceptance

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
RECEIVED = {
    "appeal_id": "SQ20261123-0000000001", "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司",
    "title": "用工难", "description": "招不到熟练工", "district": "甲区", "channel": "visit",
    "collected_at": NOW, "submitted_at": NOW, "subject_type": "enterprise", "subject_id": "91350100M000100Y43",
    "subject_name": "测试公司",
}


def test_an_event_survives_the_wire():
    event = make_event("appeal_received", RECEIVED, producer="intake", now=NOW)
    back = read_event(event.to_message(), expected_type="appeal_received")
    assert (back.id, back.type, back.subject, back.source) == (event.id, "appeal_received", RECEIVED["appeal_id"],
                                                               "suqiu/intake")
    assert back.data["collected_at"] == NOW


def test_the_envelope_uses_cloudevents_names():
    message = make_event("appeal_received", RECEIVED, producer="intake", now=NOW).to_message()
    assert {"specversion", "id", "type", "source", "time", "subject", "dataversion", "correlationid",
            "data"} <= set(message)
    assert message["specversion"] == "1.0"


def test_a_reader_ignores_fields_it_does_not_know():
    message = make_event("appeal_received", RECEIVED, producer="intake", now=NOW).to_message()
    message["extension_of_tomorrow"] = 1
    message["data"]["new_field"] = "x"
    assert "new_field" not in read_event(message).data


def test_a_service_may_publish_only_its_own_events():
    with pytest.raises(EventError, match="may not publish"):
        make_event("appeal_received", RECEIVED, producer="dispatch", now=NOW)


def test_invalid_data_is_refused_when_the_event_is_made():
    with pytest.raises(EventError) as caught:
        make_event("appeal_received", {**RECEIVED, "channel": "pigeon"}, producer="intake", now=NOW)
    assert "channel" in caught.value.fields


@pytest.mark.parametrize("message, reason", [
    ("not a dict", "JSON object"),
    ({"id": "1"}, "invalid envelope"),
    ({"id": "1", "type": "nope", "source": "x", "time": NOW.isoformat(), "data": {}}, "unknown event type"),
])
def test_unreadable_messages_say_why(message, reason):
    with pytest.raises(EventError, match=reason):
        read_event(message)


def test_a_newer_version_than_the_reader_is_refused():
    message = make_event("appeal_received", RECEIVED, producer="intake", now=NOW).to_message()
    message["dataversion"] = 3
    with pytest.raises(EventError, match="newer"):
        read_event(message)


def test_an_old_version_is_upcast_before_it_is_read(monkeypatch):
    spec = events.CATALOGUE["appeal_received"]
    monkeypatch.setitem(events.CATALOGUE, "appeal_received", events.EventSpec(
        spec.type, spec.producer, 3, spec.schema, spec.summary))
    monkeypatch.setitem(events.UPCASTERS, ("appeal_received", 2),
                        lambda data: {**data, "title": data["title"] + "（升级）"})
    message = make_event("appeal_received", RECEIVED, producer="intake", now=NOW).to_message()
    message["dataversion"] = 2
    event = read_event(message)
    assert (event.dataversion, event.data["title"]) == (3, "用工难（升级）")


def test_a_version_1_appeal_received_loads_as_an_enterprise_appeal():
    """Before issue 15 every appeal was about an enterprise: its credit code is its subject's id."""
    message = make_event("appeal_received", RECEIVED, producer="intake", now=NOW).to_message()
    for name in ("subject_type", "subject_id", "subject_name"):
        del message["data"][name]
    message["dataversion"] = 1
    event = read_event(message)
    assert (event.dataversion, event.data["subject_type"], event.data["subject_id"], event.data["subject_name"]) \
        == (2, "enterprise", "91350100M000100Y43", "测试公司")


def test_a_household_appeal_needs_no_credit_code():
    household = {**RECEIVED, "credit_code": None, "enterprise_name": None, "subject_type": "household",
                 "subject_id": "H-0001", "subject_name": "谭*珠", "cadre_id": "yanghy", "lead_department": "jiangan"}
    back = read_event(make_event("appeal_received", household, producer="intake", now=NOW).to_message())
    assert (back.data["credit_code"], back.data["subject_id"], back.data["lead_department"]) == \
        (None, "H-0001", "jiangan")


def test_a_subject_type_outside_the_catalogue_is_refused():
    with pytest.raises(EventError) as caught:
        make_event("appeal_received", {**RECEIVED, "subject_type": "village"}, producer="intake", now=NOW)
    assert "subject_type" in caught.value.fields


def test_an_upstream_platform_may_offer_a_households_appeal():
    offered = {"subject_type": "household", "subject_id": "WC-0001", "title": "t", "description": "d",
               "district": "江岸区", "channel": "platform", "external_id": "12345-1", "collected_at": NOW.isoformat()}
    message = {"id": "u1", "type": "appeal_submitted", "source": "upstream/12345", "time": NOW.isoformat(),
               "data": offered}
    assert read_event(message).data["subject_id"] == "WC-0001"
    del offered["subject_id"]
    with pytest.raises(EventError) as caught:
        read_event(message)
    assert "subject_id" in caught.value.fields


@pytest.mark.parametrize(("data", "status_before", "expected"), [
    ({"lead_unit": "tax", "reason": "assigned", "starts_acceptance": False}, "dispatched", False),
    ({"lead_unit": "tax", "reason": "escalated", "starts_acceptance": True}, "replied", True),  # dispatch decides
    ({"lead_unit": None, "reason": "manual_queue"}, None, False),
    # events from before the field: the reason and the consumer's own status
    ({"lead_unit": "tax", "reason": "rule"}, None, True),
    ({"lead_unit": "tax", "reason": "reopened"}, "closed", False),
    ({"lead_unit": "tax", "reason": "assigned"}, "reopened", False),
    ({"lead_unit": "tax", "reason": "escalated"}, "replied", False),
    ({"lead_unit": "tax", "reason": "escalated"}, "accepted", True),
])
def test_one_rule_says_whether_a_dispatch_starts_an_acceptance(data, status_before, expected):
    assert starts_acceptance(data, status_before) is expected
