"""What a render shows about a policy besides its text. Built by the caller from the register,
so the renderers need no database and no clock."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date


@dataclass(frozen=True)
class PolicyMeta:
    policy_id: str
    title: str
    school: str
    approver: str
    version: int
    adopted: date
    review_due: date
    overdue: bool
    sha256: str
    audiences: tuple[str, ...] = ()
    superseded_by: int | None = None

    def as_key(self) -> dict[str, object]:
        return {k: str(v) for k, v in asdict(self).items()}


def long_date(d: date) -> str:
    """'1 January 2012', as a UK school writes dates."""
    return f"{d.day} {d:%B %Y}"
