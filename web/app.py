"""The web application served by `serve`: public policy pages, read-and-confirm, the office
dashboard. Starlette on uvicorn; Jinja2 templates (autoescaped).

The policy pages are the files `render` writes (nothing is rendered twice). Handlers are
async; reads run on the event loop and everything slow or writing on worker threads (see Site).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import secrets
import socket
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from documents.pdf import NoLibreOffice, to_pdf
from documents.publish import compare_versions, render_policy
from documents.word_import import read_policy_file
from lifecycle import confirmations, operations
from lifecycle.agenda import bodies_without_members
from lifecycle.config import Config
from lifecycle.dates import long_date, parse_date, school_year
from lifecycle.errors import InputError, InstanceError, LifecycleError, NeedsConfirmation
from lifecycle.instance import Instance
from lifecycle.model import (
    ROLES,
    Confirmation,
    Kind,
    Person,
    PolicyRecord,
    State,
    Status,
    email_key,
)
from lifecycle.personal_data import past_keeping
from lifecycle.policies import NewText, ReviewOutcome
from lifecycle.status import StatusRow, status_row
from lifecycle.store import Register

from . import admin
from .words import kind_words, stage_words

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["long_date"] = long_date
TEMPLATES.env.filters["fromjson"] = json.loads
TEMPLATES.env.filters["when"] = lambda moment: (
    f"{long_date(moment)}, {moment:%H:%M}" if moment else "")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",   # personal links must not leak to other sites
}
STATE_COLOURS = {State.OK: "green", State.DUE_SOON: "amber", State.DUE: "amber",
                 State.OVERDUE: "red"}
PLAN_DAYS = 60
HASHES_AT_ONCE = 1
T = TypeVar("T")
STOP_SECONDS = 3         # for open web requests when the service stops
# Any form, an uploaded policy included: a Word file may carry pictures, but the register
# takes texts of at most 1 MB.
MAX_FORM_BYTES = 10_000_000
FILES_KEPT = 256                    # rendered pages and documents kept in memory
PENDING_FOR = timedelta(hours=1)    # how long a text awaiting a second step is kept
MAX_PENDING = 8


class BodyTooLarge(Exception):
    """A request body past MAX_FORM_BYTES, raised while it is being read."""


class Site:
    """Everything a request needs: the instance, the clock, the register, render cache.

    Each thread has its own connection to the register: handlers read on the event loop (in
    WAL mode a read never waits for a writer), and everything that writes or takes long
    (renders, plans, confirmations, hashing) runs on a worker thread, so a command holding
    the write lock, or a long render, never stalls the other pages."""

    def __init__(self, inst: Instance, clock: Any) -> None:
        self.inst = inst
        self.clock = clock
        self.secret = confirmations.ensure_secret(inst.root)
        self._local = threading.local()
        self._opened: list[Register] = []
        self._renders: dict[tuple[str, int, str, bool, bool], Path] = {}
        self._pdf_lock = threading.Lock()     # one LibreOffice at a time
        self._writer: anyio.CapacityLimiter | None = None     # made on the event loop
        self.throttle = admin.Throttle()
        self.hashing = asyncio.Semaphore(HASHES_AT_ONCE)
        self.sessions: set[str] = set()     # the office's open sessions
        self.pending: dict[str, Pending] = {}   # reviewed texts awaiting a second step
        self.uploads: dict[str, Any] = {}       # staff lists previewed, awaiting "Import"
        self._index: tuple[tuple[int, date], bytes] | None = None
        self._files: OrderedDict[Path, tuple[tuple[int, int], bytes]] = OrderedDict()

    def hold(self, pending: Pending) -> str:
        """Keep a text awaiting confirmation for an hour (at most a few at a time)."""
        cutoff = self.now() - PENDING_FOR
        for token in [t for t, p in self.pending.items() if p.made < cutoff]:
            del self.pending[token]
        while len(self.pending) >= MAX_PENDING:
            del self.pending[next(iter(self.pending))]
        token = secrets.token_urlsafe(24)
        self.pending[token] = pending
        return token

    def open_session(self) -> str:
        session = secrets.token_urlsafe(32)
        self.sessions.add(session)
        return session

    @property
    def register(self) -> Register:
        """This thread's connection, opened on first use."""
        register: Register | None = getattr(self._local, "register", None)
        if register is None:
            register = self._local.register = self.inst.register()
            self._opened.append(register)
        return register

    def now(self) -> datetime:
        now: datetime = self.clock()
        return now

    def index(self, render: Callable[[], bytes]) -> bytes:
        """The public list of policies, rendered again only when the register has changed
        (or the day has: it shows what is overdue)."""
        key = (self.register.data_version, self.now().date())
        if self._index is None or self._index[0] != key:
            self._index = (key, render())
        return self._index[1]

    def file_bytes(self, path: Path) -> bytes:
        """A rendered file's bytes, kept in memory while it is unchanged on disk (the most
        recently used FILES_KEPT of them): a page costs no thread and no read."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        kept = self._files.get(path)
        if kept is None or kept[0] != stamp:
            kept = self._files[path] = (stamp, path.read_bytes())
            while len(self._files) > FILES_KEPT:
                self._files.popitem(last=False)
        self._files.move_to_end(path)
        return kept[1]

    def close(self) -> None:
        while self._opened:
            self._opened.pop().close()

    def policy(self, policy_id: str) -> PolicyRecord | None:
        return self.register.policy(policy_id)

    def school_year(self) -> str:
        return school_year(self.now().date(), self.inst.config.cycle_start)[1]

    def confirmation(self, person_key: str, policy: PolicyRecord,
                     version: int) -> Confirmation | None:
        """The person's confirmation that counts now: this school year's for a policy
        confirmed yearly, any for one confirmed once per version."""
        return self.register.confirmation(person_key, policy.id, version,
                                          self.school_year() if policy.yearly else None)

    async def confirm(self, policy: PolicyRecord, ack: confirmations.Ack, address: str) -> bool:
        return await self.write(lambda: confirmations.confirm(
            self.register, policy, ack, address, self.now(), self.inst.config.cycle_start))

    async def retry(self, message_id: int) -> None:
        await self.write(lambda: self.register.outbox.retry(message_id, self.now()))

    async def write(self, change: Callable[[], T]) -> T:
        """A change to the register, on a worker thread, one at a time: waiting for the write
        lock (a command may hold it) never blocks the event loop, and the site's own writes
        queue here rather than contend inside SQLite."""
        if self._writer is None:
            self._writer = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(change, limiter=self._writer)

    async def rendered(self, policy: PolicyRecord, version: int, fmt: str,
                       changes: bool = False) -> Path:
        """The rendered file (or the changes from the version before), written by `render`
        or `diff` or now (on a worker thread) if missing; remembered per state, so a page
        already rendered costs no thread at all."""
        today = self.now().date()
        key = (policy.id, version, fmt, changes,
               version == policy.version and policy.review_due < today)
        path = self._renders.get(key)
        if path is None or not path.exists():
            path = self._renders[key] = await run_in_threadpool(
                self._changes if changes else self._render, policy.id, version, fmt, today)
        return path

    def _render(self, policy_id: str, version: int, fmt: str, today: date) -> Path:
        """The render, or for a PDF the Word render converted by LibreOffice (again
        whenever the Word document is newer)."""
        folder = self.inst.root / "rendered" / policy_id
        [result] = render_policy(self.register, policy_id, version,
                                 ("docx",) if fmt == "pdf" else (fmt,), folder, today)
        if fmt != "pdf":
            return result.path
        pdf = result.path.with_suffix(".pdf")
        if not pdf.exists() or pdf.stat().st_mtime < result.path.stat().st_mtime:
            with self._pdf_lock:
                to_pdf([result.path], folder)
        return pdf

    def _changes(self, policy_id: str, version: int, fmt: str, today: date) -> Path:
        _, [result] = compare_versions(self.register, policy_id, version - 1, version, (fmt,),
                                       self.inst.root / "rendered" / policy_id, today)
        return result.path


def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, name, {
        "school": request.app.state.site.inst.config.school, **context}, status_code=status)


def problem(request: Request, status: int, title: str, detail: str) -> Response:
    return page(request, "error.html", status=status, title=title, detail=detail)


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


# -- public pages --------------------------------------------------------------------------

async def policy_list(request: Request) -> Response:
    site = site_of(request)

    def render() -> bytes:
        today = site.now().date()
        rows = [status_row(p, today, site.inst.config) for p in site.register.policies()
                if p.publish]
        return TEMPLATES.get_template("policies.html").render(
            school=site.inst.config.school, title="Policies", policies=rows,
            long_date=long_date).encode()
    return Response(site.index(render), media_type="text/html; charset=utf-8")


# a version number is at most nine digits: anything longer is no version of ours (and would
# overflow SQLite's integer)
_DOC = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]*?)(?:/v(?P<version>[1-9]\d{0,8}))?"
                  r"(?P<changes>/changes)?(?P<ext>\.docx|\.pdf)?$")


async def policy_file(request: Request) -> Response:
    site = site_of(request)
    m = _DOC.match(request.path_params["rest"])
    policy = site.policy(m["id"]) if m else None
    if m is None or policy is None:
        return problem(request, 404, "Not found", "There is no such policy.")
    version = int(m["version"] or policy.version)
    if site.register.version(policy.id, version) is None:
        return problem(request, 404, "Not found", f"{policy.title} has no version {version}.")
    if m["changes"] and version == 1:
        return problem(request, 404, "Not found", f"Version 1 is the first version of the "
                       f"{policy.title}: there is no earlier text to compare it with.")
    fmt = (m["ext"] or ".html")[1:]
    if fmt == "pdf" and (m["changes"] or m["version"]):
        return problem(request, 404, "Not found", "Only the current version has a PDF copy.")
    try:
        path = await site.rendered(policy, version, fmt, changes=bool(m["changes"]))
    except NoLibreOffice:
        return problem(request, 404, "No PDF copy", f"There is no PDF copy of the "
                       f"{policy.title} here; the Word copy is at /policies/{policy.id}.docx.")
    body = site.file_bytes(path)
    if fmt == "pdf":
        return _download(body, f"{policy.id}.pdf", "application/pdf")
    if fmt == "docx":
        return _download(body, path.name, "application/vnd.openxmlformats-officedocument."
                                          "wordprocessingml.document")
    return Response(body, media_type="text/html; charset=utf-8")


def _download(body: bytes, name: str, media_type: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- read and confirm ----------------------------------------------------------------------

AckHandler = Callable[[Request, Site, confirmations.Ack, PolicyRecord, Person],
                      Awaitable[Response]]


def personal_link(handler: AckHandler) -> Callable[[Request], Awaitable[Response]]:
    """A page behind a personal /ack link: only for a valid link to the current version."""
    async def checked(request: Request) -> Response:
        site = site_of(request)
        try:
            ack = confirmations.read_token(site.secret, request.path_params["token"],
                                           site.register.person_key_of)
        except confirmations.BadToken as e:
            return problem(request, 400, "This link does not work", str(e))
        policy = site.policy(ack.policy_id)
        person = site.register.person(ack.person)
        if policy is None or person is None or \
                site.register.version(policy.id, ack.version) is None:
            return problem(request, 400, "This link does not work",
                           "It names a policy or a person this school does not have.")
        if ack.version != policy.version:
            return problem(request, 410, "This policy has been updated",
                           f"This link asked you to read version {ack.version} of the "
                           f"{policy.title}; it is now version {policy.version}. Please use "
                           "the link in the most recent message about it.")
        return await handler(request, site, ack, policy, person)
    return checked


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def office(request: Request) -> str:
    """Who made a change from the dashboard, for the audit log."""
    return f"the office (dashboard, from {client_address(request)})"


def _article(path: Path) -> str:
    """The policy's own text from its rendered page (the render is reused, not redone)."""
    html = path.read_text(encoding="utf-8")
    start = html.index('<article class="policy">')
    return html[start:html.index("</article>", start) + len("</article>")]


@personal_link
async def ack_page(request: Request, site: Site, ack: confirmations.Ack, policy: PolicyRecord,
                   person: Person) -> Response:
    path = await site.rendered(policy, ack.version, "html")
    meta = site.register.version_facts(policy.id, ack.version, site.now().date())
    done = site.confirmation(ack.person, policy, ack.version)
    return page(request, "ack.html", title=f"Confirm: {policy.title}", policy=policy, meta=meta,
                person=person, done=done, article=Markup(_article(path)),
                adopted=long_date(meta.adopted), review_due=long_date(meta.review_due),
                docx=f"/policies/{policy.id}.docx")


@personal_link
async def ack_confirm(request: Request, site: Site, ack: confirmations.Ack,
                      policy: PolicyRecord, person: Person) -> Response:
    done = site.confirmation(ack.person, policy, ack.version)
    new = False
    if done is None:                    # a second press is answered without a write
        new = await site.confirm(policy, ack, client_address(request))
        done = site.confirmation(ack.person, policy, ack.version)
    return page(request, "ack_done.html", title="Thank you", policy=policy, person=person,
                new=new, when=done.confirmed_at if done else site.now())


# -- the office ----------------------------------------------------------------------------

def _logged_in(request: Request) -> bool:
    """A signed cookie alone is not enough: its session must still be open on the server, so
    logging out (or restarting the service) ends it even if the cookie was copied."""
    session = request.session.get("admin")
    return isinstance(session, str) and session in site_of(request).sessions


def _login_required(request: Request) -> Response | None:
    if not _logged_in(request):
        return RedirectResponse(f"/admin/login?next={request.url.path}", status_code=303)
    return None


async def _form(request: Request) -> tuple[Any, Response | None]:
    """The posted form, or the page that refuses it: too large, unreadable, or without this
    session's CSRF token."""
    length = request.headers.get("content-length", "")
    try:
        if length.isdigit() and int(length) > MAX_FORM_BYTES:
            raise BodyTooLarge
        form = await request.form(max_files=1, max_fields=32)
    except BodyTooLarge:
        return {}, problem(request, 413, "Too large to send",
                           f"A form here takes at most {MAX_FORM_BYTES // 1_000_000} MB, and a "
                           "policy's text far less. Is it the right file?")
    except HTTPException as e:
        return {}, problem(request, 400, "This form could not be read", str(e.detail))
    if not admin.csrf_ok(request.session, form.get("csrf")):
        return form, problem(request, 403, "Form expired",
                             "This form was not sent from this site's page, or it expired. "
                             "Go back, reload the page and try again.")
    return form, None


async def login(request: Request) -> Response:
    site = site_of(request)
    error = ""
    if request.method == "POST":
        form, refused = await _form(request)
        if refused:
            return refused
        address = client_address(request)
        if not site.throttle.admit(address, site.now()):
            return problem(request, 429, "Too many attempts",
                           "Too many wrong passwords have been tried: wait 15 minutes.")
        hashed = site.register.password_hash()
        async with site.hashing:      # each Argon2 check takes 64 MB: one at a time
            ok = await run_in_threadpool(admin.verify, hashed, str(form.get("password", "")))
        if ok:
            site.throttle.succeeded(address)
            request.session.clear()
            request.session["admin"] = site.open_session()
            admin.csrf_token(request.session)
            target = str(request.query_params.get("next", "/admin"))
            return RedirectResponse(target if target.startswith("/admin") else "/admin", 303)
        error = "That password is not right."
    return page(request, "login.html", status=401 if error else 200, title="Office login",
                csrf=admin.csrf_token(request.session), error=error)


async def logout(request: Request) -> Response:
    form, refused = await _form(request)
    if refused:
        return refused
    site_of(request).sessions.discard(str(request.session.get("admin")))
    request.session.clear()
    return RedirectResponse("/admin/login", status_code=303)


def _progress(site: Site, policy: PolicyRecord,
              people: list[Person] | None = None) -> confirmations.Progress:
    return confirmations.progress(site.register, policy, site.inst.config, site.now().date(),
                                  site.register.people() if people is None else people)


def _planned(plan: operations.Plan, titles: dict[str, str],
             chase_days: tuple[int, ...]) -> dict[tuple[str, str, str, str], int]:
    """The plan by day, kind, policy and stage, in words, with how many messages each."""
    planned: dict[tuple[str, str, str, str], int] = {}
    for at, batch in plan.batches:
        key = (f"{at:%A} {long_date(at)}", kind_words(batch.kind),
               titles.get(batch.policy_id, "every policy they read" if batch.kind in (
                   Kind.REMINDER, Kind.CHASE) else "–"),
               stage_words(batch.kind, batch.stage, batch.period, chase_days))
        planned[key] = planned.get(key, 0) + len(batch.people)
    return planned


async def dashboard(request: Request) -> Response:
    if (redirect := _login_required(request)) is not None:
        return redirect
    site = site_of(request)
    now = site.now()
    rows: list[tuple[StatusRow, str, confirmations.Progress]] = []
    unmanned = bodies_without_members(site.inst.config.approvers, site.register.people(),
                                      now.date())
    directory = site.register.people()
    for policy in site.register.policies():
        row = status_row(policy, now.date(), site.inst.config, unmanned)
        rows.append((row, STATE_COLOURS[row.state], _progress(site, policy, directory)))
    outbox = site.register.outbox
    plan = await run_in_threadpool(operations.plan, site.inst, now, PLAN_DAYS)
    statutory = await run_in_threadpool(operations.catalogue, site.inst, now.date())
    config = site.inst.config
    titles = {row.id: row.title for row, _, _ in rows}
    return page(request, "dashboard.html", title="Office dashboard", policies=rows,
                statutory=[s for s in statutory if s.state != "present"],
                failures=outbox.messages(status=Status.FAILED), counts=outbox.counts(),
                planned=_planned(plan, titles, config.chase_after_days), days=PLAN_DAYS,
                unconfirmed=sum(len(p.chased_out) for _, _, p in rows),
                to_erase=past_keeping(directory, now.date(), config.keep_after_leaving_months),
                titles=titles, kind_words=kind_words, stage_words=stage_words,
                chase_days=config.chase_after_days, csrf=admin.csrf_token(request.session))


async def policy_admin(request: Request) -> Response:
    if (redirect := _login_required(request)) is not None:
        return redirect
    site = site_of(request)
    policy = site.policy(request.path_params["policy_id"])
    if policy is None:
        return problem(request, 404, "Not found", "There is no such policy.")
    return _policy_page(request, site, policy)


def _policy_page(request: Request, site: Site, policy: PolicyRecord, status: int = 200,
                 errors: dict[str, str] | None = None,
                 values: dict[str, str] | None = None) -> Response:
    """A policy's page in the dashboard; with ``errors`` beside the review form's fields."""
    state = _progress(site, policy)
    people = {email_key(p.email): p for p in site.register.people()}
    done = site.register.confirmations(policy.id, policy.version,
                                       site.school_year() if policy.yearly else None)
    return page(request, "policy_admin.html", status=status, title=policy.title, policy=policy,
                errors=errors or {},
                values=values or {"date": site.now().date().isoformat(), "next": "",
                                  "notes": ""},
                versions=site.register.versions(policy.id),
                row=status_row(policy, site.now().date(), site.inst.config),
                missing=sorted((people[k] for k in state.missing if k in people),
                               key=lambda p: p.name),
                chased_out=state.chased_out, confirmed=[(people.get(k), r) for k, r in
                                                         sorted(done.items())],
                message=request.query_params.get("message", ""),
                error=request.query_params.get("error", ""),
                csrf=admin.csrf_token(request.session))


def office_form(handler: Callable[[Request, Any], Awaitable[Response]]) -> Callable[
        [Request], Awaitable[Response]]:
    """A dashboard form: only when logged in, and only with this session's CSRF token."""
    async def checked(request: Request) -> Response:
        if (redirect := _login_required(request)) is not None:
            return redirect
        form, refused = await _form(request)
        return refused or await handler(request, form)
    return checked


async def _upload(form: Any, tmp: str) -> tuple[NewText | None, str]:
    """The uploaded file as a text (Word converted), and its name as the office knows it."""
    upload = form.get("file")
    name = Path(str(getattr(upload, "filename", "") or "")).name
    if not name:
        return None, ""
    path = Path(tmp) / f"upload{Path(name).suffix.lower()}"
    path.write_bytes(await upload.read())          # read_policy_file refuses other kinds
    try:
        text, _ = await run_in_threadpool(read_policy_file, path)
    except LifecycleError as e:
        raise InputError(_named(e, NewText(path, ""), name)) from None
    return NewText(path, text), name


def _named(error: Exception, new: NewText | None, name: str) -> str:
    """An error message naming the file as the office knows it, never our temporary path."""
    return str(error).replace(str(new.path), name) if new is not None else str(error)


@dataclass
class Pending:
    """A reviewed text that looked like an accident, kept until the office confirms it."""

    policy_id: str
    new: NewText
    name: str
    form: dict[str, str]
    reasons: list[str]
    made: datetime


@office_form
async def review(request: Request, form: Any) -> Response:
    site = site_of(request)
    policy_id = request.path_params["policy_id"]
    back = f"/admin/policies/{policy_id}"
    fields = {k: str(form.get(k, "")) for k in ("date", "next", "notes")}
    with tempfile.TemporaryDirectory() as tmp:
        new, name = None, ""
        try:
            new, name = await _upload(form, tmp)
            outcome = await _record(site, policy_id, fields, new)
        except NeedsConfirmation as e:
            text = new.text if new is not None else ""
            token = site.hold(Pending(policy_id, NewText(Path(name), text), name, fields,
                                      e.reasons, site.now()))
            return page(request, "review_confirm.html", title="Is this the new text?",
                        policy=site.policy(policy_id), pending=site.pending[token],
                        token=token, csrf=admin.csrf_token(request.session))
        except (LifecycleError, ValueError) as e:
            return _review_refused(request, site, policy_id, e, new, name, fields)
    return _recorded(back, outcome)


_REVIEW_FIELDS_OF = {"--date": "date", "--next": "next", "--file": "file"}


def _review_refused(request: Request, site: Site, policy_id: str, error: Exception,
                    new: NewText | None, name: str, fields: dict[str, str]) -> Response:
    """The policy's page again, the error beside the field it is about."""
    policy = site.policy(policy_id)
    if policy is None:
        return problem(request, 404, "Not found", "There is no such policy.")
    field = _REVIEW_FIELDS_OF.get(getattr(error, "field", None) or "",
                                  "file" if name and new is None else "form")
    message = getattr(error, "message", None) if field != "file" else None
    return _policy_page(request, site, policy, 400,
                        {field: message or _named(error, new, name)}, fields)


@office_form
async def review_confirm(request: Request, form: Any) -> Response:
    """The second step: the office has seen why the text looked like an accident."""
    site = site_of(request)
    policy_id = request.path_params["policy_id"]
    back = f"/admin/policies/{policy_id}"
    pending = site.pending.pop(str(form.get("token", "")), None)
    if pending is None or pending.policy_id != policy_id:
        expired = "That review has expired: upload the file again."
        return RedirectResponse(f"{back}?{_query(error=expired)}", status_code=303)
    try:
        outcome = await _record(site, policy_id, pending.form, pending.new, confirmed=True)
    except (LifecycleError, ValueError) as e:
        return RedirectResponse(f"{back}?{_query(error=str(e))}", status_code=303)
    return _recorded(back, outcome)


async def _record(site: Site, policy_id: str, fields: dict[str, str], new: NewText | None,
                  confirmed: bool = False) -> ReviewOutcome:
    reviewed = form_date(fields["date"], "--date")
    next_due = form_date(fields["next"], "--next") if fields["next"].strip() else None
    return await run_in_threadpool(operations.record_review, site.inst, policy_id, reviewed,
                                   next_due, new, fields["notes"], site.now(), confirmed)


def form_date(text: str, field: str) -> date:
    """A date from a form, or InputError naming its field."""
    try:
        return parse_date(text)
    except ValueError as e:
        raise InputError(str(e), field=field) from None


def _recorded(back: str, outcome: ReviewOutcome) -> Response:
    change = (f"adopted version {outcome.version}" if outcome.text_changed
              else "no change to the text")
    message = f"Review recorded: {change}; next review due {long_date(outcome.next_due)}."
    return RedirectResponse(f"{back}?{_query(message=message)}", status_code=303)


_ADD_FIELDS = ("id", "title", "adopted", "review_due", "interval", "approver", "statutory")
# the command's option -> the form's field, for errors shown beside the field
_ADD_FIELDS_OF = {"--id": "id", "--title": "title", "--adopted": "adopted",
                  "--review-due": "review_due", "--interval": "interval",
                  "--approver": "approver", "--audiences": "audiences",
                  "--reminder-audience": "reminder_audience"}


def _add_form(request: Request, values: dict[str, Any], error: str = "",
              status: int = 200, errors: dict[str, str] | None = None) -> Response:
    config = site_of(request).inst.config
    return page(request, "policy_add.html", status=status, title="Add a policy",
                values=values, error=error, errors=errors or {}, roles=ROLES,
                terms=bool(config.terms),
                approvers=list(config.approvers) or ["Governing Body"],
                csrf=admin.csrf_token(request.session))


async def add_policy_page(request: Request) -> Response:
    """The form, filled in from a catalogue entry when one is asked for (?statutory=ID)."""
    if (redirect := _login_required(request)) is not None:
        return redirect
    values: dict[str, Any] = {"interval": "3 years", "audiences": ["staff"],
                              "reminder_audience": ["staff"]}
    wanted = request.query_params.get("statutory", "")
    if wanted:
        try:
            fields = operations.policy_fields(site_of(request).inst, wanted, {})
        except LifecycleError as e:
            return _add_form(request, values, str(e), status=400)
        values |= {"title": fields["title"], "approver": fields["approver"],
                   "interval": fields.get("review_interval", "1 year"), "statutory": wanted,
                   "id": wanted, "reminder_audience": fields["reminder_audience"]}
    return _add_form(request, values)


@office_form
async def add_policy(request: Request, form: Any) -> Response:
    site = site_of(request)
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in _ADD_FIELDS}
    values |= {k: form.getlist(k) for k in ("audiences", "reminder_audience")}
    with tempfile.TemporaryDirectory() as tmp:
        new, name = None, ""
        try:
            new, name = await _upload(form, tmp)
            if new is None:
                raise InputError("choose the policy's Word document or Markdown file")
        except InputError as e:
            return _add_form(request, values, status=400, errors={"file": str(e)})
        try:
            given = {"id": values["id"], "title": values["title"],
                     "school": site.inst.config.school, "approver": values["approver"],
                     "adopted": values["adopted"], "review_due": values["review_due"],
                     "review_interval": values["interval"], "audiences": values["audiences"],
                     "reminder_audience": values["reminder_audience"]}
            fields = operations.policy_fields(site.inst, values["statutory"] or None, given)
            source = await run_in_threadpool(operations.add_policy, site.inst, fields, new,
                                             site.now())
        except InputError as e:
            field = _ADD_FIELDS_OF.get(e.field or "")
            if field:
                return _add_form(request, values, status=400, errors={field: e.message})
            return _add_form(request, values, _named(e, new, name), status=400)
        except (LifecycleError, ValueError) as e:
            return _add_form(request, values, _named(e, new, name), status=400)
    message = (f"Added: version 1, adopted {long_date(source.adopted)}, review due "
               f"{long_date(source.review_due)}.")
    return RedirectResponse(f"/admin/policies/{source.id}?{_query(message=message)}",
                            status_code=303)


def _query(**values: str) -> str:
    return urlencode(values)


@office_form
async def retry(request: Request, form: Any) -> Response:
    site = site_of(request)
    try:
        await site.retry(int(request.path_params["message_id"]))
    except LifecycleError as e:
        return problem(request, 409, "Cannot retry", str(e))
    return RedirectResponse("/admin#outbox", status_code=303)


def _csv(name: str, header: list[str], rows: Iterable[Iterable[object]]) -> Response:
    """A CSV download; every cell neutralised against formulas."""
    out = io.StringIO()
    out.write("\ufeff")             # Excel reads UTF-8 only after a byte-order mark
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_cell(str(value)) for value in row] for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


async def export(request: Request) -> Response:
    """Every confirmation ever given: the evidence of every school year."""
    if (redirect := _login_required(request)) is not None:
        return redirect
    tz = site_of(request).inst.config.tz
    rows = ((e.name, e.email, ";".join(e.roles), e.confirmation.policy_id,
             e.confirmation.version, e.confirmation.school_year, e.confirmation.sha256,
             _spreadsheet_time(e.confirmation.confirmed_at, tz), e.confirmation.address)
            for e in site_of(request).register.evidence())
    return _csv("confirmations.csv", ["person", "email", "role", "policy", "version",
                                      "school_year", "text_sha256", "confirmed_at", "address"],
                rows)


async def export_year(request: Request) -> Response:
    """This school year's state: each active person against each policy they are asked to
    read, confirmed (when) or not, as it counts now."""
    if (redirect := _login_required(request)) is not None:
        return redirect
    site = site_of(request)
    today, year = site.now().date(), site.school_year()
    policies = site.register.policies()
    rows = []
    for person in site.register.people():
        if not person.active_on(today):
            continue
        for policy in confirmations.reading_list(policies, person, today):
            done = site.confirmation(email_key(person.email), policy, policy.version)
            rows.append((person.name, person.email, policy.title, policy.version, year,
                         policy.confirm, "confirmed" if done else "not confirmed",
                         _spreadsheet_time(done.confirmed_at, site.inst.config.tz) if done
                         else ""))
    return _csv(f"confirmations-{year}.csv", ["person", "email", "policy", "version",
                                              "school_year", "confirm", "state",
                                              "confirmed_at"], rows)


def _spreadsheet_time(moment: datetime, tz: Any) -> str:
    """The school's local time as Excel and LibreOffice read a date-time in a CSV."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def home(request: Request) -> Response:
    return RedirectResponse("/policies/", status_code=303)


class SecurityHeaders:
    """The security headers on every response, the framework's own 404s and redirects
    included; personal pages (/ack) and the office's (/admin) are never stored by a cache."""

    PRIVATE = ("/ack/", "/admin", "/confirm/")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = str(scope["path"]).startswith(self.PRIVATE)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Stops reading a request body past ``limit`` bytes, chunked or not (see _form)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_FORM_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


def listen(bind: str) -> socket.socket:
    """The web port, bound before anything else starts, so that a port in use is one clear
    line at once rather than a service half started."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise InstanceError(f"cannot serve the web pages on {bind}: {e.strerror} (another "
                            "program uses it? choose another with --bind or [web] bind)") from None
    sock.listen(128)
    return sock


def run_web(app: Starlette, sock: socket.socket, config: Config,
            stop: threading.Event) -> None:
    """uvicorn in this (the main) thread until SIGTERM or Ctrl-C, which set ``stop`` at once
    (uvicorn keeps the signal to itself until it has finished), or until ``stop`` is set: a
    signal that came before uvicorn took the signals over set it, and must end the server
    too. X-Forwarded-For is
    believed only from the proxies the config names: uvicorn's default trusts 127.0.0.1,
    which would let anyone on this machine choose the address recorded with a confirmation
    and step around the login throttle."""
    import logging

    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            stop.set()
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            return stop.is_set() or await super().on_tick(counter)

    proxies = list(config.trusted_proxies)
    settings = uvicorn.Config(app, log_config=None, access_log=False, loop="uvloop",
                              http="httptools", timeout_graceful_shutdown=STOP_SECONDS,
                              proxy_headers=bool(proxies), forwarded_allow_ips=proxies)
    logging.getLogger("policy_lifecycle").info(
        "web pages on http://%s/ (links in messages use %s)", config.web_bind, config.base_url)
    Server(settings).run(sockets=[sock])


def create_app(inst: Instance, clock: Any = None) -> Starlette:
    from . import annual, catalogue, meetings, people  # their pages use this module's helpers

    site = Site(inst, clock or (lambda: inst.now()))
    https = inst.config.base_url.startswith("https://")
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        site.close()

    app = Starlette(lifespan=lifespan, middleware=[
        Middleware(SecurityHeaders),
        Middleware(BodyLimit),
        Middleware(SessionMiddleware, secret_key=site.secret.decode() + "/admin-session",
                   session_cookie="policy_lifecycle_admin",
                   max_age=int(timedelta(hours=8).total_seconds()), same_site="strict",
                   https_only=https)], routes=[
        Route("/", home),
        Route("/policies/", policy_list),
        Route("/policies/{rest:path}", policy_file),
        Route("/ack/{token}", ack_page, methods=["GET"]),
        Route("/ack/{token}", ack_confirm, methods=["POST"]),
        Route("/admin/login", login, methods=["GET", "POST"]),
        Route("/admin/logout", logout, methods=["POST"]),
        Route("/admin", dashboard),
        Route("/admin/add-policy", add_policy_page, methods=["GET"]),
        Route("/admin/add-policy", add_policy, methods=["POST"]),
        Route("/admin/policies/{policy_id}", policy_admin),
        Route("/admin/policies/{policy_id}/review", review, methods=["POST"]),
        Route("/admin/policies/{policy_id}/review/confirm", review_confirm, methods=["POST"]),
        Route("/admin/outbox/{message_id:int}/retry", retry, methods=["POST"]),
        Route("/admin/confirmations.csv", export),
        Route("/admin/confirmations-this-year.csv", export_year),
        Route("/admin/meetings", meetings.meetings_page, methods=["GET"]),
        Route("/admin/meetings", meetings.add_meeting, methods=["POST"]),
        Route("/admin/meetings/{meeting_id:int}", meetings.agenda_page, methods=["GET"]),
        Route("/admin/meetings/{meeting_id:int}/cancel", meetings.cancel_meeting,
              methods=["POST"]),
        Route("/admin/meetings/{meeting_id:int}/approve/{policy_id}", meetings.approve,
              methods=["POST"]),
        Route("/admin/drafts", meetings.drafts_page, methods=["GET"]),
        Route("/admin/drafts", meetings.add_draft, methods=["POST"]),
        Route("/admin/drafts/{policy_id}/discard", meetings.discard_draft, methods=["POST"]),
        Route("/calendar/{token}.ics", meetings.calendar_feed),
        Route("/admin/catalogue", catalogue.catalogue_page),
        Route("/admin/people", people.people_page, methods=["GET"]),
        Route("/admin/people", people.add, methods=["POST"]),
        Route("/admin/people/preview", people.preview, methods=["POST"]),
        Route("/admin/people/import", people.import_upload, methods=["POST"]),
        Route("/admin/people/{ref}", people.person_page, methods=["GET"]),
        Route("/admin/people/{ref}", people.correct, methods=["POST"]),
        Route("/admin/people/{ref}/leaver", people.leaver, methods=["POST"]),
        Route("/admin/people/{ref}/export.json", people.export, methods=["GET"]),
        Route("/admin/people/{ref}/erase", people.erase, methods=["POST"]),
        Route("/confirm/{token}", annual.annual_page, methods=["GET"]),
        Route("/confirm/{token}", annual.annual_confirm, methods=["POST"]),
        Route("/confirm/{token}/{policy_id}", annual.annual_read, methods=["GET"]),
        Route("/confirm/{token}/{policy_id}", annual.annual_confirm, methods=["POST"]),
    ])
    app.state.site = site
    return app
