"""The office's login: an Argon2 hash in the register, sessions in a signed cookie, and a
CSRF token per session that every form must send back."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lifecycle.errors import InputError
from lifecycle.instance import Instance

MIN_LENGTH = 12
_hasher = PasswordHasher()


def set_password(inst: Instance, password: str, now: datetime) -> None:
    """The office's password, kept only as an Argon2 hash."""
    if len(password) < MIN_LENGTH:
        raise InputError(f"use at least {MIN_LENGTH} characters", field="password")
    with inst.register() as register:
        register.set_password_hash(_hasher.hash(password), now)


def verify(hashed: str | None, password: str) -> bool:
    """Deliberately slow (Argon2): call it off the event loop."""
    if hashed is None:
        return False
    try:
        return bool(_hasher.verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


class Throttle:
    """At most ``limit`` failed logins per address in ``window``; then wait it out."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self.failures: dict[str, list[datetime]] = {}

    def blocked(self, address: str, now: datetime) -> bool:
        recent = [t for t in self.failures.get(address, []) if now - t < self.window]
        self.failures[address] = recent
        return len(recent) >= self.limit

    def failed(self, address: str, now: datetime) -> None:
        self.failures.setdefault(address, []).append(now)


def csrf_token(session: dict[str, object]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(session: dict[str, object], sent: object) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and isinstance(sent, str) and secrets.compare_digest(
        expected, sent)
