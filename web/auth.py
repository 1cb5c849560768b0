"""Who is asking: the one place a request's user and scopes are decided, and the pages that
sign the office in and out.

Today the dashboard has one password, so a signed-in request is "the office" with the scope
"office"; named accounts and roles will decide both here, and nowhere else."""

from __future__ import annotations

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
    UnauthenticatedUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import admin
from .pages import OFFICE, Problem, client_address, page, read_form, site_of


class SessionBackend(AuthenticationBackend):
    """A signed cookie alone is not enough: its session must still be open on the server, so
    logging out (or restarting the service) ends it even if the cookie was copied."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        session = conn.session.get("admin")
        if isinstance(session, str) and session in conn.app.state.site.sessions:
            return AuthCredentials([OFFICE]), SimpleUser("the office")
        return AuthCredentials(), UnauthenticatedUser()


async def login(request: Request) -> Response:
    site = site_of(request)
    error = ""
    if request.method == "POST":
        form = await read_form(request)
        address = client_address(request)
        if not site.throttle.admit(address, site.now()):
            raise Problem(429, "Too many attempts",
                          "Too many wrong passwords have been tried: wait 15 minutes.")
        hashed = site.register.login.hash()
        async with site.hashing:      # each Argon2 check takes 64 MB: one at a time
            ok = await run_in_threadpool(admin.verify, hashed, str(form.get("password", "")))
        if ok:
            site.throttle.succeeded(address)
            request.session.clear()
            request.session["admin"] = site.open_session()
            admin.csrf_token(request.session)
            target = str(request.query_params.get("next", "/admin"))
            return RedirectResponse(target if target.startswith("/admin") else "/admin", 303)
        error = "That password is not right."
    return page(request, "login.html", status=401 if error else 200, title="Office login",
                csrf=admin.csrf_token(request.session), error=error)


async def logout(request: Request) -> Response:
    await read_form(request)
    site_of(request).sessions.discard(str(request.session.get("admin")))
    request.session.clear()
    return RedirectResponse("/admin/login", status_code=303)


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
