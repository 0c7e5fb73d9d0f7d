"""FastLoadSchema's short paths give what marshmallow gives: the same data, or the same errors.

Each schema that uses them is loaded and dumped twice on generated input: once as it is, once
with its short paths switched off (marshmallow's own ``_deserialize`` and ``_serialize``), and
the two must agree, value for value and type for type, or raise the same errors.
"""
from __future__ import annotations

import functools
import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from services.intake import domain as intake
from shared.events import CATALOGUE, EnvelopeSchema, make_event, read_event
from shared.schemas import FastLoadSchema

SCHEMAS: list[type[Schema]] = sorted({spec.schema for spec in CATALOGUE.values()}, key=lambda s: s.__name__)
SCHEMAS += [EnvelopeSchema, intake.AppealInput, intake.EnterpriseInput, intake.PersonInput, intake.SubjectInput]

ZONES = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), None])
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.floats(), st.text(max_size=6),
    st.just(""), st.just("  x  "), st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.datetimes(timezones=ZONES).map(datetime.isoformat), st.dates().map(date.isoformat),
    st.sampled_from(["1", "1.5", "true", "nan", "2026-12-06", "2026-12-06T10:00:00+08:00"]),
)


def _valid(field: fields.Field) -> st.SearchStrategy[Any]:
    """Values of the field's own kind (many valid, some not: lengths and choices are not aimed at)."""
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return st.sampled_from(list(validator.choices))
    if isinstance(field, fields.DateTime):
        return st.datetimes(timezones=ZONES).map(datetime.isoformat)
    if isinstance(field, fields.Date):
        return st.dates().map(date.isoformat)
    if isinstance(field, fields.Boolean):
        return st.booleans()
    if isinstance(field, fields.Integer):
        return st.integers(-10, 10**6)
    if isinstance(field, fields.Float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(field, fields.List):
        return st.lists(st.text(min_size=1, max_size=5), max_size=3)
    if isinstance(field, fields.Dict):
        return st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3)
    if isinstance(field, fields.Nested):
        return st.fixed_dictionaries({}, optional={"name": st.text(max_size=5), "phone": st.just("13800000000")})
    if isinstance(field, intake.CreditCode):
        return st.sampled_from(["91330100MA2B3C4D5E", "91110000100000000X", "not a code"])
    return st.text(min_size=1, max_size=12)


@st.composite
def inputs(draw: st.DrawFn, schema: Schema) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        how = draw(st.sampled_from(["valid"] * 6 + ["missing", "none", "any"]))
        if how == "valid":
            data[key] = draw(_valid(field))
        elif how == "none":
            data[key] = None
        elif how == "any":
            data[key] = draw(ANY_VALUE)
    if draw(st.booleans()):
        data[draw(st.text(min_size=1, max_size=4))] = draw(ANY_VALUE)
    return data


def _typed(value: Any) -> Any:
    """A value with the type of each of its parts, so that 1, 1.0 and True differ; nan equals nan."""
    if isinstance(value, dict):
        return ("dict", type(value).__name__, sorted((repr(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def _outcome(call: Any) -> Any:
    try:
        return ("ok", _typed(call()))
    except ValidationError as exc:
        return ("error", _typed(exc.messages), _typed(exc.valid_data))
    except Exception as exc:  # a dump of a value of another type: marshmallow's own exception
        return ("raised", type(exc).__name__, str(exc))


def _pair(schema_class: type[Schema]) -> tuple[Schema, Schema]:
    fast, slow = schema_class(), schema_class()
    slow._fast_plan = None  # type: ignore[attr-defined]
    slow._fast_dump = None  # type: ignore[attr-defined]
    return fast, slow


@pytest.mark.parametrize("schema_class", SCHEMAS, ids=lambda s: s.__name__)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_load_and_dump_agree_with_marshmallow(schema_class: type[Schema], data: st.DataObject) -> None:
    assert issubclass(schema_class, FastLoadSchema)
    fast, slow = _pair(schema_class)
    raw = data.draw(inputs(fast))
    assert _outcome(lambda: fast.load(raw)) == _outcome(lambda: slow.load(raw))
    for unknown in (RAISE, EXCLUDE):
        assert _outcome(functools.partial(fast.load, raw, unknown=unknown)) \
            == _outcome(functools.partial(slow.load, raw, unknown=unknown))
    try:
        loaded = slow.load(raw)
    except ValidationError:
        loaded = raw
    assert _outcome(lambda: fast.dump(loaded)) == _outcome(lambda: slow.dump(loaded))


def test_the_short_paths_are_taken() -> None:
    """Guards the test above: a plain valid input is read and dumped without marshmallow's loop."""
    schema = EnvelopeSchema()
    message = make_event("appeal_accepted", {"appeal_id": "a1", "unit": "U1"}, producer="dispatch",
                         now=datetime(2026, 12, 6, 2, tzinfo=timezone.utc)).to_message()
    calls = []
    original = Schema._deserialize

    def counting(self: Schema, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Schema, "_deserialize", counting)
        assert read_event(message).data["unit"] == "U1"
        assert schema.load(message)["type"] == "appeal_accepted"
        assert calls == []
        with pytest.raises(ValidationError):
            schema.load({**message, "time": "not a time"})
        assert calls == ["EnvelopeSchema"]


class _Hooked(FastLoadSchema):
    """Hooks, a pre_load field, a data_key and an attribute: marshmallow's behaviour kept."""

    class Meta:
        unknown = RAISE

    name = fields.Str(required=True, validate=validate.Length(min=2))
    code = fields.Str(data_key="Code", attribute="the_code", load_default="x")
    count = fields.Int(load_default=lambda: 0)
    trimmed = fields.Str(allow_none=True, pre_load=[str.strip])  # type: ignore[call-arg]

    @validates_schema
    def _not_same(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("name") == data.get("the_code"):
            raise ValidationError("name and code must differ")

    @post_load
    def _tag(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "tagged": True}


@pytest.mark.parametrize("raw", [
    {"name": "ab"}, {"name": "ab", "Code": "ab"}, {"name": "a"}, {"name": "ab", "code": "c"},
    {"name": "ab", "trimmed": "  t "}, {"name": "ab", "trimmed": None}, {"name": "ab", "count": True},
    {"name": "ab", "count": "7"}, {"Code": "c"}, [], {"name": 5},
])
def test_hooks_keys_and_errors_are_marshmallows(raw: Any) -> None:
    fast, slow = _pair(_Hooked)
    assert _outcome(lambda: fast.load(raw)) == _outcome(lambda: slow.load(raw))
