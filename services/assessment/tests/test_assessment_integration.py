"""The assessment service on the real broker and PostgreSQL: callbacks, links, the weekly report."""
import csv
import io
from datetime import datetime, timedelta

import pytest
import requests
from kombu import Connection, Producer
from openpyxl import load_workbook

from services.assessment import render
from services.assessment.models import callbacks, inbox, outbox
from services.assessment.service import AssessmentService
from services.assessment.tests import dataset, stints
from shared.events import Event
from shared.testing import EventTap, wait_for
from shared.testing import count_rows as count
from shared.topology import events_exchange

pytestmark = pytest.mark.integration

SECRET = "integration-secret"
NOW_HEADER = {"X-Suqiu-Now": dataset.NOW.isoformat()}


def auth(token: str = "t-office") -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def config(service_config):
    return {**service_config, "SIMULATED_CLOCK": "true", "CALLBACK_SECRET": SECRET, "CHASE_TIMER": "false"}


@pytest.fixture
def assessment(container_factory, config):
    container = container_factory(AssessmentService, config)
    container.start()
    return f"http://{config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "assessment")
    yield tap
    tap.close()


def publish(amqp_uri: str, *events: Event) -> None:
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for event in events:
            producer.publish(event.to_message(), exchange=events_exchange(event.producer), routing_key=event.type,
                             serializer="json", delivery_mode=2, message_id=event.id)


def handled(engine, expected: int, timeout: float = 20) -> None:
    wait_for(lambda: count(engine, inbox) >= expected, timeout, message=f"{expected} events handled")


def links(tap, appeal_id: str, expected: int) -> list[str]:
    wait_for(lambda: len([m for m in tap.of_type("callback_requested") if m["subject"] == appeal_id]) >= expected,
             15, message=f"{expected} callback links for {appeal_id}")
    return [m["data"]["link"] for m in tap.of_type("callback_requested") if m["subject"] == appeal_id]


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def replied_appeal(amqp_uri, db, appeal_id: str, when: datetime, outcome: str = "solved") -> list[Event]:
    t = dataset.t
    events = [dataset.received(appeal_id, t(16, 9), t(16, 10), "汉台区", "税费"),
              dataset.dispatched(appeal_id, t(16, 11), "tax", "税费"),
              dataset.replied(appeal_id, when, "tax", outcome)]
    before = count(db, inbox)
    publish(amqp_uri, *events)
    handled(db, before + len(events))
    return events


# ---------------------------------------------------------------- callbacks
def test_a_reply_called_back_solved_and_satisfied_closes_the_appeal(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C1", dataset.t(18, 10))
    links(tap, "C1", 1)
    response = requests.post(f"{assessment}/api/v1/appeals/C1/callback", headers={**auth(), **NOW_HEADER},
                             json={"solved": True, "satisfaction": "满意", "comment": "很及时", "caller": "回访员小李",
                                   "called_at": "2026-11-19T10:00:00+08:00"})
    assert response.status_code == 201, response.text
    assert response.json()["result"] == "closed"
    wait_for(lambda: tap.of_type("appeal_closed"), 10, message="appeal_closed")
    closed = tap.of_type("appeal_closed")
    assert [(e["subject"], e["data"]["outcome"], e["data"]["satisfaction"], e["data"]["unit"]) for e in closed] == \
        [("C1", "solved", "满意", "tax")]
    assert [e["data"]["caller"] for e in tap.of_type("callback_recorded")] == ["回访员小李"]


def test_an_unsatisfied_callback_reopens_and_a_second_reply_can_close(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C2", dataset.t(18, 10))
    first = token_of(links(tap, "C2", 1)[0])
    form = requests.get(f"{assessment}/api/v1/callback/{first}", headers=NOW_HEADER)
    assert form.status_code == 200 and form.json()["unit_name"] == "市税务局"
    answer = requests.post(f"{assessment}/api/v1/callback/{first}", headers=NOW_HEADER,
                           json={"solved": True, "satisfaction": "不满意", "comment": "敷衍"})
    assert (answer.status_code, answer.json()["result"], answer.json()["reopen_count"]) == (201, "reopened", 1)
    wait_for(lambda: tap.of_type("appeal_reopened"), 10, message="appeal_reopened")
    assert [(e["data"]["reopen_count"], e["data"]["reason"]) for e in tap.of_type("appeal_reopened")] == \
        [(1, "unsatisfied")]

    publish(amqp_uri, dataset.replied("C2", dataset.t(20, 9), "tax"))
    second = token_of(links(tap, "C2", 2)[1])
    assert requests.post(f"{assessment}/api/v1/callback/{first}", headers=NOW_HEADER,
                         json={"solved": True, "satisfaction": "满意"}).status_code == 409
    closing = requests.post(f"{assessment}/api/v1/callback/{second}", headers=NOW_HEADER,
                            json={"solved": True, "satisfaction": "基本满意"})
    assert (closing.status_code, closing.json()["result"]) == (201, "closed")
    wait_for(lambda: tap.of_type("appeal_closed"), 10, message="appeal_closed")
    assert count(db, callbacks, callbacks.c.appeal_id == "C2") == 2


def test_a_forged_link_is_refused_and_changes_nothing(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C3", dataset.t(18, 10))
    token = token_of(links(tap, "C3", 1)[0])
    payload, signature = token.split(".")
    forged = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for method in ("get", "post"):
        response = getattr(requests, method)(f"{assessment}/api/v1/callback/{forged}", headers=NOW_HEADER,
                                             json={"solved": True, "satisfaction": "满意"})
        assert response.status_code == 403
        assert response.json()["fields"]["reason"] == ["forged"]
    assert count(db, callbacks) == 0


def test_an_expired_link_is_refused_and_changes_nothing(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C4", dataset.t(18, 10))
    token = token_of(links(tap, "C4", 1)[0])
    late = {"X-Suqiu-Now": (dataset.t(18, 10) + timedelta(hours=168, seconds=1)).isoformat()}
    response = requests.post(f"{assessment}/api/v1/callback/{token}", headers=late,
                             json={"solved": True, "satisfaction": "满意"})
    assert (response.status_code, response.json()["fields"]["reason"]) == (403, ["expired"])
    assert "过期" in response.json()["message"]
    assert count(db, callbacks) == 0


def test_a_used_link_cannot_answer_twice(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C5", dataset.t(18, 10))
    token = token_of(links(tap, "C5", 1)[0])
    body = {"solved": True, "satisfaction": "满意"}
    first = requests.post(f"{assessment}/api/v1/callback/{token}", headers=NOW_HEADER, json=body)
    again = requests.post(f"{assessment}/api/v1/callback/{token}", headers=NOW_HEADER, json=body)
    assert (first.status_code, again.status_code) == (201, 409)
    assert count(db, callbacks) == 1


def test_an_enterprise_finds_its_own_open_callback_link_and_no_other(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C1", dataset.t(18, 10))
    sent = token_of(links(tap, "C1", 1)[0])
    mine = requests.get(f"{assessment}/api/v1/enterprise/callbacks", headers={**auth("t-enterprise"), **NOW_HEADER})
    assert [(i["appeal_id"], i["token"]) for i in mine.json()["items"]] == [("C1", sent)]
    answered = requests.post(f"{assessment}/api/v1/callback/{sent}", headers=NOW_HEADER,
                             json={"solved": True, "satisfaction": "满意"})
    assert answered.status_code == 201, answered.text
    after = requests.get(f"{assessment}/api/v1/enterprise/callbacks", headers={**auth("t-enterprise"), **NOW_HEADER})
    assert after.json()["items"] == []
    assert requests.get(f"{assessment}/api/v1/enterprise/callbacks", headers=auth("t-office")).status_code == 403


def test_a_callback_before_the_reply_is_a_conflict_and_changes_nothing(assessment, amqp_uri, db):
    publish(amqp_uri, dataset.received("C6", dataset.t(16, 9), dataset.t(16, 10), "汉台区", "税费"))
    handled(db, 1)
    response = requests.post(f"{assessment}/api/v1/appeals/C6/callback", headers={**auth(), **NOW_HEADER},
                             json={"solved": True, "satisfaction": "满意"})
    assert response.status_code == 409
    assert (count(db, callbacks), count(db, outbox)) == (0, 0)


def test_a_bad_callback_answer_is_a_400_per_field(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C7", dataset.t(18, 10))
    response = requests.post(f"{assessment}/api/v1/appeals/C7/callback", headers={**auth(), **NOW_HEADER},
                             json={"solved": "perhaps", "satisfaction": "还行"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"solved", "satisfaction"}
    assert count(db, callbacks) == 0


def test_only_the_office_records_callbacks(assessment):
    body = {"solved": True, "satisfaction": "满意"}
    assert requests.post(f"{assessment}/api/v1/appeals/X/callback", json=body).status_code == 401
    assert requests.post(f"{assessment}/api/v1/appeals/X/callback", json=body,
                         headers=auth("t-unit-tax")).status_code == 403


def test_a_redelivered_reply_sends_one_link(assessment, amqp_uri, tap, db):
    events = replied_appeal(amqp_uri, db, "C8", dataset.t(18, 10))
    links(tap, "C8", 1)
    # the same event id again, then another appeal's reply behind it on the same queue
    publish(amqp_uri, events[-1], dataset.replied("C8-next", dataset.t(18, 11), "tax"))
    links(tap, "C8-next", 1)
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")
    assert count(db, inbox) == 4  # three events of C8 and the next one: the repeat recorded nothing
    assert len(links(tap, "C8", 1)) == 1


# ---------------------------------------------------------------- the weekly report in four formats
@pytest.fixture
def week47(assessment, amqp_uri, db):
    """The hand-made week 47 played through the broker and the HTTP callback endpoint."""
    handled_so_far = 0
    for phase in dataset.PHASES:
        events = [step for step in phase if isinstance(step, Event)]
        publish(amqp_uri, *events)
        handled_so_far += len(events)
        handled(db, handled_so_far)
        for step in phase:
            if isinstance(step, tuple):
                _kind, appeal_id, body = step
                response = requests.post(f"{assessment}/api/v1/appeals/{appeal_id}/callback",
                                         headers={**auth(), **NOW_HEADER}, json=body)
                assert response.status_code == 201, response.text
    return assessment


def get_report(url: str, fmt: str) -> requests.Response:
    response = requests.get(f"{url}/api/v1/reports/weekly", params={"week": "2026-W47", "format": fmt},
                            headers={**auth(), **NOW_HEADER})
    assert response.status_code == 200, response.text
    return response


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def test_the_weekly_report_numbers_are_the_hand_computed_ones_in_all_four_formats(week47):
    expected = dataset.EXPECTED_W47
    # JSON
    report = get_report(week47, "json").json()
    assert report["summary"] == expected["summary"]
    assert report["overall"]["rates"] == pytest.approx(expected["overall_rates"])
    scores = {u["unit"]: u["score"] for u in report["units"]}
    assert {u: scores[u] for u in ("tax", "district-a", "nanzheng")} == pytest.approx(
        {u: expected["scores"][u] for u in ("tax", "district-a", "nanzheng")})
    assert [e["unit"] for e in report["rectification"]] == ["district-a", "tax"]

    # CSV: (section, item, measure) -> value
    text = get_report(week47, "csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["栏目", "对象", "指标", "值"]
    cells = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert cells[("概况", "全部", "新增诉求")] == "5"
    assert cells[("概况", "全部", "本期解决")] == "2"
    assert cells[("概况", "全部", "其中一周内解决")] == "2"
    assert cells[("概况", "全部", "其中期限内解决")] == "1"
    assert cells[("在办诉求（按颜色）", "红色", "件数")] == "1"
    assert cells[("总体指标", "全部", "办结率")] == pct(2 / 5) == "40.0%"
    assert cells[("总体指标", "全部", "满意度")] == "60.0%"
    assert cells[("总体指标", "全部", "响应率")] == "60.0%"
    assert cells[("总体指标", "全部", "期限内解决率")] == "66.7%"
    assert cells[("总体指标", "全部", "按时报送率")] == "80.0%"
    assert cells[("单位指标", "市税务局（tax）", "得分")] == "56.67"
    assert cells[("单位指标", "南郑区人民政府（nanzheng）", "得分")] == "-2.0"
    assert cells[("排名（属地）", "汉台区人民政府（district-a）", "名次")] == "1"
    assert cells[("整改名单", "汉台区人民政府（district-a）", "满意率")] == "50.0%"

    # XLSX
    book = load_workbook(io.BytesIO(get_report(week47, "xlsx").content))
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(min_row=2, values_only=True)}
    assert (summary["新增诉求"], summary["本期解决"], summary["超期诉求"]) == (5, 2, 1)
    assert summary["办结率"] == pytest.approx(0.4) and summary["满意度"] == pytest.approx(0.6)
    units = list(book["单位"].iter_rows(values_only=True))
    header, by_code = units[0], {row[0]: row for row in units[1:]}
    assert by_code["tax"][header.index("得分")] == pytest.approx(56.67)
    assert by_code["district-a"][header.index("办结率")] == pytest.approx(0.5)
    assert by_code["hrss"][header.index("退单次数")] == 1
    assert [row[0] for row in book["整改名单"].iter_rows(min_row=2, values_only=True)] == ["district-a", "tax"]

    # HTML
    html = get_report(week47, "html").text
    assert "2026年第47周（11月16日—11月22日）企业诉求办理周报" in html
    assert "<td>新增诉求</td><td>5</td>" in html
    assert "<td>本期解决</td><td>2</td>" in html
    assert "40.0%" in html and "60.0%" in html and "56.67" in html
    assert html.count("data:image/png;base64,") == 2


def test_publishing_the_weekly_report_emits_it_and_flags_the_units_to_rectify(week47, tap):
    response = requests.post(f"{week47}/api/v1/reports/weekly/publish", params={"week": "2026-W47"},
                             headers={**auth(), **NOW_HEADER})
    assert response.status_code == 201, response.text
    wait_for(lambda: tap.of_type("report_published") and len(tap.of_type("unit_flagged")) == 2, 10,
             message="report_published and two unit_flagged")
    published = tap.of_type("report_published")[0]["data"]
    assert (published["report"], published["period"], published["summary"]["new_appeals"]) == ("weekly", "2026-W47", 5)
    assert published["links"]["html"].endswith("/api/v1/reports/weekly?week=2026-W47&format=html")
    assert sorted(e["data"]["unit"] for e in tap.of_type("unit_flagged")) == ["district-a", "tax"]
    again = requests.post(f"{week47}/api/v1/reports/weekly/publish", params={"week": "2026-W47"},
                          headers={**auth(), **NOW_HEADER})
    assert again.status_code == 409


@pytest.mark.parametrize("params, status", [
    ({"week": "2026-47"}, 400), ({}, 400), ({"week": "2026-W47", "format": "pdf"}, 400)])
def test_a_bad_report_request_is_a_400(assessment, params, status):
    response = requests.get(f"{assessment}/api/v1/reports/weekly", params=params, headers=auth())
    assert response.status_code == status
    assert response.json()["message"]


def test_the_monthly_bulletin_covers_the_month(week47):
    response = requests.get(f"{week47}/api/v1/reports/monthly", params={"month": "2026-11"},
                            headers={**auth(), **NOW_HEADER})
    assert response.status_code == 200
    # November: A1..A7 received (7); solved A1, A3 of those -> 2 / 7
    assert response.json()["summary"]["new_appeals"] == 7
    assert response.json()["overall"]["rates"]["resolution"] == pytest.approx(2 / 7)


def test_a_unit_reads_only_its_own_rates(week47):
    response = requests.get(f"{week47}/api/v1/rates", params={"from": "2026-11-16", "to": "2026-11-22"},
                            headers={**auth("t-unit-tax"), **NOW_HEADER})
    assert response.status_code == 200
    assert [(i["key"], i["rates"]["resolution"]) for i in response.json()["items"]] == [("tax", 0.5)]


def test_the_metrics_count_callbacks_and_closings(week47):
    text = requests.get(f"{week47}/metrics").text
    assert 'suqiu_callbacks_total{satisfaction="满意"}' in text
    assert 'suqiu_appeals_closed_total{outcome="explained"}' in text
    assert "suqiu_report_duration_seconds" in text


def test_the_enterprise_answers_in_its_browser_through_the_html_form(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "C9", dataset.t(18, 10))
    token = token_of(links(tap, "C9", 1)[0])
    browser = {**NOW_HEADER, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    form = requests.get(f"{assessment}/api/v1/callback/{token}", headers=browser)
    assert form.status_code == 200 and form.headers["Content-Type"].startswith("text/html")
    assert "市税务局" in form.text and 'name="satisfaction"' in form.text
    answer = requests.post(f"{assessment}/api/v1/callback/{token}", headers=browser,
                           data={"solved": "true", "satisfaction": "满意", "comment": ""})
    assert (answer.status_code, "感谢您的评价" in answer.text) == (201, True)
    used = requests.get(f"{assessment}/api/v1/callback/{token}", headers=browser)
    assert used.status_code == 409 and "已使用" in used.text
    forged = requests.get(f"{assessment}/api/v1/callback/{token[:-3]}xyz", headers=browser)
    assert forged.status_code == 403 and "无效" in forged.text
    assert count(db, callbacks, callbacks.c.channel == "link") == 1


# ---------------------------------------------------------------- who is measured, through the broker
def play_events(amqp_uri, db, steps) -> None:
    events = [step for step in steps if isinstance(step, Event)]
    before = count(db, inbox)
    publish(amqp_uri, *events)
    handled(db, before + len(events))


@pytest.fixture
def escalated(assessment, amqp_uri, db):
    """E1 of ``stints``: late at tax, escalated to the office and solved there (W48)."""
    play_events(amqp_uri, db, stints.ESCALATED_TO_THE_OFFICE)
    _kind, appeal_id, body = stints.ESCALATED_TO_THE_OFFICE[-1]
    response = requests.post(f"{assessment}/api/v1/appeals/{appeal_id}/callback", json=body,
                             headers={**auth(), "X-Suqiu-Now": stints.W48_NOW.isoformat()})
    assert response.status_code == 201, response.text
    return assessment


def week_report(url: str, week: str, fmt: str, now) -> requests.Response:
    response = requests.get(f"{url}/api/v1/reports/weekly", params={"week": week, "format": fmt},
                            headers={**auth(), "X-Suqiu-Now": now.isoformat()})
    assert response.status_code == 200, response.text
    return response


def test_the_unit_keeps_what_it_left_and_the_office_is_apart_in_all_four_formats(escalated):
    # JSON: tax keeps its not-responded dispatch, its overdue, two overdue escalations (-2 each) and
    # E1 unsolved (0 / 1); the office is in the coordination group, never ranked
    report = week_report(escalated, "2026-W48", "json", stints.W48_NOW).json()
    tax = next(u for u in report["units"] if u["unit"] == "tax")
    assert (tax["counts"]["not_responded"], tax["counts"]["overdue"], tax["counts"]["overdue_escalations"],
            tax["rates"]["resolution"], tax["score"]) == (1, 1, 2, 0.0, -4.0)
    assert [u["unit"] for u in report["coordination"]] == ["office"]
    assert "office" not in {u["unit"] for u in report["units"]} | {e["unit"] for e in report["ranking"]}
    # CSV
    text = week_report(escalated, "2026-W48", "csv", stints.W48_NOW).content.decode("utf-8-sig")
    cells = {(r[0], r[1], r[2]): r[3] for r in list(csv.reader(io.StringIO(text)))[1:]}
    coordination = render.COORDINATION_SECTION
    assert cells[(coordination, "市助商稳企办（office）", "办结率")] == "100.0%"
    assert (coordination, "市助商稳企办（office）", "得分") not in cells
    assert (cells[("单位指标", "市税务局（tax）", "得分")], cells[("单位指标", "市税务局（tax）", "超期次数")],
            cells[("单位指标", "市税务局（tax）", "响应率")]) == ("-4.0", "1", "0.0%")
    # XLSX
    book = load_workbook(io.BytesIO(week_report(escalated, "2026-W48", "xlsx", stints.W48_NOW).content))
    assert "office" not in {row[0] for row in book["单位"].iter_rows(min_row=2, values_only=True)}
    assert "office" in {row[0] for row in book["协调层级"].iter_rows(min_row=3, values_only=True)}
    # HTML
    html = week_report(escalated, "2026-W48", "html", stints.W48_NOW).text
    assert coordination in html and "市助商稳企办（office）" in html


def test_a_published_week_answers_with_its_figures_after_later_activity(assessment, amqp_uri, db):
    play_events(amqp_uri, db, stints.SUNDAY_EVENING)
    monday = {**auth(), "X-Suqiu-Now": stints.MONDAY_MORNING.isoformat()}
    published = requests.post(f"{assessment}/api/v1/reports/weekly/publish", params={"week": "2026-W47"},
                              headers=monday)
    assert published.status_code == 201, published.text
    play_events(amqp_uri, db, [stints.S1_ACCEPTED])  # Mon 23 11:00: S1 is no longer pending
    later = dataset.t(23, 12)
    report = week_report(assessment, "2026-W47", "json", later).json()
    nrp = next(u for u in report["units"] if u["unit"] == "nrp")
    # as published Mon 23 09:00: S1 pending, S2 responded (1 / 1)
    assert (report["summary"]["pending"], nrp["counts"]["pending"], nrp["counts"]["responded"]) == (1, 1, 1)
    text = week_report(assessment, "2026-W47", "csv", later).content.decode("utf-8-sig")
    cells = {(r[0], r[1], r[2]): r[3] for r in list(csv.reader(io.StringIO(text)))[1:]}
    assert cells[("概况", "全部", "其中待签收（期限内，不计入响应率）")] == "1"
    # the unpublished W48 is computed afresh
    fresh = week_report(assessment, "2026-W48", "json", later).json()
    assert datetime.fromisoformat(fresh["generated_at"]) == later
