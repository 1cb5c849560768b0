"""The public pages: the list of policies and each policy's page, Word and PDF copies, and
what changed from the version before. The pages are the files `render` writes (nothing is
rendered twice)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from documents.pdf import NoLibreOffice
from lifecycle.rules.status import status_row
from lifecycle.values.dates import long_date

from .pages import TEMPLATES, Problem, download, site_of

# a version number is at most nine digits: anything longer is no version of ours (and would
# overflow SQLite's integer)
_DOC = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]*?)(?:/v(?P<version>[1-9]\d{0,8}))?"
                  r"(?P<changes>/changes)?(?P<ext>\.docx|\.pdf)?$")
WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def home(request: Request) -> Response:
    return RedirectResponse("/policies/", status_code=303)


async def policy_list(request: Request) -> Response:
    site = site_of(request)

    def render() -> bytes:
        today = site.now().date()
        rows = [status_row(p, today, site.inst.config) for p in site.register.policies.all()
                if p.publish]
        return TEMPLATES.get_template("policies.html").render(
            school=site.inst.config.school, title="Policies", policies=rows,
            long_date=long_date).encode()
    return Response(site.index(render), media_type="text/html; charset=utf-8")


async def policy_file(request: Request) -> Response:
    site = site_of(request)
    m = _DOC.match(request.path_params["rest"])
    policy = site.policy(m["id"]) if m else None
    if m is None or policy is None:
        raise Problem(404, "Not found", "There is no such policy.")
    version = int(m["version"] or policy.version)
    if site.register.policies.version(policy.id, version) is None:
        raise Problem(404, "Not found", f"{policy.title} has no version {version}.")
    if m["changes"] and version == 1:
        raise Problem(404, "Not found", f"Version 1 is the first version of the "
                      f"{policy.title}: there is no earlier text to compare it with.")
    fmt = (m["ext"] or ".html")[1:]
    if fmt == "pdf" and (m["changes"] or m["version"]):
        raise Problem(404, "Not found", "Only the current version has a PDF copy.")
    try:
        path = await site.rendered(policy, version, fmt, changes=bool(m["changes"]))
    except NoLibreOffice:
        raise Problem(404, "No PDF copy", f"There is no PDF copy of the {policy.title} here; "
                      f"the Word copy is at /policies/{policy.id}.docx.") from None
    body = site.file_bytes(path)
    if fmt == "pdf":
        return download(body, f"{policy.id}.pdf", "application/pdf")
    if fmt == "docx":
        return download(body, path.name, WORD)
    return Response(body, media_type="text/html; charset=utf-8")


routes = [
    Route("/", home),
    Route("/policies/", policy_list),
    Route("/policies/{rest:path}", policy_file),
]
