"""Signing in to Microsoft 365 or Google Workspace mail with OAuth 2.0 (``AUTH XOAUTH2``).

Microsoft: the client-credentials flow with ``msal`` against the school's Entra ID tenant, as
an application with the SMTP.SendAsApp permission. Google: a service account with domain-wide
delegation (``google-auth``), acting as the sending mailbox. Each library keeps the token it
was given until shortly before it expires; one source per setting lives for the process, so a
token is fetched once and reused by every delivery run, not once a run.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import threading
from typing import Any, Protocol

from lifecycle.values.config import Config
from lifecycle.values.errors import LifecycleError

MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
SECRET_ENV = "POLICY_LIFECYCLE_MICROSOFT_SECRET"
KEYRING_SERVICE = "policy-lifecycle"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"

# Entra ID's answers a school's IT meets when setting this up, in words they can act on.
AADSTS = {
    "7000215": "the client secret is wrong (copy the secret's Value, not its Secret ID)",
    "7000222": "the client secret has expired: make a new one in the app registration",
    "700016": "no application with this client_id in the tenant: check [mail.microsoft] "
              "client_id, and that the app is registered in this tenant",
    "90002": "no such tenant: check [mail.microsoft] tenant_id",
    "900023": "the tenant_id is not a tenant ID or domain: check [mail.microsoft] tenant_id",
    "500011": "Exchange Online is not available in this tenant",
    "70011": "the requested permission (scope) is not valid for this application",
    "7000218": "no client secret was sent",
    "700027": "the certificate or secret did not verify",
    "50126": "the user name or password is wrong",
}
GOOGLE_GRANT = {
    "unauthorized_client": "domain-wide delegation is not granted: in the Google Admin "
                           "console, give the service account's client ID the scope "
                           "https://mail.google.com/",
    "invalid_grant": "Google refused the service account: the mailbox does not exist, or the "
                     "key has been deleted or disabled",
    "invalid_client": "the service account key is not recognised: it may have been deleted",
}


class TokenRefused(Exception):
    """The provider would not issue a token; the message says why in words IT can act on."""


class Tokens(Protocol):
    provider: str

    def token(self, fresh: bool = False) -> str: ...


def microsoft_secret(client_id: str) -> str:
    """The app registration's client secret: from the environment, else the system keyring."""
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret
    try:
        import keyring

        secret = str(keyring.get_password(KEYRING_SERVICE, f"microsoft:{client_id}") or "")
    except Exception:  # noqa: BLE001 - no keyring backend on a server is normal
        secret = ""
    if not secret:
        raise LifecycleError(
            f"no Microsoft client secret: set {SECRET_ENV}, or store it with "
            f"'keyring set {KEYRING_SERVICE} microsoft:{client_id}'")
    return secret


class MicrosoftTokens:
    """Client credentials against ``authority``/``tenant``; msal caches the token."""

    provider = "Microsoft"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.secret = microsoft_secret(config.microsoft_client)
        self._app: Any = None

    def _application(self, fresh: bool) -> Any:
        import msal

        if self._app is None or fresh:
            c = self.config
            self._app = msal.ConfidentialClientApplication(
                c.microsoft_client, client_credential=self.secret,
                authority=f"{c.microsoft_authority}/{c.microsoft_tenant}",
                # Instance discovery asks Microsoft whether the authority is theirs: only
                # for Microsoft's own address (not a national cloud's, nor a test's).
                instance_discovery=c.microsoft_authority == DEFAULT_AUTHORITY,
                token_cache=msal.TokenCache(), timeout=c.smtp_timeout)
        return self._app

    def token(self, fresh: bool = False) -> str:
        import requests

        try:
            result = self._application(fresh).acquire_token_for_client([MICROSOFT_SCOPE])
        except requests.RequestException as e:
            raise TokenRefused(f"could not reach {self.config.microsoft_authority}: "
                               f"{type(e).__name__}") from e
        except ValueError as e:                   # msal: the tenant's discovery failed
            raise TokenRefused(f"Entra ID did not answer for tenant "
                               f"{self.config.microsoft_tenant}: {_first_line(e)}") from e
        if "access_token" in result:
            return str(result["access_token"])
        raise TokenRefused(_entra_reason(result))


def _entra_reason(result: dict[str, Any]) -> str:
    description = str(result.get("error_description") or result.get("error") or "no token")
    code = re.match(r"AADSTS(\d+)", description)
    meaning = AADSTS.get(code[1], "") if code else ""
    said = _first_line(description)
    return f"Entra ID refused a token: {meaning} ({said})" if meaning else \
        f"Entra ID refused a token: {said}"


class GoogleTokens:
    """A service account acting as the mailbox; google-auth refreshes before expiry."""

    provider = "Google"

    def __init__(self, config: Config) -> None:
        from google.oauth2 import service_account

        path = config.google_key_file
        try:
            self.credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                path, scopes=[GOOGLE_SCOPE], subject=config.mailbox)
        except (OSError, ValueError, KeyError) as e:
            raise LifecycleError(f"cannot read the Google service account key {path}: "
                                 f"{_first_line(e)}") from None

    def token(self, fresh: bool = False) -> str:
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        if fresh or not self.credentials.valid:
            try:
                self.credentials.refresh(Request())
            except google.auth.exceptions.TransportError as e:
                raise TokenRefused(f"could not reach Google: {_first_line(e)}") from e
            except google.auth.exceptions.RefreshError as e:
                raise TokenRefused(_google_reason(e)) from e
        return str(self.credentials.token)


def _google_reason(error: Exception) -> str:
    said = _first_line(error.args[0] if error.args else error)
    meaning = GOOGLE_GRANT.get(said.split(":")[0].strip(), "")
    return f"Google refused a token: {meaning} ({said})" if meaning else \
        f"Google refused a token: {said}"


def _first_line(value: object) -> str:
    return str(value).strip().splitlines()[0] if str(value).strip() else type(value).__name__


_sources: dict[tuple[str, ...], Tokens] = {}
_sources_lock = threading.Lock()


def tokens_for(config: Config) -> Tokens | None:
    """The process's token source for these settings (None for a password sign-in)."""
    if config.auth == "password":
        return None
    key = (config.auth, config.microsoft_authority, config.microsoft_tenant,
           config.microsoft_client, config.google_key_file, config.mailbox,
           os.environ.get(SECRET_ENV, ""))
    with _sources_lock:
        if key not in _sources:
            _sources[key] = MicrosoftTokens(config) if config.auth == "microsoft" \
                else GoogleTokens(config)
        return _sources[key]


def sign_in(smtp: smtplib.SMTP, mailbox: str, tokens: Tokens) -> None:
    """``AUTH XOAUTH2`` as ``mailbox``. A token the server refuses (expired, or revoked
    early) is fetched afresh once and offered again."""
    try:
        _xoauth2(smtp, mailbox, tokens.token())
    except smtplib.SMTPAuthenticationError:
        _xoauth2(smtp, mailbox, tokens.token(fresh=True))


def _xoauth2(smtp: smtplib.SMTP, mailbox: str, token: str) -> None:
    """On refusal the server first sends a JSON challenge (answered with an empty line),
    then 535; the challenge's status is kept in the error for the office's explanation."""
    said: list[str] = []

    def answer(challenge: bytes | None = None) -> str:
        if challenge is None:
            return f"user={mailbox}\x01auth=Bearer {token}\x01\x01"
        said.append(_challenge_status(challenge))
        return ""

    smtp.ehlo_or_helo_if_needed()
    try:
        smtp.auth("XOAUTH2", answer)
    except smtplib.SMTPAuthenticationError as e:
        if said:
            raise smtplib.SMTPAuthenticationError(
                e.smtp_code, f"{_said(e.smtp_error)} (token refused: {said[0]})") from None
        raise


def _said(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _challenge_status(challenge: bytes) -> str:
    try:
        detail = json.loads(challenge)
    except ValueError:
        return challenge.decode(errors="replace")
    return " ".join(f"{k} {v}" for k, v in detail.items()) if isinstance(detail, dict) else ""
