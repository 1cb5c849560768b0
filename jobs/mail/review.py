"""A review prompt: to each member of the approving body and the clerk (the office gets a
copy) before the review is due, on the day, and while it is overdue. It names the next
meeting whose agenda holds the policy, attaches the current text and a calendar entry for
that meeting (or for the deadline while it is ahead), and replies reach whoever records the
body's decisions."""

from __future__ import annotations

from datetime import datetime

from documents.calendar import Deadline, deadline_event, meeting_event
from lifecycle.register.outbox import Message
from lifecycle.rules.agenda import meeting_for
from lifecycle.values.dates import long_date, month_phrase, span_phrase
from lifecycle.values.terms import due_phrase, term_ending

from .cache import RunCache
from .content import Content, about_policy
from .mime import calendar_part
from .pack import meeting_context


def content(message: Message, run: RunCache, now: datetime) -> Content:
    today = now.date()
    policy = run.policy(message.policy_id)
    terms = run.config.terms
    due = policy.review_due
    term = term_ending(due, terms)
    context = about_policy(message, policy, run.base_url) | {
        "overdue": message.stage.startswith("overdue"), "due_long": due_phrase(due, terms),
        "due_day": long_date(due), "due_month": term.label if term else month_phrase(due),
        "how_overdue": span_phrase(due, today),
        "time_left": span_phrase(today, due) if today < due else ""}
    meeting = meeting_for(policy, run.meetings(), set(run.open_drafts()), today)
    event = (meeting_event(meeting, run.agenda(meeting), run.domain, run.config.tz, now)
             if meeting else deadline_event(Deadline(policy), run.domain, now)
             if due >= today else None)
    context |= {"meeting": meeting and meeting_context(meeting), "event": event,
                "calendar": event is not None, "recorder": run.recorder(today),
                "you_record": run.records(message.person_key, today),
                "feed_link": run.feed_link(message.person_key)}
    attached = [run.document_part(policy, today)]
    if event is not None:
        attached.append(calendar_part(event))
    return Content("review", context, attached)
