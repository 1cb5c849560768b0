"""The dashboard's page of statutory policies: each one this school must keep, present,
overdue or missing, with a way to add a missing one."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifecycle.actions import operations
from lifecycle.values.model import State

from .dashboard import STATE_COLOURS
from .pages import office_only, page, site_of

_STATE_COLOURS = {"present": STATE_COLOURS[State.OK], "overdue": STATE_COLOURS[State.OVERDUE],
                  "missing": STATE_COLOURS[State.OVERDUE]}


@office_only
async def catalogue_page(request: Request) -> Response:
    site = site_of(request)
    found = await run_in_threadpool(operations.catalogue, site.inst, site.now().date())
    config = site.inst.config
    counts = {state: sum(s.state == state for s in found)
              for state in ("missing", "overdue", "present")}
    return page(request, "catalogue.html", title="Statutory policies", standings=found,
                counts=counts, colours=_STATE_COLOURS, school_type=config.school_type,
                phase=config.phase)


routes = [Route("/catalogue", catalogue_page)]
