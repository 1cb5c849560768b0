"""Where composed messages go: ``.eml`` files (the embedded default) or an SMTP server.

SMTP goes through yagmail for what it does well (the connection, SSL/STARTTLS, the password
login) and then one reused connection for many messages: yagmail's own ``send()`` would log
in again for every message and rewrite our bodies (LIBRARIES.md). With ``auth = "microsoft"``
or ``"google"`` the sign-in is ``AUTH XOAUTH2`` with a token (``oauth``). TLS always checks the
server's certificate (yagmail's plain ``starttls()`` would not).

Failures are sorted by what delivery should do: the message alone (permanent), this message
later (temporary), everything later because of the set-up (``SetupFailure``: a refused
sign-in or sender) or because of the pace (``Throttled``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import smtplib
import socket
import ssl
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from lifecycle.register.files import write_atomically
from lifecycle.values.config import Config
from lifecycle.values.errors import LifecycleError

from .oauth import KEYRING_SERVICE, TokenRefused, Tokens, sign_in, tokens_for

PASSWORD_ENV = "POLICY_LIFECYCLE_SMTP_PASSWORD"


class TemporaryFailure(Exception):
    """Worth trying again later. ``connection``: the server itself is unreachable, so the rest
    of this delivery run waits too."""

    def __init__(self, message: str, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


class PermanentFailure(Exception):
    """The server refused this message for good (5xx)."""


class SetupFailure(Exception):
    """Nothing can go until the set-up is put right (a refused sign-in or sender, a token
    refused, an untrusted certificate): delivery stops at once and every message waits."""


class Throttled(Exception):
    """The provider asked us to slow down; nothing is wrong with the message. ``wait``: how
    long before trying again."""

    def __init__(self, message: str, wait: timedelta) -> None:
        super().__init__(message)
        self.wait = wait


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


# Enhanced status codes (RFC 3463) that say something about the set-up or the pace, with
# what they mean for the office and IT. The code's class digit follows the reply.
EXPLAINED = {
    "5.7.30": 'Microsoft 365 no longer accepts a password to send mail (Basic authentication '
              'is turned off): set [mail] auth = "microsoft" and follow the Microsoft 365 '
              "set-up steps",
    "5.7.139": "Microsoft 365 refused the sign-in: sending by SMTP (SMTP AUTH) is turned off "
               "for this mailbox or the whole organisation, or security defaults block it",
    "5.7.3": "the mail server refused the sign-in: the password or secret is wrong, or "
             "sending by SMTP is turned off for the mailbox",
    "5.7.8": "the mail server refused the sign-in: the password, secret or token is not "
             "accepted for this mailbox",
    "5.7.60": "the mail server will not let this mailbox send as the From address: give it "
              "Send As permission on that address, or make [mail] from the mailbox itself",
    "5.7.57": "the mail server wants a sign-in before it accepts mail: set [smtp] user, or "
              "[mail] auth",
    "5.4.5": "the mailbox has reached its provider's daily sending limit: sending resumes by "
             "itself when the 24 hours have passed",
    "4.3.2": "the mail server is busy and asked us to slow down: sending resumes by itself",
}
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
SETUP_PAUSE = timedelta(minutes=15)        # after a refused sign-in, before trying again
THROTTLE_PAUSE = timedelta(minutes=1)
QUOTA_PAUSE = timedelta(hours=1)


def explain(code: int, text: str) -> str:
    """A server's reply in words the office can pass to IT, its codes kept for IT."""
    status = _STATUS.search(text)
    said = f"{code} {text}".strip()
    meaning = EXPLAINED.get(status[0]) if status else None
    if meaning is None and code in (530, 534, 535):
        meaning = EXPLAINED["5.7.8"]
    return f"{meaning} ({said})" if meaning else said


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _pace_answer(code: int, text: str) -> Throttled | None:
    """The provider's way of saying "too fast": 4.7.x (Exchange's per-minute limit, Gmail's
    rate limit), 432 4.3.2 (server busy) or 550 5.4.5 (the daily quota)."""
    status = _STATUS.search(text)
    if status is None:
        return None
    if status[0] == "5.4.5":
        return Throttled(explain(code, text), QUOTA_PAUSE)
    if status[1] == "4" and (status[2] == "7" or status[0] == "4.3.2"):
        return Throttled(explain(code, text), THROTTLE_PAUSE)
    return None


def classify(error: Exception) -> Exception:
    """smtplib's and the token sources' exceptions as what delivery should do next."""
    if isinstance(error, TokenRefused | LifecycleError | ssl.SSLCertVerificationError):
        return SetupFailure(_certificate(error) if isinstance(error, ssl.SSLError)
                            else str(error))
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return SetupFailure(f"the mail server does not offer a sign-in here ({error}): check "
                            "[smtp] security and port")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values())
        text = "; ".join(f"{code} {_text(msg)}" for code, msg in replies)
        paced = _pace_answer(replies[0][0], _text(replies[0][1])) if replies else None
        return paced or (PermanentFailure(text) if all(c >= 500 for c, _ in replies)
                         else TemporaryFailure(text))
    if isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, _text(error.smtp_error)
        paced = _pace_answer(code, text)
        if paced:
            return paced
        if isinstance(error, smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused) \
                or "5.7.30" in text or "5.7.60" in text:
            return SetupFailure(explain(code, text))
        return PermanentFailure(explain(code, text)) if code >= 500 \
            else TemporaryFailure(explain(code, text))
    if isinstance(error, smtplib.SMTPServerDisconnected | OSError | socket.timeout):
        return TemporaryFailure(f"{type(error).__name__}: {error}", connection=True)
    return TemporaryFailure(f"{type(error).__name__}: {error}")


def _certificate(error: ssl.SSLError) -> str:
    why = getattr(error, "verify_message", "") or error
    return (f"the mail server's certificate is not trusted ({why}): check [smtp] host, or give "
            "this computer the issuer's certificate (SSL_CERT_FILE)")


def connect(config: Config, password: str | None, tokens: Tokens | None) -> Any:
    """A connection, secured as configured and signed in (by password, by token, or not at
    all for a local relay): a yagmail.SMTP whose ``smtp`` is the live smtplib session."""
    import yagmail

    c = config
    context = ssl.create_default_context()     # trusts SSL_CERT_FILE when it is set
    yag = yagmail.SMTP(
        user=c.smtp_user or c.mailbox, password=password, host=c.smtp_host, port=c.smtp_port,
        smtp_ssl=c.smtp_security == "ssl",
        smtp_starttls={"context": context} if c.smtp_security == "starttls" else False,
        smtp_skip_login=password is None, soft_email_validation=False, timeout=c.smtp_timeout,
        **({"context": context} if c.smtp_security == "ssl" else {}))
    yag.login()
    if tokens is not None:
        sign_in(yag.smtp, c.mailbox, tokens)
    return yag


class SmtpTransport:
    """One connection, opened on the first message and reused for the rest of the run."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.envelope_from = parseaddr(config.sender)[1]
        # Looked up now, in the caller's thread, so a missing secret is one clear error.
        self.password = smtp_password(config.smtp_user) \
            if config.smtp_user and config.auth == "password" else None
        self.tokens = tokens_for(config)
        self.yag: Any = None

    def _connect(self) -> Any:
        try:
            self.yag = connect(self.config, self.password, self.tokens)
        except Exception as e:
            self.close()
            raise classify(e) from e
        return self.yag

    def send(self, recipient: str, mail: bytes, key: str, now: datetime) -> None:
        yag = self.yag or self._connect()
        try:
            yag.smtp.sendmail(self.envelope_from, [recipient], mail)
        except Exception as e:
            failure = classify(e)
            if not isinstance(failure, PermanentFailure | TemporaryFailure) or \
                    isinstance(failure, TemporaryFailure) and failure.connection:
                self.close()
            raise failure from e

    def close(self) -> None:
        if self.yag is not None:
            with contextlib.suppress(Exception):  # closing a dead connection is no error
                self.yag.close()
            self.yag = None


def open_transport(config: Config, mail_root: Path) -> Transport:
    return SmtpTransport(config) if config.transport == "smtp" else FileTransport(mail_root)
