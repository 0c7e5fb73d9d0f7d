"""Dispatch's pure rules: classification, routing, and the state of an appeal. No broker, no database."""
import pytest

from services.dispatch import domain
from services.dispatch.domain import IllegalTransition, NotVisible, NotYours
from services.dispatch.profile import DispatchPart
from shared.errors import InvalidInput
from shared.profile import DEFAULT_PROFILE, load_part, load_units


@pytest.fixture(scope="module")
def rules() -> domain.Rules:
    return domain.Rules(load_part(DEFAULT_PROFILE, "dispatch", DispatchPart), load_units(DEFAULT_PROFILE))


def received(**overrides) -> dict:
    return {"appeal_id": "SQ1", "title": "招工难", "description": "春节后缺少熟练工人", "category": "用工",
            "district": "汉台区", "channel": "visit", "cadre": None, "leader": None, **overrides}


def appeal_at(rules, status: str, **overrides) -> domain.Appeal:
    appeal = domain.new_appeal(rules, received(**overrides))
    appeal.status = status
    appeal.events.clear()
    appeal.changes.clear()
    return appeal


# ---------------------------------------------------------------- classification
def test_a_known_category_from_the_submitter_is_kept(rules):
    assert rules.classify("用地", "招工难", "缺工人") == domain.Classification("用地", "submitter", "B", "个性")


def test_an_alias_is_read_as_its_category(rules):
    assert rules.category_of("融资", "")[0] == "资金/融资"


def test_without_a_category_the_keywords_suggest_one(rules):
    assert rules.category_of(None, "银行贷款到期，续贷困难") == ("资金/融资", "keywords")


def test_without_a_category_or_keyword_the_default_category_applies(rules):
    assert rules.category_of(None, "门口道路坑洼") == ("其他", "default")


def test_difficulty_and_nature_follow_their_rules(rules):
    found = rules.classify("用地", "历史遗留的厂房办证问题", "园区多家企业都有，涉及制度")
    assert (found.difficulty, found.nature) == ("C", "体制机制性")


# ---------------------------------------------------------------- routing
def facts(**kw) -> domain.Facts:
    return domain.Facts(**{"category": "用工", "district": "汉台区", **kw})


def test_labour_goes_to_hrss_with_the_locality_as_co_unit(rules):
    first = rules.candidates(facts())[0]
    assert (first.lead, first.co_units) == ("hrss", ("district-a",))


def test_land_is_led_by_the_locality_first(rules):
    leads = [c.lead for c in rules.candidates(facts(category="用地", district="南郑区"))]
    assert leads == ["nanzheng", "nrp"]


def test_a_locality_rule_without_a_locality_unit_falls_to_the_next_rule(rules):
    leads = [c.lead for c in rules.candidates(facts(category="用地", district="外省某县"))]
    assert leads == ["nrp"]


def test_a_rule_matching_on_keywords_needs_one_in_the_text(rules):
    assert rules.candidates(facts(category="政策", text="退税进度慢"))[0].lead == "tax"
    assert rules.candidates(facts(category="政策", text="奖补未兑现"))[0].lead == "district-a"


def test_no_matching_rule_leaves_no_candidate(rules):
    assert rules.candidates(facts(category="其他", district="外省某县")) == []


def test_an_appeal_no_rule_matches_waits_in_the_office_queue(rules):
    appeal = domain.new_appeal(rules, received(category="其他", district="外省某县"))
    [(kind, data)] = appeal.events
    assert (appeal.status, kind, data["lead_unit"], data["reason"], data["level"]) == (
        "queued", "appeal_dispatched", None, "manual_queue", "city")


def test_a_routed_appeal_is_dispatched_with_the_leads_level(rules):
    appeal = domain.new_appeal(rules, received(category="用地"))
    [(_, data)] = appeal.events
    assert (appeal.status, data["lead_unit"], data["co_units"], data["level"], data["dispatch_count"]) == (
        "dispatched", "district-a", ["nrp"], "district", 1)


def test_a_rule_can_match_the_paired_leader():
    part = DispatchPart().load({"categories": [{"code": "其他"}], "routing": [
        {"name": "包联领导", "match": {"leaders": ["王副市长"]}, "lead": "city"}]})
    rules = domain.Rules(part, load_units(DEFAULT_PROFILE))
    assert [c.lead for c in rules.candidates(facts(leader="王副市长"))] == ["city"]
    assert rules.candidates(facts(leader="别人")) == []


# ---------------------------------------------------------------- the desk's state rules
def test_accept_moves_a_dispatched_appeal_to_accepted(rules):
    appeal = appeal_at(rules, "dispatched")
    appeal.accept("hrss")
    assert (appeal.status, appeal.events[0][0]) == ("accepted", "appeal_accepted")


def test_accepting_twice_is_illegal(rules):
    appeal = appeal_at(rules, "accepted")
    with pytest.raises(IllegalTransition):
        appeal.accept("hrss")


def test_reply_before_accept_is_illegal(rules):
    appeal = appeal_at(rules, "dispatched")
    with pytest.raises(IllegalTransition):
        appeal.reply("hrss", "solved", "已解决")
    assert (appeal.status, appeal.events) == ("dispatched", [])


@pytest.mark.parametrize("act", [
    lambda a, r: a.accept("hrss"), lambda a, r: a.progress("hrss", "n"),
    lambda a, r: a.reply("hrss", "solved", "t"), lambda a, r: a.return_(r, "hrss", "x"),
    lambda a, r: a.request_escalation("hrss", "n"), lambda a, r: a.assign(r, "tax", []),
    lambda a, r: a.reclassify(r, "用地"),
])
def test_nothing_may_be_done_with_a_closed_appeal(rules, act):
    appeal = appeal_at(rules, "closed")
    with pytest.raises(IllegalTransition):
        act(appeal, rules)
    assert appeal.events == []


@pytest.mark.parametrize("act", [
    lambda a, r: a.accept("district-a"), lambda a, r: a.progress("district-a", "n"),
    lambda a, r: a.reply("district-a", "solved", "t"), lambda a, r: a.return_(r, "district-a", "x"),
    lambda a, r: a.request_escalation("district-a", "n"),
])
def test_a_co_unit_may_read_but_not_act(rules, act):
    appeal = appeal_at(rules, "accepted")
    assert appeal.readable_by("district-a")
    with pytest.raises(NotYours):
        act(appeal, rules)


def test_another_unit_may_not_read_and_is_told_there_is_no_such_appeal(rules):
    appeal = appeal_at(rules, "accepted")
    with pytest.raises(NotVisible) as refused:
        appeal.require_readable("tax")
    assert (refused.value.code, refused.value.message) == ("not_found", "没有诉求 SQ1")


def test_a_reply_carries_its_outcome_and_text(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.reply("hrss", "explained", "现行政策无法解决，已向企业解释说明")
    assert appeal.events == [("appeal_replied", {"appeal_id": "SQ1", "unit": "hrss", "outcome": "explained",
                                                 "reply_text": "现行政策无法解决，已向企业解释说明", "actor": None})]


def test_a_return_goes_to_the_next_candidate(rules):
    appeal = appeal_at(rules, "dispatched")
    appeal.return_(rules, "hrss", "不属于本单位职责")
    kinds = [kind for kind, _ in appeal.events]
    dispatched = appeal.events[1][1]
    assert (kinds, dispatched["lead_unit"], dispatched["reason"], appeal.status) == (
        ["appeal_returned", "appeal_dispatched"], "district-a", "returned", "dispatched")


def test_the_nth_return_asks_for_escalation_and_the_office_queue_takes_it(rules):
    appeal = appeal_at(rules, "dispatched")
    appeal.return_(rules, "hrss", "不属于本单位职责")
    appeal.accept("district-a")
    appeal.return_(rules, "district-a", "需要市级协调")
    assert appeal.events[-1] == ("appeal_escalation_requested", {
        "appeal_id": "SQ1", "unit": "district-a", "reason": "returns", "note": "已退单 2 次（上限 2 次）"})
    assert (appeal.status, appeal.lead_unit, appeal.events[-2][1]["reason"]) == ("queued", None, "manual_queue")


def test_fewer_returns_than_the_limit_ask_for_nothing(rules):
    appeal = appeal_at(rules, "dispatched")
    appeal.return_(rules, "hrss", "不属于本单位职责")
    assert "appeal_escalation_requested" not in [kind for kind, _ in appeal.events]


def test_a_unit_asks_for_escalation_with_reason_requested(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.request_escalation("hrss", "超出本单位权限")
    assert appeal.events[0][1]["reason"] == "requested"


def test_the_first_responder_stays_lead_when_the_office_reassigns(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.assign(rules, "tax", ["market"])
    assert (appeal.lead_unit, appeal.co_units, appeal.status) == ("hrss", ["district-a", "tax", "market"],
                                                                  "accepted")


def test_the_office_may_replace_the_first_responder_when_it_says_so(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.assign(rules, "tax", [], replace_lead=True)
    assert (appeal.lead_unit, appeal.co_units, appeal.status) == ("tax", [], "dispatched")


def test_without_first_responder_a_reassignment_replaces_the_lead(rules):
    plain = domain.Rules({**rules.part, "first_responder": False}, load_units(DEFAULT_PROFILE))
    appeal = appeal_at(plain, "dispatched")
    appeal.assign(plain, "tax", ["hrss"])
    assert (appeal.lead_unit, appeal.co_units) == ("tax", ["hrss"])


def test_assigning_a_queued_appeal_gives_it_its_lead(rules):
    appeal = appeal_at(rules, "queued", district="外省某县", category="其他")
    appeal.assign(rules, "tax", [])
    assert (appeal.status, appeal.lead_unit, appeal.events[0][1]["reason"]) == ("dispatched", "tax", "assigned")


@pytest.mark.parametrize(("status", "act", "starts"), [
    ("accepted", lambda a, r: a.assign(r, "tax", ["market"]), False),  # units beside the first responder
    ("accepted", lambda a, r: a.assign(r, "tax", [], replace_lead=True), True),  # a new lead accepts
    ("dispatched", lambda a, r: a.assign(r, "hrss", ["tax"]), False),  # the same lead, a co-unit more
    ("accepted", lambda a, r: a.escalate(r, "city", "city", "overdue"), True),
    ("replied", lambda a, r: a.escalate(r, "city", "city", "overdue"), False),  # the reply stage runs on
    ("replied", lambda a, r: a.reopen(r, "不满意", 1), False),  # 重办 restarts the reply stage
])
def test_a_dispatch_says_whether_its_lead_must_accept_anew(rules, status, act, starts):
    appeal = appeal_at(rules, status)
    act(appeal, rules)
    dispatched = [data for kind, data in appeal.events if kind == "appeal_dispatched"]
    assert dispatched[-1]["starts_acceptance"] is starts


def test_assigning_an_unknown_unit_is_invalid(rules):
    appeal = appeal_at(rules, "dispatched")
    with pytest.raises(InvalidInput):
        appeal.assign(rules, "nobody", [])


def test_reclassifying_publishes_the_new_classification(rules):
    appeal = appeal_at(rules, "dispatched")
    appeal.reclassify(rules, "融资", "C", "共性")
    assert appeal.events == [("appeal_reclassified", {"appeal_id": "SQ1", "category": "资金/融资",
                                                      "difficulty": "C", "nature": "共性", "urgency": "一般",
                                                      "code": None})]


def test_reclassifying_to_an_unknown_category_is_invalid(rules):
    appeal = appeal_at(rules, "dispatched")
    with pytest.raises(InvalidInput):
        appeal.reclassify(rules, "天气")


# ---------------------------------------------------------------- what other services report
def test_a_reopened_appeal_goes_back_to_its_lead(rules):
    appeal = appeal_at(rules, "replied")
    appeal.reopen(rules, "企业不满意", 1)
    data = appeal.events[0][1]
    assert (appeal.status, data["lead_unit"], data["reason"], appeal.reopen_count) == (
        "reopened", "hrss", "reopened", 1)


def test_a_reopened_appeal_is_accepted_again_like_a_dispatched_one(rules):
    appeal = appeal_at(rules, "reopened")
    appeal.accept("hrss")
    assert appeal.status == "accepted"


def test_closing_is_final(rules):
    appeal = appeal_at(rules, "replied")
    assert appeal.close("solved", "满意") is True
    assert (appeal.status, appeal.close("solved", "满意")) == ("closed", False)


def test_an_escalation_makes_the_upper_unit_lead_and_the_previous_lead_a_co_unit(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.escalate(rules, "city", "city", "overdue")
    data = appeal.events[0][1]
    assert (appeal.lead_unit, appeal.co_units, appeal.status, data["reason"], data["level"]) == (
        "city", ["hrss", "district-a"], "dispatched", "escalated", "city")


def test_an_escalation_without_a_to_unit_moves_nothing(rules):
    appeal = appeal_at(rules, "accepted")
    assert appeal.escalate(rules, None, "unit_leader", "overdue") is False
    assert (appeal.lead_unit, appeal.events) == ("hrss", [])


def test_a_colour_is_kept_and_red_is_overdue(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.set_colour("red", "accept")
    assert (appeal.colour, appeal.events) == ("red", [])


def test_the_closing_ends_the_stage_and_its_colour(rules):
    appeal = appeal_at(rules, "accepted")
    appeal.set_colour("red", "reply")
    appeal.reply("hrss", "solved", "已解决")
    assert appeal.colour is None
    appeal.set_colour("red", "reply")  # published before supervision heard of the reply
    appeal.close("solved", "满意")
    assert (appeal.status, appeal.colour, appeal.colour_stage) == ("closed", None, None)


# ---------------------------------------------------------------- HTTP bodies and documents
def test_a_classification_without_anything_to_change_is_refused():
    from marshmallow import ValidationError

    from services.dispatch import schemas

    with pytest.raises(ValidationError):
        schemas.ClassifyInput().load({})


def test_an_unknown_key_in_a_body_is_refused():
    from marshmallow import ValidationError

    from services.dispatch import schemas

    with pytest.raises(ValidationError) as caught:
        schemas.ReturnInput().load({"reason": "r", "reasn": "typo"})
    assert "reasn" in caught.value.messages


def test_the_openapi_document_lists_every_desk_and_office_action():
    from services.dispatch.service import openapi_document

    paths = openapi_document()["paths"]
    actions = {p.rsplit("/", 1)[-1] for p in paths if "{appeal_id}/" in p}
    assert actions == {"accept", "progress", "reply", "return", "escalation-request", "assign", "classify", "plan"}


def test_a_closed_appeal_reopened_by_a_follow_up_goes_to_the_unit_named(rules):
    appeal = appeal_at(rules, "closed")
    lead = appeal.lead_unit
    assert appeal.reopen(rules, "followup_not_solved", 1, unit="tax") is True
    data = appeal.events[-1][1]
    assert (appeal.status, data["lead_unit"], data["reason"]) == ("reopened", "tax", "reopened")
    again = appeal_at(rules, "closed")
    again.reopen(rules, "followup_unsatisfied", 1)
    assert again.events[-1][1]["lead_unit"] == lead


def test_a_replied_appeal_reopens_to_its_own_lead_whatever_unit_the_event_names(rules):
    appeal = appeal_at(rules, "replied")
    lead = appeal.lead_unit
    appeal.reopen(rules, "企业不满意", 1, unit="tax")
    assert appeal.events[-1][1]["lead_unit"] == lead
