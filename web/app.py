"""The web application served by `serve`, assembled from its rooms: the public pages
(web/public.py), the pages behind a person's own links (web/confirm.py) and the office's
dashboard (web/dashboard.py, policies.py, meetings.py, people.py, catalogue.py), under one
set of middleware: security headers, a body limit and the session; who is asking
(web/auth.py) is decided for the office's pages. Error pages come from one exception
handler (web/pages.py).

Only the composition in cli/main.py (and the tests) import this module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route

from lifecycle.register.instance import Instance

from . import (
    agenda,
    auth,
    catalogue,
    confirm,
    dashboard,
    mail,
    meetings,
    people,
    policies,
    public,
)
from .middleware import BodyLimit, SecurityHeaders
from .pages import Problem, problem_page
from .site import Site

SESSION_HOURS = 8


def create_app(inst: Instance, clock: Any = None) -> Starlette:
    site = Site(inst, clock or (lambda: inst.now()))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        site.close()

    # who is asking matters on the office's pages only: the public pages and people's own
    # links do not pay for it
    who_is_asking = [Middleware(AuthenticationMiddleware, backend=auth.SessionBackend())]
    office = [*auth.routes, *dashboard.routes, *policies.routes, *meetings.routes,
              *people.routes, *catalogue.routes, *mail.routes]
    app = Starlette(lifespan=lifespan, middleware=[
        Middleware(SecurityHeaders),
        Middleware(BodyLimit),
        Middleware(SessionMiddleware, secret_key=site.secret.decode() + "/admin-session",
                   session_cookie="policy_lifecycle_admin",
                   max_age=int(timedelta(hours=SESSION_HOURS).total_seconds()),
                   same_site="strict", https_only=inst.config.base_url.startswith("https://")),
    ], routes=[
        *public.routes,
        *confirm.routes,
        *agenda.routes,
        *meetings.calendar_routes,
        Route("/admin", dashboard.dashboard, middleware=who_is_asking),
        Mount("/admin", routes=office, middleware=who_is_asking),
    ], exception_handlers={Problem: problem_page, HTTPException: problem_page})
    app.state.site = site
    return app
