"""The annual reminder: once a school year, one message to each person listing every policy
they are asked to read, with one personal link to confirm them; its chasers list only those
still unconfirmed. The list is the same for everyone with the same roles and confirmations,
so it is worked out once per list, not once per person (most of a reminder's cost)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from markupsafe import Markup

from lifecycle.actions.confirmations import annual_token, counts_now, reading_list
from lifecycle.register.outbox import Message
from lifecycle.values.dates import long_date
from lifecycle.values.model import Kind, Person, PolicyRecord

from .cache import RunCache
from .content import Content
from .render import both

Listing = tuple[list[dict[str, Any]], str, Markup]


def content(message: Message, run: RunCache, now: datetime) -> Content:
    today = now.date()
    person = run.person(message.person_key)
    year = message.period
    chase = message.kind == Kind.CHASE
    roles = tuple(sorted(person.roles)) if person else None
    if chase:               # the reminder's own list: a policy adopted since has its notice
        today = min(today, run.memo(("annual asked", year), lambda: _asked(run, year)))
    items = reading_items(run, roles, today) if roles is not None else []
    confirmed = run.confirmed_by(message.person_key)
    done = tuple(counts_now(i["policy"], confirmed.get((i["policy"].id, i["policy"].version),
                                                       set()), year)
                 for i in items) if confirmed else (False,) * len(items)
    template = "annual_chase" if chase else "annual"
    listed, text, html = run.memo(("listing", template, roles, today, done),
                                  lambda: _listing(run, template, roles, today, done))
    token = annual_token(run.secret, run.ref(message.person_key), year)
    ladder = run.config.chase_after_days
    return Content(template, {
        "items": listed, "listing_text": text, "listing_html": html,
        "year": year.replace("-", "/"), "confirm_link": f"{run.base_url}/confirm/{token}",
        "final": chase and bool(ladder) and message.stage == f"chase-{ladder[-1]}"})


def _asked(run: RunCache, year: str) -> date:
    first = run.register.outbox.first_decided(Kind.REMINDER, year)
    return first.date() if first else date.max


def _listing(run: RunCache, template: str, roles: tuple[str, ...] | None, today: date,
             done: tuple[bool, ...]) -> Listing:
    """The policies listed (a chaser: only those not yet confirmed), as items, text and
    HTML."""
    items = reading_items(run, roles, today) if roles is not None else []
    listed = [{**item, "done": d} for item, d in zip(items, done, strict=True)
              if not (template == "annual_chase" and d)]
    text, html = both(f"{template}_items", {"items": listed})
    return listed, text, Markup(html)


def reading_items(run: RunCache, roles: tuple[str, ...], today: date) -> list[dict[str, Any]]:
    """The annual reminder's list for people with these roles (sorted)."""
    return run.memo(("reading", roles, today), lambda: [
        {"policy": p, "summary": summary(run, p), "adopted_long": long_date(p.adopted),
         "link": f"{run.base_url}/policies/{p.id}"}
        for p in reading_list(run.policies(), Person("", "", roles), today)])


def summary(run: RunCache, policy: PolicyRecord) -> str:
    """What a policy covers, in one line: its summary, else its first sentence."""
    if policy.summary:
        return policy.summary
    version = run.register.policies.version(policy.id, policy.version)
    return first_sentence(version.body if version else "")


def first_sentence(markdown: str, limit: int = 160) -> str:
    """The first sentence of the first paragraph that is not a heading, without Markdown."""
    for block in markdown.split("\n\n"):
        text = re.sub(r"[*_`#>\[\]]|\(http[^)]*\)", "", " ".join(block.split())).strip()
        if text and not block.lstrip().startswith(("#", "|", "-", "*", "1.")):
            sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
            return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"
    return ""
