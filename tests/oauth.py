"""Microsoft's and Google's side of OAuth for SMTP, served on 127.0.0.1 for the tests.

``TokenService``: HTTPS (a trustme certificate authority) answering msal's discovery and
client-credentials requests the way Entra ID does, and google-auth's signed JWT assertion
the way Google's token endpoint does. ``XOAuthSink``: an aiosmtpd handler that implements
``AUTH XOAUTH2`` and checks each bearer token's signature, audience, expiry and mailbox, and
can answer as Exchange Online does when it refuses (5.7.30, 5.7.60, throttling).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from smtp import Sink, free_port

TENANT = "stann.onmicrosoft.com"
CLIENT_ID = "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
SECRET = secrets.token_urlsafe(16)     # the app registration's client secret, made per run
MAILBOX = "policies@example.org"
EXCHANGE = "https://outlook.office365.com"
GMAIL = "https://mail.google.com/"
SIGNING_KEY = secrets.token_urlsafe(32)    # the token service's own, made per run


class Authority:
    """A certificate authority the tests trust (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.bundle = folder / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.bundle))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        return context


def issue(audience: str, subject: str, lifetime: float = 3600, issued: float | None = None) -> str:
    now = issued if issued is not None else time.time()
    return jwt.encode({"aud": audience, "sub": subject, "iat": int(now),
                       "exp": int(now + lifetime), "jti": uuid.uuid4().hex},
                      SIGNING_KEY, algorithm="HS256")


@dataclass
class TokenService:
    """Entra ID for one tenant and one app registration, and Google for one service account."""

    authority: Authority
    secret: str = SECRET
    audience: str = EXCHANGE              # what Entra ID's tokens are for
    lifetime: float = 3600
    google_key: Any = None                # the service account's public key
    delegated: set[str] = field(default_factory=lambda: {MAILBOX})
    requests: list[str] = field(default_factory=list)

    def start(self) -> TokenService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                service.requests.append(f"GET {self.path}")
                tenant = self.path.split("/")[1]
                if self.path.endswith("/v2.0/.well-known/openid-configuration") \
                        and tenant == TENANT:
                    base = f"{service.url}/{tenant}"
                    self.answer(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                                      "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                      "issuer": f"{base}/v2.0"})
                else:
                    self.answer(400, {"error": "invalid_tenant", "error_codes": [90002],
                                      "error_description": f"AADSTS90002: Tenant '{tenant}' "
                                      "not found."})

            def do_POST(self) -> None:
                service.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path == "/google/token":
                    self.answer(*service.google(form))
                else:
                    self.answer(*service.entra(form))

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.socket = self.authority.server_context().wrap_socket(
            self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tokens_issued(self) -> int:
        return sum(r.startswith("POST") for r in self.requests)

    def entra(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != CLIENT_ID:
            return 400, {"error": "unauthorized_client", "error_codes": [700016],
                         "error_description": f"AADSTS700016: Application with identifier "
                         f"'{form.get('client_id')}' was not found in the directory."}
        if form.get("client_secret") != self.secret:
            return 401, {"error": "invalid_client", "error_codes": [7000215],
                         "error_description": "AADSTS7000215: Invalid client secret provided."}
        if form.get("scope") != f"{EXCHANGE}/.default" \
                or form.get("grant_type") != "client_credentials":
            return 400, {"error": "invalid_scope", "error_description": "AADSTS70011: bad"}
        return 200, {"token_type": "Bearer", "expires_in": int(self.lifetime),
                     "access_token": issue(self.audience, CLIENT_ID, self.lifetime)}

    def google(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        # google-auth signs for Google's own token endpoint, whatever the key's token_uri
        try:
            claims = jwt.decode(form.get("assertion", ""), self.google_key, algorithms=["RS256"],
                                audience="https://oauth2.googleapis.com/token")
        except jwt.PyJWTError as e:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {e}"}
        if claims.get("scope") != GMAIL or claims.get("sub") not in self.delegated:
            return 401, {"error": "unauthorized_client", "error_description": "Client is "
                         "unauthorized to retrieve access tokens using this method, or client "
                         "not authorized for any of the scopes requested."}
        return 200, {"token_type": "Bearer", "expires_in": int(self.lifetime),
                     "access_token": issue(GMAIL, claims["sub"], self.lifetime)}

    def google_key_file(self, folder: Path) -> Path:
        """A service account key as Google issues it, whose token_uri is this service."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.google_key = key.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        path = folder / "service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "st-anns", "private_key_id": "k1",
            "private_key": pem, "client_email": "policies@st-anns.iam.gserviceaccount.com",
            "client_id": "1234567890", "token_uri": f"{self.url}/google/token"}))
        return path


class XOAuthSink(Sink):
    """A Sink that signs in with AUTH XOAUTH2: the token must be ours, for ``audience``, not
    expired (nor expired early by ``expire_seen``), and the mailbox one this app may send as."""

    def __init__(self, audience: str = EXCHANGE) -> None:
        super().__init__()
        self.audience = audience
        self.seen: set[str] = set()
        self.expired: set[str] = set()
        self.mailboxes = {MAILBOX}
        self.basic_off = False           # answer a password as Exchange does after 2026
        self.send_as = {MAILBOX}         # addresses the mailbox may send as (5.7.60)
        self.throttle_at: int | None = None   # answer the n-th message of a minute with 4.7.x
        self.sign_ins: list[str] = []
        self.minute: list[float] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        blob = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(part.split("=", 1) for part in blob.split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"], audience=self.audience)
            self.seen.add(claims["jti"])
            good = claims["jti"] not in self.expired and user in self.mailboxes
        except jwt.PyJWTError:
            good = False
        self.sign_ins.append(f"{user} {'ok' if good else 'refused'}")
        if good:
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer",
                                                "scope": self.audience}))
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")

    def expire_seen(self) -> None:
        """Every token offered so far is treated as expired from now on."""
        self.expired |= self.seen

    async def auth_LOGIN(self, server: Any, args: list[str]) -> AuthResult:
        return self._basic()

    async def auth_PLAIN(self, server: Any, args: list[str]) -> AuthResult:
        return self._basic()

    def _basic(self) -> AuthResult:
        return AuthResult(success=False, handled=False, message=(
            "550 5.7.30 Basic authentication is not supported for Client Submission"
            if self.basic_off else "535 5.7.139 Authentication unsuccessful, SmtpClient"
            "Authentication is disabled for the Mailbox"))

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if address.lower() not in self.send_as:
            return ("550 5.7.60 SMTP; Client does not have permissions to send as this "
                    "sender")
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.throttle_at is not None:
            now = time.monotonic()
            self.minute = [t for t in self.minute if now - t < 60]
            if len(self.minute) + 1 >= self.throttle_at:
                return "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
            self.minute.append(now)
        return await super().handle_DATA(server, session, envelope)


class XOAuthServer:
    """An aiosmtpd server on 127.0.0.1 that requires STARTTLS (with the test authority's
    certificate) before AUTH."""

    def __init__(self, authority: Authority, sink: XOAuthSink) -> None:
        self.port = free_port()
        self.sink = sink
        self.controller = Controller(
            sink, hostname="127.0.0.1", port=self.port, tls_context=authority.server_context(),
            require_starttls=True, auth_required=True, auth_require_tls=True)

    def start(self) -> XOAuthServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def microsoft_config(data_dir: Path, smtp_port: int, authority_url: str, **mail: Any) -> None:
    """Point an instance at the local Exchange and Entra ID: auth = "microsoft"."""
    _configure(data_dir, smtp_port, "microsoft", mail, [
        "[mail.microsoft]", f'tenant_id = "{TENANT}"', f'client_id = "{CLIENT_ID}"',
        f'authority = "{authority_url}"'])


def google_config(data_dir: Path, smtp_port: int, key_file: Path, **mail: Any) -> None:
    _configure(data_dir, smtp_port, "google", mail, [
        "[mail.google]", f'service_account_file = "{key_file}"', f'mailbox = "{MAILBOX}"'])


def _configure(data_dir: Path, port: int, auth: str, mail: dict[str, Any],
               section: list[str]) -> None:
    config = data_dir / "config.toml"
    text = config.read_text(encoding="utf-8")
    extra = "".join(f"\n{k} = {json.dumps(v)}" for k, v in mail.items())
    text = text.replace('transport = "files"', f'transport = "smtp"\nauth = "{auth}"{extra}')
    text = text.replace('host = "localhost"', 'host = "127.0.0.1"')
    text = text.replace("port = 587", f"port = {port}")
    text = text.replace("timeout = 30", "timeout = 5")
    text = text.replace("[smtp]", "\n".join(section) + "\n\n[smtp]", 1)
    config.write_text(text, encoding="utf-8")
