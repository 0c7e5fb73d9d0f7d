"""The charts render with a Chinese font when there is one, and fall back without failing when not."""
import base64

from services.assessment import render
from services.assessment.domain import RATES

REPORT = {
    "labels": {key: label for key, (_n, _d, label) in RATES.items()},
    "units": [{"unit": "tax", "name": "市税务局", "counts": {"received": 2, "answered": 3},
               "rates": {"resolution": 0.5, "satisfaction": 2 / 3}},
              {"unit": "hrss", "name": "市人社局", "counts": {"received": 0, "answered": 0},
               "rates": {"resolution": None, "satisfaction": None}}],
    "trend": [{"week": "2026-W46", "new": 1, "resolved": 0}, {"week": "2026-W47", "new": 5, "resolved": 2}],
}
PNG = b"\x89PNG\r\n\x1a\n"


def test_the_charts_are_pngs():
    charts = render.charts(REPORT)
    assert base64.b64decode(charts["by_unit"]).startswith(PNG)
    assert base64.b64decode(charts["trend"]).startswith(PNG)


def test_without_a_chinese_font_the_charts_still_render_and_say_so(monkeypatch):
    monkeypatch.setattr(render, "chinese_font", lambda: None)
    charts = render.charts(REPORT)
    assert charts["font"] == ""
    assert base64.b64decode(charts["by_unit"]).startswith(PNG)
