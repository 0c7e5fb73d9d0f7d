"""The whole loop, end to end: the five services as processes on the real broker and
PostgreSQL, driven through their public interfaces, one appeal down every branch.

The expected numbers are computed here from the definitions of ``docs/measures.md``,
not read from the services.
"""
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

from scripts.client import Suqiu, write_tokens
from shared import workdays
from shared.profile import load_units

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 9)  # ISO week 2026-W46, no holiday
WEEK = "2026-W46"
CODES = {"A": "916107001590830106", "B": "91610700913909960G", "C": "91610700819482190E",
         "D": "916107000937865708", "E": "91610700319487570E", "F": "916107002760189508",
         "G": "91610700147104970W"}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def appeal(label: str, district: str, category: str = "用工") -> dict:
    return {"credit_code": CODES[label], "enterprise_name": f"{label}公司", "title": f"分支{label}：招工难",
            "description": "技术工人招聘难，希望人社部门协助", "category": category, "district": district,
            "collected_at": at(MONDAY, 8).isoformat()}


@pytest.fixture(params=["demo", "hanzhong", "baoding"])
def campaign(request, start_mesh, tmp_path):
    profile = request.param
    units = {**load_units(f"deploy/profiles/{profile}"), "profile": profile}
    tokens = write_tokens(units["units"], tmp_path / "tokens.yaml")
    mesh = start_mesh(profile, env={"AUTH_TOKENS_FILE": str(tokens), "TICK_TIMER": "false"})
    client = Suqiu({name: mesh.url(name) for name in mesh.services}, mesh.amqp_uri)
    return client, units


def campaign_name(units: dict) -> str:
    return units["profile"]


def profile_part(profile: str, part: str) -> dict:
    return yaml.safe_load(open(f"deploy/profiles/{profile}/{part}.yaml", encoding="utf-8"))


def lead_of(client: Suqiu, appeal_id: str) -> str:
    return client.appeal(appeal_id)["lead_unit"]


def accept_and_reply(client: Suqiu, appeal_id: str, outcome: str, day: date) -> str:
    unit = lead_of(client, appeal_id)
    client.accept(unit, appeal_id, at(day, 10))
    client.quiesce()
    client.reply(unit, appeal_id, outcome, {"solved": "已解决", "explained": "政策所限，已解释说明",
                                             "long_term": "已纳入计划"}[outcome], at(day, 15))
    client.quiesce()
    return unit


@pytest.mark.timeout(600)
def test_every_branch_of_the_loop(campaign):
    client, units = campaign
    localities = [u for u in units["units"] if u["type"] == "locality" and u.get("district")]
    departments = [u["code"] for u in units["units"] if u["type"] == "department"]
    district = localities[0]["district"]
    ids = {}
    for label in "ABCDEF":
        ids[label] = client.submit({**appeal(label, district), "channel": "visit"}, at(MONDAY, 9), key=f"e2e-{label}")
    client.publish_upstream({**appeal("G", district), "channel": "hotline", "external_id": "12345-G"},
                            message_id="hotline-G", now=at(MONDAY, 9))
    client.publish_upstream({**appeal("G", district), "channel": "hotline", "external_id": "12345-G"},
                            message_id="hotline-G", now=at(MONDAY, 9))  # the platform sends it twice
    client.quiesce()
    ids["G"] = next(a["id"] for a in client.intake_appeals(channel="hotline"))
    assert len(client.intake_appeals()) == 7
    for appeal_id in ids.values():  # no rule may leave an appeal nowhere
        first = client.appeal(appeal_id)
        if first["status"] == "queued":
            client.assign(appeal_id, departments[0], at(MONDAY, 9, 30))
    client.quiesce()
    assert all(client.appeal(i)["status"] == "dispatched" for i in ids.values())

    # A: accepted, solved, 满意 -> closed
    accept_and_reply(client, ids["A"], "solved", MONDAY)
    assert client.callback(ids["A"], True, "满意", at(MONDAY, 17))["result"] == "closed"

    # B: returned -> re-dispatched (next candidate or the office's queue) -> solved, 基本满意 -> closed
    first_lead = lead_of(client, ids["B"])
    client.return_(first_lead, ids["B"], "不属于本单位职责", at(MONDAY, 10))
    client.quiesce()
    after_return = client.appeal(ids["B"])
    assert after_return["return_count"] == 1 and after_return["lead_unit"] != first_lead
    if after_return["status"] == "queued":
        client.assign(ids["B"], next(d for d in departments if d != first_lead), at(MONDAY, 11))
        client.quiesce()
    accept_and_reply(client, ids["B"], "solved", MONDAY + timedelta(days=1))
    assert client.callback(ids["B"], True, "基本满意", at(MONDAY + timedelta(days=1), 17))["result"] == "closed"

    # C: accepted, then left alone: it must go red and climb the ladder (below, by ticks)
    c_lead = lead_of(client, ids["C"])
    client.accept(c_lead, ids["C"], at(MONDAY, 10))

    # D: 不满意 -> reopened (重办) -> replied again -> 满意 -> closed
    d_lead = accept_and_reply(client, ids["D"], "solved", MONDAY)
    assert client.callback(ids["D"], True, "不满意", at(MONDAY, 17))["result"] == "reopened"
    client.quiesce()
    reopened = client.appeal(ids["D"])
    assert (reopened["status"], reopened["lead_unit"], reopened["reopen_count"]) == ("reopened", d_lead, 1)
    client.accept(d_lead, ids["D"], at(MONDAY + timedelta(days=2), 9))  # reopened: signed for again
    client.reply(d_lead, ids["D"], "solved", "重新办理，已解决", at(MONDAY + timedelta(days=2), 15))
    client.quiesce()
    assert client.callback(ids["D"], True, "满意", at(MONDAY + timedelta(days=2), 17))["result"] == "closed"

    # E explained and F long-term: accepted by the enterprise -> closed, counted apart from solved
    accept_and_reply(client, ids["E"], "explained", MONDAY)
    assert client.callback(ids["E"], False, "满意", at(MONDAY, 17))["result"] == "closed"
    accept_and_reply(client, ids["F"], "long_term", MONDAY)
    assert client.callback(ids["F"], False, "基本满意", at(MONDAY, 17))["result"] == "closed"

    # G (from the hotline): 满意 but not really solved -> reopened -> replied again, awaiting callback
    g_lead = accept_and_reply(client, ids["G"], "solved", MONDAY)
    assert client.callback(ids["G"], False, "满意", at(MONDAY, 17))["result"] == "reopened"
    client.quiesce()
    client.accept(g_lead, ids["G"], at(MONDAY + timedelta(days=2), 9))
    client.reply(g_lead, ids["G"], "solved", "已再次协调", at(MONDAY + timedelta(days=2), 16))
    client.quiesce()

    # time passes: supervision ticks every evening for seven weeks
    colours_seen = []
    day = MONDAY
    while day <= MONDAY + timedelta(weeks=7):
        client.tick(at(day, 18))
        client.quiesce()
        colours_seen.append(client.supervised(ids["C"]).get("colour"))
        day += timedelta(days=1)

    final = {label: client.appeal(appeal_id) for label, appeal_id in ids.items()}
    assert {label: final[label]["status"] for label in "ABDEF"} == {
        "A": "closed", "B": "closed", "D": "closed", "E": "closed", "F": "closed"}
    assert final["G"]["status"] == "replied"
    assert final["C"]["status"] in ("accepted", "dispatched")  # an escalation may hand it up
    seen = [c for i, c in enumerate(colours_seen) if c and (i == 0 or c != colours_seen[i - 1])]
    assert seen[:3] == ["green", "yellow", "red"], colours_seen
    supervised_c = client.supervised(ids["C"])
    assert supervised_c["level"] >= 1
    assert all(client.supervised(ids[label]).get("colour") != "red" for label in "ABDEF")

    # the weekly report of the week they came in, against the definitions of docs/measures.md
    report = client.report("weekly", WEEK, now=at(MONDAY + timedelta(weeks=7), 20))
    summary, rates = report["summary"], report["overall"]["rates"]
    received = 7
    solved_closed = 3  # A, B, D: closed as solved within the week
    callbacks = ["满意", "基本满意", "不满意", "满意", "满意", "基本满意", "满意"]  # A B D D E F G
    satisfied = sum(1 for s in callbacks if s in ("满意", "基本满意"))
    closed = 5  # A B D E F; all replied within their deadlines
    assert summary["new_appeals"] == received
    assert summary["resolved"] == solved_closed
    assert (summary["closed_explained"], summary["closed_long_term"]) == (1, 1)
    assert rates["resolution"] == pytest.approx(solved_closed / received)
    assert rates["satisfaction"] == pytest.approx(satisfied / len(callbacks))
    assert rates["on_time"] == pytest.approx(closed / closed)
    # response, per dispatch in the week it was made (docs/measures.md): A, B (to its first lead),
    # B again, C, D, E, F, G = 8; B's first dispatch was returned within its acceptance deadline (out
    # of both sides); D's and G's reopens went back to the same unit (no new dispatch); C's hand-over
    # to a rung, if any, came after the week. Every lead signed the day it got the appeal: 7 / 7
    week_end = at(MONDAY + timedelta(days=7), 0)
    escalations = supervised_c.get("escalations") or []
    assert not [e for e in escalations if e["to_unit"] and datetime.fromisoformat(e["escalated_at"]) < week_end]
    counts = report["overall"]["counts"]
    assert (counts["dispatched"], counts["returned_in_time"], counts["pending"]) == (8, 1, 0)
    assert rates["response"] == pytest.approx(7 / 7)
    assert rates["solved_7d"] == pytest.approx(solved_closed / received)
    # overdue as of the week's end (Mon 16 00:00), not today: C's reply stage ran from its acceptance
    # (Mon 9 10:00) for the profile's duration of its difficulty; C is overdue then if that passed
    reply = profile_part(campaign_name(units), "supervision")["stages"]["reply"][final["C"]["difficulty"]]
    (measure, amount), = reply.items()
    reply_due = (workdays.add_working_days(at(MONDAY, 10), amount) if measure == "working_days"
                 else at(MONDAY, 10) + timedelta(hours=amount if measure == "hours" else 24 * amount))
    c_overdue = reply_due < week_end
    assert summary["overdue"] == int(c_overdue)
    assert (ids["C"] in {item.get("appeal_id") for item in report.get("overdue", [])}) == c_overdue
    assert client.quiesce() == {}, "no message may be parked"
