"""Read and confirm: signed personal links, and the evidence that someone read a version.

A token names person, policy, version and reminder period, signed with the instance's secret
key (data/secret.key, created by init, mode 0600), so it cannot be guessed, forged or edited.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from .errors import LifecycleError
from .store import Register

SECRET_FILE = "secret.key"
_SALT = "policy-lifecycle/ack"


class BadToken(LifecycleError):
    """A link that is not ours, has been altered, or names someone or something unknown."""


def ensure_secret(root: Path) -> bytes:
    """The instance's signing key; made once, readable by its owner only."""
    path = root / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class Ack:
    person: str
    policy_id: str
    version: int
    period: str


def signer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def make_token(secret: bytes, ack: Ack) -> str:
    token: str = signer(secret).dumps([ack.person, ack.policy_id, ack.version, ack.period])
    return token


def read_token(secret: bytes, token: str) -> Ack:
    try:
        person, policy_id, version, period = signer(secret).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise BadToken("this link is not valid: it may have been altered or cut short") from None
    return Ack(str(person), str(policy_id), int(version), str(period))


def confirm(register: Register, ack: Ack, sha256: str, address: str, now: datetime) -> bool:
    """Record that the person read this version; True if new, False if already recorded."""
    with register.atomic():
        register.db.execute(
            "INSERT OR IGNORE INTO confirmations (person_key, policy_id, version, sha256, period,"
            " confirmed_at, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [ack.person, ack.policy_id, ack.version, sha256, ack.period, now.isoformat(),
             address])
        new = bool(register.db.execute("SELECT changes()").fetchone()[0])
        if new:
            register.audit(now, "confirmation.recorded", ack.policy_id, person=ack.person,
                           version=ack.version, sha256=sha256, address=address)
    return new


def confirmation(register: Register, ack: Ack) -> dict[str, Any] | None:
    rows = list(register.db.query(
        "SELECT * FROM confirmations WHERE person_key = ? AND policy_id = ? AND version = ?",
        [ack.person, ack.policy_id, ack.version]))
    return rows[0] if rows else None


def confirmed(register: Register, policy_id: str, version: int) -> dict[str, dict[str, Any]]:
    """Who confirmed this version, keyed by person."""
    rows = register.db.query(
        "SELECT * FROM confirmations WHERE policy_id = ? AND version = ?", [policy_id, version])
    return {r["person_key"]: r for r in rows}


def all_confirmations(register: Register) -> list[dict[str, Any]]:
    """Evidence for inspectors: person, roles, policy, version, text hash, when."""
    return list(register.db.query(
        "SELECT p.name, p.email, p.roles, c.policy_id, c.version, c.sha256, c.confirmed_at,"
        " c.address FROM confirmations c LEFT JOIN people p ON p.email_key = c.person_key"
        " ORDER BY c.confirmed_at, c.id"))


@dataclass(frozen=True)
class Progress:
    """Where read-and-confirm stands for a policy's current version."""

    policy_id: str
    version: int
    asked: set[str]
    confirmed: set[str]
    chased_out: set[str]   # asked, chased to the end of the ladder, still not confirmed

    @property
    def missing(self) -> set[str]:
        return self.asked - self.confirmed


def progress(register: Register, policy_id: str, version: int, adopted: str,
             last_chase: str | None) -> Progress:
    asked = {r[0] for r in register.db.execute(
        "SELECT DISTINCT person_key FROM messages WHERE policy_id = ? AND kind IN"
        " ('reminder', 'updated') AND status IN ('pending', 'sending', 'sent')"
        " AND substr(decided_at, 1, 10) >= ?", [policy_id, adopted])}
    done = set(confirmed(register, policy_id, version))
    chased = {r[0] for r in register.db.execute(
        "SELECT DISTINCT person_key FROM messages WHERE policy_id = ? AND kind = 'chase'"
        " AND stage = ? AND status = 'sent' AND substr(decided_at, 1, 10) >= ?",
        [policy_id, last_chase or "", adopted])}
    return Progress(policy_id, version, asked, done & asked, chased - done)
