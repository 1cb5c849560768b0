"""`serve` as a real process: one per data directory, clean stops, and a SIGKILL in the
middle of a 2,000-message run that loses nothing."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, Run
from oauth import SECRET, Authority, TokenService, XOAuthServer, XOAuthSink, microsoft_config
from processes import START, counts, log_of, serve, staff_csv, wait_for
from smtp import Server, Sink, free_port, use_smtp

from jobs.tasks import IN_FLIGHT

pytestmark = pytest.mark.slow   # process-level: real services, signals, a browser


@pytest.fixture
def running(people: Path) -> Iterator[subprocess.Popen[str]]:
    process = serve(people)
    wait_for(lambda: counts(people).get("sent", 0) == 11, process=process)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_delivers_at_start_and_stops_cleanly_on_sigterm(
        running: subprocess.Popen[str], people: Path) -> None:
    assert len(list((people / "mail").rglob("*.eml"))) == 11
    running.send_signal(signal.SIGTERM)
    assert running.wait(timeout=30) == 0
    log = log_of(people)
    assert "serving" in log and "stopping: finishing the message in hand" in log
    assert "decided send review social-networking overdue-115: 6" in log
    assert "decided skip" not in log and log.count("skipped ") == 1    # one line for them all
    assert log.count(" sent ") == 11
    assert "Traceback" not in log


def test_a_second_service_on_the_same_data_refuses(running: subprocess.Popen[str],
                                                   people: Path, run: Run) -> None:
    second = subprocess.run([sys.executable, str(REPO / "run.py"), "--data", str(people),
                             "serve", "--bind", f"127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"the service is already running (pid {running.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    tick = run("tick", "--now", START)
    assert tick.exit_code == 1 and "already running" in tick.output


def test_a_taken_web_port_is_refused_at_once_before_anything_is_sent(people: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(REPO / "run.py"), "--data", str(people),
                                 "serve", "--now", START, "--bind", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and time.monotonic() - started < 10
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot serve the web pages on "), \
        result.stderr
    assert counts(people) == {}                      # nothing evaluated, nothing sent
    assert not (people / "mail").exists()


def test_a_simulated_clock_in_summer_time_starts_at_the_time_given(people: Path) -> None:
    log = open(people / "serve.log", "a")  # noqa: SIM115 - the child process owns it
    process = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--data", str(people),
                                "serve", "--now", "2027-06-01T09:00+01:00", "--bind",
                                f"127.0.0.1:{free_port()}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "serving" in log_of(people), process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert "(clock 2027-06-01T09:00" in log_of(people)


def test_sigkill_mid_run_loses_nothing_and_duplicates_keep_their_id(
        run: Run, initialised: Path, smtp_server: Server, tmp_path: Path) -> None:
    use_smtp(initialised, smtp_server.port)
    _kill_mid_run_and_restart(run, initialised, smtp_server.sink, tmp_path)


def test_sigkill_mid_run_with_oauth_loses_nothing_either(
        run: Run, initialised: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same with Microsoft 365's sign-in: a token from Entra ID, AUTH XOAUTH2."""
    authority = Authority(tmp_path)
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):     # the service inherits these
        monkeypatch.setenv(name, str(authority.bundle))
    monkeypatch.setenv("POLICY_LIFECYCLE_MICROSOFT_SECRET", SECRET)
    entra = TokenService(authority).start()
    exchange = XOAuthServer(authority, XOAuthSink()).start()
    try:
        microsoft_config(initialised, exchange.port, entra.url, per_minute=10**6,
                         per_day=10**6)
        _kill_mid_run_and_restart(run, initialised, exchange.sink, tmp_path)
        assert entra.tokens_issued() == 2                  # one for each service process
        assert all(s.endswith(" ok") for s in exchange.sink.sign_ins)
    finally:
        exchange.stop()
        entra.stop()


def _kill_mid_run_and_restart(run: Run, initialised: Path, sink: Sink, tmp_path: Path) -> None:
    assert run("people", "import", str(staff_csv(tmp_path / "staff.csv", 2000))).exit_code == 0
    first = serve(initialised)
    wait_for(lambda: len(sink.message_ids()) >= 600, process=first)
    first.kill()                                   # SIGKILL: no clean-up of any kind
    first.wait()
    at_kill = counts(initialised)
    assert at_kill.get("pending", 0) > 0           # really in the middle of the run
    second = serve(initialised)
    try:
        wait_for(lambda: counts(initialised).get("sent") == 2000, seconds=180, process=second)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    expected = {mid for (mid,) in sqlite3.connect(initialised / "register.db").execute(
        "SELECT message_id FROM messages WHERE status = 'sent'")}
    received = Counter(sink.message_ids())
    assert set(received) == expected               # every message delivered, none lost
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    assert sum(n - 1 for n in duplicates.values()) <= IN_FLIGHT   # at most those in flight
    assert counts(initialised) == {"sent": 2000}   # 2,000 staff reminders; nobody else
