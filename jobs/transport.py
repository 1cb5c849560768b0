"""Where composed messages go: ``.eml`` files (the embedded default) or an SMTP server.

SMTP goes through yagmail for what it does well (the connection, SSL/STARTTLS, the login, the
keyring) and then one reused connection for many messages: yagmail's own ``send()`` would log
in again for every message and rewrite our bodies (LIBRARIES.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import smtplib
import socket
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from lifecycle.register.files import write_atomically
from lifecycle.values.config import Config
from lifecycle.values.errors import LifecycleError

PASSWORD_ENV = "POLICY_LIFECYCLE_SMTP_PASSWORD"
KEYRING_SERVICE = "policy-lifecycle"


class TemporaryFailure(Exception):
    """Worth trying again later. ``connection``: the server itself is unreachable, so the rest
    of this delivery run waits too."""

    def __init__(self, message: str, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


class PermanentFailure(Exception):
    """The server refused this message for good (5xx)."""


class Transport(Protocol):
    def send(self, recipient: str, mail: bytes, key: str, now: datetime) -> None: ...

    def close(self) -> None: ...


class FileTransport:
    """Each message as a standard .eml file: data/mail/YYYY-MM-DD/<kind>-<about>-<id>.eml,
    about its policy, its meeting (a pack), its school year (an annual reminder or its
    chaser) or the office (the digest)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def send(self, recipient: str, mail: bytes, key: str, now: datetime) -> None:
        folder = self.root / now.date().isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        kind, policy, period = key.split("/")[:3]
        ident = hashlib.sha256(key.encode()).hexdigest()[:16]
        about = policy or {"pack": "meeting-" + period.removeprefix("m"),
                           "digest": "office"}.get(kind, period)
        write_atomically(folder / f"{kind}-{about}-{ident}.eml", mail)

    def close(self) -> None:
        pass


def smtp_password(user: str) -> str:
    """From the environment, else the system keyring; never from a file we ship."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    try:
        import keyring

        password = str(keyring.get_password(KEYRING_SERVICE, user) or "")
    except Exception:  # noqa: BLE001 - no keyring backend on a server is normal
        password = None
    if not password:
        raise LifecycleError(
            f"no SMTP password for {user}: set {PASSWORD_ENV}, or store it with "
            f"'keyring set {KEYRING_SERVICE} {user}'")
    return password


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def classify(error: Exception) -> Exception:
    """smtplib's exceptions as temporary (4xx, network) or permanent (5xx)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        text = "; ".join(f"{code} {_text(msg)}" for code, msg in error.recipients.values())
        return PermanentFailure(text) if all(c >= 500 for c in codes) else TemporaryFailure(text)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return TemporaryFailure(f"login refused: {error.smtp_code}", connection=True)
    if isinstance(error, smtplib.SMTPResponseException):
        text = f"{error.smtp_code} {_text(error.smtp_error)}"
        return PermanentFailure(text) if error.smtp_code >= 500 else TemporaryFailure(text)
    if isinstance(error, smtplib.SMTPServerDisconnected | OSError | socket.timeout):
        return TemporaryFailure(f"{type(error).__name__}: {error}", connection=True)
    return TemporaryFailure(f"{type(error).__name__}: {error}")


class SmtpTransport:
    """One connection, opened on the first message and reused for the rest of the run."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.envelope_from = parseaddr(config.sender)[1]
        # Looked up now, in the caller's thread, so a missing password is one clear error.
        self.password = smtp_password(config.smtp_user) if config.smtp_user else None
        self.yag: Any = None

    def _connect(self) -> Any:
        import yagmail

        c = self.config
        user = c.smtp_user
        self.yag = yagmail.SMTP(
            user=user or self.envelope_from,
            password=self.password,
            host=c.smtp_host, port=c.smtp_port, smtp_ssl=c.smtp_security == "ssl",
            smtp_starttls=c.smtp_security == "starttls", smtp_skip_login=not user,
            soft_email_validation=False, timeout=c.smtp_timeout)
        try:
            self.yag.login()
        except Exception as e:
            self.yag = None
            raise classify(e) from e
        return self.yag

    def send(self, recipient: str, mail: bytes, key: str, now: datetime) -> None:
        yag = self.yag or self._connect()
        try:
            yag.smtp.sendmail(self.envelope_from, [recipient], mail)
        except Exception as e:
            failure = classify(e)
            if isinstance(failure, TemporaryFailure) and failure.connection:
                self.yag = None
            raise failure from e

    def close(self) -> None:
        if self.yag is not None:
            with contextlib.suppress(Exception):  # closing a dead connection is no error
                self.yag.close()
            self.yag = None


def open_transport(config: Config, mail_root: Path) -> Transport:
    return SmtpTransport(config) if config.transport == "smtp" else FileTransport(mail_root)
