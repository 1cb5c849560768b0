"""The mail kept as .eml files (the files transport): erasing a person from it."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, getaddresses
from pathlib import Path

from lifecycle.register.files import write_atomically
from lifecycle.values.model import Person

ADDRESSED = ("To", "Cc", "Reply-To")


def scrub_mail_files(root: Path, pattern: re.Pattern[str], pseudonym: Person) -> int:
    """Replace every match of ``pattern`` (a person's names and addresses) in the headers and
    text parts of the .eml files under ``root`` with the pseudonym's (each message parsed, so
    quoted-printable and RFC 2047-encoded text is found too); returns how many changed."""
    changed = 0
    for path in sorted(root.rglob("*.eml")) if root.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=SMTP)
        if _scrub(message, pattern, pseudonym):
            write_atomically(path, message.as_bytes())
            changed += 1
    return changed


def _scrub(message: EmailMessage, pattern: re.Pattern[str], pseudonym: Person) -> bool:
    def replace(match: re.Match[str]) -> str:
        return pseudonym.email if "@" in match.group() else pseudonym.name

    changed = False
    for name, value in list(message.items()):
        text = str(value)
        if not pattern.search(text):
            continue
        if name in ADDRESSED:
            text = ", ".join(formataddr((pseudonym.name, pseudonym.email))
                             if pattern.fullmatch(address) or pattern.search(display)
                             else formataddr((display, address))
                             for display, address in getaddresses([text]))
        message.replace_header(name, pattern.sub(replace, text))
        changed = True
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        content = part.get_content()
        if pattern.search(content):
            part.set_content(
                pattern.sub(replace, content), subtype=part.get_content_subtype(),
                cte="quoted-printable", disposition=part.get_content_disposition(),
                filename=part.get_filename())
            changed = True
    return changed
