"""Issue 15 end to end, one campaign each, through the public interfaces only (the mesh as
processes on the real broker and PostgreSQL):

* Hangzhou (seed 001): 萧山's 24 hours, 建德's 1+3+6+10 with its plan stage, 富阳's 红黄绿 codes by
  difficulty and urgency, an institutional problem straight to the city;
* Huainan (seed 002): a 交办会 whose decisions move the lead and set a deadline;
* Hanzhong (seed 003): a D-class problem to city coordination, and the monthly 调度会 taking up
  the month's city-coordination items, its decision applied, its minutes exported.

Expected due times are computed here by hand from the profile's sentences, not read back.
"""
import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from scripts.client import OFFICE_TOKEN, Suqiu, write_tokens
from shared.profile import load_units

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 9)  # no holiday in the weeks below
FRIDAY = date(2026, 11, 13)
CODES = ["916107001590830106", "91610700913909960G", "91610700819482190E", "916107000937865708",
         "91610700319487570E", "916107002760189508"]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def appeal(n: int, district: str, title: str, description: str, category: str = "用工", **extra) -> dict:
    return {"credit_code": CODES[n], "enterprise_name": f"企业{n}", "title": title, "description": description,
            "category": category, "district": district, "channel": "visit", **extra}


def submit(client: Suqiu, n: int, when: datetime, district: str, title: str = "招工难",
           description: str = "技术工人招聘难，希望协助", **extra) -> str:
    body = appeal(n, district, title, description, collected_at=(when - timedelta(hours=1)).isoformat(), **extra)
    return client.submit(body, when, key=f"e2e-15-{n}")


@pytest.fixture
def campaign(start_mesh, tmp_path):
    def start(profile: str) -> tuple[Suqiu, dict]:
        units = load_units(f"deploy/profiles/{profile}")
        tokens = write_tokens(units["units"], tmp_path / "tokens.yaml")
        mesh = start_mesh(profile, env={"AUTH_TOKENS_FILE": str(tokens), "TICK_TIMER": "false"})
        return Suqiu({name: mesh.url(name) for name in mesh.services}, mesh.amqp_uri), units

    return start


def office(client: Suqiu, method: str, service: str, path: str, now: datetime | None = None, **kwargs):
    return client._call(method, service, path, OFFICE_TOKEN, now, **kwargs)


@pytest.mark.timeout(600)
def test_hangzhou_district_rules(campaign):
    client, _ = campaign("hangzhou")
    # 萧山: 24 小时内快速响应, Friday 10:00 -> Saturday 10:00 (clock hours, weekend or not)
    xiaoshan = submit(client, 0, at(FRIDAY, 10), "萧山区")
    # 建德: 1+3+6+10, counted from the dispatch on Monday 09:00
    jiande = submit(client, 1, at(MONDAY, 9), "建德市")
    # 富阳: 特急 -> red code whatever the difficulty; 4 hours to sign for it
    fuyang = submit(client, 2, at(MONDAY, 9), "富阳区", urgency="特急")
    # 富阳, ordinary and simple (咨询 -> A): green
    fuyang_green = submit(client, 3, at(MONDAY, 9), "富阳区", title="咨询用工政策", description="了解政策")
    # 体制机制性: straight to the city's leading group, 市发改委 co-handling
    institutional = submit(client, 4, at(MONDAY, 9), "上城区", title="用工制度问题",
                           description="现行用工制度与新业态不适应")
    client.quiesce()

    assert client.supervised(xiaoshan)["due_at"] == utc(at(FRIDAY, 10) + timedelta(hours=24))
    first = client.appeal(institutional)
    assert (first["nature"], first["lead_unit"], first["co_units"]) == ("体制机制性", "city", ["fgw"])

    red, green = client.appeal(fuyang), client.appeal(fuyang_green)
    assert (red["urgency"], red["code"], green["code"]) == ("特急", "red", "green")
    assert fuyang in [a["id"] for a in client.desk(red["lead_unit"], code="red")]
    assert [e["appeal_id"] for e in client.ledger(code="red")] == [fuyang]
    assert client.supervised(fuyang)["due_at"] == utc(at(MONDAY, 13))

    jiande_lead = client.appeal(jiande)["lead_unit"]
    assert client.supervised(jiande)["due_at"] == utc(at(MONDAY, 9) + timedelta(days=1))  # day 1
    client.accept(jiande_lead, jiande, at(MONDAY, 16))
    client.quiesce()
    plan = client.supervised(jiande)
    assert (plan["stage"], plan["due_at"]) == ("plan", utc(at(MONDAY, 9) + timedelta(days=3)))  # 3 days
    client._desk_action(jiande_lead, jiande, "plan", at(MONDAY + timedelta(days=2), 10),
                        {"plan": "联系人社部门组织专场招聘会"})
    client.quiesce()
    reply = client.supervised(jiande)
    assert (reply["stage"], reply["due_at"]) == ("reply", utc(at(MONDAY, 9) + timedelta(days=6)))  # 6 days
    assert "plan_submitted" in [line["action"] for line in client.appeal(jiande)["history"]]
    assert client.quiesce() == {}, "no message may be parked"


@pytest.mark.timeout(600)
def test_huainan_assignment_meeting(campaign):
    client, units = campaign("huainan")
    district = "田家庵区"
    moved = submit(client, 0, at(MONDAY, 9), district)
    kept = submit(client, 1, at(MONDAY, 9), district)
    client.quiesce()
    first_lead, kept_lead = client.appeal(moved)["lead_unit"], client.appeal(kept)["lead_unit"]
    new_lead = next(u["code"] for u in units["units"] if u["type"] == "department" and u["code"] != first_lead)
    held = at(MONDAY + timedelta(days=1), 9)
    meeting = office(client, "POST", "supervision", "/api/v1/meetings", held, json={
        "kind": "交办会", "held_on": held.date().isoformat(), "title": "集中交办会", "chair": "省工作组组长",
        "attendees": ["市四送一服办", "田家庵区"], "appeal_ids": [moved, kept]}).json()
    decisions = f"/api/v1/meetings/{meeting['meeting_id']}/decisions"
    office(client, "POST", "supervision", decisions, held + timedelta(hours=1), json={
        "appeal_id": moved, "lead_unit": new_lead, "working_days": 5, "lead_leader": "分管副市长",
        "note": "限时办理"})
    office(client, "POST", "supervision", decisions, held + timedelta(hours=1), json={
        "appeal_id": kept, "lead_leader": "区长"})
    client.quiesce()
    # what quiesce waits for besides the queues: every consuming service reports what it holds
    taken = client.held_messages()
    assert {"intake", "dispatch", "supervision", "assessment", "notify"} <= set(taken) and not any(taken.values())

    after = client.appeal(moved)
    assert (after["lead_unit"], after["lead_leader"], after["status"]) == (new_lead, "分管副市长", "dispatched")
    assert (client.appeal(kept)["lead_unit"], client.appeal(kept)["lead_leader"]) == (kept_lead, "区长")
    supervised = client.supervised(moved)
    due = at(MONDAY + timedelta(days=9), 0)  # 5 working days from Tuesday: the end of the next Tuesday
    assert [(o["unit"], o["due_at"]) for o in supervised["orders"]] == [(new_lead, utc(due))]
    assert (supervised["lead_unit"], supervised["stage"]) == (new_lead, "accept")
    client.accept(new_lead, moved, held + timedelta(hours=3))  # the meeting's unit signs for it on its desk
    minutes = office(client, "GET", "supervision", f"/api/v1/meetings/{meeting['meeting_id']}/minutes.csv")
    table = list(csv.reader(io.StringIO(minutes.content.decode("utf-8-sig"))))
    names = {u["code"]: u["name"] for u in units["units"]}
    rows = table[table.index(next(r for r in table if r and r[0] == "序号")) + 1:]
    assert [(r[1], r[6], r[9]) for r in rows] == [(moved, names[new_lead], "分管副市长"),
                                                  (kept, "维持原牵头单位", "区长")]
    assert client.quiesce() == {}, "no message may be parked"


@pytest.mark.timeout(600)
def test_hanzhong_d_class_and_the_monthly_dispatch_meeting(campaign):
    client, units = campaign("hanzhong")
    d_class = submit(client, 0, at(MONDAY, 9), "汉台区", title="招工涉及省级政策", description="需省级政策支持")
    left = submit(client, 1, at(MONDAY, 9), "汉台区")
    client.quiesce()
    routed = client.appeal(d_class)
    assert (routed["difficulty"], routed["lead_unit"], routed["co_units"]) == ("D", "city", ["hantai"])

    # left alone: unit leader (3 working days), the office (5), then the city (the 调度会's rung)
    day = MONDAY
    while day <= date(2026, 11, 30):
        client.tick(at(day, 18))
        day += timedelta(days=1)
    client.quiesce()
    assert client.supervised(left)["rung"] == "city"
    agenda = office(client, "GET", "supervision", "/api/v1/meeting-agenda", params={"month": "2026-11"}).json()
    assert left in [item["appeal_id"] for item in agenda["items"]]

    held = at(date(2026, 11, 30), 15)
    meeting = office(client, "POST", "supervision", "/api/v1/meetings", held, json={
        "kind": "调度会", "held_on": "2026-11-30", "title": "十一月调度会", "chair": "市助商稳企办主任",
        "attendees": ["市人社局", "汉台区"], "agenda_month": "2026-11"}).json()
    assert left in [item["appeal_id"] for item in meeting["items"]]
    office(client, "POST", "supervision", f"/api/v1/meetings/{meeting['meeting_id']}/decisions", held, json={
        "appeal_id": left, "lead_unit": "hrss", "co_units": ["hantai"], "working_days": 10,
        "lead_leader": "分管副市长"})
    client.quiesce()
    after = client.appeal(left)
    assert (after["lead_unit"], after["co_units"], after["lead_leader"]) == ("hrss", ["hantai"], "分管副市长")
    assert left in [a["id"] for a in client.desk("hrss")]
    markdown = office(client, "GET", "supervision", f"/api/v1/meetings/{meeting['meeting_id']}/minutes.md").text
    assert markdown.startswith("# 十一月调度会纪要") and left in markdown
    assert client.quiesce() == {}, "no message may be parked"
