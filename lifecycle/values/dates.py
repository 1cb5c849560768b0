"""Pure date rules. Only ``now_local`` reads the clock, and only the outermost layer calls it."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lifecycle.values.model import State

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UK_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_INTERVAL = re.compile(r"^\s*(\d+)\s*(year|month)s?\s*$", re.IGNORECASE)



def now_local(tz: str) -> datetime:
    """The one place that reads the clock: an aware datetime in the school's time zone."""
    return datetime.now(ZoneInfo(tz))


def last_day_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_date(value: str) -> date:
    """A calendar date as people in England write one, ``31/07/2027`` (day/month/year), or
    ``2027-07-31``; ValueError with a readable reason otherwise."""
    text = value.strip()
    if m := _UK_DAY.match(text):
        try:
            return date(int(m[3]), int(m[2]), int(m[1]))
        except ValueError as e:
            raise ValueError(f"'{value}' is not a real date ({e}; read as day/month/year)"
                             ) from None
    m = _DAY.match(text)
    if not m:
        raise ValueError(f"'{value}' is not a date (expected DD/MM/YYYY or YYYY-MM-DD)")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as e:
        raise ValueError(f"'{value}' is not a real date ({e})") from None


def date_spans(value: object, section: str) -> list[tuple[str, date, date]]:
    """``[[section]]`` tables of exactly name, start and end: (name, start, end) each, the
    end not before the start; ValueError naming the section otherwise."""
    if not isinstance(value, list):
        raise ValueError(f"expected [[{section}]] tables with name, start and end")
    spans = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"name", "start", "end"}:
            raise ValueError(f"each [[{section}]] needs exactly name, start and end")
        name = str(item["name"]).strip()
        start, end = parse_date(str(item["start"])), parse_date(str(item["end"]))
        if end < start:
            raise ValueError(f"{section.rstrip('s')} '{name}' ends ({end}) before it starts "
                             f"({start})")
        spans.append((name, start, end))
    return spans


def parse_due(value: str) -> date:
    """A due date: ``YYYY-MM-DD``, or ``YYYY-MM`` meaning the last day of that month."""
    m = _MONTH.match(value.strip())
    if m:
        if not 1 <= int(m[2]) <= 12:
            raise ValueError(f"'{value}' is not a real month")
        return last_day_of_month(int(m[1]), int(m[2]))
    return parse_date(value)


def parse_time(value: str) -> time:
    """A time of day ``HH:MM``; ValueError with a readable reason otherwise."""
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"'{value}' is not a time (expected HH:MM)") from None


def parse_datetime(value: str, tz: str) -> datetime:
    """An ISO date or date-time; naive values are taken as the school's local time."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO date-time (e.g. 2026-11-24T09:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def parse_interval(value: str | int) -> int:
    """A review interval in months: ``3 years``, ``18 months``, or a bare number of years."""
    if isinstance(value, int) and not isinstance(value, bool):
        months = value * 12
    else:
        m = _INTERVAL.match(str(value))
        if not m:
            raise ValueError(f"'{value}' is not an interval (e.g. '3 years' or '18 months')")
        months = int(m[1]) * (12 if m[2].lower() == "year" else 1)
    if months <= 0:
        raise ValueError(f"'{value}' must be a positive interval")
    return months


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, clamped to the month's end (29 Feb + 1 year = 28 Feb)."""
    from dateutil.relativedelta import relativedelta

    result: date = start + relativedelta(months=months)
    return result


def span_phrase(earlier: date, later: date) -> str:
    """A human length of time: '8 years 9 months', '3 weeks', '1 day'."""
    from dateutil.relativedelta import relativedelta

    delta = relativedelta(later, earlier)
    parts: list[tuple[int, str]]
    if delta.years:
        parts = [(delta.years, "year"), (delta.months, "month")]
    elif delta.months:
        parts = [(delta.months, "month"), (delta.days // 7, "week")]
    elif delta.days >= 14:
        parts = [(delta.days // 7, "week")]
    else:
        parts = [(delta.days, "day")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words) or "0 days"


@dataclass(frozen=True)
class ReviewState:
    """Where a policy stands against its review due date on a given day."""

    state: State
    days_until_due: int
    phrase: str

    @property
    def days_overdue(self) -> int:
        return max(0, -self.days_until_due)


def review_state(due: date, today: date, due_soon_days: int) -> ReviewState:
    days = (due - today).days
    if days < 0:
        return ReviewState(State.OVERDUE, days, f"{span_phrase(due, today)} overdue")
    if days == 0:
        return ReviewState(State.DUE, 0, "due today")
    phrase = f"due in {span_phrase(today, due)}"
    return ReviewState(State.DUE_SOON if days <= due_soon_days else State.OK, days, phrase)


def long_date(d: date) -> str:
    """'1 January 2012', as a UK school writes dates."""
    return f"{d.day} {d:%B %Y}"


def month_phrase(d: date) -> str:
    """'January 2018': how a school states a review month."""
    return d.strftime("%B %Y")


def first_weekday_on_or_after(day: date) -> date:
    """Monday to Friday: the school's working days, whatever the send window says."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def first_weekday_after(day: date) -> date:
    return first_weekday_on_or_after(day + timedelta(days=1))


def school_year(day: date, cycle_start: tuple[int, int]) -> tuple[date, str]:
    """The reminder cycle ``day`` falls in: its first day and a label such as '2026-27'."""
    month, dom = cycle_start
    start = date(day.year, month, dom)
    if day < start:
        start = date(day.year - 1, month, dom)
    return start, f"{start.year}-{(start.year + 1) % 100:02d}"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
