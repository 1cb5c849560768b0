from datetime import date

import pytest

from lifecycle.values.dates import (
    add_months,
    parse_date,
    parse_due,
    parse_interval,
    review_state,
    span_phrase,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-01", date(2018, 1, 31)),
    ("2018-04", date(2018, 4, 30)),
    ("2024-02", date(2024, 2, 29)),   # leap year
    ("2023-02", date(2023, 2, 28)),
    ("2100-02", date(2100, 2, 28)),   # not a leap year: divisible by 100
    ("2000-02", date(2000, 2, 29)),   # leap year: divisible by 400
    ("2018-12", date(2018, 12, 31)),
    ("2018-01-15", date(2018, 1, 15)),
])
def test_due_month_means_its_last_day(text: str, expected: date) -> None:
    assert parse_due(text) == expected


@pytest.mark.parametrize("text", ["2018-13", "2018-00", "2023-02-29", "2018-1", "January 2018",
                                  "2018-04-31", ""])
def test_impossible_due_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_due(text)


def test_parse_date_says_why() -> None:
    with pytest.raises(ValueError, match="not a real date"):
        parse_date("2026-02-30")


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2026, 11, 20), 36, date(2029, 11, 20)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
])
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(("value", "months"), [("3 years", 36), ("18 months", 18), (2, 24),
                                                ("1 year", 12)])
def test_review_intervals(value: str | int, months: int) -> None:
    assert parse_interval(value) == months


@pytest.mark.parametrize("value", ["3 decades", "0 years", "-1 years", "soon"])
def test_bad_intervals(value: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(value)


DUE = date(2026, 3, 31)


@pytest.mark.parametrize(("today", "state", "days_overdue"), [
    (date(2026, 2, 2), "ok", 0),          # 57 days before
    (date(2026, 2, 3), "due-soon", 0),    # 56 days before: the boundary is inside
    (date(2026, 3, 30), "due-soon", 0),
    (date(2026, 3, 31), "due", 0),
    (date(2026, 4, 1), "overdue", 1),
    (date(2027, 3, 31), "overdue", 365),
])
def test_state_boundaries(today: date, state: str, days_overdue: int) -> None:
    result = review_state(DUE, today, due_soon_days=56)
    assert (result.state, result.days_overdue) == (state, days_overdue)


def test_due_soon_window_is_configurable() -> None:
    assert review_state(DUE, date(2026, 2, 3), due_soon_days=30).state == "ok"
    assert review_state(DUE, date(2026, 3, 1), due_soon_days=30).state == "due-soon"


def test_seed_policy_on_the_day_of_writing() -> None:
    result = review_state(date(2018, 1, 31), date(2026, 11, 24), 56)
    assert result.state == "overdue"
    assert result.days_overdue == 3219
    assert result.phrase == "8 years 9 months overdue"


@pytest.mark.parametrize(("earlier", "later", "phrase"), [
    (date(2026, 1, 1), date(2026, 1, 2), "1 day"),
    (date(2026, 1, 1), date(2026, 1, 14), "13 days"),
    (date(2026, 1, 1), date(2026, 1, 22), "3 weeks"),
    (date(2026, 1, 1), date(2026, 3, 1), "2 months"),
    (date(2026, 1, 1), date(2027, 1, 1), "1 year"),
    (date(2018, 1, 31), date(2026, 11, 24), "8 years 9 months"),
])
def test_span_phrases(earlier: date, later: date, phrase: str) -> None:
    assert span_phrase(earlier, later) == phrase


def test_dates_as_people_in_england_write_them() -> None:
    from lifecycle.values.dates import parse_date, parse_due

    assert parse_date("31/07/2027") == parse_date("2027-07-31") == date(2027, 7, 31)
    assert parse_date(" 1/9/2026 ") == date(2026, 9, 1)            # day first, as in England
    assert parse_due("31/07/2027") == date(2027, 7, 31)
    with pytest.raises(ValueError, match="read as day/month/year"):
        parse_date("07/31/2027")                                     # no 31st month
    with pytest.raises(ValueError, match=r"expected DD/MM/YYYY or YYYY-MM-DD"):
        parse_date("next week")
