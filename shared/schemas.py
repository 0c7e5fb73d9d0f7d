"""A marshmallow schema whose load and dump take a short path for plain, valid input.

Every event a service consumes is loaded twice through marshmallow (its envelope and its data),
every event it publishes is checked once, and each costs marshmallow's machinery per field (an
error store, a getter closure, ``And`` of the validators) more than the checks themselves. At full
speed that machinery was 20-37% of each service's CPU.

``FastLoadSchema`` keeps marshmallow as the one definition and the one judge of what is valid. It
overrides only how a single object's fields are read (``Schema._deserialize``) and written
(``Schema._serialize``). To read a plain ``dict``, each field is read by a function compiled once
per schema instance, which handles the common case itself (a ``str``, ``int`` or ``bool`` of the
field's exact type, its ``OneOf`` and ``Length`` checked directly, a missing value's default, a
null where allowed) and hands every other field to the field's own ``deserialize``. Anything
unusual (a missing required field, a value of another type, a failed check, ``many``, ``partial``,
unknown fields a schema refuses) abandons the short path, and marshmallow's own ``_deserialize``
reads the input from the start, so errors, their messages and every edge case are marshmallow's.
Schema hooks (``pre_load``, ``validates``, ``validates_schema``, ``post_load``, the dump hooks)
run as before: ``load`` and ``dump`` are marshmallow's. To write a plain ``dict``, a ``str``,
``int`` or ``bool`` value goes out as it is (what its field's ``_serialize`` gives it) and any
other through ``_serialize``.

``shared/tests/test_schemas.py`` checks, for every schema of the event catalogue and the inputs
that use it, that both paths give the same result or the same errors on generated input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing, validate

__all__ = ["FastLoadSchema"]


class _Slow(Exception):
    """The short path does not apply: marshmallow reads the input."""


_SLOW = _Slow()

Reader = Callable[[Any, Any], Any]  # (value, whole input) -> loaded value; raises _Slow


def _checks(field: fields.Field[Any]) -> Callable[[Any], bool] | None:
    """A predicate equivalent to the field's validators, or None when one is not a plain one."""
    tests: list[Callable[[Any], bool]] = []
    for validator in field.validators:
        if type(validator) is validate.OneOf:
            try:
                choices = frozenset(validator.choices)
            except TypeError:
                return None
            tests.append(choices.__contains__)
        elif type(validator) is validate.Length:
            low, high, equal = validator.min, validator.max, validator.equal
            tests.append(_length(low, high, equal))
        else:
            tests.append(_passes(validator))
    if not tests:
        return lambda value: True
    if len(tests) == 1:
        return tests[0]
    return lambda value: all(test(value) for test in tests)


def _length(low: int | None, high: int | None, equal: int | None) -> Callable[[Any], bool]:
    if equal is not None:
        return lambda value: len(value) == equal
    return lambda value: (low is None or len(value) >= low) and (high is None or len(value) <= high)


def _passes(validator: Callable[[Any], Any]) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        try:
            validator(value)
        except ValidationError:
            return False
        return True
    return test


_PLAIN_TYPES: dict[type, type] = {fields.String: str, fields.Integer: int, fields.Boolean: bool}


def _reader(field: fields.Field[Any], name: str) -> Reader:
    """How the short path reads one present value of ``field``."""
    exact = _PLAIN_TYPES.get(type(field))
    if type(field) is fields.Integer and getattr(field, "strict", False):
        exact = None
    if type(field) is fields.Boolean and field.truthy and not (True in field.truthy and False in field.falsy):
        exact = None
    check = _checks(field) if exact is not None else None
    if exact is not None and check is not None and not field.pre_load and not field.post_load:
        def plain(value: Any, data: Any) -> Any:
            if type(value) is exact and check(value):
                return value
            raise _SLOW
        return plain

    def general(value: Any, data: Any) -> Any:
        try:
            return field.deserialize(value, name, data)
        except ValidationError:
            raise _SLOW from None
    return general


class _Plan:
    """The compiled reading of one schema instance's fields."""

    __slots__ = ("steps", "known")

    def __init__(self, schema: Schema) -> None:
        steps = []
        known = set()
        for attr_name, field in schema.load_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            target = field.attribute or attr_name
            if "." in target:
                raise _SLOW  # set_value's nested keys: marshmallow's path
            known.add(key)
            default = field.load_default
            # a field's pre_load functions run before its null check: marshmallow's path then
            none_ok = False if field.pre_load else bool(field.allow_none)
            steps.append((key, target, _reader(field, key), field.required, default,
                          callable(default), none_ok))
        self.steps = tuple(steps)
        self.known = frozenset(known)

    def read(self, data: dict[str, Any], refuse_unknown: bool) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, target, reader, required, default, default_is_factory, none_ok in self.steps:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise _SLOW
                if default is missing:
                    continue
                result[target] = default() if default_is_factory else default
            elif value is None:
                if not none_ok:
                    raise _SLOW
                result[target] = None
            else:
                result[target] = reader(value, data)
        if refuse_unknown and not self.known.issuperset(data):
            raise _SLOW
        return result


Writer = Callable[[Any, Any], Any]  # (value, whole object) -> dumped value


def _writer(field: fields.Field[Any], attr_name: str) -> Writer:
    """How the short path dumps one present value of ``field`` (what ``Field._serialize`` gives)."""
    kind = type(field)
    if kind is fields.String:
        return lambda value, obj: value if type(value) is str or value is None \
            else field._serialize(value, attr_name, obj)
    if kind is fields.Integer and not getattr(field, "as_string", False):
        return lambda value, obj: value if type(value) is int or value is None \
            else field._serialize(value, attr_name, obj)
    if kind in (fields.Boolean, fields.Raw):
        return lambda value, obj: value  # Field._serialize: the value as it is
    return lambda value, obj: field._serialize(value, attr_name, obj)


class _DumpPlan:
    """The compiled dumping of one schema instance's fields, for a plain ``dict``."""

    __slots__ = ("steps",)

    def __init__(self, schema: Schema) -> None:
        if type(schema).get_attribute is not Schema.get_attribute:
            raise _SLOW
        steps = []
        for attr_name, field in schema.dump_fields.items():
            if not field._CHECK_ATTRIBUTE:
                raise _SLOW
            source = attr_name if field.attribute is None else field.attribute
            if "." in source:
                raise _SLOW
            key = field.data_key if field.data_key is not None else attr_name
            default = field.dump_default
            steps.append((source, key, _writer(field, attr_name), default, callable(default)))
        self.steps = tuple(steps)

    def write(self, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for source, key, writer, default, default_is_factory in self.steps:
            # marshmallow's get_value on a dict: the item, else an attribute of that name
            value = obj[source] if source in obj else getattr(obj, source, missing)
            if value is missing:
                value = default() if default_is_factory else default
                if value is missing:
                    continue
            result[key] = writer(value, obj)
        return result


class FastLoadSchema(Schema):
    """A marshmallow ``Schema`` with the short paths described above."""

    _fast_plan: _Plan | None | bool = False  # False: not compiled yet; None: this schema has none
    _fast_dump: _DumpPlan | None | bool = False

    def _dump_plan(self) -> _DumpPlan | None:
        plan = self._fast_dump
        if plan is False:
            try:
                plan = _DumpPlan(self) if self.dict_class is dict else None
            except _Slow:
                plan = None
            self._fast_dump = plan
        return plan  # type: ignore[return-value]

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:
        if not many and type(obj) is dict:
            plan = self._dump_plan()
            if plan is not None:
                return plan.write(obj)
        return super()._serialize(obj, many=many)

    def _plan(self) -> _Plan | None:
        plan = self._fast_plan
        if plan is False:
            try:
                plan = _Plan(self) if self.dict_class is dict else None
            except _Slow:
                plan = None
            self._fast_plan = plan
        return plan  # type: ignore[return-value]

    def _deserialize(self, data: Any, *, error_store: Any, many: bool = False, partial: Any = None,
                     unknown: Any = RAISE, index: Any = None) -> Any:
        if not many and partial is None and type(data) is dict and unknown in (EXCLUDE, RAISE):
            plan = self._plan()
            if plan is not None:
                try:
                    return plan.read(data, unknown == RAISE)
                except _Slow:
                    pass
        return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                    unknown=unknown, index=index)
