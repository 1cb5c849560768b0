"""A minute of commands from several processes while `serve` sends to a slow mail server:
every command succeeds without a traceback, `serve` stays up, every write is in the register
and every message goes out once."""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from contention import contend, missing, prepare
from processes import counts, log_of, serve, wait_for
from smtp import Server, free_port, use_smtp
from test_hardening import up

pytestmark = pytest.mark.slow   # process-level: real services, signals, a browser

WORKERS = 3
SECONDS = 60
STAFF = 100          # a reminder each per policy (4) at 0.15 s: about a minute of sending


def test_a_minute_of_commands_while_serve_sends(data_dir: Path) -> None:
    prepare(data_dir, WORKERS, STAFF)
    slow = Server().start()
    slow.sink.delay = 0.15
    use_smtp(data_dir, slow.port)
    port = free_port()
    process = serve(data_dir, port)
    try:
        wait_for(lambda: counts(data_dir).get("sent", 0) > 0, process=process)
        result = contend(data_dir, WORKERS, SECONDS)
        assert process.poll() is None                      # serve stayed up
        sending = counts(data_dir).get("pending", 0)
        assert result.failures == []
        assert len(result.durations) >= 2 * WORKERS
        assert missing(data_dir, result) == []             # every write is there
        assert up(port)
        wait_for(lambda: "pending" not in counts(data_dir) and
                 "sending" not in counts(data_dir), seconds=180, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        slow.stop()
    db = sqlite3.connect(data_dir / "register.db")
    sent = {mid for (mid,) in db.execute(
        "SELECT message_id FROM messages WHERE status = 'sent'")}
    db.close()
    received = Counter(slow.sink.message_ids())
    assert set(received) == sent and max(received.values()) == 1   # each message once
    assert sending > 0 or len(sent) > STAFF                # sent while the commands ran
    log = log_of(data_dir)
    assert "Traceback" not in log and "locked" not in log and "postponed" not in log
