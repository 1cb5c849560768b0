"""Composing messages with the standard ``email`` package: a real plain-text part and an HTML
part (quoted-printable), our own Message-ID, the policy attached, and for governors a
calendar entry. Every name and subject is stripped of control characters (no header
injection) and every value reaching HTML is escaped by the templates.
"""

from __future__ import annotations

import binascii
import functools
import re
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

from documents.calendar import Deadline, deadline_event, meeting_event, single
from documents.compare import Comparison, bracketed
from documents.publish import compare_versions, file_name, render_draft, render_policy
from lifecycle.agenda import AgendaItem, agenda, bodies_without_members, meeting_for
from lifecycle.catalogue import Standing, load_catalogue, standings
from lifecycle.config import Config
from lifecycle.confirmations import (
    Ack,
    annual_token,
    calendar_token,
    counts_now,
    make_token,
    progress,
    reading_list,
)
from lifecycle.dates import long_date, month_phrase, span_phrase
from lifecycle.errors import LifecycleError
from lifecycle.model import Draft, Kind, Meeting, Person, PolicyRecord, State, Status, email_key
from lifecycle.outbox import Message, mail_domain
from lifecycle.personal_data import past_keeping
from lifecycle.policies import require_policy
from lifecycle.status import status_row
from lifecycle.store import Register
from lifecycle.terms import due_phrase, term_ending

TEMPLATES = Path(__file__).resolve().parent.parent / "documents" / "templates" / "mail"
DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_CHANGES = 12
# Messages that ask someone to read and confirm are rendered once for everyone who gets the
# same text, and filled in per person: the template and the field that holds its link.
MERGED = {"annual": "confirm_link", "annual_chase": "confirm_link", "updated": "ack_link",
          "reminder": "ack_link", "chase": "ack_link"}
MARKERS = ("\x1ename\x1e", "\x1elink\x1e", "\x1ereference\x1e")  # control chars: never in a value


def first_sentence(markdown: str, limit: int = 160) -> str:
    """The first sentence of the first paragraph that is not a heading, without Markdown."""
    for block in markdown.split("\n\n"):
        text = re.sub(r"[*_`#>\[\]]|\(http[^)]*\)", "", " ".join(block.split())).strip()
        if text and not block.lstrip().startswith(("#", "|", "-", "*", "1.")):
            sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
            return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"
    return ""


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


@functools.cache
def environments() -> tuple[Environment, Environment]:
    """The HTML and plain-text template environments: made once per process, so the
    service compiles each template once, not at every delivery run."""
    env = {"loader": FileSystemLoader(TEMPLATES), "trim_blocks": True, "lstrip_blocks": True,
           "auto_reload": False}   # not a stat of every template for every message
    html = Environment(autoescape=True, **env)  # type: ignore[arg-type]
    text = Environment(autoescape=False, keep_trailing_newline=True,  # noqa: S701
                       **env)  # type: ignore[arg-type]
    for environment in (html, text):
        environment.filters["long_date"] = long_date
    return html, text


class Composer:
    """Builds each outbox message from the register as it is now. One per delivery run:
    it caches policies and their rendered Word documents."""

    def __init__(self, register: Register, config: Config, rendered_root: Path,
                 secret: bytes) -> None:
        self.register = register
        self.secret = secret
        self.config = config
        self.rendered_root = rendered_root
        self.domain = mail_domain(config.sender)
        self.html, self.text = environments()
        self._policies: dict[str, PolicyRecord] = {}
        self._documents: dict[tuple[str, int], bytes] = {}
        self._parts: dict[tuple[str, int], bytes] = {}
        self._changes: dict[tuple[str, int], tuple[Comparison, bytes]] = {}
        self._update_notes: dict[tuple[str, int], dict[str, Any]] = {}
        self._recorder: tuple[Person | None] | None = None
        self._meetings: list[Meeting] | None = None
        self._open_drafts: dict[str, Draft] | None = None
        self._drafts: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
        self._headers: dict[tuple[str, str], bytes] = {}
        self._date: tuple[datetime | None, bytes] = (None, b"")
        self._all_policies: list[PolicyRecord] | None = None
        self._reading: dict[tuple[tuple[str, ...], date], list[dict[str, Any]]] = {}
        self._listings: dict[tuple[Any, ...], tuple[list[dict[str, Any]], str, Markup]] = {}
        self._refs: dict[str, str] | None = None
        self._merged: dict[tuple[Any, ...], tuple[Merge, Merge]] = {}
        self._people: dict[str, Person] | None = None
        self._confirmed: dict[str, dict[tuple[str, int], set[str]]] | None = None

    def policy(self, policy_id: str) -> PolicyRecord:
        if policy_id not in self._policies:
            self._policies[policy_id] = require_policy(self.register, policy_id)
        return self._policies[policy_id]

    def document(self, policy: PolicyRecord, today: date) -> tuple[str, bytes]:
        """The current Word document, rendered once (or reused from data/rendered/)."""
        key = (policy.id, policy.version)
        if key not in self._documents:
            [result] = render_policy(self.register, policy.id, policy.version, ("docx",),
                                     self.rendered_root / policy.id, today)
            self._documents[key] = result.path.read_bytes()
        return file_name(policy.id, policy.version, "docx"), self._documents[key]

    def compose(self, message: Message, now: datetime) -> tuple[str, bytes]:
        """The message's subject, and the message as bytes, ready for SMTP or an .eml file.

        Headers come from the email package (folding, RFC 2047 for names); the MIME body is
        assembled from parts, the Word document's base64 part serialised once per policy
        version rather than once per recipient: for 5,000 staff that is most of the work.
        """
        local = now.astimezone(self.config.tz)
        subject, context, attached = self._content(message, local)
        context |= {"name": message.to_name, "school": self.config.school, "subject": subject,
                    "reference": message.message_id.strip("<>").split("@")[0][:12]}
        text, html = self.bodies(message, context)
        boundary = "=_" + message.message_id.strip("<>").split("@")[0][:24]
        parts = [alternative(text, html, boundary + "_alt"), *attached]
        recorder = context.get("recorder")
        reply_to = ([self.folded("Reply-To", formataddr((header_safe(recorder.name),
                                                        recorder.email)))]
                    if recorder is not None else [])
        headers = [self.folded("Subject", subject), self.folded("From", self.config.sender),
                   *reply_to,
                   self.recipient(message.to_name, message.to_email),
                   self.date_header(local),
                   f"Message-ID: {message.message_id}\r\nAuto-Submitted: auto-generated\r\n"
                   f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"'
                   "\r\n\r\n".encode("ascii")]
        return subject, b"".join(headers) + multipart(parts, boundary)

    def bodies(self, message: Message, context: dict[str, Any]) -> tuple[bytes, bytes]:
        """The plain and HTML bodies, encoded. A message that asks someone to read and
        confirm differs from the next person's only in the name, the link and the reference:
        it is rendered once for everyone with the same text (for an annual reminder, the
        same list), with markers where those go, and filled in for each person (5,000 staff:
        one render, not 5,000)."""
        template = context.get("template", message.kind)
        link = MERGED.get(template)
        if link is None:
            return (quoted_printable(self.text.get_template(f"{template}.txt").render(context)),
                    quoted_printable(self.html.get_template(f"{template}.html").render(context)))
        key = (template, message.kind, message.policy_id, message.period, message.stage,
               message.office_copy, context["subject"], context.get("listing_text"))
        if key not in self._merged:
            marked = context | dict(zip(("name", link, "reference"), MARKERS, strict=True))
            self._merged[key] = (Merge(self.text.get_template(f"{template}.txt").render(marked)),
                                 Merge(self.html.get_template(f"{template}.html").render(marked)))
        text, html = self._merged[key]
        values = (str(context["name"]), str(context[link]), str(context["reference"]))
        return text.fill(values), html.fill(tuple(str(escape(v)) for v in values))

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

    def recipient(self, name: str, address: str) -> bytes:
        """The To header: the standard library quotes or encodes the display name; a name the
        quick path cannot keep under the line limit goes through full folding instead."""
        line = formataddr((header_safe(name), address), charset="utf-8")
        if len(line) < 900:
            return f"To: {line}\r\n".encode("ascii")
        head = EmailMessage(policy=SMTP)
        head["To"] = Address(display_name=header_safe(name), addr_spec=address)
        return b"".join(SMTP.fold_binary(k, v) for k, v in head.items())

    def document_part(self, policy: PolicyRecord, today: date) -> bytes:
        key = (policy.id, -policy.version)
        if key not in self._parts:
            self._parts[key] = self.attachment(*self.document(policy, today))
        return self._parts[key]

    @staticmethod
    def attachment(name: str, data: bytes) -> bytes:
        return part({"Content-Type": f"{DOCX_TYPE[0]}/{DOCX_TYPE[1]}",
                     "Content-Disposition": f'attachment; filename="{name}"',
                     "Content-Transfer-Encoding": "base64"}, base64_lines(data))

    def _content(self, message: Message,
                 now: datetime) -> tuple[str, dict[str, Any], list[bytes]]:
        """Subject, template context and the attached parts of one message."""
        today = now.date()
        if message.kind == Kind.DIGEST:
            subject, context = self._digest(today)
            return subject, context, []
        if message.kind == Kind.PACK:
            return self._pack(message, now)
        if not message.policy_id:           # the annual reminder, or one of its chasers
            subject, context = self._annual(message, today)
            return subject, context, []
        policy = self.policy(message.policy_id)
        subject, context = self._about_policy(message, policy, now)
        parts = [self.document_part(policy, today)]
        if message.kind == Kind.UPDATED:
            parts.append(self.changes(policy, today)[1])
        if context.get("event") is not None:
            parts.append(self.calendar_part(context["event"]))
        return subject, context, parts

    def _about_policy(self, message: Message, policy: PolicyRecord,
                      now: datetime) -> tuple[str, dict[str, Any]]:
        today = now.date()
        context: dict[str, Any] = {
            "policy": policy, "link": f"{self.config.base_url}/policies/{policy.id}",
            "adopted_long": long_date(policy.adopted), "period": message.period,
            "office_copy": message.office_copy, "stage": message.stage,
        }
        if message.kind == Kind.REVIEW:
            return self._review(message, policy, now, context), context
        if message.kind in (Kind.REMINDER, Kind.UPDATED, Kind.CHASE):
            token = make_token(self.secret, Ack(message.person_key, policy.id, policy.version,
                                                message.period), self.ref(message.person_key))
            context["ack_link"] = f"{self.config.base_url}/ack/{token}"
        if message.kind == Kind.REMINDER:
            return f"Annual reminder: please read the {policy.title}", context
        if message.kind == Kind.CHASE:
            ladder = self.config.chase_after_days
            context["final"] = bool(ladder) and message.stage == f"chase-{ladder[-1]}"
            return f"Please confirm you have read the {policy.title}", context
        if message.kind == Kind.UPDATED:
            context |= self._updated(policy, today)
            return f"Policy updated: {policy.title} (version {policy.version})", context
        raise ValueError(f"unknown message kind {message.kind!r}")

    def _annual(self, message: Message, today: date) -> tuple[str, dict[str, Any]]:
        """One message for the school year: every policy the person is asked to read (a
        chaser: only those still unconfirmed), with one personal link to confirm them."""
        person = self.person(message.person_key)
        year = message.period
        chase = message.kind == Kind.CHASE
        roles = tuple(sorted(person.roles)) if person else None
        items = self.reading_items(roles, today) if roles is not None else []
        confirmed = self.confirmed_by(message.person_key)
        done = tuple(counts_now(i["policy"], confirmed.get((i["policy"].id, i["policy"].version),
                                                           set()), year)
                     for i in items) if confirmed else (False,) * len(items)
        template = "annual_chase" if chase else "annual"
        listed, text, html = self.listing(template, roles, today, done)
        token = annual_token(self.secret, self.ref(message.person_key), year)
        ladder = self.config.chase_after_days
        context = {"template": template, "items": listed, "listing_text": text,
                   "listing_html": html,
                   "year": year.replace("-", "/"), "confirm_link":
                   f"{self.config.base_url}/confirm/{token}",
                   "final": chase and bool(ladder) and message.stage == f"chase-{ladder[-1]}"}
        count = f"{len(listed)} {'policy' if len(listed) == 1 else 'policies'}"
        if chase:
            return f"Still to confirm: {count} ({year.replace('-', '/')})", context
        return (f"Annual reminder {year.replace('-', '/')}: {count} to read and confirm",
                context)

    def listing(self, template: str, roles: tuple[str, ...] | None, today: date,
                done: tuple[bool, ...]) -> tuple[list[dict[str, Any]], str, Markup]:
        """The policies listed (a chaser: only those not yet confirmed), as items, text and
        HTML: the same for everyone with the same roles and the same confirmations, so
        worked out once per list, not once per recipient (most of a reminder's cost)."""
        key = (template, roles, today, done)
        if key not in self._listings:
            items = self.reading_items(roles, today) if roles is not None else []
            listed = [{**item, "done": d} for item, d in zip(items, done, strict=True)
                      if not (template == "annual_chase" and d)]
            context = {"items": listed}
            self._listings[key] = (
                listed, self.text.get_template(f"{template}_items.txt").render(context),
                Markup(self.html.get_template(f"{template}_items.html").render(context)))
        return self._listings[key]

    def reading_items(self, roles: tuple[str, ...], today: date) -> list[dict[str, Any]]:
        """The annual reminder's list for people with these roles (sorted): the same for
        everyone who shares them, so worked out once per delivery run."""
        key = (roles, today)
        if key not in self._reading:
            if self._all_policies is None:
                self._all_policies = self.register.policies()
            self._reading[key] = [
                {"policy": p, "summary": self.summary(p), "adopted_long": long_date(p.adopted),
                 "link": f"{self.config.base_url}/policies/{p.id}"}
                for p in reading_list(self._all_policies, Person("", "", roles), today)]
        return self._reading[key]

    def summary(self, policy: PolicyRecord) -> str:
        """What a policy covers, in one line: its summary, else its first sentence."""
        if policy.summary:
            return policy.summary
        version = self.register.version(policy.id, policy.version)
        return first_sentence(version.body if version else "")

    def _updated(self, policy: PolicyRecord, today: date) -> dict[str, Any]:
        """The changed passages, cut to their sentences, and the reviewers' notes: the same
        for everyone told of this version, so worked out once."""
        key = (policy.id, policy.version)
        if key not in self._update_notes:
            self._update_notes[key] = self._update_context(policy, today)
        return self._update_notes[key]

    def _update_context(self, policy: PolicyRecord, today: date) -> dict[str, Any]:
        comparison, _ = self.changes(policy, today)
        quotes = comparison.quoted(excerpts=True)
        notes = [r.notes for r in self.register.reviews(policy.id)
                 if r.version == policy.version and r.text_changed and r.notes]
        return {"summary": comparison.summary(), "quotes": quotes[:MAX_CHANGES],
                "quotes_text": [(section, bracketed(pieces))
                                for section, pieces in quotes[:MAX_CHANGES]],
                "more_changes": max(0, len(quotes) - MAX_CHANGES), "notes": notes[-1:],
                "changes_link": f"{self.config.base_url}/policies/{policy.id}/v"
                                f"{policy.version}/changes"}

    def changes(self, policy: PolicyRecord, today: date) -> tuple[Comparison, bytes]:
        """What changed from the version before, and its tracked-changes document part:
        compared and encoded once per version, not once per recipient."""
        key = (policy.id, policy.version)
        if key not in self._changes:
            comparison, [tracked] = compare_versions(
                self.register, policy.id, policy.version - 1, policy.version, ("docx",),
                self.rendered_root / policy.id, today)
            self._changes[key] = comparison, self.attachment(tracked.path.name,
                                                             tracked.path.read_bytes())
        return self._changes[key]

    def recorder(self, today: date) -> Person | None:
        """Who records a body's decision in the register, and so whom a prompt's replies
        reach: an active clerk, else someone in the office."""
        if self._recorder is None:
            active = [p for p in self.register.people() if p.active_on(today)]
            self._recorder = (next((p for p in active if "clerk" in p.roles), None)
                              or next((p for p in active if "office" in p.roles), None), )
        return self._recorder[0]

    def _review(self, message: Message, policy: PolicyRecord, now: datetime,
                context: dict[str, Any]) -> str:
        today = now.date()
        due = policy.review_due
        overdue = message.stage.startswith("overdue")
        term = term_ending(due, self.config.terms)
        context |= {"overdue": overdue, "due_long": due_phrase(due, self.config.terms),
                    "due_day": long_date(due),
                    "due_month": term.label if term else month_phrase(due),
                    "how_overdue": span_phrase(due, today),
                    "time_left": span_phrase(today, due) if today < due else ""}
        meeting = meeting_for(policy, self.meetings(), set(self.open_drafts()), today)
        event = (meeting_event(meeting, self.agenda(meeting), self.domain, self.config.tz, now)
                 if meeting else deadline_event(Deadline(policy), self.domain, now)
                 if due >= today else None)
        context |= {"meeting": meeting and self.meeting_context(meeting), "event": event,
                    "calendar": event is not None, "recorder": self.recorder(today),
                    "feed_link": self.feed_link(message.person_key)}
        prefix = "[Office copy] " if message.office_copy else ""
        if overdue:
            return (f"{prefix}Review overdue: {policy.title} (due {context['due_month']}, "
                    f"{span_phrase(due, today)} ago)")
        if message.stage == "due":
            return f"{prefix}Review due today: {policy.title}"
        return f"{prefix}Review due by {due_phrase(due, self.config.terms)}: {policy.title}"

    def _digest(self, today: date) -> tuple[str, dict[str, Any]]:
        unmanned = bodies_without_members(self.config.approvers, self.register.people(), today)
        rows = [status_row(p, today, self.config, unmanned) for p in self.register.policies()]
        problems = [r for r in rows if r.problem]
        overdue = [r for r in rows if r.state == State.OVERDUE]
        upcoming = [r for r in rows if r.state in (State.DUE_SOON, State.DUE)]
        failures = self.register.outbox.messages(status=Status.FAILED)
        pending = self.register.outbox.count(Status.PENDING)
        monday = today - timedelta(days=today.weekday())
        rates, unconfirmed = self._confirmations(today)
        context = {"overdue": overdue, "upcoming": upcoming, "failures": failures,
                   "pending": pending, "horizon": self.config.due_soon_days,
                   "to_erase": past_keeping(self.register.people(), today,
                                            self.config.keep_after_leaving_months),
                   "keep_months": self.config.keep_after_leaving_months,
                   "week_long": long_date(monday), "confirmation_rates": rates,
                   "unconfirmed": unconfirmed, "problems": problems,
                   "statutory": self._statutory_gaps(today),
                   "dashboard": f"{self.config.base_url}/admin",
                   "titles": {r.id: r.title for r in rows}}
        subject = (f"Policy digest, week of {long_date(monday)}: {len(overdue)} overdue, "
                   f"{len(upcoming)} due soon, {len(failures)} failed")
        return subject, context

    def _statutory_gaps(self, today: date) -> list[Standing]:
        """The statutory policies this school must keep that are missing or overdue."""
        found = standings(load_catalogue(), self.register.policies(), self.config.school_type,
                          self.config.phase, today)
        return sorted((s for s in found if s.state != "present"),
                      key=lambda s: (s.state != "overdue", s.entry.title))

    def _confirmations(self, today: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        directory = self.register.people()
        people = {email_key(p.email): p for p in directory}
        rates, unconfirmed = [], []
        for policy in self.register.policies():
            state = progress(self.register, policy, self.config, today, directory)
            if state.asked:
                rates.append({"title": policy.title, "version": policy.version,
                              "asked": len(state.asked), "confirmed": len(state.confirmed)})
            unconfirmed += [{"name": people[k].name, "email": people[k].email,
                             "title": policy.title, "version": policy.version}
                            for k in sorted(state.chased_out) if k in people]
        return rates, unconfirmed

    def calendar_part(self, event: Any) -> bytes:
        name = "meeting.ics" if str(event["uid"]).startswith("meeting-") else "review-deadline.ics"
        return part({"Content-Type": 'text/calendar; charset="utf-8"; method=PUBLISH',
                     "Content-Disposition": f'attachment; filename="{name}"',
                     "Content-Transfer-Encoding": "base64"}, base64_lines(single(event)))

    def feed_link(self, person_key: str) -> str:
        token = calendar_token(self.secret, self.ref(person_key))
        return f"{self.config.base_url}/calendar/{token}.ics"

    def person(self, person_key: str) -> Person | None:
        """The directory as it was when the run began (read once)."""
        if self._people is None:
            self._people = {email_key(p.email): p for p in self.register.people()}
        return self._people.get(person_key)

    def confirmed_by(self, person_key: str) -> dict[tuple[str, int], set[str]]:
        """(policy, version) -> the school years the person confirmed it in (every person's
        read in one query, on the first annual reminder of the run)."""
        if self._confirmed is None:
            self._confirmed = self.register.confirmed_by_everyone()
        return self._confirmed.get(person_key, {})

    def ref(self, person_key: str) -> str:
        """The person's opaque reference for their links (all read in one query)."""
        if self._refs is None:
            self._refs = self.register.person_refs()
        return self._refs.get(person_key, "")

    # -- meetings and their packs ------------------------------------------------------------

    def meetings(self) -> list[Meeting]:
        """Read once per delivery run, as the policies are: every pack of one run lists
        the same agenda."""
        if self._meetings is None:
            self._meetings = self.register.meetings(include_cancelled=False)
        return self._meetings

    def open_drafts(self) -> dict[str, Draft]:
        if self._open_drafts is None:
            self._open_drafts = {d.policy_id: d for d in self.register.drafts()}
        return self._open_drafts

    def agenda(self, meeting: Meeting) -> list[AgendaItem]:
        return agenda(meeting, self.meetings(), self.register.policies(),
                      set(self.open_drafts()))

    @staticmethod
    def meeting_context(meeting: Meeting) -> dict[str, Any]:
        at = f" at {meeting.time:%H:%M}" if meeting.time else ""
        return {"name": meeting.name, "body": meeting.body,
                "when": f"{meeting.day:%A} {long_date(meeting.day)}{at}"}

    def _pack(self, message: Message, now: datetime) -> tuple[str, dict[str, Any], list[bytes]]:
        """The meeting's agenda with, for each policy, the draft (or the current text) and
        the tracked changes from the current text to the draft. Each document is rendered
        and encoded once per text, whoever it goes to."""
        today = now.date()
        meeting = self.register.meeting_by_id(int(message.period.removeprefix("m")))
        if meeting is None or meeting.cancelled:
            raise LifecycleError(f"{message.period}: the meeting is cancelled or gone")
        items = self.agenda(meeting)
        listed, parts = [], []
        for item in items:
            documents = self.pack_documents(item.policy, today)
            parts += [mime for _, mime in documents]
            due = due_phrase(item.policy.review_due, self.config.terms)
            state = (f"Review overdue: it was due by {due}." if item.reason == "overdue" else
                     f"Review due by {due}." if item.reason == "due" else
                     f"Review due by {due}; a revised text is proposed.")
            listed.append({"policy": item.policy, "reason": item.reason, "state": state,
                           "draft": self.open_drafts().get(item.policy.id),
                           "due_long": due,
                           "files": [name for name, _ in documents],
                           "link": f"{self.config.base_url}/policies/{item.policy.id}"})
        parts.append(self.calendar_part(meeting_event(meeting, items, self.domain,
                                                      self.config.tz, now)))
        context = {"meeting": self.meeting_context(meeting), "items": listed,
                   "office_copy": message.office_copy, "recorder": self.recorder(today),
                   "feed_link": self.feed_link(message.person_key),
                   "agenda_link": f"{self.config.base_url}/admin/meetings/{meeting.id}"}
        prefix = "[Office copy] " if message.office_copy else ""
        subject = (f"{prefix}Review pack: {meeting.name}, {long_date(meeting.day)} "
                   f"({len(items)} {'policy' if len(items) == 1 else 'policies'})")
        return subject, context, parts

    def pack_documents(self, policy: PolicyRecord, today: date) -> list[tuple[str, bytes]]:
        """(file name, MIME part): the draft and its tracked changes, or the current text."""
        draft = self.open_drafts().get(policy.id)
        if draft is None:
            return [(self.document(policy, today)[0], self.document_part(policy, today))]
        key = (policy.id, draft.sha256)
        if key not in self._drafts:
            files = render_draft(self.register, policy.id, self.rendered_root / policy.id, today)
            self._drafts[key] = [(f.path.name, self.attachment(f.path.name, f.path.read_bytes()))
                                 for f in files]
        return self._drafts[key]
