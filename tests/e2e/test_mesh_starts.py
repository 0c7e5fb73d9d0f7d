"""Every profile loads, and the whole mesh starts and routes with each of them.

The five seed campaigns (Wuhan 双万双联, Hangzhou 千名干部助千企, Huainan 四送一服,
Hanzhong 助商稳企·护航发展, Baoding 双创双服; ``docs/domain.md``) each have a folder
under ``deploy/profiles``; the demo is the sixth. Every profile is validated by the one
schema (``shared.profile.check``), a few facts each profile must carry from its seed are
checked, and then the five event services are started as processes on the real broker and
PostgreSQL with that profile (a service missing from the checkout fails, it is not left
out): each answers ``/healthz``, and one appeal submitted to intake is routed by dispatch to the lead unit that
the profile's own rules give (so the services really read that profile, not the demo's)
and reaches supervision's ledger.
"""
import time
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from scripts.mesh import available_services
from shared.profile import PART_SCHEMAS, check, load_units

ROOT = Path(__file__).resolve().parents[2]
PROFILES_DIR = ROOT / "deploy" / "profiles"
PROFILES = sorted(p.name for p in PROFILES_DIR.iterdir() if (p / "units.yaml").exists())
SEED_CAMPAIGNS = ("wuhan", "hangzhou", "huainan", "hanzhong", "baoding")
# the five event services; each must start (a missing one fails the test, it is not skipped)
MESH_SERVICES = ("intake", "dispatch", "supervision", "assessment", "notify")
OFFICE = {"Authorization": "Bearer t-office"}  # tests/tokens.yaml, the fixture's AUTH_TOKENS_FILE
CREDIT_CODE = "916107001590830106"

pytestmark = pytest.mark.integration


def part(profile: str, name: str) -> dict:
    return yaml.safe_load((PROFILES_DIR / profile / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_valid(profile):
    assert check(PROFILES_DIR / profile) == []


def test_the_five_seed_campaigns_have_profiles():
    assert set(SEED_CAMPAIGNS) <= set(PROFILES)
    for profile in SEED_CAMPAIGNS:
        for name in PART_SCHEMAS:
            path = PROFILES_DIR / profile / f"{name}.yaml"
            assert path.exists(), path
            assert path.read_text(encoding="utf-8").startswith("#"), f"{path}: says which seed facts it encodes"


def test_the_profiles_carry_their_seed_facts():
    # Wuhan (000): 101 units, each with a chief responder of the message board
    wuhan = load_units(PROFILES_DIR / "wuhan")
    assert sum(1 for u in wuhan["units"] if u.get("chief_responder")) == 101
    assert any("message_board" in r["match"].get("channels", []) for r in part("wuhan", "dispatch")["routing"])
    # Hangzhou (001): 26 element departments, Xiaoshan's 24 hours, 60 days for hard problems, 96%
    hangzhou = load_units(PROFILES_DIR / "hangzhou")
    assert sum(1 for u in hangzhou["units"] if u["type"] == "department" and u["level"] == "city") == 26
    supervision = part("hangzhou", "supervision")
    assert supervision["districts"]["萧山区"]["stages"]["accept"] == {"hours": 24}
    assert supervision["stages"]["reply"]["D"] == {"days": 60}
    assert part("hangzhou", "assessment")["targets"]["solved_60d"] == 0.96
    # Huainan (002): province, city and county units; the ladder ends at the province
    huainan = load_units(PROFILES_DIR / "huainan")
    levels = {u["code"]: u["level"] for u in huainan["units"]}
    assert {"province", "city", "district"} <= set(levels.values())
    assert levels[part("huainan", "supervision")["ladder"][-1]["to_unit"]] == "province"
    # Hanzhong (003): the problem sheet within 2 working days, A/B/C/D, 办结率 and 满意度 with deductions
    hanzhong = part("hanzhong", "supervision")
    assert all(d == {"working_days": 2} for d in hanzhong["stages"]["submit"].values())
    assert set(hanzhong["stages"]["reply"]) == {"A", "B", "C", "D"}
    scoring = part("hanzhong", "assessment")["scoring"]
    assert set(scoring["weights"]) == {"resolution", "satisfaction"} and scoring["deductions"]
    # Baoding (004): 三个100%, rectification under 80%, about 90% solved within a week
    baoding = part("baoding", "assessment")
    assert baoding["scoring"]["satisfaction_threshold"] == 0.8
    assert {k: baoding["targets"][k] for k in ("submitted_on_time", "resolution", "satisfaction")} == {
        "submitted_on_time": 1.0, "resolution": 1.0, "satisfaction": 1.0}
    assert baoding["targets"]["solved_7d"] == 0.9


def expected_route(profile: str) -> tuple[dict, str]:
    """An appeal from the first locality's district in the first keyworded category, and the lead
    unit the profile's dispatch rules give it (computed here from the profile, not read back)."""
    from services.dispatch.domain import Facts, Rules
    from services.dispatch.profile import DispatchPart
    from shared.profile import load_part

    directory = PROFILES_DIR / profile
    units = load_units(directory)
    rules = Rules(load_part(directory, "dispatch", DispatchPart), units)
    district = next(u["district"] for u in units["units"] if u["type"] == "locality" and u.get("district"))
    category = next(c for c in rules.part["categories"] if c["keywords"])
    title, description = f"企业反映：{category['keywords'][0]}问题", f"关于{category['keywords'][0]}，请协调解决"
    classification = rules.classify(category["code"], title, description)
    candidates = rules.candidates(Facts(classification.category, district, None, None, "visit",
                                        f"{title} {description}", classification.nature,
                                        classification.difficulty, "一般"))
    appeal = {"credit_code": CREDIT_CODE, "enterprise_name": f"{profile}测试企业", "title": title,
              "description": description, "category": category["code"], "district": district,
              "channel": "visit",
              "collected_at": datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0).isoformat()}
    return appeal, candidates[0].lead if candidates else None


def wait_for(url: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, headers=OFFICE, timeout=5)
        if response.status_code == 200:
            return response.json()
        assert time.monotonic() < deadline, f"{url}: {response.status_code} {response.text[:300]}"
        time.sleep(0.3)


def declared_services() -> set[str]:
    """Every service of the mesh, as pyproject.toml's ``suqiu.services`` entry points name them."""
    return {point.name for point in entry_points(group="suqiu.services")}


def test_every_declared_service_is_in_the_checkout():
    """A service declared but missing from the checkout (or from the mesh's ports) fails here,
    never shrinks the mesh the test below starts."""
    assert declared_services() >= set(MESH_SERVICES), declared_services()
    assert sorted(available_services()) == sorted(declared_services())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_service_starts_with_every_profile(start_mesh, profile):
    mesh = start_mesh(profile, services=list(MESH_SERVICES))
    assert sorted(mesh.services) == sorted(MESH_SERVICES)
    for name in MESH_SERVICES:
        assert requests.get(f"{mesh.url(name)}/healthz", timeout=5).status_code == 200, name
    appeal, lead = expected_route(profile)
    response = requests.post(f"{mesh.url('intake')}/api/v1/appeals", json=appeal, headers=OFFICE, timeout=10)
    assert response.status_code == 201, response.text
    appeal_id = response.json()["id"]
    dispatched = wait_for(f"{mesh.url('dispatch')}/api/v1/office/appeals/{appeal_id}")
    assert dispatched["lead_unit"] == lead, (profile, appeal, dispatched)
    if lead is not None:  # a dispatched appeal has a deadline and a line in the ledger
        wait_for(f"{mesh.url('supervision')}/api/v1/appeals/{appeal_id}")
