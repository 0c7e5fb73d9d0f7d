"""Fields of HTTP bodies, ruled the same way in code and in the OpenAPI documents.

JSON bodies are read as their JSON types say: a boolean is ``true`` or ``false`` (:class:`Bool`;
marshmallow's also takes ``0``, ``"yes"``...), an integer is a JSON integer (``fields.Int(strict=True)``).

A text is checked as it was sent (its length, that it is not blank), then stored without the
white space around it (:func:`strip_strings`, after loading). "Blank" means only white space as
Python's ``str.isspace`` knows it; the documents say the same with :data:`FILLED`, a pattern
that spells those characters out (``\\s`` differs between Python, ECMA-262 and Rust).
"""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Every character for which ``str.isspace()`` is true (a test keeps this so)."""
_BLANK_CLASS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)
FILLED = f"^[^\\u0000]*[^{_BLANK_CLASS}\\u0000][^\\u0000]*$"
"""Text with a character other than white space, and no NUL."""


class NotBlank(validate.Validator):
    error = "must hold something other than white space"

    def __call__(self, value: str) -> str:
        if isinstance(value, str) and value.strip(WHITESPACE) == "":
            raise ValidationError(self.error)
        return value


def text(max_length: int, *, min_length: int = 1, **kwargs: Any) -> fields.Str:
    """A string of ``min_length`` to ``max_length`` characters as sent; with ``min_length`` >= 1, not blank."""
    validators: list[validate.Validator] = [validate.Length(min=min_length or None, max=max_length)]
    metadata = dict(kwargs.pop("metadata", None) or {})
    if min_length >= 1:
        validators.append(NotBlank())
        metadata["pattern"] = FILLED
    return fields.Str(validate=validators, metadata=metadata, **kwargs)


def strip_strings(data: Any) -> Any:
    """The loaded body with the white space around each of its top-level strings removed."""
    if isinstance(data, dict):
        return {key: (value.strip(WHITESPACE) if isinstance(value, str) else value) for key, value in data.items()}
    return data


class Bool(fields.Boolean):
    """A JSON boolean: ``true`` or ``false``, nothing that merely looks like one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Integer(fields.Integer):
    """A JSON integer: JSON Schema counts ``5.0`` as one; a string (``"5"``) or a boolean is not."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._deserialize(int(value), attr, data, **kwargs)
