"""What every page module shares: templates, the error page, forms and uploads, redirects,
downloads. A handler raises Problem for a page that refuses; one exception handler renders
it (and a missing login), so no page writes its own error page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.authentication import requires
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from documents.word_import import read_policy_file
from lifecycle.actions.policies import NewText
from lifecycle.values.dates import long_date, parse_date
from lifecycle.values.errors import InputError, LifecycleError, Remedy

from . import admin
from .site import Site

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["long_date"] = long_date
TEMPLATES.env.filters["fromjson"] = json.loads
# a person's fields as the People page names and shows them
PERSON_LABELS = {"name": "Name", "email": "Email", "roles": "Roles",
                 "start_date": "Start date", "end_date": "Leaving date"}
TEMPLATES.env.filters["person_label"] = lambda field: PERSON_LABELS.get(field, field)
TEMPLATES.env.filters["person_value"] = lambda value: (
    long_date(value) if isinstance(value, date) else "; ".join(value)
    if isinstance(value, tuple | list) else str(value) if value else "–")
TEMPLATES.env.filters["when"] = lambda moment: (
    f"{long_date(moment)}, {moment:%H:%M}" if moment else "")
# Any form, an uploaded policy included: a Word file may carry pictures, but the register
# takes texts of at most 1 MB.
MAX_FORM_BYTES = 10_000_000
OFFICE = "office"           # the scope of whoever may use the dashboard
# The domain's neutral fields as the forms name them (the others are named the same) and as a
# sentence says them; its remedies as the dashboard offers them.
FORM_FIELD_OF = {"reviewed": "date", "next_review": "next", "meeting_day": "date",
                 "approving_body": "body", "review_interval": "interval"}
FIELD_LABELS = {"reviewed": "Date reviewed", "next_review": "Next review due",
                "meeting": "Meeting", "meeting_day": "Date", "approving_body": "Body",
                "person": "Person", "policy": "Policy", "version": "Version",
                "reason": "Why it does not apply", "statutory": "Statutory policy",
                "entry": "Statutory policy"}
REMEDY_WORDS = {
    Remedy.CONFIRM: "",
    Remedy.FORCE: "",
    Remedy.CHANGED_SINCE_PACK: ". If this is the text they approved, tick the box to "
                               "approve it anyway",
    Remedy.NEW_TEXT: " (or record a review with the new text on the policy's page)",
    Remedy.FROM_CATALOGUE: " (or choose a statutory policy)",
    Remedy.ADD_MEETING: "; add it on the Meetings page",
    Remedy.GIVE_APPROVER: ", or choose the approving body",
    Remedy.CHOOSE_INSTANCE: "",
    Remedy.INITIALISE: "",
    Remedy.ADD_DRAFT: " (upload one on the Drafts page)",
    Remedy.APPROVE_UNCHANGED: " (to record a review with no changes, approve it at its "
                              "meeting without a draft)",
}
Handler = Callable[[Request], Awaitable[Response]]
FormHandler = Callable[[Request, Any], Awaitable[Response]]


class Problem(Exception):
    """A page that refuses: its status, title and a sentence saying why."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class BodyTooLarge(Exception):
    """A request body past MAX_FORM_BYTES, raised while it is being read."""


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, name, {
        "school": request.app.state.site.inst.config.school, **context}, status_code=status)


def office_page(request: Request, name: str, title: str, status: int = 200,
                **context: Any) -> Response:
    """A dashboard page with the outcome of the last form and a fresh CSRF token."""
    return page(request, name, status=status, title=title,
                message=request.query_params.get("message", ""),
                warning=request.query_params.get("warning", ""),
                error=request.query_params.get("error", ""),
                csrf=admin.csrf_token(request.session), **context)


async def problem_page(request: Request, exc: Exception) -> Response:
    """The one place error pages are made: a Problem, the framework's own errors, and a
    missing login (401: to the login page, then back)."""
    if isinstance(exc, Problem):
        return page(request, "error.html", status=exc.status, title=exc.title,
                    detail=exc.detail)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 401:
        return RedirectResponse(f"/admin/login?next={request.url.path}", status_code=303)
    titles = {404: ("Not found", "There is no such page here."),
              405: ("Not allowed", "This page cannot be used that way.")}
    title, detail = titles.get(status, ("Something went wrong", "Please try again."))
    return page(request, "error.html", status=status, title=title, detail=detail)


def office_only(handler: Handler) -> Handler:
    """A dashboard page: only for whoever may use the dashboard (see web/auth.py)."""
    return requires(OFFICE, status_code=401)(handler)


def office_form(handler: FormHandler) -> Handler:
    """A dashboard form: only when logged in, and only with this session's CSRF token."""
    async def request_form(request: Request) -> Response:
        return await handler(request, await read_form(request))
    return office_only(request_form)


async def read_form(request: Request) -> Any:
    """The posted form; a Problem when it is too large, unreadable, or without this session's
    CSRF token."""
    length = request.headers.get("content-length", "")
    try:
        if length.isdigit() and int(length) > MAX_FORM_BYTES:
            raise BodyTooLarge
        form = await request.form(max_files=1, max_fields=32)
    except BodyTooLarge:
        raise Problem(413, "Too large to send",
                      f"A form here takes at most {MAX_FORM_BYTES // 1_000_000} MB, and a "
                      "policy's text far less. Is it the right file?") from None
    except HTTPException as e:
        raise Problem(400, "This form could not be read", str(e.detail)) from None
    if not admin.csrf_ok(request.session, form.get("csrf")):
        raise Problem(403, "Form expired",
                      "This form was not sent from this site's page, or it expired. "
                      "Go back, reload the page and try again.")
    return form


def back(path: str, **values: str) -> Response:
    """Back to a page after a form, with what happened (message=, error=) to show there."""
    return RedirectResponse(f"{path}?{urlencode(values)}" if values else path,
                            status_code=303)


def warnings(said: list[str]) -> dict[str, str]:
    """What succeeded but deserves a second look, for ``back``: shown as a warning, never in
    the success box."""
    sentences = (w[:1].upper() + w[1:] + ("" if w.endswith((".", '."')) else ".")
                 for w in said)
    return {"warning": " ".join(sentences)} if said else {}


def form_date(text: str, field: str) -> date:
    """A date from a form, or InputError naming its field."""
    try:
        return parse_date(text)
    except ValueError as e:
        raise InputError(str(e), field=field) from None


async def upload(form: Any, tmp: str) -> tuple[NewText | None, str]:
    """The uploaded file as a text (Word converted), and its name as the office knows it."""
    sent = form.get("file")
    name = Path(str(getattr(sent, "filename", "") or "")).name
    if not name:
        return None, ""
    path = Path(tmp) / f"upload{Path(name).suffix.lower()}"
    path.write_bytes(await sent.read())          # read_policy_file refuses other kinds
    try:
        text, _ = await run_in_threadpool(read_policy_file, path)
    except LifecycleError as e:
        raise InputError(named(e, NewText(path, ""), name)) from None
    return NewText(path, text, name=name), name


def sentence(error: Exception) -> str:
    """An error as the dashboard says it: a field by its label, the remedy in its words."""
    if not isinstance(error, LifecycleError):
        return str(error)
    text = str(error)
    if isinstance(error, InputError) and error.file is None:
        text = error.located(FIELD_LABELS.get(error.field or ""))
    return text + (REMEDY_WORDS[error.remedy] if error.remedy else "")


def beside(error: Exception, fields: tuple[str, ...]) -> dict[str, str]:
    """The error beside the form's field it is about, or for the whole form ("form")."""
    if isinstance(error, InputError) and error.file is None and error.field:
        field = FORM_FIELD_OF.get(error.field, error.field)
        if field in fields:
            return {field: error.message + (REMEDY_WORDS[error.remedy] if error.remedy
                                            else "")}
    return {"form": sentence(error)}


def named(error: Exception, new: NewText | None, name: str) -> str:
    """An error message naming the file as the office knows it, never our temporary path."""
    text = sentence(error)
    return text.replace(str(new.path), name) if new is not None else text


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def who(request: Request) -> str:
    """Who made a change from the dashboard, for the audit log."""
    return f"the office (dashboard, from {client_address(request)})"


def article(path: Path) -> str:
    """The policy's own text from its rendered page (the render is reused, not redone)."""
    html = path.read_text(encoding="utf-8")
    start = html.index('<article class="policy">')
    return html[start:html.index("</article>", start) + len("</article>")]


def download(body: bytes, name: str, media_type: str) -> Response:
    """A file to save, under ``name`` (RFC 6266: an ASCII fallback, and the name in UTF-8)."""
    plain = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "-")
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{plain}\"; "
                               f"filename*=UTF-8''{quote(name, safe='')}"})


def csv_download(name: str, header: list[str], rows: Iterable[Iterable[object]]) -> Response:
    """A CSV download; every cell neutralised against formulas."""
    out = io.StringIO()
    out.write("\ufeff")             # Excel reads UTF-8 only after a byte-order mark
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_cell(str(value)) for value in row] for row in rows)
    return download(out.getvalue().encode(), name, "text/csv; charset=utf-8")


def spreadsheet_time(moment: datetime, tz: Any) -> str:
    """The school's local time as Excel and LibreOffice read a date-time in a CSV."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
