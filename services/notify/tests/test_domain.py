"""Notify's pure rules and templates, in milliseconds."""
import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from services.notify import domain
from services.notify.handlers import notification_id, plan_rows
from services.notify.profile import NotifyPart
from services.notify.templates import Renderer
from shared.events import CATALOGUE
from shared.profile import DEFAULT_PROFILE, load_part, load_units

UTC = timezone.utc
CODE = "91350100M000100Y43"


@pytest.fixture(scope="module")
def directory():
    return domain.Directory(load_units(DEFAULT_PROFILE), load_part(DEFAULT_PROFILE, "notify", NotifyPart))


APPEAL = {"appeal_id": "SQ20261120-abc", "credit_code": CODE, "enterprise_name": "汉中测试有限公司",
          "title": "用工难", "contact": {"name": "张经理", "phone": "13700000000", "email": "zhang@firm.cn"},
          "cadre": "王干部", "lead_unit": "tax", "co_units": ["hrss"]}
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

SAMPLES = {
    "appeal_received": {"appeal_id": APPEAL["appeal_id"], "credit_code": CODE, "enterprise_name": "汉中测试有限公司",
                        "title": "用工难", "description": "招不到熟练工", "district": "汉台区", "channel": "visit",
                        "collected_at": "2026-11-20T01:00:00+00:00", "submitted_at": "2026-11-20T02:00:00+00:00"},
    "appeal_dispatched": {"appeal_id": APPEAL["appeal_id"], "lead_unit": "tax", "co_units": ["hrss"],
                          "category": "用工", "difficulty": "B", "level": "city"},
    "appeal_accepted": {"appeal_id": APPEAL["appeal_id"], "unit": "tax"},
    "appeal_replied": {"appeal_id": APPEAL["appeal_id"], "unit": "tax", "outcome": "solved",
                       "reply_text": "已协调招聘会解决用工问题"},
    "callback_requested": {"appeal_id": APPEAL["appeal_id"], "link": "https://suqiu.example/cb/xyz",
                           "expires_at": "2026-11-27T02:00:00+00:00"},
    "appeal_closed": {"appeal_id": APPEAL["appeal_id"], "outcome": "solved", "satisfaction": "满意"},
    "appeal_reopened": {"appeal_id": APPEAL["appeal_id"], "reason": "不满意", "reopen_count": 1, "unit": "tax"},
    "appeal_escalated": {"appeal_id": APPEAL["appeal_id"], "rung": "unit_leader", "level": 1,
                         "reason": "overdue", "unit": "tax", "to_unit": None},
    "supervision_order_issued": {"appeal_id": APPEAL["appeal_id"], "order_id": "DB-1", "unit": "tax",
                                 "due_at": "2026-11-25T10:00:00+00:00", "text": "请三日内办结"},
    "weekly_digest_ready": {"recipient": "tax", "period": "2026-W47",
                            "items": [{"appeal_id": APPEAL["appeal_id"], "title": "用工难"}]},
    "monthly_supervision_list": {"recipient": "office", "period": "2026-11", "items": []},
    "report_published": {"report": "weekly", "period": "2026-W47", "links": {"周报": "https://r/w47"}},
    "unit_flagged": {"unit": "hrss", "period": "2026-11", "satisfaction_rate": 0.72, "threshold": 0.8},
}


def keys(recipients):
    return {r.key for r in recipients}


# ---------------------------------------------------------------- recipients
def test_a_dispatched_appeal_reaches_the_lead_and_co_units(directory):
    found = domain.recipients_for("appeal_dispatched", SAMPLES["appeal_dispatched"], APPEAL, directory)
    assert {(r.key, r.role) for r in found} == {("unit:tax", "lead"), ("unit:hrss", "co")}


def test_an_appeal_in_the_manual_queue_reaches_the_office(directory):
    data = {**SAMPLES["appeal_dispatched"], "lead_unit": None, "co_units": []}
    assert keys(domain.recipients_for("appeal_dispatched", data, APPEAL, directory)) == {"unit:office"}


def test_the_enterprise_and_its_cadre_hear_of_the_reply(directory):
    found = domain.recipients_for("appeal_replied", SAMPLES["appeal_replied"], APPEAL, directory)
    assert keys(found) == {f"enterprise:{CODE}", "cadre:王干部"}


def test_an_escalation_to_the_unit_leader_reaches_the_units_and_the_leader(directory):
    found = domain.recipients_for("appeal_escalated", SAMPLES["appeal_escalated"], APPEAL, directory)
    assert keys(found) == {"unit:tax", "unit:hrss", "leader:tax"}


def test_an_escalation_to_the_office_reaches_the_new_lead_and_the_office_leader(directory):
    data = {**SAMPLES["appeal_escalated"], "rung": "office", "level": 2, "to_unit": "office"}
    assert keys(domain.recipients_for("appeal_escalated", data, APPEAL, directory)) == {
        "unit:tax", "unit:hrss", "unit:office", "leader:office"}


def test_a_flagged_unit_and_its_leader_hear_of_the_rectification(directory):
    found = domain.recipients_for("unit_flagged", SAMPLES["unit_flagged"], None, directory)
    assert keys(found) == {"unit:hrss", "leader:hrss"}


def test_a_published_report_reaches_every_leader(directory):
    found = domain.recipients_for("report_published", SAMPLES["report_published"], None, directory)
    assert keys(found) == {f"leader:{code}" for code, u in directory.units.items() if u.get("leader")}


def test_channels_are_those_with_an_address_plus_the_inbox(directory):
    enterprise = directory.enterprise(CODE, "某公司", {"phone": "13700000000"})
    assert enterprise.channels() == ["sms", "inbox"]
    assert directory.unit("tax").channels() == ["email", "sms", "inbox"]


def test_one_row_per_recipient_and_channel_with_stable_ids(directory):
    recipients = [directory.unit("tax")]
    rows = plan_rows(recipients, event_id="e1", event_type="appeal_dispatched", appeal_id="a",
                     texts={"unit:tax": ("s", "b")}, now=NOW, urgent=False)
    assert [(r["channel"], r["status"]) for r in rows] == [("email", "pending"), ("sms", "pending"),
                                                            ("inbox", "sent")]
    assert rows[0]["id"] == notification_id("e1", "unit:tax", "email") != rows[1]["id"]


# ---------------------------------------------------------------- templates
@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_every_recipient_of_every_event_gets_a_chinese_text(directory, event_type):
    renderer = Renderer()
    data = CATALOGUE[event_type].schema().load(SAMPLES[event_type])
    recipients = domain.recipients_for(event_type, data, APPEAL, directory)
    assert recipients
    for recipient in recipients:
        subject, body = renderer.render(event_type, recipient, data, appeal=APPEAL, event_time=NOW,
                                        unit_name=directory.unit_name)
        assert subject.startswith("【") and body, (event_type, recipient.key)


def test_the_reply_text_and_the_unit_name_reach_the_enterprise(directory):
    subject, body = Renderer().render("appeal_replied", directory.enterprise(CODE, "汉中测试有限公司", {}),
                                      SAMPLES["appeal_replied"], appeal=APPEAL, event_time=NOW,
                                      unit_name=directory.unit_name)
    assert subject == "【诉求办理答复】用工难"
    assert "市税务局" in body and "已解决" in body and "已协调招聘会解决用工问题" in body


def test_a_deployment_template_overrides_the_built_in_one(directory, tmp_path):
    (tmp_path / "appeal_received.enterprise.j2").write_text("【本地】{{ appeal_id }}\n您好", encoding="utf-8")
    renderer = Renderer(tmp_path)
    recipient = directory.enterprise(CODE, "x", {})
    assert renderer.render("appeal_received", recipient, SAMPLES["appeal_received"], appeal=APPEAL,
                           event_time=NOW, unit_name=directory.unit_name) == ("【本地】SQ20261120-abc", "您好")
    cadre_subject, _ = renderer.render("appeal_received", directory.cadre("王干部"), SAMPLES["appeal_received"],
                                       appeal=APPEAL, event_time=NOW, unit_name=directory.unit_name)
    assert cadre_subject.startswith("【包联企业新诉求】")


# ---------------------------------------------------------------- quiet hours
def shanghai(hour, minute=0, day=20):
    return datetime(2026, 11, day, hour, minute, tzinfo=domain.SHANGHAI).astimezone(UTC)


def test_quiet_hours_over_midnight_end_the_next_morning():
    assert domain.quiet_until(shanghai(23, 30), "22:00-07:00") == shanghai(7, 0, day=21)


def test_quiet_hours_after_midnight_end_the_same_morning():
    assert domain.quiet_until(shanghai(3), "22:00-07:00") == shanghai(7)


def test_daytime_is_not_quiet():
    assert domain.quiet_until(shanghai(7), "22:00-07:00") is None
    assert domain.quiet_until(shanghai(21, 59), "22:00-07:00") is None


def test_an_escalation_sms_is_sent_in_quiet_hours():
    assert domain.sms_not_before(shanghai(23), "22:00-07:00", urgent=True) is None
    assert domain.sms_not_before(shanghai(23), "22:00-07:00", urgent=False) == shanghai(7, day=21)


# ---------------------------------------------------------------- retries and rate
def test_backoff_doubles_and_is_capped():
    delays = [domain.backoff_delay(n, 30, 100).total_seconds() for n in (1, 2, 3, 4)]
    assert delays == [30, 60, 100, 100]


def test_after_the_last_attempt_there_is_no_next():
    assert domain.after_failure(2, 3, NOW, 10, 100) == NOW + timedelta(seconds=20)
    assert domain.after_failure(3, 3, NOW, 10, 100) is None


def test_a_token_bucket_allows_a_burst_then_the_rate():
    bucket = domain.TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.25) is False
    assert bucket.take(0.5) is True


def test_a_token_bucket_says_how_many_it_could_give_without_giving_them():
    bucket = domain.TokenBucket(rate=2, burst=3, now=0.0)
    assert bucket.available(0.0) == 3 and bucket.available(0.0) == 3  # asking takes nothing
    assert [bucket.take(0.0) for _ in range(3)] == [True] * 3
    # whole tokens, up to the burst
    assert [bucket.available(t) for t in (0.0, 0.49, 0.5, 1.0, 10.0)] == [0, 0, 1, 2, 3]
    assert bucket.available(1.0) == 2 and bucket.take(1.0) and bucket.available(1.0) == 1


# ---------------------------------------------------------------- signatures and bodies
def test_dingtalk_signature_is_computed_as_dingtalk_documents():
    url = domain.dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "SECx", 1700000000000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    expected = base64.b64encode(hmac.new(b"SECx", b"1700000000000\nSECx", hashlib.sha256).digest()).decode()
    assert query["timestamp"] == ["1700000000000"] and query["sign"] == [expected]
    assert query["access_token"] == ["t"]


def test_the_generic_signature_is_the_hmac_of_the_body():
    body = '{"a":"诉求"}'.encode()
    assert domain.body_signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("kind", ["dingtalk", "wecom"])
def test_robot_bodies_are_text_messages(kind):
    body = json.loads(domain.webhook_body(kind, {"subject": "【标题】", "body": "正文", "id": "n",
                                                 "event_id": "e", "event_type": "t", "recipient": "r"}))
    assert body == {"msgtype": "text", "text": {"content": "【标题】\n正文"}}


# ---------------------------------------------------------------- policy targets
FIRM = {"district": "汉台区", "industry": "制造业", "size": "small", "tags": ["专精特新"], "cadre": "王干部"}


@pytest.mark.parametrize("targets, matches", [
    ({}, True),
    ({"district": ["汉台区"], "tags": ["专精特新", "高新"]}, True),
    ({"district": ["南郑区"]}, False),
    ({"industry": ["制造业"], "size": ["large"]}, False),
    ({"tags": ["高新"]}, False),
    ({"paired": True}, True),
    ({"paired": False}, False),
])
def test_policy_targets(targets, matches):
    assert domain.matches_targets(FIRM, targets) is matches


# ---------------------------------------------------------------- warnings before a deadline
@pytest.mark.parametrize("colour, known, warned", [
    ("yellow", "green", "yellow"),   # turns yellow: warn
    ("red", "yellow", "red"),        # turns red: warn
    ("red", None, "red"),            # a deadline that starts red (reclassified past its due time)
    ("yellow", "yellow", None),      # a resumed clock keeps its yellow: nobody hears it twice
    ("green", "yellow", None),       # back to green (a new stage): no warning
    (None, "red", None),             # an order's or a rung's deadline carries no colour
])
def test_a_warning_goes_out_when_the_colour_turns_yellow_or_red(colour, known, warned):
    assert domain.colour_warning({"colour": colour}, known) == warned


def test_yellow_reaches_the_lead_unit_only(directory):
    assert keys(domain.warning_recipients("yellow", "tax", directory)) == {"unit:tax"}


def test_red_reaches_the_unit_and_its_leader(directory):
    assert keys(domain.warning_recipients("red", "tax", directory)) == {"unit:tax", "leader:tax"}


def test_the_weekly_reminder_lists_past_then_near_items_by_due_time():
    items = [{"appeal_id": "a", "colour": "yellow", "due_at": "2026-11-26T10:00:00+00:00"},
             {"appeal_id": "b", "colour": "red", "due_at": "2026-11-20T10:00:00+00:00"},
             {"appeal_id": "c", "colour": "green", "due_at": "2026-11-27T10:00:00+00:00"},
             {"appeal_id": "d", "colour": "yellow", "due_at": "2026-11-24T10:00:00+00:00"}]
    sections = domain.digest_sections(items)
    assert [i["appeal_id"] for i in sections["red"]] == ["b"]
    assert [i["appeal_id"] for i in sections["yellow"]] == ["d", "a"]
    assert [i["appeal_id"] for i in sections["other"]] == ["c"]


def test_warning_texts_name_the_deadline_in_shanghai_time(directory):
    renderer = Renderer()
    data = {"appeal_id": APPEAL["appeal_id"], "colour": "red", "unit": "tax",
            "due_at": datetime(2026, 11, 20, 16, 0, tzinfo=UTC)}
    unit_subject, unit_body = renderer.render("deadline_warning", directory.unit("tax"), data, appeal=APPEAL,
                                              event_time=NOW, unit_name=directory.unit_name)
    leader_subject, leader_body = renderer.render("deadline_warning", directory.leader("tax"), data,
                                                  appeal=APPEAL, event_time=NOW, unit_name=directory.unit_name)
    assert unit_subject == "【红色预警：已超期】汉中测试有限公司：用工难"
    assert "2026-11-21 00:00" in unit_body and "请立即办理" in unit_body
    assert "市税务局承办的诉求" in leader_body and "请督促办理" in leader_body
    yellow_subject, _ = renderer.render("deadline_warning", directory.unit("tax"), {**data, "colour": "yellow"},
                                        appeal=APPEAL, event_time=NOW, unit_name=directory.unit_name)
    assert yellow_subject == "【黄色预警：临近期限】汉中测试有限公司：用工难"


def test_the_weekly_reminder_text_counts_and_lists_red_and_yellow(directory):
    data = {"recipient": "tax", "period": "2026-W48", "items": [
        {"appeal_id": "SQ-1", "title": "用工难", "colour": "red", "due_at": "2026-11-20T16:00:00+00:00"},
        {"appeal_id": "SQ-2", "title": "用地", "colour": "yellow", "due_at": "2026-11-25T16:00:00+00:00"},
        {"appeal_id": "SQ-3", "title": "融资", "colour": "green", "due_at": "2026-11-30T16:00:00+00:00"}]}
    subject, body = Renderer().render("weekly_digest_ready", directory.unit("tax"), data, appeal=None,
                                      event_time=NOW, unit_name=directory.unit_name)
    assert subject == "【每周提醒】2026-W48 诉求办理情况"
    assert "3件诉求在办，其中已超期1件、临近期限1件" in body
    red, yellow = body.index("已超期（红色）"), body.index("临近期限（黄色）")
    assert red < body.index("SQ-1 用工难 期限 2026-11-21 00:00") < yellow < body.index("SQ-2 用地")
    assert "其余1件正常办理中" in body and "SQ-3" not in body
