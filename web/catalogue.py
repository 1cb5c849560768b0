"""The dashboard's page of statutory policies: each one this school must keep, present,
overdue or missing, with a way to add a missing one."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifecycle.actions import operations
from lifecycle.values.errors import LifecycleError
from lifecycle.values.model import State

from .dashboard import STATE_COLOURS
from .pages import back, office_form, office_only, office_page, sentence, site_of, who

_STATE_COLOURS = {"present": STATE_COLOURS[State.OK], "overdue": STATE_COLOURS[State.OVERDUE],
                  "missing": STATE_COLOURS[State.OVERDUE], "not applicable": "green"}


@office_only
async def catalogue_page(request: Request) -> Response:
    site = site_of(request)
    found = await run_in_threadpool(operations.catalogue, site.inst, site.now().date())
    config = site.inst.config
    counts = {state: sum(s.state == state for s in found)
              for state in ("missing", "overdue", "present", "not applicable")}
    return office_page(request, "catalogue.html", "Statutory policies", standings=found,
                       counts=counts, colours=_STATE_COLOURS, school_type=config.school_type,
                       phase=config.phase)


@office_form
async def not_applicable(request: Request, form: Any) -> Response:
    site = site_of(request)
    try:
        entry = await run_in_threadpool(
            operations.mark_not_applicable, site.inst, request.path_params["entry"],
            str(form.get("reason", "")), who(request), site.now())
    except LifecycleError as e:
        return back("/admin/catalogue", error=sentence(e))
    return back("/admin/catalogue", message=f"{entry.title}: marked not applicable here.")


@office_form
async def applicable(request: Request, form: Any) -> Response:
    site = site_of(request)
    try:
        entry = await run_in_threadpool(operations.mark_applicable, site.inst,
                                        request.path_params["entry"], who(request), site.now())
    except LifecycleError as e:
        return back("/admin/catalogue", error=sentence(e))
    return back("/admin/catalogue", message=f"{entry.title}: applies here again.")


routes = [Route("/catalogue", catalogue_page),
          Route("/catalogue/{entry}/not-applicable", not_applicable, methods=["POST"]),
          Route("/catalogue/{entry}/applicable", applicable, methods=["POST"])]
