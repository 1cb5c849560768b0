"""The office's login: an Argon2 hash in the register, sessions in a signed cookie, and a
CSRF token per session that every form must send back."""

from __future__ import annotations

import secrets
from collections import deque
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lifecycle.register.instance import Instance
from lifecycle.values.errors import InputError

MIN_LENGTH = 12
_hasher = PasswordHasher()


def set_password(inst: Instance, password: str, now: datetime) -> None:
    """The office's password, kept only as an Argon2 hash."""
    if len(password) < MIN_LENGTH:
        raise InputError(f"use at least {MIN_LENGTH} characters", field="password")
    with inst.register() as register:
        register.login.set_hash(_hasher.hash(password), now)


def verify(hashed: str | None, password: str) -> bool:
    """Deliberately slow (Argon2): call it off the event loop."""
    if hashed is None:
        return False
    try:
        return bool(_hasher.verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


class Throttle:
    """Login attempts are counted as they arrive, before the slow hash: at most ``limit`` per
    address and ``overall`` from everywhere in ``window``. Counting failures after the hash
    let a burst of parallel guesses all reach it; this way at most ``limit`` from one address
    ever do. A right password takes its address's attempts back."""

    def __init__(self, limit: int = 5, overall: int = 20,
                 window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.overall = overall
        self.window = window
        self.attempts: deque[tuple[datetime, str]] = deque()

    def admit(self, address: str, now: datetime) -> bool:
        """Count an attempt from ``address`` now, or refuse it (False) without counting."""
        while self.attempts and now - self.attempts[0][0] >= self.window:
            self.attempts.popleft()
        mine = sum(1 for _, a in self.attempts if a == address)
        if mine >= self.limit or len(self.attempts) >= self.overall:
            return False
        self.attempts.append((now, address))
        return True

    def succeeded(self, address: str) -> None:
        self.attempts = deque(entry for entry in self.attempts if entry[1] != address)


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
