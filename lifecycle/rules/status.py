"""Where each policy stands today: the register as ``status`` and the dashboard show it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from lifecycle.rules.stages import next_review_stage, sending_day
from lifecycle.values.config import Config
from lifecycle.values.dates import review_state
from lifecycle.values.model import PolicyRecord, State
from lifecycle.values.terms import due_phrase


@dataclass(frozen=True)
class StatusRow:
    """One line of the register: where a policy stands today and its next prompt."""

    id: str
    title: str
    version: int
    adopted: date
    approver: str
    review_due: date
    state: State
    days_overdue: int
    days_until_due: int
    summary: str
    next_stage: str
    next_date: date
    problem: str = ""
    due_text: str = ""           # "Summer 2 2027 (by 22 July 2027)" when due by a half term

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "version": self.version,
            "adopted": self.adopted.isoformat(), "approver": self.approver,
            "review_due": self.review_due.isoformat(), "review_due_text": self.due_text,
            "state": str(self.state),
            "days_overdue": self.days_overdue, "days_until_due": self.days_until_due,
            "summary": self.summary,
            "next_prompt": {"stage": self.next_stage, "date": self.next_date.isoformat()},
            "problem": self.problem or None,
        }


def status_row(policy: PolicyRecord, today: date, config: Config,
               unmanned: Collection[str] = ()) -> StatusRow:
    """``unmanned``: the approving bodies with no active member (``bodies_without_members``)."""
    state = review_state(policy.review_due, today, config.due_soon_days)
    stage, when = next_review_stage(policy, config, today)
    return StatusRow(
        id=policy.id, title=policy.title, version=policy.version, adopted=policy.adopted,
        approver=policy.approver, review_due=policy.review_due, state=state.state,
        days_overdue=state.days_overdue, days_until_due=state.days_until_due,
        summary=state.phrase, next_stage=stage, next_date=sending_day(when, config),
        due_text=due_phrase(policy.review_due, config.terms),
        problem=(f"nobody active in the {policy.approver}: no one is prompted to review it"
                 if policy.approver in unmanned else ""))
