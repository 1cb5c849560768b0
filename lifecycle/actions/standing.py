"""Where every policy in the register stands today: what `status` prints and the dashboard
leads with. A module of its own, so that `status` starts without the rest of the actions."""

from __future__ import annotations

from datetime import date

from lifecycle.register.instance import Instance
from lifecycle.rules.agenda import bodies_without_members
from lifecycle.rules.status import StatusRow, status_row


def status(inst: Instance, today: date) -> list[StatusRow]:
    """Every policy in the register, where it stands ``today``."""
    with inst.register() as register:
        unmanned = bodies_without_members(inst.config.approvers, register.people.all(), today)
        return [status_row(p, today, inst.config, unmanned) for p in register.policies.all()]
