"""Calendar entries as iCalendar (RFC 5545), made by the ``icalendar`` package: a meeting
with the policies on its agenda, a review deadline, and the feed a governor subscribes to.

UIDs are stable (a meeting's row, a review cycle), so a calendar updates the entry it has
rather than adding another; SEQUENCE rises when a meeting is cancelled or a deadline moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration

from lifecycle.rules.agenda import AgendaItem
from lifecycle.values.dates import long_date
from lifecycle.values.model import Meeting, PolicyRecord

MEETING_HOURS = 2              # how long a timed meeting is shown for
REFRESH = timedelta(hours=6)   # how often a subscribed calendar should look again


@dataclass(frozen=True)
class Deadline:
    """A review due date, with how many times it has moved in its cycle."""

    policy: PolicyRecord
    moved: int = 0


def _calendar() -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//Policy Lifecycle//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    return calendar


def meeting_event(meeting: Meeting, items: Iterable[AgendaItem], domain: str, tz: ZoneInfo,
                  now: datetime) -> Event:
    event = Event()
    event.add("uid", f"meeting-{meeting.id}@{domain}")
    event.add("dtstamp", now)
    event.add("sequence", meeting.sequence)
    if meeting.time is None:
        event.add("dtstart", meeting.day)
        event.add("dtend", meeting.day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    else:
        start = datetime.combine(meeting.day, meeting.time, tzinfo=tz)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(hours=MEETING_HOURS))
    event.add("summary", f"{'CANCELLED: ' if meeting.cancelled else ''}{meeting.name}")
    event.add("status", "CANCELLED" if meeting.cancelled else "CONFIRMED")
    listed = [f"- {i.policy.title} ({_reason(i)})" for i in items]
    event.add("description", "\n".join(
        [f"The {meeting.body} meets on {long_date(meeting.day)}.",
         *(["Policies on the agenda:", *listed] if listed else [])]))
    return event


def _reason(item: AgendaItem) -> str:
    due = long_date(item.policy.review_due)
    if item.reason == "overdue":
        return f"review overdue since {due}{'; a draft to approve' if item.has_draft else ''}"
    if item.reason == "due":
        return f"review due by {due}{'; a draft to approve' if item.has_draft else ''}"
    return "a draft to approve"


def deadline_event(deadline: Deadline, domain: str, now: datetime) -> Event:
    policy = deadline.policy
    event = Event()
    event.add("uid", f"review-{policy.id}-c{policy.cycle}@{domain}")
    event.add("dtstamp", now)
    event.add("sequence", deadline.moved)
    event.add("dtstart", policy.review_due)
    event.add("dtend", policy.review_due + timedelta(days=1))
    event.add("summary", f"Review due: {policy.title}")
    event.add("description", f"The {policy.approver} reviews the {policy.title} "
                             f"(version {policy.version}) by {long_date(policy.review_due)}.")
    event.add("transp", "TRANSPARENT")
    return event


def single(event: Event) -> bytes:
    """One entry, as a message attaches it."""
    calendar = _calendar()
    calendar.add_component(event)
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data


def feed(name: str, meetings: Iterable[tuple[Meeting, list[AgendaItem]]],
         deadlines: Iterable[Deadline], domain: str, tz: ZoneInfo, now: datetime) -> bytes:
    """A subscribable calendar: the meetings (cancelled ones marked so) and the deadlines."""
    calendar = _calendar()
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", str(tz))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))     # an X- property: say its type
    for meeting, items in meetings:
        calendar.add_component(meeting_event(meeting, items, domain, tz, now))
    for deadline in deadlines:
        calendar.add_component(deadline_event(deadline, domain, now))
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data

