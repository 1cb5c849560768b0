"""The service's speed, against references measured in the same run.

- Delivery through the whole pipeline (rules, outbox, composition, delivery to a local
  aiosmtpd sink) against a bare smtplib loop sending the same messages, composed ahead, over
  one reused connection: 5,000 update notices with the Word document attached (target: 0.9
  of the bare loop's messages per second), the annual reminder to 5,000 staff (4 KB, links
  only; 0.9) and the September tick (300 staff × 30 policies; 0.85).
- `plan --days 365` for 200 policies and 5,000 people, as a whole process. Target: < 1 s.
- The first evaluation and later ones over a year's outbox at that size, and an idle serve
  on that instance (`history`).
- An idle `serve`: resident memory (target < 100 MB) and CPU over 30 seconds (near 0%).
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.paired import machine  # noqa: E402
from jobs.mail.composer import Composer  # noqa: E402
from jobs.tasks import deliver, evaluate  # noqa: E402
from lifecycle.actions.confirmations import ensure_secret  # noqa: E402
from lifecycle.register.instance import Instance  # noqa: E402

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/London"))
RUN = [sys.executable, str(REPO / "run.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instance(root: Path, staff: int, policies: int = 1, governors: int = 0) -> Path:
    data = root / "data"
    (data / "policies").mkdir(parents=True)
    shutil.copy(REPO / "data" / "config.toml", data / "config.toml")
    seed = (REPO / "data" / "policies" / "social-networking.md").read_text(encoding="utf-8")
    for i in range(policies):
        pid = "social-networking" if i == 0 else f"policy-{i:03d}"
        due = date(2027, 1, 31) + timedelta(days=3 * i)
        text = seed.replace("id: social-networking", f"id: {pid}")
        if i:
            text = text.replace("review_due: 2018-01", f"review_due: {due.isoformat()}")
        (data / "policies" / f"{pid}.md").write_text(text, encoding="utf-8")
    rows = ["name,email,roles,start_date,end_date"]
    rows += [f"Staff {i},staff{i:05d}@example.org,staff,2020-09-01," for i in range(staff)]
    rows += [f"Governor {i},gov{i:03d}@example.org,governor,2020-09-01," for i in range(governors)]
    (root / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    subprocess.run([*RUN, "--data", str(data), "init"], check=True, capture_output=True)
    subprocess.run([*RUN, "--data", str(data), "people", "import", str(root / "people.csv")],
                   check=True, capture_output=True)
    return data


def use_smtp(data: Path, port: int) -> None:
    config = data / "config.toml"
    text = config.read_text(encoding="utf-8").replace('transport = "files"', 'transport = "smtp"')
    text = text.replace('host = "localhost"', 'host = "127.0.0.1"').replace(
        "port = 587", f"port = {port}").replace('security = "starttls"', 'security = "none"')
    config.write_text(text, encoding="utf-8")


def bare_smtplib(port: int, messages: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for recipient, data in messages:
            smtp.sendmail("policies@example.org", [recipient], data)
    return len(messages) / (time.perf_counter() - start)


def forget(inst: Instance, kind: str) -> None:
    """Empty the outbox of one kind of message, so that the next round decides and sends the
    same messages again."""
    with sqlite3.connect(inst.db_path) as db:
        db.execute("DELETE FROM messages WHERE kind = ?", [kind])


def ours(inst: Instance, staff: int, kind: str) -> float:
    """Messages per second from the evaluation to the last delivery."""
    start = time.perf_counter()
    decided = evaluate(inst, NOW)
    sent = deliver(inst, NOW).sent
    rate = len(sent) / (time.perf_counter() - start)
    assert len(decided) == len(sent) == staff and all(m.kind == kind for m in sent)
    forget(inst, kind)
    return rate


STAFF = 5000
ROUNDS = 5


def notices(tmp: Path) -> None:
    """The issue's case: 5,000 messages with the Word document attached. Since reminders are
    bundled, these are update notices: the annual reminders go first (to files), then a new
    version is adopted."""
    def adopt_version_2(data: Path) -> None:
        subprocess.run([*RUN, "--data", str(data), "tick", "--now", "2026-11-20T09:00"],
                       check=True, capture_output=True)
        source = data / "policies" / "social-networking.md"
        changed = data.parent / "changed.md"
        changed.write_text(source.read_text(encoding="utf-8").replace(
            "social media", "social networks", 3), encoding="utf-8")
        subprocess.run([*RUN, "--data", str(data), "review", "record", "social-networking",
                        "--date", "2026-11-23", "--file", str(changed),
                        "--now", "2026-11-23T09:00"], check=True, capture_output=True)

    delivery(tmp / "notices", STAFF, 1, "5,000 update notices with the Word document and its "
             "tracked changes attached", 0.9, "updated", adopt_version_2)


def pipeline(tmp: Path) -> None:
    delivery(tmp / "pipeline", STAFF, 1, "annual reminder to 5,000 staff (one policy)", 0.9)


def september(tmp: Path) -> None:
    delivery(tmp / "september", 300, 30, "the September tick, 300 staff × 30 policies: one "
             "annual reminder each, listing all 30", 0.85)


def delivery(root: Path, staff: int, policies: int, title: str, target: float,
             kind: str = "reminder", prepare: Callable[[Path], None] | None = None) -> None:
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(REPO / "bench" / "sink.py"), str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        data = instance(root, staff=staff, policies=policies)
        if prepare:
            prepare(data)
        use_smtp(data, port)
        inst = Instance.at(data)
        # the exact messages the pipeline will send, composed ahead for the reference loop
        evaluate(inst, NOW)
        with inst.register() as register:
            composer = Composer(register, inst.config, data / "rendered", ensure_secret(data))
            messages = [(m.to_email, composer.compose(m, NOW)[1])
                        for m in register.outbox.deliverable(NOW)]
        forget(inst, kind)                            # the reference's messages, not ours
        size = sum(len(m) for _, m in messages) / len(messages) / 1024
        rounds = []
        for n in range(ROUNDS):                       # paired, alternating which goes first
            if n % 2:
                reference = bare_smtplib(port, messages)
                rounds.append((ours(inst, staff, kind), reference))
            else:
                rounds.append((ours(inst, staff, kind), bare_smtplib(port, messages)))
    finally:
        sink.terminate()        # SIGINT would be ignored under a shell's background job
        sink.wait()
    ratio = statistics.median(o / r for o, r in rounds)
    print(f"## Delivery: {title} ({size:.0f} KB messages; {machine()})\n")
    print(f"| medians of {ROUNDS} paired rounds | messages/s |\n|---|---|")
    print("| bare smtplib, one connection, messages composed ahead | "
          f"{statistics.median(r for _, r in rounds):,.0f} |")
    print("| ours: rules + outbox + composition + delivery | "
          f"{statistics.median(o for o, _ in rounds):,.0f} |")
    verdict = "met" if ratio >= target else "MISSED"
    print(f"\nratio {ratio:.2f} (median of the rounds' ratios; target ≥ {target}): {verdict}; "
          f"load average after: {os.getloadavg()[0]:.2f}\n")


def plan(tmp: Path) -> None:
    data = instance(tmp / "plan", staff=5000, policies=200, governors=20)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        out = subprocess.run([*RUN, "--data", str(data), "plan", "--from", "2026-11-24T09:00",
                              "--days", "365"], check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    count = out.stdout.split(" ", 1)[0]
    median = statistics.median(times)
    print("## plan --days 365, 200 policies, 5,020 people (whole process)\n")
    print(f"{count} messages planned; {median:.2f} s (median of 5; target < 1 s): "
          f"{'met' if median < 1 else 'MISSED'}; load average after: "
          f"{os.getloadavg()[0]:.2f}\n")


# The process's own peak resident memory. Not ru_maxrss: Linux carries that across exec from
# the forked copy of the parent, so a child of a large benchmark process would report the
# parent's size.
PEAK_MB = ("int(next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))"
           ".split()[1]) / 1024")

EVALUATE = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from jobs.tasks import evaluate
from lifecycle.values.dates import parse_datetime
from lifecycle.register.instance import Instance
inst = Instance.at(Path(sys.argv[1]))
now = parse_datetime(sys.argv[2], inst.config.timezone)
start = time.perf_counter()
evaluate(inst, now)
print(time.perf_counter() - start, PEAK_MB)
""".replace("PEAK_MB", PEAK_MB)


PLAN = EVALUATE.replace("from jobs.tasks import evaluate",
                        "from lifecycle.actions.operations import plan").replace(
    "evaluate(inst, now)", "plan(inst, now, 365)")


def _evaluation(data: Path, now: str, code: str = EVALUATE) -> tuple[float, float]:
    """One evaluation (or with PLAN, a year's forecast) in a process of its own, as the
    service runs it every 15 minutes: (seconds, peak resident MB of the process)."""
    out = subprocess.run([sys.executable, "-c", code, str(data), now, str(REPO)],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def growth(tmp: Path) -> None:
    """How plan, the first evaluation and a later one grow with people and with policies."""
    load = os.getloadavg()[0]
    print(f"## Growth ({machine()})\n")
    print("Seconds inside one process each (start-up excluded); the later evaluation has the "
          "first one's messages as history and nothing due.\n")
    print("| policies | people | plan --days 365 | first evaluation | later evaluation |")
    print("|---|---|---|---|---|")
    for policies, staff in ((20, 500), (20, 5000), (20, 50000), (1, 5000), (200, 5000)):
        data = instance(tmp / f"growth-{policies}-{staff}", staff=staff, policies=policies,
                        governors=20)
        planned = statistics.median(_evaluation(data, "2026-11-24T09:00", PLAN)[0]
                                    for _ in range(3))
        first = _evaluation(data, "2026-11-24T09:00")[0]
        later = statistics.median(_evaluation(data, f"2026-11-24T{10 + n}:00")[0]
                                  for n in range(3))
        print(f"| {policies} | {staff + 20:,} | {planned:.2f} | {first:.2f} | {later:.2f} |")
        shutil.rmtree(data.parent)
    print(f"\nload average {load:.2f} before, {os.getloadavg()[0]:.2f} after.\n")


def _tick_process(data: Path, now: str) -> tuple[float, float]:
    """One `tick` (evaluation and delivery) as its own process: (seconds, peak MB)."""
    code = ("import runpy, sys; sys.argv = sys.argv[1:]"
            "\ntry: runpy.run_path(sys.argv[0], run_name='__main__')"
            "\nexcept SystemExit: pass"
            f"\nprint('peak', {PEAK_MB}, file=sys.stderr)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "run.py"), "--data", str(data),
                          "tick", "--now", now], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, float(out.stderr.rsplit("peak", 1)[1])


def _year_of_history(data: Path, policies: int, staff: int) -> int:
    """The previous school year as an older release recorded it: a reminder per policy per
    person (a million rows at 200 × 5,000), all sent."""
    def rows() -> Iterator[tuple[str, ...]]:
        for p in range(policies):
            pid = "social-networking" if p == 0 else f"policy-{p:03d}"
            for i in range(staff):
                person = f"staff{i:05d}@example.org"
                yield (f"reminder/{pid}/2025-26//{person}", pid, person, person,
                       f"<{p}.{i}@example.org>")

    with sqlite3.connect(data / "register.db") as db:
        db.executemany(
            "INSERT INTO messages (key, kind, policy_id, period, stage, person_key, to_name,"
            " to_email, office_copy, eligible, status, message_id, decided_at, attempts,"
            " sent_at) VALUES (?, 'reminder', ?, '2025-26', '', ?, 'Staff', ?, 0, '2025-09-01',"
            " 'sent', ?, '2025-09-01T08:00:00+01:00', 1, '2025-09-01T08:01:00+01:00')", rows())
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def history(tmp: Path) -> None:
    """The first tick at a trust's size (200 policies × 5,000 staff and 20 governors, files
    transport), then later evaluations with nothing due over a year's outbox (a million
    rows), each in a process of its own, medians of 5."""
    load = os.getloadavg()[0]
    data = instance(tmp / "history", staff=5000, policies=200, governors=20)
    copy = tmp / "history-tick" / "data"
    shutil.copytree(data, copy)
    first, first_mb = _evaluation(data, "2026-11-24T09:00")
    decided = _decided(data)
    tick, tick_mb = _tick_process(copy, "2026-11-24T09:00")
    rows = _year_of_history(data, 200, 5000)
    _evaluation(data, "2026-11-24T09:30")          # opens the grown file once
    later = [_evaluation(data, f"2026-11-24T{10 + n}:00") for n in range(5)]
    seconds = statistics.median(t for t, _ in later)
    mb = max(m for _, m in later)
    rss, _ = _idle(data, "2026-11-24T19:00")
    print(f"## A trust's size: 200 policies × 5,020 people ({machine()})\n")
    print("| | seconds | peak MB | target |\n|---|---|---|---|")
    print(f"| first evaluation: deciding {decided:,} messages | {first:.2f} | {first_mb:.0f} | "
          f"≤ 5 s: {'met' if first <= 5 else 'MISSED'} |")
    print(f"| the whole first `tick` (deciding, composing, writing every message) | {tick:.2f} | "
          f"{tick_mb:.0f} | < 300 MB: {'met' if tick_mb < 300 else 'MISSED'} |")
    print(f"| later evaluation, nothing due, {rows:,} outbox rows (median of 5) | "
          f"{seconds:.2f} | {mb:.0f} | ≤ 0.3 s, < 150 MB: "
          f"{'met' if seconds <= 0.3 and mb < 150 else 'MISSED'} |")
    print(f"| idle `serve` on that instance, resident after start-up | | {rss:.0f} | "
          f"< 100 MB: {'met' if rss < 100 else 'MISSED'} |")
    print(f"\nEach in a process of its own (times exclude Python's start-up, memory is the "
          f"process's peak); load average {load:.2f} before, {os.getloadavg()[0]:.2f} after.\n")


def _decided(data: Path) -> int:
    with sqlite3.connect(data / "register.db") as db:
        return int(db.execute("SELECT count(*) FROM messages WHERE decided_at LIKE "
                              "'2026-11-24T09:00%'").fetchone()[0])


def _idle(data: Path, now: str) -> tuple[float, float]:
    """An idle `serve` on ``data``: (resident MB after its start-up, CPU share over 30 s)."""
    process = subprocess.Popen([*RUN, "--data", str(data), "serve", "--now", now, "--bind",
                                f"127.0.0.1:{free_port()}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(8)
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        before, start = cpu(), time.monotonic()
        time.sleep(30)
        used = (cpu() - before) / (time.monotonic() - start)
        rss = next(int(line.split()[1]) for line in
                   Path(f"/proc/{process.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS")) / 1024
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()
    return rss, used


def idle(tmp: Path) -> None:
    rss, used = _idle(instance(tmp / "idle", staff=50), "2026-11-24T19:00")
    print("## Idle serve\n")
    print(f"resident {rss:.0f} MB (target < 100 MB): {'met' if rss < 100 else 'MISSED'}; "
          f"CPU {used * 100:.2f}% over 30 s\n")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp_name:
        which = sys.argv[1:] or ["notices", "pipeline", "september", "plan", "history", "growth",
                                 "idle"]
        for name in which:
            {"notices": notices, "pipeline": pipeline, "september": september, "plan": plan,
             "history": history, "growth": growth, "idle": idle}[name](Path(tmp_name))
