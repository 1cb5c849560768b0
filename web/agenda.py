"""The meeting's agenda for its members: a signed link in the review pack (not the office's
page, which asks for the office's login) to the agenda and each proposed draft, to read on
screen or download as Word."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from documents.html import PageLinks, render_html
from documents.parse import parse
from documents.publish import named_for_people, render_draft
from lifecycle.actions.confirmations import BadToken, read_agenda_token
from lifecycle.actions.meetings import Agenda, meeting_agenda
from lifecycle.values.model import VersionFacts

from .pages import Problem, download, page, site_of
from .public import WORD


def _agenda(request: Request) -> Agenda:
    site = site_of(request)
    try:
        meeting_id = read_agenda_token(site.secret, request.path_params["token"])
    except BadToken as e:
        raise Problem(404, "Link not valid", str(e)) from None
    meeting = site.register.meetings.get(meeting_id)
    if meeting is None or meeting.cancelled:
        raise Problem(404, "No such meeting", "This meeting has been cancelled or removed.")
    return meeting_agenda(site.register, meeting)


async def agenda_page(request: Request) -> Response:
    found = _agenda(request)
    return page(request, "agenda_public.html", title=f"Agenda: {found.meeting.name}",
                agenda=found, here=request.url.path.rstrip("/"))


def _draft(request: Request, current: str) -> tuple[str, VersionFacts] | Response:
    """The draft asked for, as (policy, its facts); for a policy on the agenda without one,
    a redirect to its current text (``current``: the path after /policies/<id>)."""
    found = _agenda(request)
    policy_id = str(request.path_params["policy_id"])
    if not any(item.policy.id == policy_id for item in found.items):
        raise Problem(404, "Not on the agenda", "That policy is not on this meeting's agenda.")
    if policy_id not in found.drafts:
        return RedirectResponse(f"/policies/{policy_id}{current}", status_code=303)
    site = site_of(request)
    return policy_id, site.register.policies.draft_facts(policy_id, site.now().date())


async def draft_page(request: Request) -> Response:
    found = _draft(request, "")
    if isinstance(found, Response):
        return found
    policy_id, facts = found
    base = f"/agenda/{request.path_params['token']}"
    html = render_html(parse(facts.body), facts, PageLinks(base, f"{base}/{policy_id}.docx"))
    return Response(html, media_type="text/html; charset=utf-8")


async def draft_word(request: Request) -> Response:
    found = _draft(request, ".docx")
    if isinstance(found, Response):
        return found
    policy_id, facts = found
    site = site_of(request)
    draft, _ = render_draft(site.register.policies, policy_id,
                            site.inst.root / "rendered" / policy_id, site.now().date())
    name = named_for_people(facts.title, facts.standing[0].lower() + facts.standing[1:], "docx")
    return download(site.file_bytes(draft.path), name, WORD)


routes = [
    Route("/agenda/{token}", agenda_page),
    Route("/agenda/{token}/{policy_id}.docx", draft_word),
    Route("/agenda/{token}/{policy_id}", draft_page),
]
