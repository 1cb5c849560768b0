"""Serving the web application: the port bound before anything else starts, and uvicorn in
the main thread until the service stops."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from starlette.applications import Starlette

from lifecycle.values.config import Config
from lifecycle.values.errors import InstanceError

STOP_SECONDS = 3         # for open web requests when the service stops


def listen(bind: str) -> socket.socket:
    """The web port, bound before anything else starts, so that a port in use is one clear
    line at once rather than a service half started."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise InstanceError(f"cannot serve the web pages on {bind}: {e.strerror} (another "
                            "program uses it? choose another with --bind or [web] bind)") from None
    sock.listen(128)
    return sock


def run_web(app: Starlette, sock: socket.socket, config: Config,
            stop: threading.Event) -> None:
    """uvicorn in this (the main) thread until SIGTERM or Ctrl-C, which set ``stop`` at once
    (uvicorn keeps the signal to itself until it has finished), or until ``stop`` is set: a
    signal that came before uvicorn took the signals over set it, and must end the server
    too. X-Forwarded-For is believed only from the proxies the config names: uvicorn's
    default trusts 127.0.0.1, which would let anyone on this machine choose the address
    recorded with a confirmation and step around the login throttle."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            stop.set()
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            return stop.is_set() or await super().on_tick(counter)

    proxies = list(config.trusted_proxies)
    settings = uvicorn.Config(app, log_config=None, access_log=False, loop="uvloop",
                              http="httptools", timeout_graceful_shutdown=STOP_SECONDS,
                              proxy_headers=bool(proxies), forwarded_allow_ips=proxies)
    logging.getLogger("policy_lifecycle").info(
        "web pages on http://%s/ (links in messages use %s)", config.web_bind, config.base_url)
    Server(settings).run(sockets=[sock])
