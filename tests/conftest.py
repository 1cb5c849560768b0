"""A test that needs an instance gets its own (``data_dir``): a copy of the repository's data/
in tmp_path, selected through POLICY_LIFECYCLE_DATA exactly as a user would. Pure tests copy
nothing: for them the variable names a directory that does not exist.

``initialised`` and ``people`` build their state through the library (as ``init`` and
``people import`` do), not through the command line: the commands have tests of their own."""

from __future__ import annotations

import getpass
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lifecycle.actions.operations import import_people, initialise
from lifecycle.register.instance import Instance
from lifecycle.values.dates import parse_datetime
from run import cli

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEED_TEXT = REPO / "tests" / "fixtures" / "policy-for-social-networking.txt"


@pytest.fixture(autouse=True)
def no_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the repository's own data/ by accident."""
    monkeypatch.setenv("POLICY_LIFECYCLE_DATA", str(tmp_path / "no-instance"))


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REPO / "data" / "config.toml", data / "config.toml")
    shutil.copytree(REPO / "data" / "policies", data / "policies")
    shutil.copytree(REPO / "data" / "examples", data / "examples")
    monkeypatch.setenv("POLICY_LIFECYCLE_DATA", str(data))
    return data


Run = Callable[..., Result]


@pytest.fixture
def run(data_dir: Path) -> Run:
    """Invoke the real CLI in-process; returns click's Result (exit_code, stdout, stderr)."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def initialised(data_dir: Path) -> Path:
    inst = Instance.at(data_dir)
    initialise(inst, parse_datetime("2026-11-24T09:00", inst.config.timezone))
    return data_dir


@pytest.fixture
def people(initialised: Path) -> Path:
    """An initialised instance with the example directory imported (data/examples/)."""
    inst = Instance.at(initialised)
    result = import_people(inst, initialised / "examples" / "people.csv", False, inst.now(),
                           f"{getpass.getuser()} (command line)")
    assert not result.rejected
    return initialised


@pytest.fixture
def inst(people: Path) -> Instance:
    return Instance.at(people)


def snapshot(data_dir: Path) -> dict[str, object]:
    """Everything a command could write: every table's rows and every file's bytes."""
    state: dict[str, object] = {}
    db = data_dir / "register.db"
    if db.exists():
        conn = sqlite3.connect(db)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            state[table] = conn.execute(f"SELECT * FROM [{table}] ORDER BY rowid").fetchall()
        conn.close()
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("register.db"):
            state[str(path)] = path.read_bytes()
    return state


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tools import SKIPPED

    if SKIPPED:
        terminalreporter.write_line(
            "External checks skipped (install them, or run .ci/run): "
            + "; ".join(sorted(set(SKIPPED))), yellow=True)


@pytest.fixture
def smtp_server() -> object:
    from smtp import Server

    server = Server().start()
    yield server
    server.stop()
