"""The calendar periods the APIs accept: ISO weeks, months and days of the years 1900 to 2999.

Reports reach back (the previous weeks and month) and forward (the first day after the period),
and a Shanghai midnight is a UTC instant eight hours earlier: a period near Python's own limits
(years 1 and 9999) cannot be computed, so the years are bounded well inside them. The OpenAPI
documents state the same bounds with the same patterns (the code validates with them), so an
outside tool and the code agree on what is a period. Digits are ``[0-9]``: Python's ``\\d`` also
takes other scripts' digits, ECMA-262's does not.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from marshmallow import ValidationError, fields

FIRST_YEAR, LAST_YEAR = 1900, 2999
_YEAR = "(?:19|2[0-9])[0-9]{2}"
_LONG_YEARS = "|".join(str(year) for year in range(FIRST_YEAR, LAST_YEAR + 1)
                       if date(year, 12, 28).isocalendar()[1] == 53)

MONTH_PATTERN = f"^{_YEAR}-(?:0[1-9]|1[0-2])$"
"""``2026-11``."""
WEEK_PATTERN = f"^(?:{_YEAR}-W(?:0[1-9]|[1-4][0-9]|5[0-2])|(?:{_LONG_YEARS})-W53)$"
"""``2026-W47``: an ISO week that exists (week 53 only in the years that have one)."""
_LEAP_YEAR = "(?:(?:19|2[0-9])(?:0[48]|[2468][048]|[13579][26])|2000|2400|2800)"
_DAY = (f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
        f"|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP_YEAR}-02-29)")
DATE_PATTERN = f"^{_DAY}$"
"""``2026-11-20``: a day of the Gregorian calendar (the pattern knows the months' lengths and leap years,
so a generator driven by it draws real days)."""
_TIME = "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_PATTERN = f"^{_DAY}{_TIME}{_OFFSET}$"
"""``2026-11-20T10:00:00+08:00``: RFC 3339 (upper-case ``T`` and ``Z``, at most microseconds)."""
LOCAL_INSTANT_PATTERN = f"^{_DAY}{_TIME}{_OFFSET}?$"
"""The same, the offset optional (a time without one is read in the field's default time zone)."""

BOUNDS = f"between {FIRST_YEAR} and {LAST_YEAR}"


def parse_month(label: str) -> tuple[int, int]:
    """``2026-11`` -> (2026, 11); ValueError otherwise."""
    if not isinstance(label, str) or not re.fullmatch(MONTH_PATTERN, label):
        raise ValueError(f"a month is written like 2026-11, in a year {BOUNDS}")
    year, month = label.split("-")
    return int(year), int(month)


def parse_week(label: str) -> date:
    """``2026-W47`` -> the Monday it starts on; ValueError otherwise."""
    if not isinstance(label, str) or not re.fullmatch(WEEK_PATTERN, label):
        raise ValueError(f"a week is written like 2026-W47 (an ISO week of its year), in a year {BOUNDS}")
    year, week = label.split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def parse_day(label: str) -> date:
    """``2026-11-20`` -> the date; ValueError otherwise."""
    if not isinstance(label, str) or not re.fullmatch(DATE_PATTERN, label):
        raise ValueError(f"a day is written like 2026-11-20, in a year {BOUNDS}")
    return date.fromisoformat(label)  # a day that does not exist (2026-02-30) raises ValueError


class Day(fields.Date):
    """A day ``YYYY-MM-DD`` within the bounds (marshmallow's ``Date`` also reads ``20261120`` and ``2026-W47-1``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": DATE_PATTERN, **(kwargs.get("metadata") or {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        try:
            return parse_day(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None



class Instant(fields.AwareDateTime):
    """A moment in a year within the bounds (a time near year 1 or 9999 cannot be turned into UTC),
    written as :data:`INSTANT_PATTERN` says (Python's ``fromisoformat`` also reads ``20261120T1000``
    and more), or without its offset when the field has a ``default_timezone``; loaded as UTC:
    RFC 3339 allows offsets up to 23:59, PostgreSQL only up to 15:59."""

    def __init__(self, **kwargs: Any) -> None:
        local = kwargs.get("default_timezone") is not None
        self.pattern = LOCAL_INSTANT_PATTERN if local else INSTANT_PATTERN
        # a time without an offset is no RFC 3339 date-time: then the pattern alone says what is read
        described = {"pattern": self.pattern, **({"format": None} if local else {})}
        kwargs["metadata"] = {**described, **(kwargs.get("metadata") or {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise ValidationError("a time is written like 2026-11-20T10:00:00+08:00"
                                  + (" (no offset: Asia/Shanghai)" if self.pattern == LOCAL_INSTANT_PATTERN else "")
                                  + f", in a year {BOUNDS}")
        return super()._deserialize(value, attr, data, **kwargs).astimezone(timezone.utc)
