"""The site every request shares: the instance, the clock, a register connection per thread,
the render caches, and the texts and uploads that wait for a second step.

Handlers are async; reads run on the event loop and everything slow or writing on worker
threads (see Site.write and Site.rendered)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool

from documents.pdf import to_pdf
from documents.publish import compare_versions, render_policy
from lifecycle.actions import confirmations
from lifecycle.actions.policies import NewText
from lifecycle.register.instance import Instance
from lifecycle.register.store import Register
from lifecycle.values.dates import school_year
from lifecycle.values.model import Confirmation, PolicyRecord

from . import admin

HASHES_AT_ONCE = 1
FILES_KEPT = 256                    # rendered pages and documents kept in memory
PENDING_FOR = timedelta(hours=1)    # how long a text or a staff list awaits a second step
MAX_PENDING = 8
T = TypeVar("T")
V = TypeVar("V")


@dataclass
class Pending:
    """A reviewed text that looked like an accident, kept until the office confirms it."""

    policy_id: str
    new: NewText
    name: str
    form: dict[str, str]
    reasons: list[str]


@dataclass
class Upload:
    """A staff list the office has seen previewed, kept until they import it."""

    name: str
    data: bytes


class Held(Generic[V]):
    """Things awaiting a second step, each under an unguessable token, for PENDING_FOR at
    most and MAX_PENDING at a time (the oldest goes first)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._held: dict[str, tuple[datetime, V]] = {}

    def hold(self, value: V) -> str:
        cutoff = self._clock() - PENDING_FOR
        for token in [t for t, (made, _) in self._held.items() if made < cutoff]:
            del self._held[token]
        while len(self._held) >= MAX_PENDING:
            del self._held[next(iter(self._held))]
        token = secrets.token_urlsafe(24)
        self._held[token] = (self._clock(), value)
        return token

    def get(self, token: str) -> V | None:
        found = self._held.get(token)
        return found[1] if found and found[0] >= self._clock() - PENDING_FOR else None

    def pop(self, token: str) -> V | None:
        found = self.get(token)
        self._held.pop(token, None)
        return found


class Site:
    """Everything a request needs: the instance, the clock, the register, render cache.

    Each thread has its own connection to the register: handlers read on the event loop (in
    WAL mode a read never waits for a writer), and everything that writes or takes long
    (renders, plans, confirmations, hashing) runs on a worker thread, so a command holding
    the write lock, or a long render, never stalls the other pages."""

    def __init__(self, inst: Instance, clock: Any) -> None:
        self.inst = inst
        self.clock = clock
        self.secret = confirmations.ensure_secret(inst.root)
        self._local = threading.local()
        self._opened: list[Register] = []
        self._renders: dict[tuple[str, int, str, bool, bool], Path] = {}
        self._pdf_lock = threading.Lock()     # one LibreOffice at a time
        self._writer: anyio.CapacityLimiter | None = None     # made on the event loop
        self.throttle = admin.Throttle()
        self.hashing = asyncio.Semaphore(HASHES_AT_ONCE)
        self.sessions: set[str] = set()     # the office's open sessions
        self.pending: Held[Pending] = Held(self.now)    # reviewed texts awaiting a 2nd step
        self.uploads: Held[Upload] = Held(self.now)     # staff lists awaiting "Import"
        self._index: tuple[tuple[int, date], bytes] | None = None
        self._files: OrderedDict[Path, tuple[tuple[int, int], bytes]] = OrderedDict()

    def open_session(self) -> str:
        session = secrets.token_urlsafe(32)
        self.sessions.add(session)
        return session

    @property
    def register(self) -> Register:
        """This thread's connection, opened on first use."""
        register: Register | None = getattr(self._local, "register", None)
        if register is None:
            register = self._local.register = self.inst.register()
            self._opened.append(register)
        return register

    def now(self) -> datetime:
        now: datetime = self.clock()
        return now

    def index(self, render: Callable[[], bytes]) -> bytes:
        """The public list of policies, rendered again only when the register has changed
        (or the day has: it shows what is overdue)."""
        key = (self.register.data_version, self.now().date())
        if self._index is None or self._index[0] != key:
            self._index = (key, render())
        return self._index[1]

    def file_bytes(self, path: Path) -> bytes:
        """A rendered file's bytes, kept in memory while it is unchanged on disk (the most
        recently used FILES_KEPT of them): a page costs no thread and no read."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        kept = self._files.get(path)
        if kept is None or kept[0] != stamp:
            kept = self._files[path] = (stamp, path.read_bytes())
            while len(self._files) > FILES_KEPT:
                self._files.popitem(last=False)
        self._files.move_to_end(path)
        return kept[1]

    def close(self) -> None:
        while self._opened:
            self._opened.pop().close()

    def policy(self, policy_id: str) -> PolicyRecord | None:
        return self.register.policies.get(policy_id)

    def title(self, policy_id: str) -> str:
        """A policy's title, or its id when the register has no such policy."""
        policy = self.policy(policy_id)
        return policy.title if policy else policy_id

    def school_year(self) -> str:
        return school_year(self.now().date(), self.inst.config.cycle_start)[1]

    def confirmation(self, person_key: str, policy: PolicyRecord,
                     version: int) -> Confirmation | None:
        """The person's confirmation that counts now: this school year's for a policy
        confirmed yearly, any for one confirmed once per version."""
        return self.register.confirmations.get(person_key, policy.id, version,
                                               self.school_year() if policy.yearly else None)

    async def confirm(self, policy: PolicyRecord, ack: confirmations.Ack, address: str) -> bool:
        return await self.write(lambda: confirmations.confirm(
            self.register, policy, ack, address, self.now(), self.inst.config.cycle_start))

    async def retry(self, message_id: int) -> None:
        await self.write(lambda: self.register.outbox.retry(message_id, self.now()))

    async def write(self, change: Callable[[], T]) -> T:
        """A change to the register, on a worker thread, one at a time: waiting for the write
        lock (a command may hold it) never blocks the event loop, and the site's own writes
        queue here rather than contend inside SQLite."""
        if self._writer is None:
            self._writer = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(change, limiter=self._writer)

    async def rendered(self, policy: PolicyRecord, version: int, fmt: str,
                       changes: bool = False) -> Path:
        """The rendered file (or the changes from the version before), written by `render`
        or `diff` or now (on a worker thread) if missing; remembered per state, so a page
        already rendered costs no thread at all."""
        today = self.now().date()
        key = (policy.id, version, fmt, changes,
               version == policy.version and policy.review_due < today)
        path = self._renders.get(key)
        if path is None or not path.exists():
            path = self._renders[key] = await run_in_threadpool(
                self._changes if changes else self._render, policy.id, version, fmt, today)
        return path

    def _render(self, policy_id: str, version: int, fmt: str, today: date) -> Path:
        """The render, or for a PDF the Word render converted by LibreOffice (again
        whenever the Word document is newer)."""
        folder = self.inst.root / "rendered" / policy_id
        [result] = render_policy(self.register.policies, policy_id, version,
                                 ("docx",) if fmt == "pdf" else (fmt,), folder, today)
        if fmt != "pdf":
            return result.path
        pdf = result.path.with_suffix(".pdf")
        if not pdf.exists() or pdf.stat().st_mtime < result.path.stat().st_mtime:
            with self._pdf_lock:
                to_pdf([result.path], folder)
        return pdf

    def _changes(self, policy_id: str, version: int, fmt: str, today: date) -> Path:
        _, [result] = compare_versions(self.register.policies, policy_id, version - 1, version,
                                       (fmt,), self.inst.root / "rendered" / policy_id, today)
        return result.path
