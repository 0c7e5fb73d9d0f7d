"""Working time in Asia/Shanghai: public holidays and adjusted working weekends (调休).

Pure arithmetic over ``chinese_calendar``; no clock is read here. A working day
counts whole (00:00 to 24:00 Shanghai time); a deadline of N working days runs
to the end of the N-th working day after the day it starts (the starting day
itself is not counted, as 自交办之日起 N 个工作日 reads).

For a year ``chinese_calendar`` does not know yet (it raises NotImplementedError;
the installed version knows 2004-2026), Monday to Friday are taken as the
working days of that year: a warning is logged once per year and
``suqiu_calendar_fallback_total`` counts each day so judged. Upgrading
``chinesecalendar`` when the State Council publishes the next year's holidays
(usually in November) removes the fallback.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
from prometheus_client import Counter

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_SECONDS = 86400.0

CALENDAR_FALLBACK = Counter(
    "suqiu_calendar_fallback_total",
    "Days judged Monday-Friday because chinese_calendar does not know their year.",
    ["year"])
_warned_years: set[int] = set()


@lru_cache(maxsize=8192)
def _known_workday(day: date) -> bool | None:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def is_workday(day: date) -> bool:
    known = _known_workday(day)
    if known is not None:
        return known
    if day.year not in _warned_years:
        _warned_years.add(day.year)
        log.warning("chinese_calendar does not know %s: counting Monday-Friday as working days "
                    "for that year (upgrade chinesecalendar)", day.year)
    CALENDAR_FALLBACK.labels(str(day.year)).inc()
    return day.weekday() < 5


def local_date(moment: datetime) -> date:
    return _aware(moment).astimezone(SHANGHAI).date()


def start_of_day(day: date) -> datetime:
    """00:00 Shanghai time of ``day``, as an aware UTC instant."""
    return datetime.combine(day, time(0), SHANGHAI).astimezone(timezone.utc)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an instant needs a time zone")
    return moment


def nth_working_day_after(day: date, days: int) -> date:
    """The ``days``-th working day after ``day`` (``day`` itself when ``days`` is 0)."""
    if days < 0:
        raise ValueError("working days must not be negative")
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day


def add_working_days(start: datetime, days: int) -> datetime:
    """The end (24:00 Shanghai) of the ``days``-th working day after the day of ``start``
    (from a deadline at 24:00, the next N working days)."""
    if days == 0:
        return _aware(start).astimezone(timezone.utc)
    # from exactly 00:00 nothing of that day has passed: it is the first day counted
    day = nth_working_day_after(local_date(_aware(start) - timedelta(microseconds=1)), days)
    return start_of_day(day + timedelta(days=1))


def working_days_between(start: datetime, end: datetime) -> int:
    """Whole working days after the day of ``start`` up to and including the day of ``end``."""
    first, last = local_date(start), local_date(end)
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return count


def working_seconds_between(start: datetime, end: datetime) -> float:
    """The working time (seconds falling on working days) in [start, end); 0 when end <= start."""
    start, end = _aware(start).astimezone(timezone.utc), _aware(end).astimezone(timezone.utc)
    if end <= start:
        return 0.0
    total, day = 0.0, local_date(start)
    while True:
        day_start, day_end = start_of_day(day), start_of_day(day + timedelta(days=1))
        if day_start >= end:
            return total
        if is_workday(day):
            total += (min(end, day_end) - max(start, day_start)).total_seconds()
        day += timedelta(days=1)


def add_working_seconds(start: datetime, seconds: float) -> datetime:
    """The instant ``seconds`` of working time after ``start`` (non-working days are skipped)."""
    moment = _aware(start).astimezone(timezone.utc)
    remaining = max(0.0, float(seconds))
    day = local_date(moment)
    while True:
        day_end = start_of_day(day + timedelta(days=1))
        if is_workday(day):
            available = (day_end - moment).total_seconds()
            if remaining <= available:
                return moment + timedelta(seconds=remaining)
            remaining -= available
        day += timedelta(days=1)
        moment = start_of_day(day)


def subtract_working_days(end: datetime, days: int) -> datetime:
    """The start of the period of ``days`` working days that ends at ``end`` (a day boundary).

    Used for "yellow when N working days are left": the instant from which only
    ``days`` working days remain before the deadline.
    """
    moment = _aware(end).astimezone(timezone.utc)
    day = local_date(moment - timedelta(microseconds=1))
    counted = 0
    while counted < days:
        if is_workday(day):
            counted += 1
        if counted == days:
            break
        day -= timedelta(days=1)
    return start_of_day(day) if days else moment
