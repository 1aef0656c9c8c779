"""Business-day arithmetic in Asia/Tashkent — the one place that knows where a day starts and ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TASHKENT = ZoneInfo("Asia/Tashkent")

# The business days any input may name. Day arithmetic near date.min/date.max overflows
# (9999-12-31 + 1 day); REGOS has nothing before 2000 and months are offered up to 2100.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)


def supported(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def business_date(moment: datetime) -> date:
    """The Tashkent calendar date of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("business_date() needs an aware datetime")
    return moment.astimezone(TASHKENT).date()


def business_date_of_unix(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, tz=UTC).astimezone(TASHKENT).date()


def day_start(day: date) -> datetime:
    """Aware datetime of 00:00:00 Tashkent on ``day``."""
    return datetime.combine(day, time.min, tzinfo=TASHKENT)


def day_bounds_unix(day: date) -> tuple[int, int]:
    """(start, end) unix seconds of a Tashkent day, ``end`` inclusive: next day's start minus one."""
    start = int(day_start(day).timestamp())
    end = int(day_start(day + timedelta(days=1)).timestamp()) - 1
    return start, end


def range_bounds_unix(first: date, last: date) -> tuple[int, int]:
    """(start, end) unix seconds covering the Tashkent days first..last inclusive."""
    return day_bounds_unix(first)[0], day_bounds_unix(last)[1]


def today() -> date:
    return datetime.now(tz=TASHKENT).date()


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def lookback_window(lookback_days: int, *, end: date | None = None) -> tuple[date, date]:
    """The last ``lookback_days`` business days ending ``end`` (default: today in Tashkent)."""
    last = end or today()
    return last - timedelta(days=lookback_days - 1), last


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return first, next_month - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = month_bounds(date(year, month, 1))[1].day
    return date(year, month, min(day.day, last))


# Payroll for a month is worked out in the first days of the next one: until this day of the month
# (exclusive, Tashkent) the monthly summary opens on last month rather than on a month barely begun.
LAST_MONTH_BEFORE_DAY = 6


def payroll_month(day: date | None = None) -> date:
    """First day of the month the monthly summary opens on, on ``day`` (default: today in Tashkent):
    last month on the 1st–5th, this month from the 6th on."""
    day = day or today()
    if day.day < LAST_MONTH_BEFORE_DAY:
        return add_months(day.replace(day=1), -1)
    return day.replace(day=1)


def shown(day: date) -> str:
    """``day`` as the reader's language writes dates (regos_admin/formats): for messages, like the tables."""
    from django.utils.formats import date_format

    return date_format(day, "SHORT_DATE_FORMAT")
