"""The rules over the register as it stands now: what evaluation, ``plan`` and ``status`` read.
A small module of its own, so that ``status`` loads it without the rest of the actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifecycle.register.instance import Instance
from lifecycle.register.store import Register
from lifecycle.values.model import Person, email_key

if TYPE_CHECKING:
    from lifecycle.rules.due import Rules


def rules_for(register: Register, inst: Instance) -> tuple[Rules, dict[str, Person]]:
    """The rules over the register as it is now, and the directory by email key."""
    from lifecycle.rules.due import Recipient, Rules

    people = {email_key(p.email): p for p in register.people.all()}
    policies = register.policies.all()
    confirmed = register.confirmations.years()
    recipients = [Recipient(key, person) for key, person in people.items()]
    drafts = {d.policy_id for d in register.drafts.all()}
    return Rules(inst.config, policies, recipients, confirmed,
                 register.meetings.all(include_cancelled=False), drafts), people
