"""Errors translated once, everywhere: one line on stderr, a non-zero exit, no traceback,
even from a damaged register, under `python -O`, or when the reader of the output goes away."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def command(data: Path, *args: str, optimise: bool = False) -> subprocess.CompletedProcess[str]:
    python = [sys.executable, "-O"] if optimise else [sys.executable]
    return subprocess.run([*python, str(REPO / "run.py"), "--data", str(data), *args],
                          capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_register_is_one_line(initialised: Path, damage: str) -> None:
    db = initialised / "register.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if damage == "truncated":
        with db.open("r+b") as f:
            f.truncate(db.stat().st_size // 3)
    else:
        db.write_bytes(os.urandom(4096))
    for args in (["status"], ["tick", "--now", "2026-11-24T09:00"], ["people", "list"]):
        one_line(command(initialised, *args), "register.db", "restore it from a backup")


CONFIG_MISTAKES = {
    'cycle_start = "09-01"': 'cycle_start = "13-45"',
    'start = "08:00"': 'start = "8am"',
    'end = "18:00"': 'end = "07:00"',
    'weekday = "monday"': 'weekday = "funday"',
    'timezone = "Europe/London"': 'timezone = "Mars/Olympus"',
    '"Governing Body" = ["governor", "clerk"]': '"Governing Body" = "governor"',
    "lead_days = [56, 28, 14]": 'lead_days = "56"',
    'transport = "files"': 'transport = "pigeon"',
    "start = 2027-02-13": "start = 2027-02-30",
    'bind = "127.0.0.1:8080"': 'bind = "nowhere"',
    "retry_for_hours = 48": "retry_for_hours = -1\nsurprise = 1",
    "port = 587": "port = 70000",
    "timeout = 30": "timeout = 0",
    'from = "St Ann\'s School policies <policies@example.org>"': 'from = "policies"',
    "trusted_proxies = []": 'trusted_proxies = ["the proxy"]',
}


@pytest.mark.parametrize("good,bad", CONFIG_MISTAKES.items(), ids=list(CONFIG_MISTAKES))
def test_every_config_mistake_is_one_line_even_under_python_O(data_dir: Path, good: str,
                                                               bad: str) -> None:
    config = data_dir / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert good in text
    config.write_text(text.replace(good, bad, 1), encoding="utf-8")
    one_line(command(data_dir, "init", optimise=True), "config.toml")
    assert not (data_dir / "register.db").exists()


def test_a_config_that_is_not_utf8_is_one_line(data_dir: Path) -> None:
    config = data_dir / "config.toml"
    config.write_bytes(config.read_bytes().replace(b"St Ann's", b"St Ann\x92s"))
    one_line(command(data_dir, "status"), "config.toml", "UTF-8")


def test_a_reader_that_goes_away_gets_no_error(people: Path) -> None:
    """`tick | head -1`: the command's output pipe closes before it writes; it stops quietly,
    and what it decided and delivered is recorded all the same."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--data", str(people), "tick", "--now",
         "2026-11-24T09:00"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    error = process.stderr.read()
    process.wait(timeout=60)
    assert error == ""
    assert len(list((people / "mail").rglob("*.eml"))) == 11


def test_a_policy_text_over_1_mb_is_one_line_and_changes_nothing(initialised: Path) -> None:
    big = initialised / "reviewed.md"
    big.write_text((initialised / "policies" / "social-networking.md").read_text()
                   + "More words.\n" * 100_000, encoding="utf-8")
    one_line(command(initialised, "review", "record", "social-networking", "--date",
                     "2026-11-20", "--file", str(big)), "reviewed.md: is 1.2 MB, more than")
    db = sqlite3.connect(initialised / "register.db")
    assert db.execute("SELECT count(*) FROM reviews").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM versions").fetchone() == (1,)
    db.close()
