"""The office's login: an Argon2 hash in the register, sessions in a signed cookie, and a
CSRF token per session that every form must send back."""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lifecycle.errors import InputError
from lifecycle.store import Register

MIN_LENGTH = 12
_hasher = PasswordHasher()


def set_password(register: Register, password: str, now: datetime) -> None:
    if len(password) < MIN_LENGTH:
        raise InputError(f"use at least {MIN_LENGTH} characters", field="password")
    with register.atomic():
        register.db.execute("DELETE FROM admin")
        register.db.execute("INSERT INTO admin (id, password_hash, updated_at) VALUES (1, ?, ?)",
                            [_hasher.hash(password), now.isoformat()])
        register.audit(now, "admin.password_set", "admin")


def check_password(register: Register, password: str) -> bool:
    row = register.db.execute("SELECT password_hash FROM admin WHERE id = 1").fetchone()
    if row is None:
        return False
    try:
        return bool(_hasher.verify(row[0], password))
    except (VerificationError, InvalidHashError):
        return False


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
