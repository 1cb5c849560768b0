"""A meeting's review pack: to each member of the body and the clerk (the office gets a
copy), the days before the meeting. The agenda with, for each policy, the draft and the
tracked changes from the current text to it (or the current text when there is no draft),
and the meeting as a calendar entry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from documents.calendar import meeting_event
from documents.publish import named_for_people, render_draft
from lifecycle.actions.confirmations import agenda_token
from lifecycle.register.outbox import Message
from lifecycle.values.dates import long_date
from lifecycle.values.errors import LifecycleError
from lifecycle.values.model import Meeting, PolicyRecord
from lifecycle.values.terms import due_phrase

from .cache import RunCache
from .content import Content
from .mime import attachment, calendar_part


def meeting_context(meeting: Meeting) -> dict[str, Any]:
    at = f" at {meeting.time:%H:%M}" if meeting.time else ""
    return {"name": meeting.name, "body": meeting.body, "day_long": long_date(meeting.day),
            "when": f"{meeting.day:%A} {long_date(meeting.day)}{at}"}


def content(message: Message, run: RunCache, now: datetime) -> Content:
    """Each document is rendered and encoded once per text, whoever it goes to."""
    today = now.date()
    meeting = run.register.meetings.get(int(message.period.removeprefix("m")))
    if meeting is None or meeting.cancelled:
        raise LifecycleError(f"{message.period}: the meeting is cancelled or gone")
    items = run.agenda(meeting)
    terms = run.config.terms
    agenda_link = f"{run.base_url}/agenda/{agenda_token(run.secret, meeting.id)}"
    listed, parts = [], []
    for item in items:
        documents = _documents(item.policy, run, today)
        draft = run.open_drafts().get(item.policy.id)
        parts += [mime for _, mime in documents]
        due = due_phrase(item.policy.review_due, terms)
        state = (f"Review overdue: it was due by {due}." if item.reason == "overdue" else
                 f"Review due by {due}." if item.reason == "due" else
                 f"Review due by {due}; a revised text is proposed.")
        listed.append({"policy": item.policy, "reason": item.reason, "state": state,
                       "draft": draft, "due_long": due,
                       "files": [name for name, _ in documents],
                       "link": f"{agenda_link}/{item.policy.id}" if draft
                       else f"{run.base_url}/policies/{item.policy.id}"})
    parts.append(calendar_part(meeting_event(meeting, items, run.domain, run.config.tz, now)))
    context = {"meeting": meeting_context(meeting), "items": listed,
               "office_copy": message.office_copy, "recorder": run.recorder(today),
               "you_record": run.records(message.person_key, today),
               "feed_link": run.feed_link(message.person_key),
               "agenda_link": agenda_link}
    return Content("pack", context, parts)


def _documents(policy: PolicyRecord, run: RunCache, today: date) -> list[tuple[str, bytes]]:
    """(file name, MIME part): the draft and its tracked changes, or the current text."""
    draft = run.open_drafts().get(policy.id)
    if draft is None:
        name = named_for_people(policy.title, f"version {policy.version}", "docx")
        return run.memo(("current", policy.id, policy.version), lambda: [
            (name, attachment(name, run.document(policy, today)[1]))])

    def render() -> list[tuple[str, bytes]]:
        policies = run.register.policies
        files = render_draft(policies, policy.id, run.rendered_root / policy.id, today)
        standing = policies.draft_facts(policy.id, today).standing
        what = standing[0].lower() + standing[1:]
        names = [named_for_people(policy.title, what, "docx"),
                 named_for_people(policy.title, f"{what}, changes tracked", "docx")]
        return [(name, attachment(name, f.path.read_bytes()))
                for name, f in zip(names, files, strict=True)]
    return run.memo(("draft", policy.id, draft.sha256, today), render)
