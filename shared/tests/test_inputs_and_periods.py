"""The rules the OpenAPI documents state, held by the code the same way (shared.inputs, shared.periods)."""
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from marshmallow import Schema, ValidationError

from shared import periods
from shared.inputs import FILLED, WHITESPACE, Bool, Integer, text
from shared.openapi import build_spec


def test_whitespace_is_exactly_what_str_isspace_knows():
    assert "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) == WHITESPACE


@pytest.mark.parametrize("value, filled", [("a", True), (" a ", True), (" ", False), ("\u3000\x1f", False),
                                           ("\x00a", False), ("", False)])
def test_the_filled_pattern_and_the_not_blank_check_agree(value, filled):
    assert bool(re.fullmatch(FILLED, value)) == filled
    if "\x00" not in value:  # a NUL is refused before any field reads the body (shared.web.json_body)
        try:
            text(10).deserialize(value)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == filled


@pytest.mark.parametrize("value, ok", [(True, True), (False, True), (0, False), ("true", False), (None, False)])
def test_a_json_boolean_is_true_or_false_only(value, ok):
    class Body(Schema):
        flag = Bool()
    assert (Body().validate({"flag": value}) == {}) == ok


@pytest.mark.parametrize("value, expected", [(5, 5), (5.0, 5), ("5", None), (5.5, None), (True, None)])
def test_a_json_integer_is_what_json_schema_calls_one(value, expected):
    if expected is None:
        with pytest.raises(ValidationError):
            Integer().deserialize(value)
    else:
        assert Integer().deserialize(value) == expected


def test_the_day_pattern_is_the_gregorian_calendar_within_the_bounds():
    day = date(1899, 12, 1)
    while day < date(3000, 2, 1):
        assert bool(re.fullmatch(periods.DATE_PATTERN, day.isoformat())) == (1900 <= day.year <= 2999), day
        day += timedelta(days=1)
    for impossible in ("2026-02-29", "2100-02-29", "2026-04-31", "2026-13-01"):
        assert not re.fullmatch(periods.DATE_PATTERN, impossible)


def test_week_53_exists_only_in_the_years_that_have_one():
    assert periods.parse_week("2026-W53") == date(2026, 12, 28)
    with pytest.raises(ValueError):
        periods.parse_week("2025-W53")
    with pytest.raises(ValueError):
        periods.parse_week("0001-W01")  # its Monday's Shanghai midnight falls before Python's year 1


@pytest.mark.parametrize("label", ["0001-01", "9999-12", "2026-1", "２０２６-11", "2026-11 "])
def test_a_month_outside_the_bounds_or_misspelt_is_refused(label):
    with pytest.raises(ValueError):
        periods.parse_month(label)


def test_an_instant_is_read_as_utc_whatever_its_offset():
    moment = periods.Instant().deserialize("2026-11-20T10:00:00-22:43")
    assert moment == datetime(2026, 11, 21, 8, 43, tzinfo=timezone.utc) and moment.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        periods.Instant().deserialize("20261120T1000+08:00")  # fromisoformat would read it; RFC 3339 does not


def test_the_document_declares_what_the_plumbing_answers():
    document = build_spec("t", "1", {}, {"/x/{id}": {"post": {
        "security": [{"bearer": []}], "parameters": [{"name": "id", "in": "path", "required": True,
                                                       "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "ok"}}}}})
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]["/x/{id}"]["post"]["responses"]) == {
        "200", "400", "401", "403", "404", "413", "415", "503"}
    assert document["paths"]["/x/{id}"]["post"]["parameters"][0]["schema"]["pattern"] == "^[^\\u0000]*$"
