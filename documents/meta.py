"""How renders and messages write dates."""

from __future__ import annotations

from datetime import date


def long_date(d: date) -> str:
    """'1 January 2012', as a UK school writes dates."""
    return f"{d.day} {d:%B %Y}"
