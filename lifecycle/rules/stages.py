"""The stages of a review cycle: when each review prompt falls due. Pure date rules.

A lead time or the due date that falls on a day the school does not work (outside the send
window's days, or in a closure) is brought forward to the last working day before it: a
review due on a Sunday is prompted on the Friday, not skipped for an overdue prompt on the
Monday. Lead times count back from that day, so a week's closure before the due date does
not squeeze two prompts into one fortnight. The first overdue prompt waits
``prompt_gap_days`` after the due date (so nobody is told "due today" and "overdue" on
consecutive days), then one every ``overdue_every_days``. The rules add the same gap after
a catch-up send.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from lifecycle.values.config import Config
from lifecycle.values.dates import first_weekday_on_or_after
from lifecycle.values.model import PolicyRecord

_SEARCH_DAYS = 400          # longer than any closure and any send window's week


def working_day_on_or_before(day: date, config: Config) -> date:
    """The last day on or before ``day`` in the send window's days and in no closure."""
    for _ in range(_SEARCH_DAYS):
        if day.weekday() in config.window_days and not any(c.covers(day)
                                                           for c in config.closures):
            return day
        day -= timedelta(days=1)
    return day


def _schedule(policy: PolicyRecord, config: Config) -> Iterator[tuple[str, date]]:
    """Every stage of the open cycle in order of date: lead times, due, then overdue for ever."""
    due = policy.review_due
    prompt = max(working_day_on_or_before(due, config), policy.cycle_opened)
    before = [(f"lead-{n}", working_day_on_or_before(prompt - timedelta(days=n), config))
              for n in config.lead_days]
    before.append(("due", prompt))
    yield from sorted(((s, d) for s, d in before if d >= policy.cycle_opened),
                      key=lambda stage: stage[1])
    first = first_weekday_on_or_after(due + timedelta(days=max(1, config.prompt_gap_days)))
    every = max(1, config.overdue_every_days)
    k = 1
    while True:
        yield f"overdue-{k}", first + timedelta(days=every * (k - 1))
        k += 1


def review_stages(policy: PolicyRecord, config: Config, today: date) -> list[tuple[str, date]]:
    """The stages of the open review cycle that have fallen due by ``today``, oldest first."""
    stages = []
    for stage, day in _schedule(policy, config):
        if day > today:
            break
        stages.append((stage, day))
    return stages


def next_review_stage(policy: PolicyRecord, config: Config, today: date) -> tuple[str, date]:
    """The next review prompt after ``today``: a lead time, the due date, or the next overdue
    reminder (they go on every few weeks until a review is recorded)."""
    return next((s, d) for s, d in _schedule(policy, config) if d > today)


def sending_day(day: date, config: Config) -> date:
    """The day a message due on ``day`` really goes: the first in the send window's days."""
    for _ in range(7):
        if day.weekday() in config.window_days:
            break
        day += timedelta(days=1)
    return day
