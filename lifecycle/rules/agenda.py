"""Which policies each meeting of an approving body considers: pure rules over meetings,
policies and open drafts, shared by the packs, the prompts, the calendar feed and the pages.

A policy is on a meeting's agenda when its body is the meeting's, and it has an open draft
or its review falls due before the body's next meeting after this one (overdue ones
included). With no later meeting known, "before the next meeting" means within
``HORIZON_DAYS``: about a term, the usual spacing of governing body meetings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lifecycle.values.model import Meeting, Person, PolicyRecord

HORIZON_DAYS = 122


@dataclass(frozen=True)
class AgendaItem:
    policy: PolicyRecord
    reason: str                  # "draft", "overdue" or "due"
    has_draft: bool


def next_meeting_after(meeting: Meeting, meetings: Iterable[Meeting]) -> Meeting | None:
    later = [m for m in meetings if m.body == meeting.body and not m.cancelled
             and m.day > meeting.day]
    return min(later, key=lambda m: m.day, default=None)


def on_agenda(policy: PolicyRecord, meeting: Meeting, meetings: Iterable[Meeting],
              drafts: set[str]) -> AgendaItem | None:
    if policy.approver != meeting.body or meeting.cancelled:
        return None
    after = next_meeting_after(meeting, meetings)
    until = after.day if after else meeting.day + timedelta(days=HORIZON_DAYS)
    has_draft = policy.id in drafts
    if policy.review_due < meeting.day:
        return AgendaItem(policy, "overdue", has_draft)
    if policy.review_due < until:
        return AgendaItem(policy, "due", has_draft)
    return AgendaItem(policy, "draft", True) if has_draft else None


def agenda(meeting: Meeting, meetings: list[Meeting], policies: Iterable[PolicyRecord],
           drafts: set[str]) -> list[AgendaItem]:
    """The meeting's agenda: overdue first, then by review date."""
    items = [i for p in policies if (i := on_agenda(p, meeting, meetings, drafts))]
    return sorted(items, key=lambda i: (i.policy.review_due, i.policy.id))


def meeting_for(policy: PolicyRecord, meetings: list[Meeting], drafts: set[str],
                today: date) -> Meeting | None:
    """The first meeting on or after ``today`` whose agenda holds the policy."""
    return next((m for m in sorted(meetings, key=lambda m: m.day)
                 if m.day >= today and on_agenda(policy, m, meetings, drafts)), None)


def pack_opens(meeting: Meeting, pack_days: int) -> date:
    return meeting.day - timedelta(days=pack_days)


def in_pack_window(meeting: Meeting, pack_days: int, today: date) -> bool:
    """From ``pack_days`` before the meeting until the day before it."""
    return not meeting.cancelled and pack_opens(meeting, pack_days) <= today < meeting.day


def bodies_without_members(approvers: dict[str, tuple[str, ...]], people: Iterable[Person],
                           today: date) -> set[str]:
    """Approving bodies nobody active belongs to: their policies are prompted to nobody."""
    roles = {role for p in people if p.active_on(today) for role in p.roles}
    return {body for body, wanted in approvers.items() if not roles.intersection(wanted)}


_SENTENCE = re.compile(r"[^.!?\n]*\b(?:19|20)\d\d\b[^.!?\n]*[.!?]?")
_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
_ABOUT_DATES = re.compile(r"\b(review|adopt|approv|renew|ratif|update|date)", re.IGNORECASE)


def stale_dates(body: str, year: int) -> list[str]:
    """Sentences about reviews or adoption that name a year before ``year``: "This policy
    will be reviewed in January 2018" in a text approved in 2026 is a date nobody updated."""
    found = []
    for match in _SENTENCE.finditer(body):
        sentence = " ".join(match[0].split()).strip(" *_#>-|")
        years = [int(y) for y in _YEAR.findall(sentence)]
        if years and max(years) < year and _ABOUT_DATES.search(sentence):
            found.append(sentence)
    return found
