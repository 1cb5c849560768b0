"""`serve` and the other commands as real processes, for the tests that need more than one."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conftest import REPO
from smtp import free_port

START = "2026-11-24T09:00"


def serve(data: Path, port: int | None = None) -> subprocess.Popen[str]:
    """The service in its own process, its log appended to data/serve.log (a pipe would fill)."""
    log = open(data / "serve.log", "a")  # noqa: SIM115 - the child process owns it
    return subprocess.Popen([sys.executable, str(REPO / "run.py"), "--data", str(data), "serve",
                             "--now", START, "--bind", f"127.0.0.1:{port or free_port()}"],
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def log_of(data: Path) -> str:
    return (data / "serve.log").read_text(encoding="utf-8")


def wait_for(condition: Callable[[], bool], seconds: float = 60,
             process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def counts(data: Path) -> dict[str, int]:
    conn = sqlite3.connect(data / "register.db", timeout=30)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def staff_csv(path: Path, n: int) -> Path:
    lines = ["name,email,roles,start_date,end_date"]
    lines += [f"Staff Member {i},staff{i:04d}@example.org,staff,2020-09-01," for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
