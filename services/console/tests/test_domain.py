"""The console's pure rules, in milliseconds."""
from datetime import datetime, timedelta, timezone

import pytest

from services.console import domain
from shared.errors import Forbidden, InvalidInput

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
CODE = "91350100M000100Y43"
UNITS = ["tax", "hrss", "office"]


def test_a_unit_clerk_needs_a_unit_of_the_directory():
    with pytest.raises(InvalidInput) as refused:
        domain.validate_account("wangfang", "王芳", "unit_clerk", "nowhere", UNITS)
    assert "unit" in refused.value.fields


def test_an_account_is_normalised():
    assert domain.validate_account(" WangFang ", " 王芳 ", "unit_clerk", "tax", UNITS) == \
        {"username": "wangfang", "display_name": "王芳", "role": "unit_clerk", "unit": "tax"}


@pytest.mark.parametrize("password, ok", [("short", False), ("ten chars!", True)])
def test_a_password_has_at_least_ten_characters(password, ok):
    assert (domain.password_problem(password) is None) == ok


@pytest.mark.parametrize("account, address, blocked", [(4, 0, False), (5, 0, True), (0, 19, False), (0, 20, True)])
def test_sign_in_is_blocked_past_either_limit(account, address, blocked):
    assert domain.login_blocked(account, address, domain.LoginLimits()) is blocked


def test_a_csrf_token_is_valid_only_for_its_browser_and_secret():
    token = domain.csrf_token("s", "nonce-a")
    assert domain.csrf_valid("s", "nonce-a", token)
    assert not domain.csrf_valid("s", "nonce-b", token)
    assert not domain.csrf_valid("t", "nonce-a", token)
    assert not domain.csrf_valid("s", None, token)
    assert not domain.csrf_valid("s", "nonce-a", "天" * 64)


def test_an_enterprise_link_names_its_enterprise_until_it_expires():
    token = domain.sign_enterprise_link("s", CODE, NOW + timedelta(days=30))
    assert domain.read_enterprise_link("s", token, NOW).credit_code == CODE
    with pytest.raises(domain.LinkRefused, match="过期"):
        domain.read_enterprise_link("s", token, NOW + timedelta(days=30))


@pytest.mark.parametrize("tamper", [lambda t: t + "x", lambda t: "A" + t[1:], lambda t: t.split(".")[0],
                                    lambda t: "", lambda t: "%%%.%%%"])
def test_a_tampered_enterprise_link_is_refused(tamper):
    token = domain.sign_enterprise_link("s", CODE, NOW + timedelta(days=30))
    with pytest.raises(domain.LinkRefused):
        domain.read_enterprise_link("s", tamper(token), NOW)


def test_a_person_token_names_the_service_role_and_lives_five_minutes():
    person = domain.Person(1, "wangfang", "王芳", "unit_leader", "tax")
    claims = domain.person_claims(person, NOW, "suqiu-console")
    assert (claims["sub"], claims["role"], claims["unit"], claims["console_role"]) == \
        ("wangfang", "unit", "tax", "unit_leader")
    assert claims["exp"] - claims["iat"] == 300


def test_a_leader_reads_as_the_office_and_an_admin_calls_no_service():
    assert domain.person_claims(domain.Person(1, "liu", "刘", "leader"), NOW, "i")["role"] == "office"
    with pytest.raises(Forbidden):
        domain.person_claims(domain.Person(2, "root", "管理员", "admin"), NOW, "i")


def test_the_providers_claims_map_to_a_role_and_a_unit():
    mapping = domain.ClaimMapping.parse("groups", "dept", "suqiu-clerks=unit_clerk")
    fields = domain.person_from_claims({"sub": "u-17", "preferred_username": "Wang.Fang", "name": "王芳",
                                        "groups": ["staff", "suqiu-clerks"], "dept": "tax"}, mapping, UNITS)
    assert fields == {"username": "oidc-wang.fang", "display_name": "王芳", "role": "unit_clerk", "unit": "tax"}


def test_a_provider_without_a_known_role_signs_nobody_in():
    with pytest.raises(Forbidden):
        domain.person_from_claims({"sub": "u-1", "suqiu_role": "visitor"}, domain.ClaimMapping(), UNITS)


def test_a_role_map_to_an_unknown_role_is_a_configuration_error():
    with pytest.raises(ValueError):
        domain.ClaimMapping.parse("", "", "x=superuser")


def test_the_timeline_merges_every_services_history_in_time_order():
    t = lambda h: (NOW + timedelta(hours=h)).isoformat()  # noqa: E731
    intake = {"submitted_at": t(0), "submitted_by": "cadre/zhangming", "channel": "visit"}
    dispatch = {"history": [
        {"at": t(0.1), "action": "dispatched", "actor": "event:appeal_received", "unit": "tax"},
        {"at": t(2), "action": "accepted", "actor": "unit:tax/wangfang", "unit": "tax"},
        {"at": t(5), "action": "replied", "actor": "unit:tax/wangfang", "unit": "tax", "note": "已办理",
         "details": {"outcome": "solved"}},
        {"at": t(3), "action": "colour", "actor": "event:appeal_colour_changed"}]}
    supervision = {"pauses": [{"paused_at": t(3), "paused_by": "unit:tax/wangfang", "reason": "等材料",
                               "resumed_at": t(4), "resumed_by": "unit:tax/wangfang"}], "escalations": [], "orders": []}
    assessment = {"callbacks": [{"called_at": t(6), "caller": "陈主任", "channel": "office", "solved": True,
                                 "satisfaction": "满意", "result": "closed"}]}
    timeline = domain.merge_timeline(intake, dispatch, supervision, assessment)
    assert [(e.source, e.what) for e in timeline] == [
        ("intake", "提交诉求"), ("dispatch", "派单（tax）"), ("dispatch", "签收（tax）"), ("supervision", "暂停计时"),
        ("supervision", "恢复计时"), ("dispatch", "办结反馈（tax）"), ("assessment", "回访（电话回访）")]
    assert timeline[5].note == "已解决：已办理"


def test_a_pause_request_and_its_decision_are_in_the_timeline_with_their_persons():
    t = lambda h: (NOW + timedelta(hours=h)).isoformat()  # noqa: E731
    supervision = {"pause_requests": [
        {"requested_at": t(1), "requested_by": "unit:tax/wangfang", "days": 3, "reason": "等材料",
         "status": "approved", "decided_at": t(2), "decided_by": "office/chenzr", "decision_note": "同意"},
        {"requested_at": t(5), "requested_by": "unit:tax/wangfang", "days": 2, "reason": "再等",
         "status": "pending", "decided_at": None, "decided_by": None}],
        "pauses": [{"paused_at": t(2), "paused_by": "office/chenzr", "reason": "等材料"}]}
    timeline = domain.merge_timeline(None, None, supervision, None)
    assert [(e.what, e.who, e.note) for e in timeline] == [
        ("申请暂停计时（3个工作日）", "unit:tax/wangfang", "等材料"), ("批准暂停申请", "office/chenzr", "同意"),
        ("暂停计时", "office/chenzr", "等材料"), ("申请暂停计时（2个工作日）", "unit:tax/wangfang", "再等")]


def test_a_follow_up_round_and_its_answer_are_in_the_timeline():
    t = lambda h: (NOW + timedelta(hours=h)).isoformat()  # noqa: E731
    assessment = {"callbacks": [], "followups": [
        {"name": "11月回访抽查", "created_at": t(1), "created_by": "office/chenzr", "answered_at": t(3),
         "channel": "phone", "solved": False, "satisfaction": "不满意", "result": "reopened"}]}
    timeline = domain.merge_timeline(None, None, None, assessment)
    assert [(e.what, e.note) for e in timeline] == [
        ("列入回访抽查：11月回访抽查", None), ("抽查回访（电话回访）", "未解决，不满意，未真正解决，重办")]


def test_a_missing_service_leaves_its_part_out_of_the_timeline():
    assert domain.merge_timeline(None, None, None, None) == []


@pytest.mark.parametrize("actor, label", [
    ("unit:tax/wangfang", "王芳（市税务局）"), ("office/chenzr", "陈主任（专班）"), ("unit:tax", "市税务局"),
    ("event:appeal_received", "系统"), ("enterprise:" + CODE, "企业"), (None, "系统"),
    ("cadre/unknown", "unknown（助企干部）"),
])
def test_an_actor_reads_as_a_person_and_their_unit(actor, label):
    assert domain.actor_label(actor, {"wangfang": "王芳", "chenzr": "陈主任"}, {"tax": "市税务局"}) == label


def test_periods_are_shanghai_weeks_and_months():
    late_sunday = datetime(2026, 11, 22, 17, 0, tzinfo=timezone.utc)  # Monday 01:00 in Shanghai
    assert (domain.iso_week(late_sunday), domain.last_week(late_sunday), domain.month_of(late_sunday)) == \
        ("2026-W48", "2026-W47", "2026-11")


def test_a_visit_form_reads_as_intakes_body():
    from services.console.pages import visit_body

    body = visit_body({"subject_type": "enterprise", "subject_id": "91350100m000100y43 ", "visited_on": "2026-11-20",
                       "findings": "", "appeal_ids": "SQ1， SQ2", "no_problem": ""})
    assert body == {"subject_type": "enterprise", "subject_id": "91350100M000100Y43", "visited_on": "2026-11-20",
                    "no_problem": False, "findings": None, "appeal_ids": ["SQ1", "SQ2"]}


def test_a_visit_form_without_its_subject_is_refused_before_intake():
    from services.console.pages import visit_body
    from shared.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        visit_body({"subject_type": "household", "subject_id": "", "visited_on": "2026-11-20", "no_problem": "true"})
    assert set(caught.value.fields) == {"subject_id"}
