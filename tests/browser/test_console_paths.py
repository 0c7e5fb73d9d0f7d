"""Each role's path through the console in Chromium, against the whole mesh (six processes).

Every request happens at ``NOW`` (``X-Suqiu-Now``, honoured with ``SIMULATED_CLOCK``). The
expected states come from the loop (``docs/domain.md``): an accepted and replied appeal waits for its
callback; a callback "solved and satisfied" closes it; a unit reads only its own appeals.
"""
from __future__ import annotations

import re
from datetime import timedelta

import requests

from shared.testing import wait_for
from tests.browser.conftest import appeal_id_in, shoot, sign_in
from tests.console_mesh import CODE, LABOUR, NOW, NOWHERE, WEEK


def history_actors(mesh, appeal_id: str) -> dict[str, str]:
    """action -> actor, as dispatch's history records them."""
    appeal = mesh.api("GET", "dispatch", f"/api/v1/office/appeals/{appeal_id}", "t-office")
    return {line["action"]: line["actor"] for line in appeal["history"]}


def test_a_unit_clerk_signs_in_accepts_and_replies(console_mesh, open_browser):
    mesh = console_mesh
    appeal_id = mesh.submit({**LABOUR, "title": "招工难（签收与反馈）"})
    mesh.dispatched(appeal_id)
    page = open_browser()
    sign_in(page, mesh.console, "wangfang")
    assert page.url.endswith("/desk")
    assert "招工难（签收与反馈）" in page.inner_text("#results")
    shoot(page, "clerk-desk")

    page.click(f"a[href='/appeals/{appeal_id}']")
    page.click("#accept")
    assert "已签收" in page.inner_text(".flash")
    page.select_option("#outcome", "solved")
    page.fill("#reply_text", "已协调人社局举办专场招聘会，企业招到 30 名熟练工。")
    page.click("#reply")
    assert "已办结反馈" in page.inner_text(".flash")
    assert "已反馈" in page.inner_text(".card")
    timeline = page.inner_text(".timeline")
    assert "签收（市人社局）" in timeline and "王芳（市人社局）" in timeline
    shoot(page, "clerk-appeal-replied")

    appeal = mesh.api("GET", "dispatch", f"/api/v1/office/appeals/{appeal_id}", "t-office")
    assert (appeal["status"], appeal["outcome"]) == ("replied", "solved")
    actors = history_actors(mesh, appeal_id)
    assert (actors["accepted"], actors["replied"]) == ("unit:hrss/wangfang", "unit:hrss/wangfang")


def test_a_unit_clerk_is_refused_another_units_appeal(console_mesh, open_browser):
    mesh = console_mesh
    appeal_id = mesh.submit({**LABOUR, "title": "招工难（他单位）"})
    mesh.dispatched(appeal_id)  # hrss leads; zhaolei is a clerk of tax
    page = open_browser()
    sign_in(page, mesh.console, "zhaolei")
    assert "招工难（他单位）" not in page.inner_text("main")
    response = page.goto(f"{mesh.console}/appeals/{appeal_id}")
    assert response.status == 404  # dispatch answers another unit's appeal as none (issue 13, fix 6)
    assert "未找到" in page.inner_text("main") and "招工难（他单位）" not in page.inner_text("main")
    shoot(page, "clerk-refused")
    accept = page.request.post(f"{mesh.console}/appeals/{appeal_id}/accept", form={"csrf_token": "forged"})
    assert accept.status == 403
    assert mesh.api("GET", "dispatch", f"/api/v1/office/appeals/{appeal_id}", "t-office")["status"] == "dispatched"


def test_the_office_assigns_a_queued_appeal_records_a_phone_callback_and_publishes_the_weekly_report(
        console_mesh, open_browser):
    mesh = console_mesh
    appeal_id = mesh.submit(NOWHERE)
    mesh.dispatched(appeal_id, "queued")
    page = open_browser()
    sign_in(page, mesh.console, "chenzr")
    assert page.url.endswith("/office/queue")
    card = page.locator(".card", has_text=appeal_id)
    card.locator("select[name=lead]").select_option("district-a")
    shoot(page, "office-queue")
    card.locator("button:has-text('派单')").click()
    assert f"已派单：{appeal_id}" in page.inner_text(".flash")
    assigned = mesh.dispatched(appeal_id)
    assert assigned["lead_unit"] == "district-a"
    assert history_actors(mesh, appeal_id)["dispatched"] == "office/chenzr"  # the latest dispatch: the office's

    mesh.unit_act("t-unit-district-a", appeal_id, "accept")
    mesh.unit_act("t-unit-district-a", appeal_id, "reply", outcome="solved", reply_text="已修复路灯")
    mesh.dispatched(appeal_id, "replied")
    page.goto(f"{mesh.console}/office/callbacks")
    page.click(f"a[href='/appeals/{appeal_id}']")
    page.check("input[name=solved][value=yes]")
    page.select_option("#satisfaction", "满意")
    page.fill("#cb-comment", "路灯已修好，感谢")
    shoot(page, "office-callback")
    page.click("#record-callback")
    assert "已录入回访：已办结" in page.inner_text(".flash")
    facts = mesh.api("GET", "assessment", f"/api/v1/appeals/{appeal_id}/assessment", "t-office")
    assert [(c["channel"], c["caller"], c["satisfaction"], c["result"]) for c in facts["callbacks"]] == \
        [("phone", "陈主任", "满意", "closed")]

    page.goto(f"{mesh.console}/office/reports?kind=weekly&period={WEEK}")
    assert f"{WEEK}" in page.inner_text("h1") or "周报" in page.inner_text("h1")
    page.click("#publish")
    assert f"已发布 {WEEK} 周报" in page.inner_text(".flash")
    shoot(page, "office-weekly-report")
    again = mesh.api("POST", "assessment", "/api/v1/reports/weekly/publish", "t-office", expect=(409,),
                     params={"week": WEEK})
    assert "already published" in again["message"]


def test_a_cadre_submits_for_a_paired_enterprise_with_the_credit_code_checked(console_mesh, open_browser):
    mesh = console_mesh
    page = open_browser(phone=True)
    sign_in(page, mesh.console, "zhangming")
    assert LABOUR["enterprise_name"] in page.inner_text("main")  # paired with 张明 in the registry
    page.click(f"a[href='/cadre/submit?credit_code={CODE}']")
    page.fill("#credit_code", CODE[:-1] + ("0" if CODE[-1] != "0" else "1"))
    page.locator("#code-check").filter(has_text="校验位不符").wait_for()
    page.fill("#credit_code", CODE)
    page.locator("#code-check").filter(has_text=LABOUR["enterprise_name"]).wait_for()
    page.fill("#title", "融资难（干部代报）")
    page.fill("#description", "企业需要 500 万元流动资金贷款，希望对接银行")
    page.fill("#category", "资金/融资")
    shoot(page, "cadre-submit")
    page.click("#submit-appeal")
    flash = page.inner_text(".flash")
    appeal_id = appeal_id_in(flash)
    assert page.url.endswith("/cadre") and "融资难（干部代报）" in page.inner_text("main")
    shoot(page, "cadre-home")
    submitted = mesh.api("GET", "intake", f"/api/v1/appeals/{appeal_id}", "t-office")
    assert (submitted["credit_code"], submitted["submitted_by"], submitted["channel"]) == \
        (CODE, "cadre/zhangming", "visit")


def test_an_enterprise_submits_through_its_link_and_later_answers_the_callback(console_mesh, open_browser):
    mesh = console_mesh
    cadre = open_browser()
    sign_in(cadre, mesh.console, "zhangming")
    cadre.goto(f"{mesh.console}/enterprises/{CODE}/link")
    link = cadre.input_value("input[aria-label='企业专属链接']")
    assert cadre.locator(".qr svg").count() == 1
    shoot(cadre, "enterprise-link-qr")

    page = open_browser(phone=True)  # no account, no session: only the link
    page.goto(link)
    page.fill("#enterprise_name", LABOUR["enterprise_name"])
    page.fill("#title", "用电增容（企业自报）")
    page.fill("#description", "新生产线需要增容 800 千伏安")
    page.fill("#district", "汉台区")
    page.fill("#contact_name", "王经理")
    page.fill("#contact_phone", "13800000000")
    page.click("#submit-appeal")
    appeal_id = appeal_id_in(page.inner_text(".flash"))
    assert "用电增容（企业自报）" in page.inner_text("main")
    shoot(page, "enterprise-home")
    submitted = mesh.api("GET", "intake", f"/api/v1/appeals/{appeal_id}", "t-office")
    assert (submitted["submitted_by"], submitted["channel"]) == (f"enterprise:{CODE}", "qrcode")

    lead = mesh.dispatched(appeal_id)["lead_unit"]
    token = {"tax": "t-unit-tax", "hrss": "t-unit-hrss", "district-a": "t-unit-district-a"}.get(lead)
    if token is None:  # routed elsewhere by the profile: the office hands it to a unit with a token
        mesh.api("POST", "dispatch", f"/api/v1/office/appeals/{appeal_id}/assign", "t-office",
                 json={"lead": "district-a", "replace_lead": True})
        token = "t-unit-district-a"
        mesh.dispatched(appeal_id)
    mesh.unit_act(token, appeal_id, "accept")
    mesh.unit_act(token, appeal_id, "reply", outcome="solved", reply_text="已协调供电公司完成增容")

    offer = page.locator(".card", has_text=appeal_id).locator("a:has-text('评价')")

    def offered():
        page.reload()
        return offer.count() == 1
    wait_for(offered, 30, 0.5, "the callback offered on the enterprise's page")
    offer.click()
    page.check("input[name=solved][value=yes]")
    page.select_option("#satisfaction", "基本满意")
    page.fill("#comment", "办理很快")
    shoot(page, "enterprise-callback")
    page.click("#send-callback")
    assert "感谢您的评价" in page.inner_text(".flash")
    facts = mesh.api("GET", "assessment", f"/api/v1/appeals/{appeal_id}/assessment", "t-office")
    assert [(c["channel"], c["satisfaction"], c["result"]) for c in facts["callbacks"]] == \
        [("link", "基本满意", "closed")]


def test_the_leader_sees_the_campaign_at_a_glance(console_mesh, open_browser):
    page = open_browser()
    sign_in(page, console_mesh.console, "liufs")
    assert page.url.endswith("/leader")
    assert page.locator("svg.chart").count() == 2
    assert "单位得分排名" in page.inner_text("main")
    shoot(page, "leader-overview")
    assert page.goto(f"{console_mesh.console}/office/queue").status == 403


def test_pages_load_no_inline_script_and_the_policy_holds(console_mesh, open_browser):
    """The Content-Security-Policy allows no inline script: a page that needed one would log a violation."""
    page = open_browser()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in(page, console_mesh.console, "chenzr")
    for path in ("/office/queue", "/ledger", "/office/callbacks", f"/office/reports?kind=weekly&period={WEEK}",
                 "/office/rankings", "/office/agenda", "/enterprises"):
        assert page.goto(console_mesh.console + path).status == 200, path
    shoot(page, "office-enterprises")
    page.goto(console_mesh.console + "/ledger")
    shoot(page, "office-ledger")
    assert violations == []
    csv = requests.get(console_mesh.console + "/ledger.csv", cookies={c["name"]: c["value"]
                                                                      for c in page.context.cookies()},
                       headers={"X-Suqiu-Now": NOW.isoformat()}, timeout=30)
    assert csv.status_code == 200 and csv.content.decode("utf-8-sig").startswith("诉求编号")
    assert re.search(r'attachment; filename="ledger.csv"', csv.headers["Content-Disposition"])


def test_a_clerks_pause_request_waits_for_the_office_and_its_approval_pauses_the_clock(console_mesh, open_browser):
    mesh = console_mesh
    appeal_id = mesh.submit({**LABOUR, "title": "招工难（暂停计时申请）"})
    mesh.dispatched(appeal_id)  # hrss leads; wangfang is its clerk
    mesh.unit_act("t-unit-hrss", appeal_id, "accept")
    def reply_stage():
        appeal = mesh.api("GET", "supervision", f"/api/v1/appeals/{appeal_id}", "t-office", expect=(200, 404))
        return appeal if appeal.get("stage") == "reply" else None
    wait_for(reply_stage, 30, 0.2, "the reply stage runs")
    clerk = open_browser()
    sign_in(clerk, mesh.console, "wangfang")
    clerk.goto(f"{mesh.console}/appeals/{appeal_id}")
    clerk.click("summary:has-text('申请暂停计时')")
    clerk.fill("#pause-reason", "等待企业补充土地权属证明材料")
    clerk.fill("#pause-days", "3")
    clerk.click("#ask-pause")
    assert "已提交暂停计时申请，待专班审批" in clerk.inner_text(".flash")
    assert "待专班审批" in clerk.inner_text("#pause-pending")
    shoot(clerk, "clerk-pause-request")
    assert mesh.api("GET", "supervision", f"/api/v1/appeals/{appeal_id}", "t-office")["paused_at"] is None

    office = open_browser()
    sign_in(office, mesh.console, "chenzr")
    office.goto(f"{mesh.console}/office/pauses")
    row = office.locator("#pending-pauses tr", has_text=appeal_id)
    assert "等待企业补充土地权属证明材料" in row.inner_text() and "王芳" in row.inner_text()
    row.locator("form:has(button.approve) input[name=note]").fill("同意，请尽快补齐材料")
    shoot(office, "office-pause-approvals")
    row.locator("button.approve").click()
    assert f"已批准暂停计时申请：{appeal_id}" in office.inner_text(".flash")
    assert appeal_id in office.inner_text("#decided-pauses") and appeal_id not in office.inner_text("#pending-pauses")

    detail = mesh.api("GET", "supervision", f"/api/v1/appeals/{appeal_id}", "t-office")
    assert detail["paused_at"] is not None
    [asked] = detail["pause_requests"]
    assert (asked["status"], asked["requested_by"], asked["decided_by"], asked["days"]) == \
        ("approved", "unit:hrss/wangfang", "office/chenzr", 3)
    office.goto(f"{mesh.console}/appeals/{appeal_id}")
    timeline = office.inner_text(".timeline")
    assert "申请暂停计时（3个工作日）" in timeline and "批准暂停申请" in timeline and "王芳" in timeline


def test_an_expired_callback_link_puts_the_appeal_on_the_phone_list_where_the_office_records_the_call(
        console_mesh, open_browser):
    mesh = console_mesh
    appeal_id = mesh.submit({**LABOUR, "title": "招工难（电话回访）"})
    mesh.dispatched(appeal_id)
    mesh.unit_act("t-unit-hrss", appeal_id, "accept")
    mesh.unit_act("t-unit-hrss", appeal_id, "reply", outcome="solved", reply_text="已组织专场招聘会")
    mesh.dispatched(appeal_id, "replied")
    wait_for(lambda: mesh.api("GET", "assessment", f"/api/v1/appeals/{appeal_id}/assessment", "t-office",
                              expect=(200, 404)).get("status") == "replied", 30, 0.2, "assessment heard the reply")
    # the demo profile's link is valid 168 hours: eight days on, the office's chase lists it
    chased = mesh.api("POST", "assessment", "/api/v1/callbacks/chase", "t-office",
                      json={"now": (NOW + timedelta(days=8)).isoformat()})
    assert chased["phone_listed"] >= 1
    page = open_browser()
    sign_in(page, mesh.console, "chenzr")
    page.goto(f"{mesh.console}/office/callbacks")
    row = page.locator(f"#phone-{appeal_id}")
    assert "招工难（电话回访）" in row.inner_text() and "链接过期未评价" in row.inner_text()
    row.locator("input[name=solved][value=yes]").check()
    row.locator("select[name=satisfaction]").select_option("基本满意")
    row.locator("input[name=comment]").fill("已招到工人，基本满意")
    shoot(page, "office-phone-list")
    row.locator("button.record-phone").click()
    assert f"已录入电话回访（{appeal_id}）：已办结" in page.inner_text(".flash")
    assert page.locator(f"#phone-{appeal_id}").count() == 0
    facts = mesh.api("GET", "assessment", f"/api/v1/appeals/{appeal_id}/assessment", "t-office")
    assert [(c["channel"], c["satisfaction"], c["result"]) for c in facts["callbacks"]] == \
        [("phone", "基本满意", "closed")]

    # weeks later the office starts a follow-up round over what closed that day: the appeal is in it
    page.goto(f"{mesh.console}/office/rounds")
    page.fill("#round-name", "11月回访抽查")
    page.fill("#closed_from", "2026-11-24")
    page.fill("#closed_to", "2026-11-24")
    page.click("#start-round")
    assert "已发起回访抽查：选中" in page.inner_text(".flash")
    assert appeal_id in page.inner_text("main") and "未回访" in page.inner_text("main")
    shoot(page, "office-round")
    listed = mesh.api("GET", "assessment", "/api/v1/callbacks/phone-list", "t-office", params={"reason": "round"})
    assert appeal_id in [e["appeal_id"] for e in listed["items"]]
