"""What a kind of message gives the composer: its template, the template's context and the
parts to attach. The subject line is in the template."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifecycle.register.outbox import Message
from lifecycle.values.dates import long_date
from lifecycle.values.model import PolicyRecord


@dataclass
class Content:
    template: str
    context: dict[str, Any]
    attachments: list[bytes] = field(default_factory=list)


def about_policy(message: Message, policy: PolicyRecord, base_url: str) -> dict[str, Any]:
    """What every message about one policy says of it."""
    return {"policy": policy, "link": f"{base_url}/policies/{policy.id}",
            "adopted_long": long_date(policy.adopted), "period": message.period,
            "office_copy": message.office_copy, "stage": message.stage}
