"""Working-day arithmetic on the Chinese calendar (expected dates written by hand from the
State Council's holiday notices: National Day 2025 = 1-8 Oct with Sunday 28 Sep and Saturday
11 Oct worked; 2026 = 1-7 Oct with Sunday 20 Sep and Saturday 10 Oct worked)."""
from datetime import date, datetime, timedelta, timezone

import pytest

from shared import workdays
from shared.workdays import SHANGHAI as SH


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_one_working_day_before_national_day_2025_ends_after_the_holiday():
    assert workdays.add_working_days(at(2025, 9, 30, 10), 1) == at(2025, 10, 10)


def test_the_adjusted_sunday_28_september_2025_is_a_working_day():
    assert workdays.add_working_days(at(2025, 9, 26, 17), 1) == at(2025, 9, 29)


def test_three_working_days_from_friday_26_september_2025_run_through_the_adjusted_sunday():
    assert workdays.add_working_days(at(2025, 9, 26, 17), 3) == at(2025, 10, 1)


def test_the_adjusted_saturday_11_october_2025_is_a_working_day():
    assert workdays.add_working_days(at(2025, 10, 9, 9), 2) == at(2025, 10, 12)


def test_one_working_day_before_national_day_2026_is_8_october():
    assert workdays.add_working_days(at(2026, 9, 30, 9), 1) == at(2026, 10, 9)


def test_the_adjusted_sunday_20_september_2026_is_a_working_day():
    assert workdays.add_working_days(at(2026, 9, 18, 9), 1) == at(2026, 9, 21)


def test_working_days_between_counts_across_the_2026_holiday():
    # 8, 9, 10 (adjusted Saturday) and 12 October
    assert workdays.working_days_between(at(2026, 9, 30, 12), at(2026, 10, 12, 12)) == 4


def test_working_seconds_skip_the_holiday_and_count_the_adjusted_saturday():
    # from 30 Sep 2026 18:00 to 11 Oct 00:00: 6 h of 30 Sep, then 8, 9, 10 Oct whole
    seconds = workdays.working_seconds_between(at(2026, 9, 30, 18), at(2026, 10, 11))
    assert seconds == (6 + 3 * 24) * 3600


def test_adding_working_seconds_skips_the_holiday():
    assert workdays.add_working_seconds(at(2025, 9, 30, 12), 18 * 3600) == at(2025, 10, 9, 6)


def test_working_time_is_measured_in_shanghai_not_utc():
    start = datetime(2026, 11, 20, 20, 0, tzinfo=timezone.utc)  # Saturday 21 Nov 04:00 in Shanghai
    assert workdays.working_seconds_between(start, start + timedelta(hours=20)) == 0


def test_subtracting_working_days_gives_the_start_of_the_last_days():
    # deadline the end of Friday 9 Oct 2026: one working day left from 00:00 on 9 Oct
    assert workdays.subtract_working_days(at(2026, 10, 10), 1) == at(2026, 10, 9)
    # three: 8 and 9 Oct, then 30 Sep (the holiday between does not count)
    assert workdays.subtract_working_days(at(2026, 10, 10), 3) == at(2026, 9, 30)


def test_an_unknown_year_falls_back_to_monday_to_friday_and_is_counted():
    before = workdays.CALENDAR_FALLBACK.labels("2027")._value.get()
    assert workdays.is_workday(date(2027, 1, 4)) is True  # a Monday
    assert workdays.is_workday(date(2027, 1, 9)) is False  # a Saturday
    assert workdays.CALENDAR_FALLBACK.labels("2027")._value.get() == before + 2


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError):
        workdays.add_working_days(datetime(2026, 10, 1), 1)
