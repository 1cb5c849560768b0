"""The dashboard's People pages: the directory with this year's reading, the staff list
uploaded with a preview before anything changes, one person's entry (correct it, mark a
leaver), their data for a subject access request, and erasing a leaver. Every change goes
through ``lifecycle.actions.operations``, as the commands' do, and the audit log says who
made it."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jobs.mailfiles import scrub_mail_files
from lifecycle.actions import confirmations, operations
from lifecycle.actions.people import (
    Preview,
    add_person,
    correct_person,
    mark_leaver,
    parse_person,
    preview_people,
)
from lifecycle.actions.personal_data import ERASED_DOMAIN, past_keeping
from lifecycle.values.dates import long_date, parse_date
from lifecycle.values.errors import InputError, LifecycleError
from lifecycle.values.model import ROLES, Person, email_key

from . import admin
from .pages import (
    Problem,
    back,
    beside,
    office_form,
    office_only,
    office_page,
    page,
    site_of,
    who,
)
from .site import Site, Upload

FIELDS = ("name", "email", "start_date", "end_date")


def _person_of(site: Site, ref: str) -> tuple[str, Person] | None:
    key = site.register.people.key_of(ref)
    person = site.register.people.get(key) if key else None
    return (key, person) if key and person else None


@dataclass(frozen=True)
class Row:
    """One person in the directory as the office sees it."""

    person: Person
    ref: str
    active: bool
    asked: int
    confirmed: int


def _rows(site: Site) -> list[Row]:
    today, year = site.now().date(), site.school_year()
    register = site.register
    policies, refs = register.policies.all(), register.people.refs()
    rows = []
    for person in register.people.all():
        active = person.active_on(today)
        asked, done = confirmations.this_year(register, policies, person, today, year)
        rows.append(Row(person, refs[email_key(person.email)], active, len(asked), len(done)))
    return rows


def _directory(request: Request, status: int = 200, errors: dict[str, str] | None = None,
               values: dict[str, Any] | None = None, upload_error: str = "") -> Response:
    site = site_of(request)
    today = site.now().date()
    people = site.register.people.all()
    return office_page(request, "people.html", "People", status, rows=_rows(site),
                roles=ROLES, errors=errors or {}, values=values or {"roles": ["staff"]},
                upload_error=upload_error, year=site.school_year().replace("-", "/"),
                to_erase=past_keeping(people, today, site.inst.config.keep_after_leaving_months))


@office_only
async def people_page(request: Request) -> Response:
    return _directory(request)


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in FIELDS}
    values["roles"] = [r for r in form.getlist("roles") if r in ROLES]
    return values


def _form_person(values: dict[str, Any]) -> Person:
    """The person the form describes, or InputError naming the field."""
    return parse_person({**values, "roles": ";".join(values["roles"])}, None, None)


def _field_errors(error: LifecycleError) -> dict[str, str]:
    return beside(error, (*FIELDS, "roles"))


@office_form
async def add(request: Request, form: Any) -> Response:
    site = site_of(request)
    values = _form_values(form)
    try:
        person = _form_person(values)
        await site.write(lambda: operations.change_person(
            site.inst, lambda r: add_person(r, person, site.now(), who(request))))
    except LifecycleError as e:
        return _directory(request, 400, _field_errors(e), values)
    return back("/admin/people", message=f"Added {person.name}.")


@office_form
async def preview(request: Request, form: Any) -> Response:
    """The uploaded staff list, row by row: nothing changes until "Import" is pressed."""
    upload = form.get("file")
    name = Path(str(getattr(upload, "filename", "") or "")).name
    if not name:
        return _directory(request, 400, upload_error="Choose the staff list (a CSV file).")
    data = await upload.read()
    site = site_of(request)
    try:
        result = await run_in_threadpool(_preview, site, name, data)
    except LifecycleError as e:
        return _directory(request, 400, upload_error=str(e))
    token = site.uploads.hold(Upload(name, data))
    return page(request, "people_preview.html", title="Check the staff list", preview=result,
                file_name=name, token=token, csrf=admin.csrf_token(request.session))


def _preview(site: Site, name: str, data: bytes) -> Preview:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "staff-list.csv"      # never a name the browser chose
        path.write_bytes(data)
        try:
            return preview_people(site.register, path)
        except InputError as e:
            raise InputError(e.message, file=name, line=e.line, field=e.field) from None


@office_form
async def import_upload(request: Request, form: Any) -> Response:
    site = site_of(request)
    upload = site.uploads.pop(str(form.get("token", "")))
    if upload is None:
        return back("/admin/people", error="That preview has expired: upload the file again.")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "staff-list.csv"      # never a name the browser chose
        path.write_bytes(upload.data)
        try:
            result = await site.write(lambda: operations.import_people(
                site.inst, path, True, site.now(), who(request), upload.name))
        except LifecycleError as e:
            return back("/admin/people", error=str(e).replace(str(path), upload.name))
    return back("/admin/people", message=(
        f"{upload.name}: {result.added} added, {result.updated} updated, {result.unchanged} "
        f"unchanged, {len(result.rejected)} rejected (not imported)."))


def _person_page(request: Request, key: str, person: Person, status: int = 200,
                 errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None) -> Response:
    site = site_of(request)
    today = site.now().date()
    asked, done = confirmations.this_year(site.register, site.register.policies.all(), person,
                                          today, site.school_year())
    given = {d.id for d in done}
    shown = values or {"name": person.name, "email": person.email,
                       "roles": list(person.roles), "start_date": person.start_date or "",
                       "end_date": person.end_date or ""}
    return office_page(request, "person.html", person.name, status, person=person,
                ref=request.path_params["ref"], active=person.active_on(today),
                reading=[(p, p.id in given) for p in asked], roles=ROLES,
                erased=person.email.endswith("@" + ERASED_DOMAIN), values=shown,
                errors=errors or {}, today=today, year=site.school_year().replace("-", "/"),
                history=site.register.audit.log(key)[-20:])


def _found(handler: Any) -> Any:
    """A handler for one person, named by their opaque reference in the path."""
    async def checked(request: Request, *form: Any) -> Response:
        site = site_of(request)
        found = _person_of(site, request.path_params["ref"])
        if found is None:
            raise Problem(404, "Not found", "There is no such person in the directory.")
        response: Response = await handler(request, site, *found, *form)
        return response
    return checked


def _office_person(handler: Any) -> Any:
    """A page about one person, for the logged-in office only."""
    return office_only(_found(handler))


@_office_person
async def person_page(request: Request, site: Site, key: str, person: Person) -> Response:
    return _person_page(request, key, person)


@office_form
@_found
async def correct(request: Request, site: Site, key: str, person: Person,
                  form: Any) -> Response:
    values = _form_values(form)
    try:
        changed = _form_person(values)
        outcome = await site.write(lambda: operations.change_person(
            site.inst, lambda r: correct_person(r, key, changed, site.now(), who(request))))
    except LifecycleError as e:
        return _person_page(request, key, person, 400, _field_errors(e), values)
    ref = site.register.people.refs()[email_key(changed.email)]
    said = "Saved." if outcome == "updated" else "Nothing had changed."
    return back(f"/admin/people/{ref}", message=said)


@office_form
@_found
async def leaver(request: Request, site: Site, key: str, person: Person,
                 form: Any) -> Response:
    try:
        end = _day(str(form.get("leaving_date", "")))
        left = await site.write(lambda: operations.change_person(
            site.inst, lambda r: mark_leaver(r, key, end, site.now(), who(request))))
    except LifecycleError as e:
        return _person_page(request, key, person, 400, {"leaving_date": e.message
                                                        if isinstance(e, InputError)
                                                        else str(e)})
    return back(f"/admin/people/{request.path_params['ref']}",
                 message=f"{left.name} leaves on {long_date(end)}: nothing is sent to them "
                         "after it.")


def _day(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError:
        raise InputError("choose the last day they work here", field="leaving_date") from None


@_office_person
async def export(request: Request, site: Site, key: str, person: Person) -> Response:
    held = await run_in_threadpool(operations.export_person, site.inst, key, site.now())
    return Response(json.dumps(held, indent=2, default=str), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename='
                             f'"personal-data-{request.path_params["ref"]}.json"'})


@office_form
@_found
async def erase(request: Request, site: Site, key: str, person: Person, form: Any) -> Response:
    """First press: a page that says what erasing does; the second (confirm=yes) erases."""
    if person.active_on(site.now().date()):
        return _person_page(request, key, person, 400, {
            "erase": "They are still active: mark them as a leaver first."})
    if form.get("confirm") != "yes":
        return page(request, "person_erase.html", title=f"Erase {person.name}?",
                    person=person, ref=request.path_params["ref"],
                    csrf=admin.csrf_token(request.session))
    mail = site.inst.root / "mail"
    result = await site.write(lambda: operations.erase_person(
        site.inst, key, False, site.now(), who(request),
        lambda pattern, pseudonym: scrub_mail_files(mail, pattern, pseudonym)))
    sent, confirmed = result.counts["messages"], result.counts["confirmations"]
    return back("/admin/people", message=(   # the name is gone: not even in this address
        f"Erased: the person is now '{result.pseudonym.name}' everywhere; the dates of "
        f"{sent} {'message' if sent == 1 else 'messages'} and {confirmed} "
        f"{'confirmation' if confirmed == 1 else 'confirmations'} are kept, anonymously."))


routes = [
    Route("/people", people_page, methods=["GET"]),
    Route("/people", add, methods=["POST"]),
    Route("/people/preview", preview, methods=["POST"]),
    Route("/people/import", import_upload, methods=["POST"]),
    Route("/people/{ref}", person_page, methods=["GET"]),
    Route("/people/{ref}", correct, methods=["POST"]),
    Route("/people/{ref}/leaver", leaver, methods=["POST"]),
    Route("/people/{ref}/export.json", export, methods=["GET"]),
    Route("/people/{ref}/erase", erase, methods=["POST"]),
]
