"""The pages behind a person's own links, where staff read and confirm.

- ``/ack/<token>``: one policy, from a policy updated notice; the token names the person,
  the policy and its version.
- ``/confirm/<token>``: the annual reminder's page, every policy it asks them to read, each
  opened and confirmed on its own, all at once only after each has been opened. The token
  names the person and the school year, signed; it carries no policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifecycle.actions import confirmations
from lifecycle.values.dates import long_date
from lifecycle.values.model import Confirmation, Person, PolicyRecord

from .pages import Problem, article, client_address, page, site_of
from .site import Site

AckHandler = Callable[[Request, Site, confirmations.Ack, PolicyRecord, Person],
                      Awaitable[Response]]
AnnualHandler = Callable[[Request, Site, str, Person, str], Awaitable[Response]]
_OFFICE = confirmations.ASK_THE_OFFICE
_BROKEN = "This link does not work"


# -- one policy, from a policy updated notice ----------------------------------------------

def personal_link(handler: AckHandler) -> Callable[[Request], Awaitable[Response]]:
    """A page behind a personal /ack link: only for a valid link to the current version."""
    async def checked(request: Request) -> Response:
        site = site_of(request)
        try:
            ack = confirmations.read_token(site.secret, request.path_params["token"],
                                           site.register.people.key_of)
        except confirmations.BadToken as e:
            raise Problem(400, _BROKEN, str(e)) from None
        policy = site.policy(ack.policy_id)
        person = site.register.people.get(ack.person)
        if policy is None or person is None or \
                site.register.policies.version(policy.id, ack.version) is None:
            raise Problem(400, _BROKEN, "It names a policy or a person this school does not "
                                        "have.")
        if ack.version != policy.version:
            raise Problem(410, "This policy has been updated",
                          f"This link asked you to read version {ack.version} of the "
                          f"{policy.title}; it is now version {policy.version}. Please use "
                          "the link in the most recent message about it.")
        return await handler(request, site, ack, policy, person)
    return checked


@personal_link
async def ack_page(request: Request, site: Site, ack: confirmations.Ack, policy: PolicyRecord,
                   person: Person) -> Response:
    path = await site.rendered(policy, ack.version, "html")
    meta = site.register.policies.version_facts(policy.id, ack.version, site.now().date())
    done = site.confirmation(ack.person, policy, ack.version)
    return page(request, "ack.html", title=f"Confirm: {policy.title}", policy=policy, meta=meta,
                person=person, done=done, article=Markup(article(path)),
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


# -- the annual reminder's page ------------------------------------------------------------

def annual_link(handler: AnnualHandler) -> Callable[[Request], Awaitable[Response]]:
    """Only for a valid link of this school year, naming someone in the directory."""
    async def checked(request: Request) -> Response:
        site = site_of(request)
        try:
            person_key, year = confirmations.read_annual_token(
                site.secret, request.path_params["token"], site.register.people.key_of)
        except confirmations.BadToken as e:
            raise Problem(400, _BROKEN, str(e)) from None
        person = site.register.people.get(person_key)
        if person is None:
            raise Problem(400, _BROKEN, f"It names someone the school no longer has. {_OFFICE}")
        if year != site.school_year():
            raise Problem(410, "This link is from an earlier school year",
                          f"It was for {year.replace('-', '/')}; this year's reminder has a "
                          f"link of its own. {_OFFICE}")
        return await handler(request, site, person_key, person, year)
    return checked


def _reading(site: Site, person: Person) -> list[PolicyRecord]:
    return confirmations.reading_list(site.register.policies.all(), person, site.now().date())


def _done(site: Site, key: str, policy: PolicyRecord) -> Confirmation | None:
    return site.confirmation(key, policy, policy.version)


def _not_asked() -> Problem:
    return Problem(404, "Not found",
                   f"That policy is not one your reminder asks you to read. {_OFFICE}")


@annual_link
async def annual_page(request: Request, site: Site, person_key: str, person: Person,
                      year: str) -> Response:
    key = request.path_params["token"]
    opened = site.register.confirmations.openings(person_key, year)
    items = [{"policy": p, "done": _done(site, person_key, p),
              "opened": (p.id, p.version) in opened} for p in _reading(site, person)]
    waiting = [i for i in items if not i["done"]]
    return page(request, "annual.html", title=f"Your policies for {year.replace('-', '/')}",
                person=person, year=year.replace("-", "/"), items=items, token=key,
                all_opened=bool(waiting) and all(i["opened"] for i in waiting),
                waiting=len(waiting), long_date=long_date)


@annual_link
async def annual_read(request: Request, site: Site, person_key: str, person: Person,
                      year: str) -> Response:
    """One policy to read, from the person's page; opening it is recorded."""
    token = request.path_params["token"]
    wanted = request.path_params["policy_id"]
    policy = next((p for p in _reading(site, person) if p.id == wanted), None)
    if policy is None:
        raise _not_asked()
    await site.write(lambda: site.register.confirmations.add_opening(
        person_key, policy.id, policy.version, year, site.now()))
    path = await site.rendered(policy, policy.version, "html")
    meta = site.register.policies.version_facts(policy.id, policy.version, site.now().date())
    return page(request, "annual_read.html", title=f"Read: {policy.title}", policy=policy,
                person=person, meta=meta, done=_done(site, person_key, policy),
                article=Markup(article(path)), adopted=long_date(meta.adopted), token=token,
                docx=f"/policies/{policy.id}.docx", pdf=f"/policies/{policy.id}.pdf")


@annual_link
async def annual_confirm(request: Request, site: Site, person_key: str, person: Person,
                         year: str) -> Response:
    """Confirm one policy (pressing twice records once), or every opened one at once."""
    token = request.path_params["token"]
    wanted = request.path_params.get("policy_id")       # none: every opened policy
    reading = _reading(site, person)
    waiting = [p for p in reading if _done(site, person_key, p) is None]
    if wanted is None:
        opened = site.register.confirmations.openings(person_key, year)
        if any((p.id, p.version) not in opened for p in waiting):
            raise Problem(400, "Open each policy first",
                          "You can confirm them all at once only after opening each one. "
                          "Go back to your page and open the ones not yet opened.")
        chosen = waiting
    else:
        found = next((p for p in reading if p.id == wanted), None)
        if found is None:
            raise _not_asked()
        chosen = [found]
    new = []
    for policy in chosen:
        ack = confirmations.Ack(person_key, policy.id, policy.version, year)
        if _done(site, person_key, policy) is None and \
                await site.confirm(policy, ack, client_address(request)):
            new.append(policy)
    left = sum(_done(site, person_key, p) is None for p in reading)
    return page(request, "annual_done.html", title="Thank you", person=person, chosen=chosen,
                new=new, left=left, token=token, when=long_date(site.now().date()))


routes = [
    Route("/ack/{token}", ack_page, methods=["GET"]),
    Route("/ack/{token}", ack_confirm, methods=["POST"]),
    Route("/confirm/{token}", annual_page, methods=["GET"]),
    Route("/confirm/{token}", annual_confirm, methods=["POST"]),
    Route("/confirm/{token}/{policy_id}", annual_read, methods=["GET"]),
    Route("/confirm/{token}/{policy_id}", annual_confirm, methods=["POST"]),
]
