"""`serve` as a local attacker or an unlucky day would find it: a hung mail server at stop
time, pages asked for while hundreds of messages go out, a burst of parallel password guesses,
and forged X-Forwarded-For headers."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from conftest import Run
from processes import START, counts, log_of, serve, staff_csv, wait_for
from smtp import HungServer, Server, free_port, use_smtp

from jobs.tasks import evaluate
from lifecycle.register.instance import Instance
from web.admin import set_password

pytestmark = pytest.mark.slow   # process-level: real services, signals, a browser

LONDON = ZoneInfo("Europe/London")
PASSWORD = "correct horse battery staple"


def stop(process: subprocess.Popen[str]) -> float:
    """SIGTERM; the seconds until the process has exited."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return time.monotonic() - started


def get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def up(port: int) -> bool:
    response = get(port, "/policies/")
    return response is not None and response.status_code == 200


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started: killed at the end if still running."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_stops_serve_within_10_s_with_a_hung_mail_server(
        people: Path, stopped: list[subprocess.Popen[str]]) -> None:
    hung = HungServer()
    use_smtp(people, hung.port)
    config = people / "config.toml"
    config.write_text(config.read_text().replace("timeout = 5", "timeout = 30"))
    process = serve(people)
    stopped.append(process)
    wait_for(lambda: bool(hung.connections) and counts(people).get("sending", 0) > 0,
             process=process)
    assert stop(process) < 10
    hung.stop()
    at_stop = counts(people)
    assert at_stop.get("sending", 0) >= 1 and "sent" not in at_stop   # left in flight
    db = sqlite3.connect(people / "register.db")
    in_flight = {mid for (mid,) in db.execute(
        "SELECT message_id FROM messages WHERE status = 'sending'")}
    db.close()
    assert "Traceback" not in log_of(people)
    assert "stay 'sending' and go again" in log_of(people)

    working = Server().start()                     # a working server from now on
    config.write_text(config.read_text().replace(f"port = {hung.port}",
                                                 f"port = {working.port}"))
    try:
        again = serve(people)
        stopped.append(again)
        to_send = at_stop.get("pending", 0) + at_stop["sending"]
        wait_for(lambda: counts(people).get("sent") == to_send, process=again)
        stop(again)
    finally:
        working.stop()
    assert in_flight <= set(working.sink.message_ids())    # sent again, same Message-ID


def test_pages_answer_within_5_s_while_300_messages_go_out(
        run: Run, initialised: Path, tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    slow = Server().start()
    slow.sink.delay = 0.05                         # 300 messages: 15 s or more of delivery
    use_smtp(initialised, slow.port)
    assert run("people", "import", str(staff_csv(tmp_path / "staff.csv", 300))).exit_code == 0
    evaluate(Instance.at(initialised), datetime.fromisoformat(START).replace(tzinfo=LONDON))
    assert counts(initialised)["pending"] >= 300    # decided, not yet sent
    port = free_port()
    try:
        started = time.monotonic()
        process = serve(initialised, port)
        stopped.append(process)
        wait_for(lambda: up(port), seconds=5, process=process)
        answered = time.monotonic() - started
        assert counts(initialised).get("pending", 0) > 0       # delivery is still going on
        assert answered < 5
        assert stop(process) < 10
    finally:
        slow.stop()


def _login_page(client: httpx.Client) -> str:
    page = client.get("/admin/login")
    return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]


def _peak_memory_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]


def test_30_parallel_wrong_passwords_reach_the_hash_at_most_5_times(
        people: Path, stopped: list[subprocess.Popen[str]]) -> None:
    set_password(Instance.at(people), PASSWORD, datetime.now(UTC))
    port = free_port()
    process = serve(people, port)
    stopped.append(process)
    wait_for(lambda: up(port), process=process)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        csrf = _login_page(client)
        cookies = dict(client.cookies)
    start = threading.Barrier(30)
    statuses: list[int] = []

    def guess(n: int) -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client:
            start.wait()
            response = client.post("/admin/login", data={"password": f"guess {n}",
                                                         "csrf": csrf})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [401, 429] and statuses.count(401) == 5
    assert _peak_memory_mb(process.pid) < 300
    assert stop(process) < 10


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
        people: Path, stopped: list[subprocess.Popen[str]]) -> None:
    from test_web import ack_link

    recorded = {}
    config = people / "config.toml"
    for trusted, person in (("[]", "d.okafor@example.org"),
                            ('["127.0.0.1"]', "a.khan@example.org")):
        config.write_text(re.sub(r"trusted_proxies = \[[^\]]*\]", f"trusted_proxies = {trusted}",
                                 config.read_text()))
        port = free_port()
        process = serve(people, port)
        stopped.append(process)
        wait_for(lambda: up(port) and counts(people).get("sent", 0) >= 11,  # noqa: B023
                 process=process)
        link = ack_link(Instance.at(people), person)
        response = httpx.post(f"http://127.0.0.1:{port}{link}",
                              headers={"X-Forwarded-For": "=HYPERLINK(1), 203.0.113.9"})
        assert response.status_code == 200
        stop(process)
        db = sqlite3.connect(people / "register.db")
        [(recorded[trusted],)] = db.execute("SELECT address FROM confirmations "
                                            "WHERE person_key = ?", (person,)).fetchall()
        db.close()
    assert recorded == {"[]": "127.0.0.1", '["127.0.0.1"]': "203.0.113.9"}
