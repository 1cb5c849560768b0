"""A later release opens an existing data/ without losing anything."""

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from lifecycle.register.migrations import migrations
from lifecycle.register.store import SCHEMA_VERSION, Register

NAMES = [m.name for m in migrations._migrations]

# One row for each table, as an earlier release would have written it.
ROWS = {
    "policies": {"id": "p", "title": "T", "school": "S", "approver": "Governing Body",
                 "review_interval_months": 36, "audiences": '["staff"]',
                 "reminder_audience": '["staff"]', "related": "[]", "source": "p.md",
                 "created_at": "2026-01-01T09:00:00+00:00",
                 "updated_at": "2026-01-01T09:00:00+00:00"},
    "versions": {"id": 1, "policy_id": "p", "number": 1, "sha256": "0" * 64,
                 "adopted": "2026-01-01", "body": "text", "recorded_at": "2026-01-01T09:00"},
    "review_cycles": {"id": 1, "policy_id": "p", "number": 1, "opened": "2026-01-01",
                      "due": "2029-01-01"},
    "reviews": {"id": 1, "policy_id": "p", "cycle_id": 1, "reviewed_on": "2026-06-01",
                "next_due": "2029-06-01", "version_number": 1, "text_changed": 0},
    "people": {"id": 1, "name": "A", "email": "a@example.org", "email_key": "a@example.org",
               "roles": '["staff"]'},
    "audit": {"id": 1, "at": "2026-01-01T09:00", "action": "x", "subject": "p", "detail": "{}"},
    "messages": {"id": 1, "key": "reminder/p/2026-27//a@example.org", "kind": "reminder",
                 "status": "sent", "decided_at": "2026-09-01T08:00:00+01:00"},
    "confirmations": {"id": 1, "person_key": "a@example.org", "policy_id": "p", "version": 1,
                      "sha256": "0" * 64, "confirmed_at": "2026-09-02T10:00:00+01:00"},
    "admin": {"id": 1, "password_hash": "$argon2id$...", "updated_at": "2026-01-01T09:00"},
}


def tables(path: Path) -> set[str]:
    return set(Database(path).table_names())


def test_the_schema_version_counts_the_migrations() -> None:
    assert len(NAMES) == SCHEMA_VERSION


def test_from_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "register.db"
    sqlite3.connect(path).close()      # an empty file, as a crashed first run might leave
    with Register(path) as register:
        assert register.schema_version == len(NAMES)
    assert set(ROWS) <= tables(path)
    assert Database(path).journal_mode == "wal"


def test_reopening_a_populated_database_keeps_everything(run, initialised: Path) -> None:  # type: ignore[no-untyped-def]
    run("people", "import", str(initialised / "examples" / "people.csv"))
    run("review", "record", "social-networking", "--date", "2026-11-20", "--now",
        "2026-11-24T09:00")
    db = initialised / "register.db"
    before = {t: list(Database(db)[t].rows) for t in tables(db)}
    Register(db).close()    # opening applies pending migrations: none are pending
    after = {t: list(Database(db)[t].rows) for t in tables(db)}
    assert after == before
    assert len(after["people"]) == 12 and len(after["reviews"]) == 1


@pytest.mark.parametrize("step", range(len(NAMES)))
def test_each_migration_applies_on_top_of_data_from_the_one_before(tmp_path: Path,
                                                                   step: int) -> None:
    """Stop before migration `step`, write a row in every table that exists, then upgrade:
    every row is still there, and the tables of the later migrations exist."""
    path = tmp_path / "register.db"
    db = Database(path)
    migrations.apply(db, stop_before=NAMES[step])
    written = {t for t in ROWS if db[t].exists()}
    for table in sorted(written, key=list(ROWS).index):
        db[table].insert(ROWS[table])
    db.close()
    with Register(path) as register:
        assert register.schema_version == len(NAMES)
    upgraded = Database(path)
    assert set(ROWS) <= set(upgraded.table_names())
    for table in written:
        [row] = upgraded[table].rows
        assert {k: row[k] for k in ROWS[table]} == ROWS[table], table
    assert step == 0 or written    # from the second migration on, there was data to keep
