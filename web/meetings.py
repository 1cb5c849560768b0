"""The dashboard's pages for meetings, drafts and approval, and each governor's calendar feed.
Every change goes through ``lifecycle.actions.operations``, as the commands' do."""

from __future__ import annotations

import tempfile
from datetime import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from documents.calendar import Deadline, feed
from lifecycle.actions import confirmations, operations
from lifecycle.actions.meetings import meeting_agenda
from lifecycle.register.outbox import mail_domain
from lifecycle.rules.agenda import agenda
from lifecycle.values.dates import long_date, parse_time
from lifecycle.values.errors import InputError, LifecycleError

from .pages import (
    Problem,
    back,
    beside,
    form_date,
    named,
    office_form,
    office_only,
    office_page,
    sentence,
    site_of,
    upload,
    warnings,
    who,
)


@office_only
async def meetings_page(request: Request) -> Response:
    return await _meetings(request)


async def _meetings(request: Request, status: int = 200, errors: dict[str, str] | None = None,
                    values: dict[str, str] | None = None) -> Response:
    site = site_of(request)
    found = await run_in_threadpool(operations.meetings, site.inst)
    today = site.now().date()
    return office_page(request, "meetings.html", "Meetings", status, meetings=found,
                       today=today, bodies=list(site.inst.config.approvers),
                       errors=errors or {}, values=values or {})




@office_form
async def add_meeting(request: Request, form: Any) -> Response:
    site = site_of(request)
    values = {k: str(form.get(k, "")).strip() for k in ("body", "date", "time", "name")}
    try:
        meeting = await run_in_threadpool(
            operations.add_meeting, site.inst, values["body"],
            form_date(values["date"], "meeting_day"), _clock(values["time"]),
            values["name"] or None, site.now())
    except LifecycleError as e:
        return await _meetings(request, 400, beside(e, ("body", "date", "time", "name")),
                               values)
    return back("/admin/meetings",
                 message=f"Added the {meeting.name} on {long_date(meeting.day)}.")


def _clock(text: str) -> time | None:
    try:
        return parse_time(text) if text else None
    except ValueError as e:
        raise InputError(str(e), field="time") from None


@office_form
async def cancel_meeting(request: Request, form: Any) -> Response:
    site = site_of(request)
    meeting = site.register.meetings.get(request.path_params["meeting_id"])
    if meeting is None or meeting.cancelled:
        raise Problem(404, "Not found", "There is no such meeting to cancel.")
    await run_in_threadpool(operations.cancel_meeting, site.inst, meeting.body, meeting.day,
                            site.now())
    return back("/admin/meetings", message=f"Cancelled the {meeting.name} on "
                                                 f"{long_date(meeting.day)}.")


@office_only
async def agenda_page(request: Request) -> Response:
    """The meeting's agenda, printable, with an approval form for each policy."""
    site = site_of(request)
    meeting = site.register.meetings.get(request.path_params["meeting_id"])
    if meeting is None:
        raise Problem(404, "Not found", "There is no such meeting.")
    found = meeting_agenda(site.register, meeting)
    return office_page(request, "agenda.html", f"Agenda: {meeting.name}, {meeting.day}",
                       meeting=meeting, agenda=found, held=meeting.day <= site.now().date())


@office_form
async def approve(request: Request, form: Any) -> Response:
    site = site_of(request)
    meeting = site.register.meetings.get(request.path_params["meeting_id"])
    if meeting is None:
        raise Problem(404, "Not found", "There is no such meeting.")
    here = f"/admin/meetings/{meeting.id}"
    policy_id = request.path_params["policy_id"]
    try:
        next_text = str(form.get("next", "")).strip()
        result = await run_in_threadpool(
            operations.approve, site.inst, policy_id, meeting.day,
            str(form.get("minute", "")).strip(),
            form_date(next_text, "next_review") if next_text else None,
            str(form.get("notes", "")), who(request), site.now(),
            form.get("changed_since_pack") == "yes")
    except (LifecycleError, ValueError) as e:
        return back(here, error=f"{site.title(policy_id)}: {sentence(e)}")
    change = (f"adopted draft {result.draft.number} as version {result.outcome.version}"
              if result.draft else "reviewed, no changes")
    return back(here, message=f"{site.title(policy_id)}: approved, {change}; next review "
                               f"due {long_date(result.outcome.next_due)}.",
                **warnings(result.warnings))


@office_only
async def drafts_page(request: Request) -> Response:
    return _drafts(request)


def _drafts(request: Request, status: int = 200, errors: dict[str, str] | None = None,
            values: dict[str, str] | None = None) -> Response:
    site = site_of(request)
    policies = site.register.policies.all()
    return office_page(request, "drafts.html", "Drafts", status,
                       drafts=site.register.drafts.all(), policies=policies,
                       titles={p.id: p.title for p in policies}, errors=errors or {},
                       values=values or {})


@office_form
async def add_draft(request: Request, form: Any) -> Response:
    site = site_of(request)
    policy_id = str(form.get("policy", ""))
    with tempfile.TemporaryDirectory() as tmp:
        new, name = None, ""
        try:
            new, name = await upload(form, tmp)
            if new is None:
                raise InputError("choose the draft's Word document or Markdown file")
            result = await run_in_threadpool(operations.add_draft, site.inst, policy_id, new,
                                             str(form.get("note", "")).strip(), site.now())
        except (LifecycleError, ValueError) as e:
            values = {"policy": policy_id, "note": str(form.get("note", ""))}
            return _drafts(request, 400, {"file": named(e, new, name)}, values)
    return back("/admin/drafts", message=f"{site.title(policy_id)}: draft "
                                          f"{result.draft.number} added; "
                                          f"it goes in the next review pack.",
                **warnings(result.warnings))


@office_form
async def discard_draft(request: Request, form: Any) -> Response:
    site = site_of(request)
    policy_id = request.path_params["policy_id"]
    try:
        found = await run_in_threadpool(operations.discard_draft, site.inst, policy_id,
                                        site.now())
    except LifecycleError as e:
        return back("/admin/drafts", error=str(e))
    return back("/admin/drafts", message=f"{site.title(policy_id)}: draft {found.number} "
                                          "discarded.")


async def calendar_feed(request: Request) -> Response:
    """A governor's or clerk's own feed: their bodies' meetings, with each agenda, and the
    review dates still ahead of those bodies' policies (an overdue review is on the agenda of
    the next meeting instead). Anyone no longer active gets nothing."""
    site = site_of(request)
    try:
        key = confirmations.read_calendar_token(site.secret, request.path_params["token"],
                                                site.register.people.key_of)
    except LifecycleError as e:
        raise Problem(404, "Not found", str(e)) from None
    person = site.register.people.get(key)
    now = site.now()
    config = site.inst.config
    if person is None or not person.active_on(now.date()):
        raise Problem(404, "Not found", "This calendar is no longer available.")
    bodies = {b for b, roles in config.approvers.items()
              if "clerk" in person.roles or set(roles) & set(person.roles)}
    register = site.register
    policies = [p for p in register.policies.all() if p.approver in bodies]
    meetings = [m for m in register.meetings.all() if m.body in bodies]
    drafts = {d.policy_id for d in register.drafts.all()}
    live = [m for m in meetings if not m.cancelled]
    data = feed(f"{config.school}: {', '.join(sorted(bodies)) or 'meetings'}",
                [(m, [] if m.cancelled else agenda(m, live, policies, drafts))
                 for m in meetings],
                [Deadline(p, register.policies.due_changes(p.id, p.cycle)) for p in policies
                 if p.review_due >= now.date()],     # as the prompts: never a day gone by
                mail_domain(config.sender), config.tz, now)
    return Response(data, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": 'inline; filename="policies.ics"',
        "Cache-Control": "private, max-age=3600"})



routes = [
    Route("/meetings", meetings_page, methods=["GET"]),
    Route("/meetings", add_meeting, methods=["POST"]),
    Route("/meetings/{meeting_id:int}", agenda_page, methods=["GET"]),
    Route("/meetings/{meeting_id:int}/cancel", cancel_meeting, methods=["POST"]),
    Route("/meetings/{meeting_id:int}/approve/{policy_id}", approve, methods=["POST"]),
    Route("/drafts", drafts_page, methods=["GET"]),
    Route("/drafts", add_draft, methods=["POST"]),
    Route("/drafts/{policy_id}/discard", discard_draft, methods=["POST"]),
]
# a governor's or clerk's own calendar, outside the office's pages
calendar_routes = [Route("/calendar/{token}.ics", calendar_feed)]
