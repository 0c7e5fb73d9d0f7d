"""Notify's use cases on an in-memory SQLite database: what a consumer writes, in milliseconds."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from services.notify import domain, handlers
from services.notify.models import appeals, metadata, notifications, outbox
from services.notify.profile import NotifyPart
from services.notify.templates import Renderer
from shared.consumers import NotKnownYet
from shared.events import make_event
from shared.profile import DEFAULT_PROFILE, load_part, load_units

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
CODE = "91350100M000100Y43"
DIRECTORY = domain.Directory(load_units(DEFAULT_PROFILE), load_part(DEFAULT_PROFILE, "notify", NotifyPart))
RENDERER = Renderer()


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def received(appeal_id="SQ1", contact=None):
    return make_event("appeal_received", {
        "appeal_id": appeal_id, "credit_code": CODE, "enterprise_name": "甲公司", "title": "用工难",
        "description": "d", "district": "汉台区", "channel": "visit", "collected_at": NOW, "submitted_at": NOW,
        "contact": contact}, producer="intake", now=NOW)


def handle(session, event):
    return handlers.notify_event(session, event, DIRECTORY, RENDERER)


def rows(session, *where):
    return session.execute(select(func.count()).select_from(notifications).where(*where)).scalar_one()


def test_an_event_handled_twice_writes_its_notifications_once(session):
    """The inbox drops a redelivery before the handler; should one get through (its inbox row
    lost), the unique key of (event, recipient, channel) still keeps one notification each."""
    event = received(contact={"email": "a@firm.cn"})
    assert len(handle(session, event)) == 2  # the enterprise's email and inbox
    handle(session, event)
    assert rows(session) == 2


def test_an_event_about_an_unknown_appeal_is_retried_later(session):
    event = make_event("appeal_accepted", {"appeal_id": "SQ-unknown", "unit": "tax"}, producer="dispatch", now=NOW)
    with pytest.raises(NotKnownYet):
        handle(session, event)


def test_the_registry_completes_an_appeal_without_contact(session):
    handle(session, make_event("enterprise_updated", {
        "credit_code": CODE, "name": "甲公司", "district": "汉台区", "cadre": "王干部",
        "contact": {"phone": "13700000000"}}, producer="intake", now=NOW))
    handle(session, received())
    written = {(r.recipient, r.channel) for r in session.execute(select(notifications))}
    assert written == {(f"enterprise:{CODE}", "sms"), (f"enterprise:{CODE}", "inbox"),
                       ("cadre:王干部", "email"), ("cadre:王干部", "sms"), ("cadre:王干部", "inbox")}


def test_an_escalation_to_another_unit_makes_it_the_lead_for_what_follows(session):
    handle(session, received())
    handle(session, make_event("appeal_dispatched", {
        "appeal_id": "SQ1", "lead_unit": "tax", "co_units": [], "category": "用工", "difficulty": "B",
        "level": "city"}, producer="dispatch", now=NOW))
    handle(session, make_event("appeal_escalated", {
        "appeal_id": "SQ1", "rung": "office", "level": 2, "reason": "overdue", "unit": "tax",
        "to_unit": "hrss"}, producer="supervision", now=NOW))
    appeal = session.execute(select(appeals).where(appeals.c.appeal_id == "SQ1")).one()
    assert (appeal.lead_unit, appeal.co_units) == ("hrss", ["tax"])


def test_a_policy_push_records_its_reach_and_one_policy_pushed(session):
    for code, district in ((CODE, "汉台区"), ("91110000600037341L", "南郑区")):
        handle(session, make_event("enterprise_updated", {
            "credit_code": code, "name": code, "district": district, "contact": {"email": f"{code}@firm.cn"}},
            producer="intake", now=NOW))
    result = handlers.push_policy(session, {"title": "通知", "body": "正文", "targets": {"district": ["南郑区"]}},
                                  DIRECTORY, RENDERER, now=NOW, actor="office:t")
    assert (result["matched"], result["reached"]) == (1, {"email": 1, "inbox": 1})
    assert session.execute(select(outbox.c.event_type)).scalars().all() == ["policy_pushed"]
