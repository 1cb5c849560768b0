"""The office's dashboard: what needs doing first (reviews, undelivered messages, statutory
gaps, missing confirmations, leavers to erase), what will be sent, and the downloads of the
confirmations as evidence."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifecycle.actions import confirmations, operations
from lifecycle.actions.delivery import outlook
from lifecycle.actions.personal_data import past_keeping
from lifecycle.rules.agenda import bodies_without_members
from lifecycle.rules.status import StatusRow, status_row
from lifecycle.values.dates import long_date
from lifecycle.values.errors import LifecycleError
from lifecycle.values.model import Kind, Person, PolicyRecord, State, Status, email_key

from . import admin
from .pages import (
    Problem,
    back,
    csv_download,
    office_form,
    office_only,
    page,
    site_of,
    spreadsheet_time,
)
from .site import Site
from .words import kind_words, stage_words

STATE_COLOURS = {State.OK: "green", State.DUE_SOON: "amber", State.DUE: "amber",
                 State.OVERDUE: "red"}
PLAN_DAYS = 60


def progress(site: Site, policy: PolicyRecord,
             people: list[Person] | None = None) -> confirmations.Progress:
    """Who has confirmed the policy's current text, who has not, and who was chased out."""
    return confirmations.progress(site.register, policy, site.inst.config, site.now().date(),
                                  site.register.people.all() if people is None else people)


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


@office_only
async def dashboard(request: Request) -> Response:
    site = site_of(request)
    now = site.now()
    rows: list[tuple[StatusRow, str, confirmations.Progress]] = []
    unmanned = bodies_without_members(site.inst.config.approvers, site.register.people.all(),
                                      now.date())
    directory = site.register.people.all()
    for policy in site.register.policies.all():
        row = status_row(policy, now.date(), site.inst.config, unmanned)
        rows.append((row, STATE_COLOURS[row.state], progress(site, policy, directory)))
    outbox = site.register.outbox
    plan = await run_in_threadpool(operations.plan, site.inst, now, PLAN_DAYS)
    statutory = await run_in_threadpool(operations.catalogue, site.inst, now.date())
    config = site.inst.config
    mail_notices = outlook(site.register, config, now).notices(config.tz)
    titles = {row.id: row.title for row, _, _ in rows}
    return page(request, "dashboard.html", title="Office dashboard", policies=rows,
                statutory=[s for s in statutory if s.gap],
                failures=outbox.messages(status=Status.FAILED), counts=outbox.counts(),
                planned=_planned(plan, titles, config.chase_after_days), days=PLAN_DAYS,
                unconfirmed=sum(len(p.chased_out) for _, _, p in rows),
                to_erase=past_keeping(directory, now.date(), config.keep_after_leaving_months),
                titles=titles, kind_words=kind_words, stage_words=stage_words,
                chase_days=config.chase_after_days, mail_notices=mail_notices,
                csrf=admin.csrf_token(request.session))


@office_form
async def retry(request: Request, form: object) -> Response:
    try:
        await site_of(request).retry(int(request.path_params["message_id"]))
    except LifecycleError as e:
        raise Problem(409, "Cannot retry", str(e)) from None
    return back("/admin#outbox")


@office_only
async def export(request: Request) -> Response:
    """Every confirmation ever given: the evidence of every school year."""
    tz = site_of(request).inst.config.tz
    rows = ((e.name, e.email, ";".join(e.roles), e.confirmation.policy_id,
             e.confirmation.version, e.confirmation.school_year, e.confirmation.sha256,
             spreadsheet_time(e.confirmation.confirmed_at, tz), e.confirmation.address)
            for e in site_of(request).register.confirmations.evidence())
    return csv_download("confirmations.csv", [
        "person", "email", "role", "policy", "version", "school_year", "text_sha256",
        "confirmed_at", "address"], rows)


@office_only
async def export_year(request: Request) -> Response:
    """This school year's state: each active person against each policy they are asked to
    read, confirmed (when) or not, as it counts now."""
    site = site_of(request)
    today, year = site.now().date(), site.school_year()
    policies = site.register.policies.all()
    rows = []
    for person in site.register.people.all():
        if not person.active_on(today):
            continue
        for policy in confirmations.reading_list(policies, person, today):
            done = site.confirmation(email_key(person.email), policy, policy.version)
            rows.append((person.name, person.email, policy.title, policy.version, year,
                         policy.confirm, "confirmed" if done else "not confirmed",
                         spreadsheet_time(done.confirmed_at, site.inst.config.tz) if done
                         else ""))
    return csv_download(f"confirmations-{year}.csv", [
        "person", "email", "policy", "version", "school_year", "confirm", "state",
        "confirmed_at"], rows)


routes = [
    Route("/outbox/{message_id:int}/retry", retry, methods=["POST"]),
    Route("/confirmations.csv", export),
    Route("/confirmations-this-year.csv", export_year),
]
