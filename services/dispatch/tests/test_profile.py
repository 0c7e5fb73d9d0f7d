"""The dispatch part of a profile: it loads, it refuses mistakes clearly, it carries other campaigns."""
from pathlib import Path

import pytest

from services.dispatch import domain
from services.dispatch.profile import DispatchPart
from shared.profile import DEFAULT_PROFILE, ProfileError, load_part, load_units

HANGZHOU = Path(__file__).parent / "profiles" / "hangzhou"


def load(directory: Path) -> tuple[dict, dict]:
    return load_part(directory, "dispatch", DispatchPart), load_units(directory)


def test_the_demo_part_loads_and_names_only_known_units():
    part, units = load(DEFAULT_PROFILE)
    assert (DispatchPart.cross_check(part, units), part["max_returns"], part["first_responder"]) == ([], 2, True)


def test_a_rule_naming_an_unknown_unit_is_reported():
    part, units = load(DEFAULT_PROFILE)
    part["routing"] = [*part["routing"], {"name": "错字", "match": {"categories": ["其他"], "districts": [],
                                                                   "cadres": [], "leaders": [], "channels": [],
                                                                   "keywords": []},
                                          "lead": "taxx", "co_units": ["nobody", "locality"]}]
    problems = DispatchPart.cross_check(part, units)
    assert [p for p in problems if "错字" in p] == [
        f"routing[{len(part['routing']) - 1}] (错字): unknown unit 'taxx'",
        f"routing[{len(part['routing']) - 1}] (错字): unknown unit 'nobody'"]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "dispatch.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_an_unknown_category_in_a_rule_is_reported_with_its_line(tmp_path):
    text = ("categories:\n  - {code: 其他}\nrouting:\n  - name: x\n    match: {categories: [用工]}\n"
            "    lead: tax\n")
    with pytest.raises(ProfileError, match=r"dispatch.yaml:5: routing\[0\].match.categories: unknown categories: 用工"):
        load_part(write(tmp_path, text), "dispatch", DispatchPart)


def test_a_rule_that_matches_nothing_in_particular_is_refused(tmp_path):
    text = "categories:\n  - {code: 其他}\nrouting:\n  - name: x\n    match: {}\n    lead: tax\n"
    with pytest.raises(ProfileError, match="must match on something"):
        load_part(write(tmp_path, text), "dispatch", DispatchPart)


def test_an_unknown_difficulty_is_refused(tmp_path):
    text = "categories:\n  - {code: 其他}\ndifficulty:\n  rules:\n    - {value: E, keywords: [难]}\n"
    with pytest.raises(ProfileError, match=r"difficulty.rules\[0\].value: must be one of A, B, C, D"):
        load_part(write(tmp_path, text), "dispatch", DispatchPart)


def test_a_typo_in_a_key_is_refused(tmp_path):
    text = "categories:\n  - {code: 其他}\nmax_return: 3\n"
    with pytest.raises(ProfileError, match="max_return: Unknown field"):
        load_part(write(tmp_path, text), "dispatch", DispatchPart)


# ---------------------------------------------------------------- another campaign: Hangzhou (seed 001)
@pytest.fixture(scope="module")
def hangzhou() -> domain.Rules:
    part, units = load(HANGZHOU)
    assert DispatchPart.cross_check(part, units) == []
    return domain.Rules(part, units)


def route(rules: domain.Rules, category: str, district: str, text: str = "") -> list[tuple[str, tuple]]:
    return [(c.lead, c.co_units) for c in rules.candidates(domain.Facts(category=category, district=district,
                                                                       text=text))]


def test_hangzhou_a_common_land_problem_is_claimed_by_the_city_bureau(hangzhou):
    assert route(hangzhou, "用地", "富阳区", "园区多家企业厂房办证难")[0] == ("ghzy", ("fuyang",))


def test_hangzhou_xiaoshan_land_goes_first_to_its_district_bureau_then_the_city(hangzhou):
    assert route(hangzhou, "用地", "萧山区") == [("xiaoshan-nrp", ("xiaoshan",)), ("ghzy", ())]


def test_hangzhou_finance_goes_to_the_element_department(hangzhou):
    assert route(hangzhou, "资金/融资", "建德市") == [("jrb", ("czj",))]


def test_hangzhou_the_first_responder_keeps_an_appeal_the_office_reassigns(hangzhou):
    appeal = domain.new_appeal(hangzhou, {"appeal_id": "HZ1", "title": "用能指标", "description": "新增用能指标不足",
                                          "category": None, "district": "萧山区"})
    appeal.assign(hangzhou, "jxj", [])
    assert (appeal.category, appeal.lead_unit, appeal.co_units) == ("能源", "fgw", ["jxj"])
