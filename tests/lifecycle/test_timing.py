"""The timing rules as rules: ``Rules`` fed plain policies, people and an in-memory record,
walked across datetimes. No database, no files, no clock: this is the specification of when
messages go; test_rules.py checks the same through the register.

The calendar used throughout (2026-27, Europe/London): review due Wed 31 March 2027;
Christmas closure Sat 19 December 2026 to Sun 3 January 2027.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lifecycle.rules.due import Batch, Decision, Recipient, Record, Rules, forecast
from lifecycle.values.config import Closure, Config
from lifecycle.values.model import Action, Kind, Person, PolicyRecord

LONDON = ZoneInfo("Europe/London")
CHRISTMAS = Closure("Christmas", date(2026, 12, 19), date(2027, 1, 3))
CONFIG = Config(closures=(CHRISTMAS,))


def policy(review_due: date = date(2027, 3, 31), **changes: object) -> PolicyRecord:
    values: dict[str, object] = dict(
        id="p", title="Policy", school="School", approver="Governing Body",
        review_interval_months=36, audiences=("staff",), reminder_audience=("staff",),
        related=(), source="p.md", version=1, adopted=date(2024, 1, 15), sha256="0" * 64,
        cycle=1, cycle_opened=date(2024, 1, 15), review_due=review_due,
        first_adopted=date(2024, 1, 15))
    values.update(changes)
    return PolicyRecord(**values)  # type: ignore[arg-type]


def person(key: str, *roles: str, start: date | None = None,
           end: date | None = None) -> Recipient:
    return Recipient(key, Person(key, f"{key}@example.org", roles, start, end))


GOVERNOR, CLERK, OFFICE = person("gov", "governor"), person("clerk", "clerk"), person(
    "office", "office")
STAFF = person("staff", "staff")
EVERYONE = [GOVERNOR, CLERK, OFFICE, STAFF]


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def days(first: date, last: date) -> Iterable[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def tick(rules: Rules, record: Record, moment: datetime) -> list[Decision]:
    """One evaluation, recorded as the outbox would record it."""
    batches = rules.due_batches(record, moment)
    record.add(batches, moment.astimezone(LONDON).date())
    return [d for b in batches for d in b.decisions()]


def daily(rules: Rules, first: date, last: date, record: Record | None = None,
          down: tuple[date, date] | None = None) -> list[tuple[date, Decision]]:
    """A tick at 09:00 each day, except while the service is down."""
    record = record or Record()
    return [(day, d) for day in days(first, last)
            if not (down and down[0] <= day <= down[1])
            for d in tick(rules, record, at(day))]


def sent(log: list[tuple[date, Decision]], kind: Kind, who: str) -> list[tuple[date, str]]:
    return [(day, d.stage or d.period) for day, d in log
            if d.kind == kind and d.person == who and d.action == Action.SEND]


def test_lead_stages_the_due_date_and_every_28_days_overdue() -> None:
    log = daily(Rules(CONFIG, [policy()], EVERYONE), date(2027, 1, 4), date(2027, 6, 30))
    expected = [(date(2027, 2, 3), "lead-56"), (date(2027, 3, 3), "lead-28"),
                (date(2027, 3, 17), "lead-14"), (date(2027, 3, 31), "due"),
                (date(2027, 4, 14), "overdue-1"),       # a fortnight after the due date
                (date(2027, 5, 12), "overdue-2"), (date(2027, 6, 9), "overdue-3")]
    assert sent(log, Kind.REVIEW, "gov") == expected
    assert sent(log, Kind.REVIEW, "clerk") == expected
    office = [(day, d.stage) for day, d in log if d.kind == Kind.REVIEW and d.person == "office"]
    assert office == expected                            # one copy of each stage
    assert all(d.office_copy == (d.person == "office") for _, d in log if d.kind == Kind.REVIEW)
    assert [d for _, d in log if d.action == Action.SKIP] == []


def test_a_due_date_on_a_weekend_is_prompted_on_the_friday_before() -> None:
    rules = Rules(CONFIG, [policy(date(2027, 5, 9))], [GOVERNOR])    # due on a Sunday
    log = daily(rules, date(2027, 3, 1), date(2027, 5, 10))
    # the due prompt on Friday 7 May, the lead times counted back from it
    assert sent(log, Kind.REVIEW, "gov") == [(date(2027, 3, 12), "lead-56"),
                                             (date(2027, 4, 9), "lead-28"),
                                             (date(2027, 4, 23), "lead-14"),
                                             (date(2027, 5, 7), "due")]


def test_a_due_date_in_a_closure_is_prompted_on_the_last_working_day_before_it() -> None:
    rules = Rules(CONFIG, [policy(date(2026, 12, 24))], [GOVERNOR])  # Christmas Eve
    log = daily(rules, date(2026, 10, 1), date(2027, 1, 10))
    assert sent(log, Kind.REVIEW, "gov") == [(date(2026, 10, 23), "lead-56"),
                                             (date(2026, 11, 20), "lead-28"),
                                             (date(2026, 12, 4), "lead-14"),
                                             (date(2026, 12, 18), "due"),
                                             (date(2027, 1, 7), "overdue-1")]


def test_after_downtime_only_the_latest_stage_goes_and_the_next_waits_a_fortnight() -> None:
    rules = Rules(CONFIG, [policy()], [GOVERNOR])
    log = daily(rules, date(2027, 2, 1), date(2027, 7, 31), down=(date(2027, 3, 1),
                                                                  date(2027, 5, 31)))
    # back on Tuesday 1 June: overdue-2 (12 May) goes; overdue-3 (Wednesday 9 June) would
    # follow eight days later, so it waits until 15 June
    assert sent(log, Kind.REVIEW, "gov") == [
        (date(2027, 2, 3), "lead-56"), (date(2027, 6, 1), "overdue-2"),
        (date(2027, 6, 15), "overdue-3"), (date(2027, 7, 7), "overdue-4")]
    skipped = [(day, d.stage, d.eligible) for day, d in log if d.action == Action.SKIP]
    assert skipped == [(date(2027, 6, 1), "lead-28", date(2027, 3, 3)),
                       (date(2027, 6, 1), "lead-14", date(2027, 3, 17)),
                       (date(2027, 6, 1), "due", date(2027, 3, 31)),
                       (date(2027, 6, 1), "overdue-1", date(2027, 4, 14))]


def test_no_one_is_prompted_twice_within_a_fortnight() -> None:
    """Over due dates on every weekday, around a closure, with and without downtime."""
    for offset in range(0, 21, 3):
        due = date(2026, 12, 14) + timedelta(days=offset)
        for down in (None, (date(2026, 11, 2), date(2026, 12, 16))):
            log = daily(Rules(CONFIG, [policy(due)], [GOVERNOR]), date(2026, 9, 1),
                        date(2027, 4, 30), down=down)
            sends = [day for day, _ in sent(log, Kind.REVIEW, "gov")]
            gaps = [(b - a).days for a, b in zip(sends, sends[1:], strict=False)]
            assert sends and min(gaps) >= 14, (due, down, sends)


def test_evaluating_twice_decides_nothing_new() -> None:
    rules, record = Rules(CONFIG, [policy(date(2018, 1, 31))], EVERYONE), Record()
    first = tick(rules, record, at(date(2026, 11, 24)))
    assert first and tick(rules, record, at(date(2026, 11, 24))) == []
    assert tick(rules, record, at(date(2026, 11, 24), 17, 59)) == []


def test_nothing_is_decided_outside_the_send_window() -> None:
    rules = Rules(CONFIG, [policy(date(2018, 1, 31))], EVERYONE)
    for moment in (at(date(2026, 11, 28)), at(date(2026, 11, 24), 7, 59),
                   at(date(2026, 11, 24), 18, 0)):
        assert rules.due(Record(), moment) == []


def test_a_closure_holds_staff_messages_but_not_the_governors() -> None:
    rules = Rules(CONFIG, [policy(date(2018, 1, 31))], EVERYONE)
    record = Record()
    closed = tick(rules, record, at(date(2026, 12, 21)))       # Monday, in the closure
    assert {(d.kind, d.person) for d in closed if d.action == Action.SEND} == {
        (Kind.REVIEW, "gov"), (Kind.REVIEW, "clerk"), (Kind.REVIEW, "office"),
        (Kind.DIGEST, "office")}
    held = daily(rules, date(2026, 12, 22), date(2027, 1, 3), record)
    assert [d for _, d in held if d.kind == Kind.REMINDER] == []
    reopened = tick(rules, record, at(date(2027, 1, 4)))
    assert [d.person for d in reopened if d.kind == Kind.REMINDER] == ["staff"]


def test_starters_get_their_reminder_when_they_start_and_leavers_nothing_after_leaving() -> None:
    starter = person("starter", "staff", start=date(2027, 1, 11))
    leaver = person("leaver", "staff", end=date(2026, 9, 25))
    rules = Rules(CONFIG, [policy()], [STAFF, starter, leaver])
    log = daily(rules, date(2026, 9, 1), date(2027, 2, 28))
    assert sent(log, Kind.REMINDER, "staff") == [(date(2026, 9, 1), "2026-27")]
    assert sent(log, Kind.REMINDER, "starter") == [(date(2027, 1, 11), "2026-27")]
    # the leaver is reminded and chased once, then leaves on 25 September, before chase-28
    assert [stage for _, stage in sent(log, Kind.CHASE, "leaver")] == ["chase-14"]
    assert max(day for day, d in log if d.person == "leaver") == date(2026, 9, 15)


def test_chasers_go_at_14_and_28_days_only_to_whoever_has_not_confirmed() -> None:
    reader = person("reader", "staff")
    rules = Rules(CONFIG, [policy()], [STAFF, reader], confirmed={"p": {"2026-27": {"reader"}}})
    log = daily(rules, date(2026, 9, 1), date(2026, 11, 30))
    assert sent(log, Kind.CHASE, "staff") == [(date(2026, 9, 15), "chase-14"),
                                              (date(2026, 9, 29), "chase-28")]
    assert sent(log, Kind.CHASE, "reader") == []
    assert sent(log, Kind.REMINDER, "reader") == [(date(2026, 9, 1), "2026-27")]


def test_chasers_wait_out_a_closure_and_then_only_the_latest_goes() -> None:
    starter = person("starter", "staff", start=date(2026, 12, 7))
    rules = Rules(CONFIG, [policy()], [starter])
    log = daily(rules, date(2026, 12, 1), date(2027, 1, 31))
    # reminded Mon 7 Dec; chase-14 (21 Dec) and chase-28 (4 Jan) fall in or at the end of the
    # closure: on 4 January the latest goes and the stale one is recorded as skipped
    assert sent(log, Kind.CHASE, "starter") == [(date(2027, 1, 4), "chase-28")]
    assert [(day, d.stage) for day, d in log if d.action == Action.SKIP] == [
        (date(2027, 1, 4), "chase-14")]


def test_the_clock_changes_neither_skip_nor_double() -> None:
    """Every 15 minutes in UTC for a week across each 2027 change: each message once, and
    each decided at 08:00 local time on a weekday, as with one evaluation a day."""
    rules = Rules(CONFIG, [policy(date(2018, 1, 31))], EVERYONE)
    record = Record()
    decided: list[tuple[datetime, Decision]] = []
    for start in (datetime(2027, 3, 25, tzinfo=UTC), datetime(2027, 10, 28, tzinfo=UTC)):
        for step in range(7 * 24 * 4):
            moment = start + timedelta(minutes=15 * step)
            decided += [(moment, d) for d in tick(rules, record, moment)]
    keys = [d.key for _, d in decided]
    assert len(keys) == len(set(keys))
    local = {moment.astimezone(LONDON) for moment, _ in decided}
    assert {t.time() for t in local} == {time(8, 0)}
    assert {t.date() for t in local} >= {date(2027, 3, 29), date(2027, 11, 1)}  # the Mondays


def test_a_forecast_is_the_same_evaluation_as_daily_ticks() -> None:
    starter = person("starter", "staff", start=date(2027, 1, 11))
    people = [*EVERYONE, starter]
    planned: list[tuple[datetime, Batch]] = forecast(
        Rules(CONFIG, [policy()], people), Record(), at(date(2026, 9, 1), 8), 365)
    ticked = daily(Rules(CONFIG, [policy()], people), date(2026, 9, 1), date(2027, 8, 31))
    assert [(m.date(), d) for m, b in planned for d in b.decisions()] == ticked
    assert len(ticked) > 60
