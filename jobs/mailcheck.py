"""The mail set-up, checked one step at a time (``mail check`` and the dashboard's "Mail
settings" page): find the server, connect, secure the connection, get a token, sign in, and
optionally send one test message. Each step says what went wrong in words the office can pass
to IT, the same words delivery uses (``transport.classify``).

Delivery signs in through yagmail in one call; the check uses smtplib directly, step by step,
because the point is to say which step failed.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, cast

from lifecycle.values.config import Config
from lifecycle.values.errors import LifecycleError

from .oauth import Tokens, sign_in, tokens_for
from .transport import PASSWORD_ENV, classify, smtp_password

PROVIDER = {"microsoft": "Microsoft Entra ID", "google": "Google"}


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str = ""


def check(config: Config, now: datetime, send_to: str | None = None) -> list[Step]:
    """Every step until the first that fails; ``send_to``: also send a test message."""
    if config.transport != "smtp":
        return [Step("Mail is written to files in the data folder's mail folder", True,
                     "no mail server is used, so there is nothing to check")]
    steps: list[Step] = []
    for step in _steps(config, now, send_to):
        steps.append(step)
        if not step.ok:
            break
    return steps


def _steps(config: Config, now: datetime, send_to: str | None) -> Iterator[Step]:
    c = config
    smtp: Any = None
    try:
        yield _attempt(f"Find the mail server {c.smtp_host}", lambda: _find(c))
        connect = smtplib.SMTP_SSL if c.smtp_security == "ssl" else smtplib.SMTP
        context = ssl.create_default_context()
        kwargs: dict[str, Any] = {"context": context} if c.smtp_security == "ssl" else {}

        def opened() -> str:
            nonlocal smtp
            smtp = connect(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout, **kwargs)
            return "certificate checked" if c.smtp_security == "ssl" else ""
        yield _attempt(f"Connect to {c.smtp_host} on port {c.smtp_port}", opened)
        if c.smtp_security == "starttls":
            yield _attempt("Secure the connection (STARTTLS)", lambda: _starttls(smtp, context))
        yield from _sign_in(config, lambda: smtp)
        if send_to:
            yield _attempt(f"Send a test message to {send_to}",
                           lambda: _send(smtp, config, send_to, now))
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _sign_in(config: Config, smtp: Callable[[], Any]) -> Iterator[Step]:
    if config.auth == "password":
        if not config.smtp_user:
            yield Step("Sign in", True, "no sign-in: the server is a relay that needs none")
            return
        def login() -> str:
            smtp().login(config.smtp_user, smtp_password(config.smtp_user))
            return ""
        yield _attempt(f"Sign in as {config.smtp_user} with a password", login)
        return
    tokens: list[Tokens] = []

    def token() -> str:
        source = cast(Tokens, tokens_for(config))    # not None: auth is not "password"
        tokens.append(source)
        source.token()
        return ""
    yield _attempt(f"Get a token from {PROVIDER[config.auth]}", token)

    def xoauth2() -> str:
        sign_in(smtp(), config.mailbox, tokens[0])
        return ""
    yield _attempt(f"Sign in as {config.mailbox} with the token (XOAUTH2)", xoauth2)


def _attempt(name: str, action: Callable[[], str]) -> Step:
    try:
        return Step(name, True, action() or "")
    except Exception as e:  # noqa: BLE001 - every failure is reported as this step's
        return Step(name, False, _words(e))


def _words(error: Exception) -> str:
    if isinstance(error, socket.gaierror):
        return f"no such server name ({error.strerror}): check [smtp] host"
    if isinstance(error, ConnectionRefusedError):
        return ("the server refused the connection: check [smtp] host and port, and that a "
                "firewall lets this computer reach it")
    if isinstance(error, TimeoutError | socket.timeout):
        return ("no answer from the server: check [smtp] host and port, and that a firewall "
                "lets this computer reach it")
    if isinstance(error, LifecycleError) and PASSWORD_ENV in str(error):
        return str(error)
    return str(classify(error))


def _find(config: Config) -> str:
    found = socket.getaddrinfo(config.smtp_host, config.smtp_port, type=socket.SOCK_STREAM)
    return f"at {found[0][4][0]}"


def _starttls(smtp: smtplib.SMTP, context: ssl.SSLContext) -> str:
    smtp.ehlo()
    if not smtp.has_extn("starttls"):
        raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS on this port")
    smtp.starttls(context=context)
    smtp.ehlo()
    return "certificate checked"


def _send(smtp: smtplib.SMTP, config: Config, to: str, now: datetime) -> str:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = f"{config.school}: a test message from the policy register"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=parseaddr(config.sender)[1].rpartition("@")[2])
    message.set_content(f"This message checks that {config.school}'s policy register can send "
                        "mail. Nothing needs doing.\n")
    smtp.send_message(message, from_addr=parseaddr(config.sender)[1], to_addrs=[to])
    return "the server accepted it"
