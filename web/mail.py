"""The dashboard's "Mail settings" page: how the service sends mail (read-only: the settings
live in config.toml, with the secrets outside it), how mail is going, and the same step-by-step
check as ``mail check``, with or without a test message."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jobs.mailcheck import Step, check
from lifecycle.actions.delivery import PROVIDERS, outlook
from lifecycle.values.config import Config
from lifecycle.values.dates import long_date

from .pages import office_form, office_only, office_page, site_of

SIGN_IN = {"password": "a user name and password", "microsoft": "Microsoft 365 (OAuth)",
           "google": "Google Workspace (OAuth)"}


def settings(config: Config) -> list[tuple[str, str]]:
    """What the office (or IT) needs to see of the mail settings, secrets left out."""
    if config.transport != "smtp":
        return [("Where mail goes", "to files in the data folder's mail folder (no mail server)"),
                ("From", config.sender)]
    per_minute, per_day = config.limits
    rows = [("Where mail goes", "a mail server"), ("From", config.sender),
            ("Mail server", f"{config.smtp_host}, port {config.smtp_port}"),
            ("Security", {"starttls": "STARTTLS", "ssl": "SSL/TLS",
                          "none": "none"}[config.smtp_security]),
            ("Sign-in", SIGN_IN[config.auth]),
            ("Signs in as", config.smtp_user or "nobody (no sign-in)"
             if config.auth == "password" else config.mailbox)]
    if config.auth == "microsoft":
        rows += [("Tenant", config.microsoft_tenant), ("Application (client) ID",
                                                        config.microsoft_client)]
    if config.auth == "google":
        rows.append(("Service account key", config.google_key_file))
    limits = [f"{n:,} a {span}" for span, n in (("minute", per_minute), ("day", per_day)) if n]
    rows.append(("Sending limit", " and ".join(limits) + (
        f" ({PROVIDERS[config.auth]}'s)" if config.auth in PROVIDERS else "")
        if limits else "none"))
    return rows


async def _mail(request: Request, steps: list[Step] | None = None,
                send_to: str = "") -> Response:
    site = site_of(request)
    config = site.inst.config
    now = site.now()
    notices = outlook(site.register, config, now).notices(config.tz)
    pause = site.register.outbox.paused(now)
    if pause:
        until = pause.until.astimezone(config.tz)
        notices.insert(0, f"Sending is paused until {until:%H:%M} on {long_date(until.date())}: "
                          f"{pause.reason}.")
    return office_page(request, "mail.html", title="Mail settings", settings=settings(config),
                       notices=notices, steps=steps, send_to=send_to,
                       uses_server=config.transport == "smtp")


@office_only
async def mail_page(request: Request) -> Response:
    return await _mail(request)


@office_form
async def mail_check(request: Request, form: Any) -> Response:
    site = site_of(request)
    send_to = str(form.get("send_to", "")).strip()
    steps = await run_in_threadpool(check, site.inst.config, site.now(), send_to or None)
    return await _mail(request, steps, send_to)


routes = [Route("/mail", mail_page), Route("/mail/check", mail_check, methods=["POST"])]
