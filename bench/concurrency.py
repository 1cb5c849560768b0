"""Commands while `serve` sends (issue #9): three processes import people and record reviews
(tests/contention.py, the same workers as the concurrency test) for 15 s with `serve`
delivering to a local SMTP sink that answers each message after 10 ms, against the same
commands for 15 s with no service running. Paired rounds, alternating which goes first;
medians of commands per second and of the per-round ratios. Every command must succeed."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from contention import Contention, contend, missing, prepare  # noqa: E402

from bench.paired import machine  # noqa: E402
from bench.service import RUN, free_port, use_smtp  # noqa: E402

WORKERS = 3
SECONDS = 15
ROUNDS = 3
STAFF = 6000              # one annual reminder each: more than the rounds can send
SINK_DELAY = "0.01"


def pending(data: Path) -> int:
    import sqlite3

    with sqlite3.connect(data / "register.db", timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM messages WHERE status IN "
                              "('pending', 'sending')").fetchone()[0])


def sent(data: Path) -> int:
    import sqlite3

    with sqlite3.connect(data / "register.db", timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM messages WHERE status = 'sent'"
                              ).fetchone()[0])


def while_sending(data: Path, first_round: int) -> tuple[Contention, int]:
    """The workers with `serve` delivering; also how many messages went out meanwhile."""
    serve = subprocess.Popen([*RUN, "--data", str(data), "serve", "--now", "2026-11-24T09:00",
                              "--bind", f"127.0.0.1:{free_port()}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        before = sent(data)
        while sent(data) == before:                # delivery under way
            if serve.poll() is not None:
                raise SystemExit(f"serve exited {serve.returncode}")
            time.sleep(0.05)
        before = sent(data)
        result = contend(data, WORKERS, SECONDS, first_round)
        delivered = sent(data) - before
        if pending(data) == 0:
            raise SystemExit("serve ran out of messages: raise STAFF")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    return result, delivered


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        (data / "policies").mkdir(parents=True)
        (data / "config.toml").write_bytes((REPO / "data" / "config.toml").read_bytes())
        (data / "policies" / "social-networking.md").write_bytes(
            (REPO / "data" / "policies" / "social-networking.md").read_bytes())
        prepare(data, WORKERS, STAFF)
        port = free_port()
        sink = subprocess.Popen([sys.executable, str(REPO / "bench" / "sink.py"), str(port),
                                 SINK_DELAY], stdout=subprocess.PIPE, text=True)
        try:
            assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
            use_smtp(data, port)
            print(f"## Commands while serve sends ({machine()})\n")
            rounds: list[tuple[float, float, float, float, float]] = []
            failures: list[str] = []
            for n in range(ROUNDS):
                order = ("ours", "reference") if n % 2 == 0 else ("reference", "ours")
                figures = {}
                for step, which in enumerate(order):
                    first = 100 * (2 * n + step)           # review dates keep moving forward
                    if which == "ours":
                        result, delivered = while_sending(data, first)
                    else:
                        result, delivered = contend(data, WORKERS, SECONDS, first), 0
                    failures += result.failures + missing(data, result)
                    figures[which] = (result.per_second, statistics.median(result.durations),
                                      delivered / result.seconds)
                (o, o_lat, rate), (r, r_lat, _) = figures["ours"], figures["reference"]
                rounds.append((o, r, o_lat, r_lat, rate))
        finally:
            sink.terminate()        # SIGINT would be ignored under a shell's background job
            sink.wait()
    med = [statistics.median(column) for column in zip(*rounds, strict=True)]
    ratio = statistics.median(o / r for o, r, *_ in rounds)
    print("| | commands/s | median command |\n|---|---|---|")
    print(f"| {WORKERS} processes, serve sending ({med[4]:.0f} messages/s meanwhile) | "
          f"{med[0]:.1f} | {med[2] * 1000:.0f} ms |")
    print(f"| {WORKERS} processes, no service | {med[1]:.1f} | {med[3] * 1000:.0f} ms |")
    print(f"\nratio {ratio:.2f} (median of {ROUNDS} paired rounds of {SECONDS} s); "
          f"{'no command failed' if not failures else f'{len(failures)} FAILED'}; "
          f"load average after: {os.getloadavg()[0]:.2f}\n")
    for failure in failures[:5]:
        print(f"- {failure}")


if __name__ == "__main__":
    main()
