"""The stages of a review cycle: when each review prompt falls due. Pure date rules."""

from __future__ import annotations

from datetime import date, timedelta

from .config import Config
from .dates import first_weekday_after
from .model import PolicyRecord


def review_stages(policy: PolicyRecord, config: Config, today: date) -> list[tuple[str, date]]:
    """The stages of the open review cycle that have fallen due by ``today``, oldest first."""
    due = policy.review_due
    stages = [(f"lead-{n}", due - timedelta(days=n)) for n in config.lead_days]
    stages = [(s, d) for s, d in stages if policy.cycle_opened <= d <= today]
    if due <= today:
        stages.append(("due", due))
    first = first_weekday_after(due)
    every = max(1, config.overdue_every_days)
    if first <= today:
        count = (today - first).days // every + 1
        stages += [(f"overdue-{k}", first + timedelta(days=every * (k - 1)))
                   for k in range(1, count + 1)]
    return stages


def next_review_stage(policy: PolicyRecord, config: Config, today: date) -> tuple[str, date]:
    """The next review prompt after ``today``: a lead time, the due date, or the next overdue
    reminder (they go on every few weeks until a review is recorded)."""
    due = policy.review_due
    ahead = sorted((d, s) for s, d in [*((f"lead-{n}", due - timedelta(days=n))
                                         for n in config.lead_days), ("due", due)]
                   if d > today and d >= policy.cycle_opened)
    if ahead:
        return ahead[0][1], ahead[0][0]
    first = first_weekday_after(policy.review_due)
    every = max(1, config.overdue_every_days)
    k = max(0, (today - first).days // every + 1) + 1 if today >= first else 1
    return f"overdue-{k}", first + timedelta(days=every * (k - 1))
