"""The office's weekly digest: overdue and upcoming reviews, statutory policies missing or
overdue, undelivered messages, this year's confirmations and who has still not confirmed
after every chaser, leavers kept past the school's keeping period; with a link to the
dashboard."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from lifecycle.actions.confirmations import progress
from lifecycle.actions.delivery import outlook
from lifecycle.actions.personal_data import past_keeping
from lifecycle.register.outbox import Message
from lifecycle.rules.agenda import bodies_without_members
from lifecycle.rules.status import status_row
from lifecycle.values.catalogue import Standing, load_catalogue, standings
from lifecycle.values.dates import long_date
from lifecycle.values.model import State, Status, email_key

from .cache import RunCache
from .content import Content


def content(message: Message, run: RunCache, now: datetime) -> Content:
    today = now.date()
    register, config = run.register, run.config
    unmanned = bodies_without_members(config.approvers, register.people.all(), today)
    rows = [status_row(p, today, config, unmanned) for p in register.policies.all()]
    monday = today - timedelta(days=today.weekday())
    rates, unconfirmed = _confirmations(run, today)
    mail = outlook(register, config, now, besides=message.id)
    return Content("digest", {
        "overdue": [r for r in rows if r.state == State.OVERDUE],
        "upcoming": [r for r in rows if r.state in (State.DUE_SOON, State.DUE)],
        "failures": register.outbox.messages(status=Status.FAILED),
        "pending": mail.waiting, "horizon": config.due_soon_days,
        "to_erase": past_keeping(register.people.all(), today, config.keep_after_leaving_months),
        "keep_months": config.keep_after_leaving_months, "week_long": long_date(monday),
        "confirmation_rates": rates, "unconfirmed": unconfirmed,
        "problems": [r for r in rows if r.problem], "statutory": _statutory_gaps(run, today),
        "dashboard": f"{run.base_url}/admin", "titles": {r.id: r.title for r in rows},
        "mail_notices": mail.notices(config.tz)})


def _statutory_gaps(run: RunCache, today: date) -> list[Standing]:
    """The statutory policies this school must keep that are missing or overdue."""
    found = standings(load_catalogue(), run.register.policies.all(), run.config.school_type,
                      run.config.phase, today, run.register.exemptions.all())
    return sorted((s for s in found if s.gap),
                  key=lambda s: (s.state != "overdue", s.entry.title))


def _confirmations(run: RunCache,
                   today: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    directory = run.register.people.all()
    people = {email_key(p.email): p for p in directory}
    rates, unconfirmed = [], []
    for policy in run.register.policies.all():
        state = progress(run.register, policy, run.config, today, directory)
        if state.asked:
            rates.append({"title": policy.title, "version": policy.version,
                          "asked": len(state.asked), "confirmed": len(state.confirmed)})
        unconfirmed += [{"name": people[k].name, "email": people[k].email,
                         "title": policy.title, "version": policy.version}
                        for k in sorted(state.chased_out) if k in people]
    return rates, unconfirmed
