"""The bytes of a message, with the standard ``email`` package for the headers: every name and
subject stripped of control characters (no header injection), parts we assemble ourselves
(quoted-printable text, base64 attachments), and the merge that fills one rendered body in for
each person."""

from __future__ import annotations

import binascii
import re
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from documents.calendar import single

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MARKERS = ("\x1ename\x1e", "\x1elink\x1e", "\x1ereference\x1e")  # control chars: never in a value


def header_safe(text: str) -> str:
    """No CR, LF or other control characters can reach a header."""
    return _CONTROL.sub(" ", text).strip()


def header_line(name: str, value: str) -> bytes:
    """A header folded and RFC 2047-encoded by the email package, but never folded straight
    after the name: the package moves a value that would just fit on a line of its own to
    the next line, and some programs then show the subject with a leading space. The first
    line may then pass 78 characters, well within the 998 the standard allows."""
    head = EmailMessage(policy=SMTP)
    head[name] = value
    folded = b"".join(SMTP.fold_binary(k, v) for k, v in head.items())
    for fold in (b":\r\n ", b": \r\n "):
        if folded.startswith(name.encode() + fold):
            return name.encode() + b": " + folded[len(name) + len(fold):]
    return folded


def part(headers: dict[str, str], body: bytes) -> bytes:
    """One MIME part: ASCII headers we wrote ourselves, a blank line, an encoded body."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("ascii") + b"\r\n" + body


def multipart(parts: list[bytes], boundary: str) -> bytes:
    """A multipart body. The boundary starts with '=_', which neither quoted-printable nor
    base64 output can contain, so no part can end it early."""
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(delimiter + p + b"\r\n" for p in parts) + f"--{boundary}--\r\n".encode()


def quoted_printable(text: str) -> bytes:
    crlf = "\r\n".join(text.replace("\r\n", "\n").split("\n"))
    return binascii.b2a_qp(crlf.encode("utf-8"), istext=True)


class Merge:
    """A body rendered with MARKERS where the personal values go, quoted-printable encoded
    once except for the lines that hold a marker. Quoted-printable encodes each line on its
    own, so the other lines are the same bytes in every message; ``fill`` encodes only the
    few personal lines (tests check the result against encoding the whole body)."""

    def __init__(self, marked: str) -> None:
        lines = [line + "\r\n" for line in marked.replace("\r\n", "\n").split("\n")]
        lines[-1] = lines[-1][:-2]
        if len(lines) > 1:    # a last line without its line break goes with the one before
            lines[-2:] = [lines[-2] + lines[-1]]
        self.pieces: list[bytes | str] = []
        static = ""
        for line in lines:
            if any(marker in line for marker in MARKERS):
                self.pieces += [quoted_printable(static), line] if static else [line]
                static = ""
            else:
                static += line
        if static:
            self.pieces.append(quoted_printable(static))

    def fill(self, values: tuple[str, ...]) -> bytes:
        return b"".join(piece if isinstance(piece, bytes) else quoted_printable(
            piece.replace(MARKERS[0], values[0]).replace(MARKERS[1], values[1])
                 .replace(MARKERS[2], values[2]))
            for piece in self.pieces)


def base64_lines(data: bytes) -> bytes:
    return b"".join(binascii.b2a_base64(data[i:i + 57]).replace(b"\n", b"\r\n")
                    for i in range(0, len(data), 57))


def alternative(text: bytes, html: bytes, boundary: str) -> bytes:
    """multipart/alternative: a real plain-text part, then the HTML, both already encoded
    quoted-printable."""
    encoding = {"Content-Transfer-Encoding": "quoted-printable"}
    return part({"Content-Type": f'multipart/alternative; boundary="{boundary}"'}, multipart([
        part({"Content-Type": 'text/plain; charset="utf-8"', **encoding}, text),
        part({"Content-Type": 'text/html; charset="utf-8"', **encoding}, html),
    ], boundary))


def attachment(name: str, data: bytes) -> bytes:
    """A Word document attached."""
    return part({"Content-Type": DOCX_TYPE,
                 "Content-Disposition": f'attachment; filename="{name}"',
                 "Content-Transfer-Encoding": "base64"}, base64_lines(data))


def calendar_part(event: Any) -> bytes:
    """A calendar entry attached: the meeting, or the review's deadline."""
    name = "meeting.ics" if str(event["uid"]).startswith("meeting-") else "review-deadline.ics"
    return part({"Content-Type": 'text/calendar; charset="utf-8"; method=PUBLISH',
                 "Content-Disposition": f'attachment; filename="{name}"',
                 "Content-Transfer-Encoding": "base64"}, base64_lines(single(event)))
