"""The office's pages for one policy: its page (versions, who has read it, the review form),
recording a review (with a second step when the new text looks like an accident), and adding
a policy from a Word or Markdown file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifecycle.actions import operations
from lifecycle.actions.policies import NewText, ReviewOutcome
from lifecycle.rules.status import status_row
from lifecycle.values.dates import long_date
from lifecycle.values.errors import InputError, LifecycleError, NeedsConfirmation
from lifecycle.values.model import ROLES, PolicyRecord, email_key

from . import admin
from .dashboard import progress
from .pages import (
    Problem,
    back,
    beside,
    form_date,
    named,
    office_form,
    office_only,
    office_page,
    page,
    sentence,
    site_of,
    upload,
)
from .site import Pending, Site

_ADD_FIELDS = ("id", "title", "adopted", "review_due", "interval", "approver", "statutory")
_ADD_ERRORS_BESIDE = ("id", "title", "adopted", "review_due", "interval", "approver",
                      "audiences", "reminder_audience")


def _policy(site: Site, policy_id: str) -> PolicyRecord:
    policy = site.policy(policy_id)
    if policy is None:
        raise Problem(404, "Not found", "There is no such policy.")
    return policy


@office_only
async def policy_admin(request: Request) -> Response:
    site = site_of(request)
    return _policy_page(request, site, _policy(site, request.path_params["policy_id"]))


def _policy_page(request: Request, site: Site, policy: PolicyRecord, status: int = 200,
                 errors: dict[str, str] | None = None,
                 values: dict[str, str] | None = None) -> Response:
    """A policy's page in the dashboard; with ``errors`` beside the review form's fields."""
    state = progress(site, policy)
    people = {email_key(p.email): p for p in site.register.people.all()}
    done = site.register.confirmations.of_version(policy.id, policy.version,
                                                  site.school_year() if policy.yearly else None)
    return office_page(request, "policy_admin.html", policy.title, status, policy=policy,
                errors=errors or {},
                values=values or {"date": site.now().date().isoformat(), "next": "",
                                  "notes": ""},
                versions=site.register.policies.versions(policy.id),
                row=status_row(policy, site.now().date(), site.inst.config),
                missing=sorted((people[k] for k in state.missing if k in people),
                               key=lambda p: p.name),
                chased_out=state.chased_out, confirmed=[(people.get(k), r) for k, r in
                                                         sorted(done.items())])


@office_form
async def review(request: Request, form: Any) -> Response:
    site = site_of(request)
    policy_id = request.path_params["policy_id"]
    fields = {k: str(form.get(k, "")) for k in ("date", "next", "notes")}
    with tempfile.TemporaryDirectory() as tmp:
        new, name = None, ""
        try:
            new, name = await upload(form, tmp)
            outcome = await _record(site, policy_id, fields, new)
        except NeedsConfirmation as e:
            text = new.text if new is not None else ""
            token = site.pending.hold(Pending(policy_id, NewText(Path(name), text), name,
                                              fields, e.reasons))
            return page(request, "review_confirm.html", title="Is this the new text?",
                        policy=site.policy(policy_id), pending=site.pending.get(token),
                        token=token, csrf=admin.csrf_token(request.session))
        except (LifecycleError, ValueError) as e:
            return _review_refused(request, site, policy_id, e, new, name, fields)
    return _recorded(policy_id, outcome)


def _review_refused(request: Request, site: Site, policy_id: str, error: Exception,
                    new: NewText | None, name: str, fields: dict[str, str]) -> Response:
    """The policy's page again, the error beside the field it is about."""
    policy = _policy(site, policy_id)
    errors = beside(error, ("date", "next"))
    if "form" in errors:
        errors = {"file" if name and new is None else "form": named(error, new, name)}
    return _policy_page(request, site, policy, 400, errors, fields)


@office_form
async def review_confirm(request: Request, form: Any) -> Response:
    """The second step: the office has seen why the text looked like an accident."""
    site = site_of(request)
    policy_id = request.path_params["policy_id"]
    pending = site.pending.pop(str(form.get("token", "")))
    if pending is None or pending.policy_id != policy_id:
        return back(f"/admin/policies/{policy_id}",
                    error="That review has expired: upload the file again.")
    try:
        outcome = await _record(site, policy_id, pending.form, pending.new, confirmed=True)
    except (LifecycleError, ValueError) as e:
        return back(f"/admin/policies/{policy_id}", error=sentence(e))
    return _recorded(policy_id, outcome)


async def _record(site: Site, policy_id: str, fields: dict[str, str], new: NewText | None,
                  confirmed: bool = False) -> ReviewOutcome:
    reviewed = form_date(fields["date"], "reviewed")
    next_due = form_date(fields["next"], "next_review") if fields["next"].strip() else None
    return await run_in_threadpool(operations.record_review, site.inst, policy_id, reviewed,
                                   next_due, new, fields["notes"], site.now(), confirmed)


def _recorded(policy_id: str, outcome: ReviewOutcome) -> Response:
    change = (f"adopted version {outcome.version}" if outcome.text_changed
              else "no change to the text")
    return back(f"/admin/policies/{policy_id}", message=f"Review recorded: {change}; next "
                f"review due {long_date(outcome.next_due)}.")


def _add_form(request: Request, values: dict[str, Any], error: str = "",
              status: int = 200, errors: dict[str, str] | None = None) -> Response:
    config = site_of(request).inst.config
    return page(request, "policy_add.html", status=status, title="Add a policy",
                values=values, error=error, errors=errors or {}, roles=ROLES,
                terms=bool(config.terms),
                approvers=list(config.approvers) or ["Governing Body"],
                csrf=admin.csrf_token(request.session))


@office_only
async def add_policy_page(request: Request) -> Response:
    """The form, filled in from a catalogue entry when one is asked for (?statutory=ID)."""
    values: dict[str, Any] = {"interval": "3 years", "audiences": ["staff"],
                              "reminder_audience": ["staff"]}
    wanted = request.query_params.get("statutory", "")
    if wanted:
        try:
            fields = operations.policy_fields(site_of(request).inst, wanted, {})
        except LifecycleError as e:
            return _add_form(request, values, sentence(e), status=400)
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
            new, name = await upload(form, tmp)
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
        except (LifecycleError, ValueError) as e:
            errors = beside(e, _ADD_ERRORS_BESIDE)
            if "form" not in errors:
                return _add_form(request, values, status=400, errors=errors)
            return _add_form(request, values, named(e, new, name), status=400)
    return back(f"/admin/policies/{source.id}", message=(
        f"Added: version 1, adopted {long_date(source.adopted)}, review due "
        f"{long_date(source.review_due)}."))


routes = [
    Route("/add-policy", add_policy_page, methods=["GET"]),
    Route("/add-policy", add_policy, methods=["POST"]),
    Route("/policies/{policy_id}", policy_admin),
    Route("/policies/{policy_id}/review", review, methods=["POST"]),
    Route("/policies/{policy_id}/review/confirm", review_confirm, methods=["POST"]),
]
