"""A local SMTP sink for the OAuth benchmark, in its own process: STARTTLS required (argv[2]:
the certificate and key), then AUTH PLAIN with the password the benchmark made for this run
(argv[4]) or AUTH XOAUTH2 with a token signed with argv[3] (HS256), checked on every sign-in;
keeps only a count."""

import base64
import sys
import time
from typing import Any

import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Both:
    received = 0

    async def auth_PLAIN(self, server: Any, args: list[str]) -> AuthResult:
        _, user, password = base64.b64decode(args[1]).split(b"\0")
        return AuthResult(success=password == PASSWORD, auth_data=user)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        fields = dict(p.split("=", 1) for p in base64.b64decode(args[1]).decode().split("\x01")
                      if "=" in p)
        try:
            jwt.decode(fields["auth"].removeprefix("Bearer "), KEY, algorithms=["HS256"],
                       audience="https://outlook.office365.com")
        except jwt.PyJWTError:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=fields["user"])

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        Both.received += 1
        return "250 OK"


KEY = sys.argv[3] if len(sys.argv) > 3 else ""
PASSWORD = sys.argv[4].encode() if len(sys.argv) > 4 else b""

if __name__ == "__main__":
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2])
    controller = Controller(Both(), hostname="127.0.0.1", port=int(sys.argv[1]),
                            tls_context=context, require_starttls=True, auth_required=True)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()
