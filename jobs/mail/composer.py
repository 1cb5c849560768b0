"""Putting a message together: the kind's content (template, context, attachments), its
subject and bodies from the templates, and the headers, as bytes ready for SMTP or an .eml
file. One Composer per delivery run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from markupsafe import escape

from lifecycle.register.outbox import Message
from lifecycle.register.store import Register
from lifecycle.values.config import Config
from lifecycle.values.model import Kind

from . import annual, digest, pack, review, updated
from .cache import RunCache
from .content import Content
from .mime import (
    MARKERS,
    Merge,
    alternative,
    header_line,
    header_safe,
    multipart,
    quoted_printable,
)
from .render import html_template, subject, text_template

# Each kind of message, and whether it is about one policy, -> the module that says it. (An
# annual reminder per policy is how reminders were sent before they were one message: one
# still waiting is sent as the annual reminder.)
KINDS: dict[tuple[Kind, bool], Callable[[Message, RunCache, datetime], Content]] = {
    (Kind.REVIEW, True): review.content,
    (Kind.PACK, False): pack.content,
    (Kind.REMINDER, False): annual.content,
    (Kind.REMINDER, True): annual.content,
    (Kind.CHASE, False): annual.content,
    (Kind.UPDATED, True): updated.content,
    (Kind.CHASE, True): updated.content,
    (Kind.DIGEST, False): digest.content,
}
# Messages that ask someone to read and confirm are rendered once for everyone who gets the
# same text, and filled in per person: the template and the field that holds its link.
MERGED = {"annual": "confirm_link", "annual_chase": "confirm_link", "updated": "ack_link",
          "new_policy": "ack_link", "chase": "ack_link"}


class Composer:
    """Builds each outbox message from the register as it is now."""

    def __init__(self, register: Register, config: Config, rendered_root: Path,
                 secret: bytes) -> None:
        self.config = config
        self.run = RunCache(register, config, rendered_root, secret)
        self._merged: dict[tuple[Any, ...], tuple[str, Merge, Merge]] = {}
        self._headers: dict[tuple[str, str], bytes] = {}
        self._date: tuple[datetime | None, bytes] = (None, b"")

    def compose(self, message: Message, now: datetime) -> tuple[str, bytes]:
        """The message's subject, and the message as bytes.

        Headers come from the email package (folding, RFC 2047 for names); the MIME body is
        assembled from parts, the Word document's base64 part serialised once per policy
        version rather than once per recipient: for 5,000 staff that is most of the work.
        """
        local = now.astimezone(self.config.tz)
        content = KINDS[(Kind(message.kind), bool(message.policy_id))](message, self.run, local)
        context = content.context | {
            "name": message.to_name, "school": self.config.school,
            "reference": message.message_id.strip("<>").split("@")[0][:12]}
        said, text, html = self.bodies(message, content.template, context)
        boundary = "=_" + message.message_id.strip("<>").split("@")[0][:24]
        parts = [alternative(text, html, boundary + "_alt"), *content.attachments]
        recorder = None if context.get("you_record") else context.get("recorder")
        reply_to = ([self.folded("Reply-To", formataddr((header_safe(recorder.name),
                                                        recorder.email)))]
                    if recorder is not None else [])    # never to the recipient themself
        headers = [self.folded("Subject", said), self.folded("From", self.config.sender),
                   *reply_to,
                   self.recipient(message.to_name, message.to_email),
                   self.date_header(local),
                   f"Message-ID: {message.message_id}\r\nAuto-Submitted: auto-generated\r\n"
                   f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"'
                   "\r\n\r\n".encode("ascii")]
        return said, b"".join(headers) + multipart(parts, boundary)

    def bodies(self, message: Message, template: str,
               context: dict[str, Any]) -> tuple[str, bytes, bytes]:
        """The subject, and the plain and HTML bodies, encoded. A message that asks someone
        to read and confirm differs from the next person's only in the name, the link and
        the reference: it is rendered once for everyone with the same text (for an annual
        reminder, the same list), with markers where those go, and filled in for each person
        (5,000 staff: one render, not 5,000)."""
        link = MERGED.get(template)
        if link is None:
            context["subject"] = subject(template, context)
            return (context["subject"],
                    quoted_printable(text_template(template).render(context)),
                    quoted_printable(html_template(template).render(context)))
        key = (template, message.kind, message.policy_id, message.period, message.stage,
               message.office_copy, context.get("listing_text"))
        if key not in self._merged:
            marked = context | dict(zip(("name", link, "reference"), MARKERS, strict=True))
            marked["subject"] = subject(template, marked)
            self._merged[key] = (marked["subject"],
                                 Merge(text_template(template).render(marked)),
                                 Merge(html_template(template).render(marked)))
        said, text, html = self._merged[key]
        values = (str(context["name"]), str(context[link]), str(context["reference"]))
        return said, text.fill(values), html.fill(tuple(str(escape(v)) for v in values))

    def date_header(self, local: datetime) -> bytes:
        """The Date header: the same for every message of a run."""
        if self._date[0] != local:
            self._date = (local, self.folded("Date", format_datetime(local)))
        return self._date[1]

    def folded(self, name: str, value: str) -> bytes:
        """A header made safe, folded and RFC 2047-encoded by the email package, once per
        distinct value (a subject is shared by everyone who gets the same reminder)."""
        key = (name, value)
        if key not in self._headers:
            self._headers[key] = header_line(name, header_safe(value))
        return self._headers[key]

    @staticmethod
    def recipient(name: str, address: str) -> bytes:
        """The To header: the standard library quotes or encodes the display name; a name the
        quick path cannot keep under the line limit goes through full folding instead."""
        line = formataddr((header_safe(name), address), charset="utf-8")
        if len(line) < 900:
            return f"To: {line}\r\n".encode("ascii")
        head = EmailMessage(policy=SMTP)
        head["To"] = Address(display_name=header_safe(name), addr_spec=address)
        return b"".join(SMTP.fold_binary(k, v) for k, v in head.items())
