"""A real SMTP server on 127.0.0.1 (aiosmtpd) whose answers a test can script."""

from __future__ import annotations

import asyncio
import contextlib
import email
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sink:
    """Accepts mail, except where ``refuse`` says: address -> list of replies to give first."""

    messages: list[EmailMessage] = field(default_factory=list)
    peers: Counter[str] = field(default_factory=Counter)
    refuse: dict[str, list[str]] = field(default_factory=dict)
    delay: float = 0.0            # seconds before each answer to DATA: a slow server
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        with self.lock:
            replies = self.refuse.get(address.lower()) or ["250 OK"]
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.peers[f"{session.peer[0]}:{session.peer[1]}"] += 1
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class HungServer:
    """Accepts connections and never says a word: a mail server that has hung."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.connections.append(self.socket.accept()[0])

    def stop(self) -> None:
        self.socket.close()
        for connection in self.connections:
            connection.close()


class Server:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.sink = Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def start(self) -> Server:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def use_smtp(data_dir: Path, port: int) -> None:
    """Point an instance's config at a plain local server with no login."""
    config = data_dir / "config.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('transport = "files"', 'transport = "smtp"')
    text = text.replace('host = "localhost"', 'host = "127.0.0.1"')
    text = text.replace("port = 587", f"port = {port}")
    text = text.replace('security = "starttls"', 'security = "none"')
    text = text.replace("timeout = 30", "timeout = 5")
    config.write_text(text, encoding="utf-8")
