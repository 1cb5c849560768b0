"""What is due: a pure function of (the register, the record of messages, now).

Level-triggered: evaluating twice at the same moment gives nothing new the second time,
because every decision (send or skip) is recorded under a stable key before anything is sent.
``plan`` runs the same evaluation over future times, adding what it plans to a record of its
own (read from the outbox for the purpose), so nothing is written.

Kinds of message and their periods:
- ``review``: each stage of a review cycle (``lead-56``, ``lead-28``, ``lead-14``, ``due``,
  ``overdue-1``, ``overdue-2``, ...) to the approving body and one copy to the office.
  Only the latest stage that is due is sent; earlier ones nobody received are skipped.
- ``reminder``: once per school year to each active person whom any policy asks to read it
  (its reminder audience): one message listing all those policies, recorded under no policy
  (``reminder//2026-27//person``). A new starter gets it at the next evaluation.
- ``updated``: once per new version to each member of the audience who was there when it
  was adopted.
- ``pack``: once per meeting of an approving body, ``pack_days`` before it, to the body's
  members and the clerk, one copy to the office: the agenda with its documents. A review
  stage that falls due in a meeting's pack window for a policy on its agenda is carried by
  the pack: recorded as skipped, so nobody gets two messages about one policy for one meeting.
- ``digest``: once per week to the office and the head.
- ``chase``: 14 and 28 days after a reminder or update notice, to whoever has not confirmed
  the current version (for the annual reminder: every policy it listed); never more, never in
  a closure, and never into the next school year, whose reminder replaces them. A policy
  confirmed ``yearly`` counts a confirmation only in the school year it was given.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from lifecycle.rules.agenda import agenda, in_pack_window, on_agenda, pack_opens
from lifecycle.rules.stages import next_review_stage, review_stages
from lifecycle.values.config import Config
from lifecycle.values.dates import first_weekday_on_or_after, iso_week, school_year
from lifecycle.values.model import Action, Kind, Meeting, Person, PolicyRecord, Status

REVIEW, REMINDER, UPDATED, DIGEST, CHASE, PACK = (
    Kind.REVIEW, Kind.REMINDER, Kind.UPDATED, Kind.DIGEST, Kind.CHASE, Kind.PACK)
REQUESTS = (REMINDER, UPDATED)   # the messages that ask someone to read and confirm
SEND, SKIP = Action.SEND, Action.SKIP
# days of history read before the school year (or the week) began: decided_at is local time
HISTORY_MARGIN_DAYS = 2
Group = tuple[str, str, str, str]   # kind, policy, period, stage: the people in it share a key
_NEVER_HELD = frozenset({"governor", "clerk"})


@dataclass(frozen=True)
class Recipient:
    key: str
    person: Person

    @property
    def roles(self) -> tuple[str, ...]:
        return self.person.roles


@dataclass(frozen=True)
class Decision:
    kind: Kind
    policy_id: str
    period: str
    stage: str
    person: str
    action: Action
    eligible: date
    office_copy: bool = False

    @property
    def key(self) -> str:
        return message_key(self.kind, self.policy_id, self.period, self.stage, self.person)


class Batch(NamedTuple):
    """Decisions that differ only in the person: how the rules produce them, so that a
    forecast over thousands of people and policies stays cheap."""

    kind: Kind
    policy_id: str
    period: str
    stage: str
    people: tuple[str, ...]
    action: Action
    eligible: date
    office_copy: bool = False

    @property
    def group(self) -> Group:
        return (self.kind, self.policy_id, self.period, self.stage)

    def decisions(self) -> list[Decision]:
        return [Decision(self.kind, self.policy_id, self.period, self.stage, person,
                         self.action, self.eligible, self.office_copy) for person in self.people]


def message_key(kind: str, policy_id: str, period: str, stage: str, person: str) -> str:
    """The stable identity of one message: at most one is ever recorded per key."""
    return "/".join((kind, policy_id, period, stage, person))


@dataclass(eq=False)
class Record:
    """Who has been recorded (sent, pending or skipped) for each message group. Grows only."""

    groups: dict[Group, set[str]] = field(default_factory=lambda: defaultdict(set))
    # policy -> (period, day asked) -> the people asked to read and confirm then, as the
    # batches that asked them (kept as tuples: sets of thousands per policy cost memory)
    requests: dict[str, dict[tuple[str, date], list[tuple[str, ...]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    # (policy, cycle period) -> person -> the last day a review prompt was sent them
    prompted: dict[tuple[str, str], dict[str, date]] = field(
        default_factory=lambda: defaultdict(dict))

    def _prompted(self, policy_id: str, period: str, people: Iterable[str], day: date) -> None:
        last = self.prompted[(policy_id, period)]
        for person in people:
            if day > last.get(person, date.min):
                last[person] = day

    @classmethod
    def of(cls, rows: Iterable[tuple[str, str, str, str, str, str, str]]) -> Record:
        """From outbox rows: kind, policy, period, stage, person, status, decided_at."""
        record = cls()
        asked: dict[tuple[str, str, date], list[str]] = defaultdict(list)
        for kind, policy_id, period, stage, person, status, decided in rows:
            record.groups[(kind, policy_id, period, stage)].add(person)
            if kind == REMINDER and policy_id:
                # before annual reminders were one message, each policy sent its own: whoever
                # had one this year has had this year's reminder
                record.groups[(kind, "", period, stage)].add(person)
            if kind in REQUESTS and status != Status.SKIPPED:
                asked[(policy_id, period, date.fromisoformat(decided[:10]))].append(person)
            elif kind == REVIEW and status != Status.SKIPPED:
                record._prompted(policy_id, period, (person,), date.fromisoformat(decided[:10]))
        for (policy_id, period, day), people in asked.items():
            record.requests[policy_id][(period, day)].append(tuple(people))
        return record

    def add(self, batches: Iterable[Batch], day: date | None = None) -> None:
        for batch in batches:
            self.groups[batch.group].update(batch.people)
            if day is not None and batch.kind in REQUESTS and batch.action == SEND:
                self.requests[batch.policy_id][(batch.period, day)].append(batch.people)
            elif day is not None and batch.kind == REVIEW and batch.action == SEND:
                self._prompted(batch.policy_id, batch.period, batch.people, day)

    def has(self, group: Group, person: str) -> bool:
        return person in self.groups.get(group, ())


class Rules:
    """Evaluates what is due for one snapshot of the register.

    Memoises which people are active (that changes only on start and end dates), which
    policies are quiet until a later day and which groups are complete. The memos hold for one
    record, which only ever grows; given another record, ``Rules`` forgets them.
    """

    def __init__(self, config: Config, policies: list[PolicyRecord], people: list[Recipient],
                 confirmed: dict[str, dict[str, set[str]]] | None = None,
                 meetings: list[Meeting] | None = None, drafts: set[str] | None = None) -> None:
        self.config = config
        self.policies = policies
        self.people = people
        # policy -> school year -> the people who confirmed its current version in that year
        self.confirmed = confirmed or {}
        self._ever: dict[str, set[str]] = {}
        self._bundle_done: dict[tuple[str, tuple[str, ...]], set[str]] = {}
        self.meetings = [m for m in meetings or [] if not m.cancelled]
        self.drafts = drafts or set()      # the policies with an open draft
        self._never_held = {r.key for r in people if set(r.roles) <= _NEVER_HELD}
        self._boundaries = sorted({d for r in people for d in (
            r.person.start_date, r.person.end_date and r.person.end_date + timedelta(days=1))
            if d})
        self._active: dict[int, list[Recipient]] = {}
        self._active_key_sets: dict[int, set[str]] = {}
        self._audience: dict[tuple[int, tuple[str, ...]], list[Recipient]] = {}
        self._record: Record | None = None
        self._quiet: dict[str, date] = {}   # policy -> the next day anything can fall due
        self._complete: dict[Group, tuple[int, ...]] = {}
        self._chased: dict[tuple[Group, date], tuple[int, ...]] = {}  # the same, per request
        self._readers: dict[tuple[str, ...], set[str]] = {}   # audience roles -> people

    def _memos_for(self, record: Record) -> None:
        if record is not self._record:
            self._record = record
            self._quiet.clear()
            self._complete.clear()
            self._chased.clear()

    # -- time --------------------------------------------------------------------------

    def window_open(self, local: datetime) -> bool:
        c = self.config
        return (local.weekday() in c.window_days
                and c.window_start <= local.time().replace(tzinfo=None) < c.window_end)

    def closed(self, day: date) -> bool:
        return any(c.covers(day) for c in self.config.closures)

    def held(self, recipient: Recipient, closed: bool) -> bool:
        """During closures staff messages wait; governors and clerks still receive theirs."""
        return closed and recipient.key not in self._never_held

    # -- people ------------------------------------------------------------------------

    def _epoch(self, day: date) -> int:
        return bisect.bisect_right(self._boundaries, day)

    def _active_keys(self, day: date) -> set[str]:
        epoch = self._epoch(day)
        if epoch not in self._active_key_sets:
            self._active_key_sets[epoch] = {r.key for r in self.people if r.person.active_on(day)}
        return self._active_key_sets[epoch]

    def audience(self, roles: Iterable[str], day: date) -> list[Recipient]:
        wanted = tuple(sorted(set(roles)))
        epoch = self._epoch(day)
        key = (epoch, wanted)
        if key not in self._audience:
            if epoch not in self._active:
                self._active[epoch] = [r for r in self.people if r.person.active_on(day)]
            self._audience[key] = [r for r in self._active[epoch]
                                   if any(role in wanted for role in r.roles)]
        return self._audience[key]

    # -- evaluation --------------------------------------------------------------------

    def due(self, record: Record, now: datetime) -> list[Decision]:
        """Every message to record at ``now``: sends, and the stale stages it skips."""
        return [d for batch in self.due_batches(record, now) for d in batch.decisions()]

    def due_batches(self, record: Record, now: datetime) -> list[Batch]:
        local = now.astimezone(self.config.tz)
        if not self.window_open(local):
            return []
        self._memos_for(record)
        today = local.date()
        closed = self.closed(today)
        batches: list[Batch] = []
        for policy in self.policies:
            if today < self._quiet.get(policy.id, date.min):
                continue
            found = [b for b in (*self._review(policy, record, today),
                                 *self._updated(policy, record, today, closed),
                                 *self._chase(policy, record, today, closed)) if b.people]
            if not found:
                self._quiet[policy.id] = self._next_change(policy, record, today)
            batches += found
        batches += self._annual(record, today, closed)
        batches += self._bundle_chase(record, today, closed)
        batches += self._packs(record, today, closed)
        batches += self._digest(record, today)
        return [b for b in batches if b.people]

    def _next_change(self, policy: PolicyRecord, record: Record, today: date) -> date:
        """The first day after ``today`` on which anything could fall due for a policy that
        has nothing due today: a review stage, a school year, a chaser, someone starting or
        leaving, a closure ending. Until then a forecast need not look at it again."""
        days = [next_review_stage(policy, self.config, today)[1]]
        start, _ = school_year(today, self.config.cycle_start)
        days.append(first_weekday_on_or_after(date(start.year + 1, *self.config.cycle_start)))
        days.append(max(first_weekday_on_or_after(start), policy.first_adopted, policy.adopted))
        days += [asked + timedelta(days=n) for (_, asked) in record.requests.get(policy.id, {})
                 for n in self.config.chase_after_days]
        days += [b for b in self._boundaries if b > today][:1]
        days += [c.end + timedelta(days=1) for c in self.config.closures if c.covers(today)]
        days += [last + timedelta(days=self.config.prompt_gap_days) for last in
                 record.prompted.get((policy.id, f"c{policy.cycle}"), {}).values()]
        days += [d for m in self.meetings if m.body == policy.approver
                 for d in (pack_opens(m, self.config.pack_days), m.day)]
        return min((d for d in days if d > today), default=date.max)

    def carried(self, policy: PolicyRecord, today: date) -> bool:
        """Whether a meeting's review pack, due now, carries this policy's review prompt."""
        return any(in_pack_window(m, self.config.pack_days, today)
                   and on_agenda(policy, m, self.meetings, self.drafts) for m in self.meetings)

    def _review(self, policy: PolicyRecord, record: Record, today: date) -> list[Batch]:
        stages = review_stages(policy, self.config, today)
        if not stages:
            return []
        period = f"c{policy.cycle}"
        latest, latest_date = stages[-1]
        approvers = self.audience(self.config.approvers.get(policy.approver, ()), today)
        approver_keys = {r.key for r in approvers}
        office = [r for r in self.audience(("office",), today) if r.key not in approver_keys]
        # carried by a pack now, or by the pack of a meeting whose window held the stage's
        # day: evaluated after that meeting (the service was stopped), it stays carried, as
        # a service running throughout would have recorded it
        carried = self.carried(policy, today) or self.carried(policy, latest_date)
        last = record.prompted.get((policy.id, period), {})
        gap = timedelta(days=self.config.prompt_gap_days)
        out = []
        for copy, recipients in ((False, approvers), (True, office)):
            behind = tuple(r.key for r in recipients
                           if not record.has((REVIEW, policy.id, period, latest), r.key)
                           and (carried or last.get(r.key, date.min) + gap <= today))
            if not behind:
                continue
            for stage, day in stages[:-1]:
                missed = record.groups.get((REVIEW, policy.id, period, stage), set())
                out.append(Batch(REVIEW, policy.id, period, stage,
                                 tuple(k for k in behind if k not in missed), SKIP, day, copy))
            out.append(Batch(REVIEW, policy.id, period, latest, behind,
                             SKIP if carried else SEND, latest_date, copy))
        return out

    def _packs(self, record: Record, today: date, closed: bool) -> list[Batch]:
        """One review pack per meeting with something on its agenda, from ``pack_days``
        before it (at once for a meeting added later than that), to the body's members and
        the clerk; the office's people not among them get it as a copy."""
        out = []
        for meeting in self.meetings:
            if not in_pack_window(meeting, self.config.pack_days, today) or not agenda(
                    meeting, self.meetings, self.policies, self.drafts):
                continue
            members = self.audience((*self.config.approvers.get(meeting.body, ()), "clerk"),
                                    today)
            keys = {r.key for r in members}
            office = [r for r in self.audience(("office",), today) if r.key not in keys]
            group = (PACK, "", f"m{meeting.id}", "")
            for batch in self._once_each(group, pack_opens(meeting, self.config.pack_days),
                                         today, members + office, record, closed):
                out += [batch._replace(people=tuple(k for k in batch.people if k in keys)),
                        batch._replace(people=tuple(k for k in batch.people if k not in keys),
                                       office_copy=True)]
        return out

    # -- read and confirm ----------------------------------------------------------------

    def history_needed(self, today: date) -> tuple[date, list[tuple[str, str, str]]]:
        """What of the outbox the rules read on ``today`` and after: every message from
        shortly before the school year (or the week) began, and the groups that stay open
        however old: the current review cycles, update notices of the current versions and
        the meetings' packs. Requests of earlier school years are chased no more, digests
        and reminders belong to their week and year."""
        start, _ = school_year(today, self.config.cycle_start)
        since = min(start, today - timedelta(days=7)) - timedelta(days=HISTORY_MARGIN_DAYS)
        groups = [(str(REVIEW), p.id, f"c{p.cycle}") for p in self.policies]
        groups += [(str(UPDATED), p.id, f"v{p.version}") for p in self.policies
                   if p.version > 1]
        groups += [(str(PACK), "", f"m{m.id}") for m in self.meetings]
        return since, groups

    def year_of(self, day: date) -> str:
        return school_year(day, self.config.cycle_start)[1]

    def confirmed_by(self, policy: PolicyRecord, day: date) -> set[str]:
        """Who has confirmed the policy's current version in a way that counts on ``day``:
        in that school year for a policy confirmed yearly, ever for one confirmed per version."""
        years = self.confirmed.get(policy.id, {})
        if policy.yearly:
            return years.get(self.year_of(day), set())
        if policy.id not in self._ever:
            self._ever[policy.id] = set().union(*years.values())
        return self._ever[policy.id]

    def reminded(self, day: date) -> list[PolicyRecord]:
        """The policies of the annual reminder on ``day``: those anyone is reminded of,
        adopted by then."""
        return [p for p in self.policies if p.reminder_audience and p.first_adopted <= day]

    def done_reading(self, day: date, listed_by: date | None = None) -> set[str]:
        """Whoever has confirmed every policy of the annual reminder that applies to them,
        as it counts on ``day``; ``listed_by``: only the policies adopted by then (those
        the reminder listed: one adopted since has its own notice and chasers)."""
        policies = [p for p in self.reminded(day)
                    if listed_by is None or p.first_adopted <= listed_by]
        key = (self.year_of(day), tuple(p.id for p in policies))
        if key not in self._bundle_done:
            pending: set[str] = set()
            for policy in policies:
                pending |= self.readers(policy.reminder_audience) - self.confirmed_by(policy,
                                                                                      day)
            self._bundle_done[key] = {r.key for r in self.people} - pending
        return self._bundle_done[key]

    def readers(self, roles: tuple[str, ...]) -> set[str]:
        """Everyone in the directory holding one of ``roles`` (once per set of roles: most
        policies share theirs)."""
        if roles not in self._readers:
            wanted = set(roles)
            self._readers[roles] = {r.key for r in self.people if wanted.intersection(r.roles)}
        return self._readers[roles]

    def _annual(self, record: Record, today: date, closed: bool) -> list[Batch]:
        """One annual reminder per school year to each person any policy asks to read it."""
        policies = self.reminded(today)
        if not policies:
            return []
        start, label = school_year(today, self.config.cycle_start)
        eligible = max(first_weekday_on_or_after(start), min(p.first_adopted for p in policies))
        if today < eligible:
            return []
        roles = sorted({role for p in policies for role in p.reminder_audience})
        return self._once_each((REMINDER, "", label, ""), eligible, today,
                               self.audience(roles, today), record, closed)

    def _updated(self, policy: PolicyRecord, record: Record, today: date,
                 closed: bool) -> list[Batch]:
        """The notice of a new version to its audience; for a policy first adopted after
        this school year's annual reminder went (a new policy), to those asked to read it
        whose reminder did not list it."""
        if today < policy.adopted:
            return []
        adopted = policy.adopted
        if policy.version >= 2:
            wanted = self.audience(policy.audiences, today)
        else:
            wanted = self._new_to(policy, record, today)
        audience = [r for r in wanted if (r.person.start_date or date.min) <= adopted]
        group = (UPDATED, policy.id, f"v{policy.version}", "")
        return self._once_each(group, adopted, today, audience, record, closed)

    def annual_asked(self, record: Record, today: date) -> date | None:
        """The day this school year's annual reminder first went, if it has."""
        year = self.year_of(today)
        return min((day for period, day in record.requests.get("", {}) if period == year),
                   default=None)

    def _new_to(self, policy: PolicyRecord, record: Record, today: date) -> list[Recipient]:
        """Who must be told of a policy new since this year's annual reminder: its readers,
        less anyone whose annual reminder came after it was adopted (and so listed it)."""
        annual = self.annual_asked(record, today)
        if not policy.reminder_audience or annual is None or policy.first_adopted <= annual:
            return []
        listed = {k for (period, day), batches in record.requests.get("", {}).items()
                  if period == self.year_of(today) and day >= policy.first_adopted
                  for batch in batches for k in batch}
        return [r for r in self.audience(policy.reminder_audience, today) if r.key not in listed]

    def _chase(self, policy: PolicyRecord, record: Record, today: date,
               closed: bool) -> list[Batch]:
        """Chasers of the update notices (and of reminders sent per policy before annual
        reminders were one message) for the current version."""
        requests = {(period, asked): batches for (period, asked), batches
                    in record.requests.get(policy.id, {}).items() if asked >= policy.adopted}
        return self._ladder(policy.id, requests, record, today, closed,
                            lambda: self.confirmed_by(policy, today))

    def _bundle_chase(self, record: Record, today: date, closed: bool) -> list[Batch]:
        """Chasers of this school year's annual reminder, to whoever has not confirmed every
        policy it listed for them."""
        year = self.year_of(today)
        requests = {(period, asked): batches for (period, asked), batches
                    in record.requests.get("", {}).items() if period == year}
        listed_by = self.annual_asked(record, today)
        return self._ladder("", requests, record, today, closed,
                            lambda: self.done_reading(today, listed_by))

    def _ladder(self, policy_id: str, requests: dict[tuple[str, date], list[tuple[str, ...]]],
                record: Record, today: date, closed: bool,
                confirmed: Callable[[], set[str]]) -> list[Batch]:
        """The capped ladder: after each request, a chase at each configured delay to whoever
        has not confirmed; only the latest due stage is sent. A request of an earlier school
        year is chased no more."""
        ladder = self.config.chase_after_days
        if not ladder or closed:
            return []                      # chasers wait out every closure
        active = self._active_keys(today)
        year = self.year_of(today)
        out = []
        for (period, asked), batches in requests.items():
            stages = [(f"chase-{n}", asked + timedelta(days=n)) for n in ladder
                      if asked + timedelta(days=n) <= today]
            if not stages or self.year_of(asked) != year:
                continue
            latest, latest_day = stages[-1]
            group = (CHASE, policy_id, period, latest)
            marker = (self._epoch(today), sum(map(len, batches)))
            if self._chased.get((group, asked)) == marker:
                continue
            due = active.intersection(*batches) if len(batches) == 1 else \
                active.intersection(set().union(*batches))
            due = due - confirmed() - record.groups.get(group, set())
            if not due:
                self._chased[(group, asked)] = marker
                continue
            sendable = (batches[0] if len(batches) == 1 and len(due) == len(batches[0])
                        else tuple(k for batch in batches for k in batch if k in due))
            for stage, day in stages[:-1]:
                missed = record.groups.get((CHASE, policy_id, period, stage), set())
                out.append(Batch(CHASE, policy_id, period, stage,
                                 tuple(k for k in sendable if k not in missed), SKIP, day))
            out.append(Batch(CHASE, policy_id, period, latest, sendable, SEND, latest_day))
        return out

    def _digest(self, record: Record, today: date) -> list[Batch]:
        monday = today - timedelta(days=today.weekday())
        eligible = monday + timedelta(days=self.config.digest_weekday)
        if today < eligible:
            return []
        group = (DIGEST, "", iso_week(today), "")
        return self._once_each(group, eligible, today, self.audience(("office", "head"), today),
                               record, closed=False)

    def _once_each(self, group: Group, eligible: date, today: date,
                   audience: list[Recipient], record: Record, closed: bool) -> list[Batch]:
        """One message per member of ``audience`` not yet recorded for ``group``. Remembers a
        complete group until the set of active people changes (a start or end date)."""
        marker = (self._epoch(today),)
        if self._complete.get(group) == marker:
            return []
        members = record.groups.get(group)
        missing = [r for r in audience if r.key not in members] if members else audience
        if not missing:
            self._complete[group] = marker
        kind, policy_id, period, stage = group
        keys = tuple(r.key for r in missing if not (closed and self.held(r, closed)))
        return [Batch(Kind(kind), policy_id, period, stage, keys, SEND, eligible)]


def evaluation_times(config: Config, start: datetime, days: int) -> list[datetime]:
    """The moments a forecast evaluates: the window's opening on each day (every rule is
    date-based, so nothing new falls due later in a day), and ``start`` itself if in the window."""
    tz = config.tz
    local = start.astimezone(tz)
    end = local + timedelta(days=days)
    times = []
    for offset in range(days + 1):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in config.window_days:
            continue
        moment = datetime.combine(day, config.window_start, tzinfo=tz)
        if offset == 0:
            if local.time().replace(tzinfo=None) >= config.window_end:
                continue
            moment = max(moment, local)
        if moment >= end:
            break
        times.append(moment)
    return times


def forecast(rules: Rules, record: Record, start: datetime,
             days: int) -> list[tuple[datetime, Batch]]:
    """What will be decided over the coming days, if nothing else changes: the same
    evaluation as the service's, run at future times. What it plans is added to ``record``
    as it goes (later days see earlier ones), so pass a record read for the purpose."""
    planned = []
    for moment in evaluation_times(rules.config, start, days):
        batches = rules.due_batches(record, moment)
        record.add(batches, moment.astimezone(rules.config.tz).date())
        planned += [(moment, b) for b in batches]
    return planned
