"""The register: one SQLite connection and its transactions, and on it one object per
aggregate, each owning its statements: ``register.policies`` (versions, cycles, reviews),
``drafts``, ``meetings``, ``people``, ``confirmations``, ``audit``, ``login`` and
``outbox``.

One SQLite file shared by the service and the command line, so: WAL, a busy timeout, write
transactions that take the write lock up front, and migrations applied whenever it is opened
behind the current schema. Every write takes ``now``; nothing here reads the clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lifecycle.register.audit import Audit, Exemptions, Login
from lifecycle.register.confirmations import Confirmations
from lifecycle.register.meetings import Drafts, Meetings
from lifecycle.register.people import People
from lifecycle.register.policies import Policies
from lifecycle.values.errors import InstanceError, RegisterBusy

if TYPE_CHECKING:
    from lifecycle.register.outbox import Outbox

SCHEMA_VERSION = 10         # the number of migrations in migrations.py (a test keeps it so)
BUSY_SECONDS = 30           # how long a writer waits for another to finish


class Register:
    """The register in one SQLite file: a context manager that closes its connection.

    Each method that changes data runs in a transaction of its own, or joins the one a caller
    opened with ``transaction()`` around a whole user action.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._depth = 0
            self._db.execute("PRAGMA foreign_keys = ON")
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives any crash of this process; only a power cut can lose
            # the last commits, and then a message is at worst sent again with the same ID.
            self._db.execute("PRAGMA synchronous = NORMAL")
            if self.schema_version != SCHEMA_VERSION:
                self._migrate()
        except sqlite3.DatabaseError as e:
            self.close()
            raise translate(e, path) from None
        self._outbox: Outbox | None = None
        # the aggregates, each on this connection and in its transactions
        self.audit = Audit(self)
        self.login = Login(self)
        self.exemptions = Exemptions(self)
        self.policies = Policies(self)
        self.drafts = Drafts(self)
        self.meetings = Meetings(self)
        self.people = People(self)
        self.confirmations = Confirmations(self)

    @property
    def outbox(self) -> Outbox:
        """The outbox's statements, on this connection and in its transactions."""
        from lifecycle.register.outbox import Outbox

        if self._outbox is None:
            self._outbox = Outbox(self._db, self.transaction, self.audit.record)
        return self._outbox

    def close(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Register]:
        """One user action, all or nothing. The outermost level takes the write lock at once
        (BEGIN IMMEDIATE), waiting up to BUSY_SECONDS for another writer: a read that later
        turns into a write can then never fail with "database is locked". Nested levels are
        savepoints."""
        savepoint = f"level{self._depth}"
        try:
            self._db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {savepoint}")
        except sqlite3.OperationalError as e:
            raise translate(e, self.path) from None
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            elif self._db.in_transaction:
                self._db.execute(f"ROLLBACK TO {savepoint}")
                self._db.execute(f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        self._db.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")

    @property
    def data_version(self) -> int:
        """Changes whenever another connection commits: what a cache of the register's
        pages is keyed on (SQLite's PRAGMA data_version, a read of one counter)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    @property
    def schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT count(*) FROM _sqlite_migrations"
                                   " WHERE migration_set = 'policy_lifecycle'").fetchone()
        except sqlite3.OperationalError:
            return 0          # a new file: no migrations table yet
        return int(row[0])

    def _migrate(self) -> None:
        """sqlite-utils' migrations, imported only when the schema is behind (most commands
        never pay for the import), under the write lock so two processes cannot race."""
        from sqlite_utils import Database

        from lifecycle.register.migrations import migrations

        with self.transaction():
            migrations.apply(Database(self._db))

    def _one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))

    def _update(self, table: str, key: str, key_value: Any, values: dict[str, Any]) -> None:
        columns = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(f"UPDATE {table} SET {columns} WHERE {key} = ?",
                         [*values.values(), key_value])

    def compact(self) -> None:
        """Rewrite the file so that nothing erased survives in free pages or the journal."""
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def translate(error: sqlite3.DatabaseError, path: Path) -> Exception:
    """SQLite's errors as the office would want to read them."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return RegisterBusy(f"{path}: the register is busy (another command or the service "
                            f"held it for {BUSY_SECONDS} s); nothing was changed: try again")
    return InstanceError(f"{path}: not a readable register ({text}): restore it from a backup "
                         "or move it aside and run init")
