"""Where every policy in the register stands today: what `status` prints and the dashboard
leads with. A module of its own, so that `status` starts without the rest of the actions.

The next review prompt is not read off the stages' calendar: the rules' own forecast decides
it (a catch-up keeps the prompt gap, a meeting's pack carries a stage), the same evaluation
that `plan` runs and the service acts on, over the people the prompts go to.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from lifecycle.register.instance import Instance
from lifecycle.register.store import Register
from lifecycle.rules.agenda import bodies_without_members
from lifecycle.rules.stages import next_review_stage
from lifecycle.rules.status import StatusRow, status_row
from lifecycle.values.model import Kind, PolicyRecord

HORIZON_DAYS = 400     # a prompt further ahead than this is read off the calendar


def status(inst: Instance, now: datetime) -> list[StatusRow]:
    """Every policy in the register, where it stands at ``now``."""
    today = now.astimezone(inst.config.tz).date()
    with inst.register() as register:
        unmanned = bodies_without_members(inst.config.approvers, register.people.all(), today)
        policies = register.policies.all()
        rows = [status_row(p, today, inst.config, unmanned) for p in policies]
        prompts = next_prompts(register, inst, policies, now)
    return [dataclasses.replace(r, next_stage=prompts[r.id][0], next_date=prompts[r.id][1])
            if r.id in prompts else r for r in rows]


def next_prompts(register: Register, inst: Instance, policies: list[PolicyRecord],
                 now: datetime) -> dict[str, tuple[str, date]]:
    """Each policy's next review prompt (stage, day) as the service will send it."""
    from lifecycle.actions.snapshot import rules_for
    from lifecycle.rules.due import Rules, forecast
    from lifecycle.values.model import Action

    config = inst.config
    today = now.astimezone(config.tz).date()
    ahead = [(next_review_stage(p, config, today)[1] - today).days for p in policies]
    days = min(HORIZON_DAYS, max(ahead, default=0) + config.prompt_gap_days
               + config.overdue_every_days + config.pack_days + 7)
    everyone, _ = rules_for(register, inst)
    governance = {role for roles in config.approvers.values() for role in roles} | {"office"}
    rules = Rules(config, policies, [r for r in everyone.people if governance & set(r.roles)],
                  everyone.confirmed, everyone.meetings, everyone.drafts)
    record = register.outbox.record(*rules.history_needed(today))
    found: dict[str, tuple[str, date]] = {}
    for at, batch in forecast(rules, record, now, days):
        if batch.kind == Kind.REVIEW and batch.action == Action.SEND \
                and batch.policy_id not in found and at.date() > today - timedelta(days=1):
            found[batch.policy_id] = (batch.stage, at.astimezone(config.tz).date())
    return found
