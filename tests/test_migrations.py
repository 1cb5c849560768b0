"""A later release opens an existing data/ without losing anything."""

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from lifecycle.migrations import migrations
from lifecycle.store import Register


def test_from_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "register.db"
    sqlite3.connect(path).close()      # an empty file, as a crashed first run might leave
    register = Register(path)
    assert register.schema_version == len(migrations._migrations)
    assert {"policies", "versions", "review_cycles", "reviews", "people", "audit"} <= set(
        register.db.table_names())
    assert register.db.journal_mode == "wal"


def test_reopening_a_populated_database_keeps_everything(run, initialised: Path) -> None:  # type: ignore[no-untyped-def]
    run("people", "import", str(initialised / "examples" / "people.csv"))
    run("review", "record", "social-networking", "--date", "2026-11-20", "--now",
        "2026-11-24T09:00")
    db = initialised / "register.db"
    before = {t: list(Database(db)[t].rows) for t in Database(db).table_names()}
    register = Register(db)    # opening applies pending migrations: none are pending
    after = {t: list(register.db[t].rows) for t in register.db.table_names()}
    assert after == before
    assert len(after["people"]) == 12 and len(after["reviews"]) == 1


@pytest.mark.parametrize("step", range(len(migrations._migrations)))
def test_each_migration_applies_on_top_of_data_from_the_one_before(tmp_path: Path,
                                                                   step: int) -> None:
    """Stop before migration `step`, write a row in every table that exists, then upgrade."""
    db = Database(tmp_path / "register.db")
    names = [m.name for m in migrations._migrations]
    migrations.apply(db, stop_before=names[step])
    tables = db.table_names()
    db.close()
    register = Register(tmp_path / "register.db")
    assert set(tables) <= set(register.db.table_names())
    assert register.schema_version == len(names)
