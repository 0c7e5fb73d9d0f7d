"""Which platform an appeal goes back to, and what it is told (pure rules, the profile part)."""
from datetime import datetime, timezone

import pytest

from services.intake.feedback import feedback, platform_of
from services.intake.profile import IntakePart
from shared.profile import DEFAULT_PROFILE, ProfileError, load_part

PLATFORMS = IntakePart().load({"platforms": [
    {"name": "hotline", "match": {"submitted_by": ["platform:12345"]}, "exchange": "platform.hotline"},
    {"name": "provincial", "match": {"channels": ["platform"]}, "exchange": "platform.provincial",
     "routing_keys": {"closed": "done"}}]})["platforms"]
APPEAL = {"id": "SQ1", "external_id": "E-1", "submitted_by": "platform:12345", "channel": "platform",
          "correlation_id": None}
AT = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def test_the_first_platform_whose_match_the_appeal_meets_takes_it():
    assert platform_of(APPEAL, PLATFORMS)["name"] == "hotline"
    assert platform_of({**APPEAL, "submitted_by": "platform:other"}, PLATFORMS)["name"] == "provincial"


def test_an_appeal_without_an_external_id_goes_back_nowhere():
    assert platform_of({**APPEAL, "external_id": None}, PLATFORMS) is None
    assert platform_of({**APPEAL, "submitted_by": "cadre:x", "channel": "visit"}, PLATFORMS) is None


def test_the_closing_carries_the_rating_on_the_platforms_own_routing_key():
    out = feedback(APPEAL, PLATFORMS[1], "appeal_closed", "ev-1",
                   {"appeal_id": "SQ1", "outcome": "solved", "satisfaction": "满意", "unit": "hrss"}, AT)
    assert (out["exchange"], out["routing_key"], out["envelope"]["subject"]) == ("platform.provincial", "done", "E-1")
    assert {k: out["envelope"]["data"][k] for k in ("stage", "outcome", "satisfaction", "reply_text")} == {
        "stage": "closed", "outcome": "solved", "satisfaction": "满意", "reply_text": None}


def test_the_same_fact_for_the_same_platform_has_the_same_message_id():
    one = feedback(APPEAL, PLATFORMS[0], "appeal_accepted", "ev-1", {"unit": "hrss"}, AT)
    two = feedback(APPEAL, PLATFORMS[0], "appeal_accepted", "ev-1", {"unit": "hrss"}, AT)
    assert one["message_id"] == two["message_id"] == one["envelope"]["id"]


def test_a_platform_on_a_mesh_exchange_is_refused_with_its_line(tmp_path):
    (tmp_path / "intake.yaml").write_text("platforms:\n  - name: x\n    match: {channels: [hotline]}\n"
                                          "    exchange: intake.events\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"intake.yaml:4: platforms\[0\].exchange"):
        load_part(tmp_path, "intake", IntakePart)


def test_the_demo_profile_sends_hotline_and_provincial_answers_back():
    part = load_part(DEFAULT_PROFILE, "intake", IntakePart)
    assert [p["name"] for p in part["platforms"]] == ["hotline-12345", "provincial"]
