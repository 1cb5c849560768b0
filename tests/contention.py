"""Commands from several processes at once, as an office would run them while `serve` sends:
each worker imports a person, then records a review of its own policy (every third with a
new text), over and over. Used by tests/test_concurrency.py and bench/concurrency.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = [sys.executable, str(REPO / "run.py")]
FIRST_REVIEW = date(2013, 1, 1)


def policy_id(worker: int) -> str:
    return f"contended-{worker}"


def prepare(data: Path, workers: int, staff: int) -> None:
    """A register with the seed policy, one policy per worker and ``staff`` people (so that
    `serve` has a reminder to send to each)."""
    seed = (REPO / "data" / "policies" / "social-networking.md").read_text(encoding="utf-8")
    for w in range(workers):
        text = seed.replace("id: social-networking", f"id: {policy_id(w)}")
        (data / "policies" / f"{policy_id(w)}.md").write_text(text, encoding="utf-8")
    subprocess.run([*RUN, "--data", str(data), "init"], check=True, capture_output=True)
    rows = ["name,email,roles,start_date,end_date"]
    rows += [f"Staff {i},staff{i:05d}@example.org,staff,2020-09-01," for i in range(staff)]
    rows += ["Clerk,clerk@example.org,clerk,2020-09-01,"]
    staff_file = data.parent / "staff.csv"
    staff_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    subprocess.run([*RUN, "--data", str(data), "people", "import", str(staff_file)],
                   check=True, capture_output=True)


@dataclass
class Contention:
    """What the workers did: every command, how long it took, and what went wrong."""

    seconds: float = 0.0
    durations: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    people: set[str] = field(default_factory=set)
    reviews: set[tuple[str, str]] = field(default_factory=set)     # (policy, notes)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def per_second(self) -> float:
        return len(self.durations) / self.seconds


class Worker(threading.Thread):
    def __init__(self, data: Path, number: int, deadline: float, result: Contention,
                 first_round: int) -> None:
        super().__init__(name=f"worker-{number}")
        self.data, self.number, self.deadline, self.result = data, number, deadline, result
        self.round = first_round
        self.folder = data.parent / f"worker-{number}"
        self.folder.mkdir(exist_ok=True)

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            self.command(*self.import_person())
            self.command(*self.review())
            self.round += 1

    def command(self, args: list[str], record: tuple[str, object]) -> None:
        started = time.monotonic()
        done = subprocess.run([*RUN, "--data", str(self.data), *args], capture_output=True,
                              text=True, timeout=120)
        took = time.monotonic() - started
        with self.result.lock:
            self.result.durations.append(took)
            if done.returncode != 0 or "Traceback" in done.stderr or "locked" in done.stderr:
                self.result.failures.append(f"{' '.join(args)}: exit {done.returncode}: "
                                            f"{done.stderr.strip()[-500:]}")
            elif record[0] == "person":
                self.result.people.add(str(record[1]))
            else:
                self.result.reviews.add(record[1])  # type: ignore[arg-type]

    def import_person(self) -> tuple[list[str], tuple[str, object]]:
        email = f"w{self.number}r{self.round}@example.org"
        path = self.folder / f"round-{self.round}.csv"
        path.write_text("name,email,roles,start_date,end_date\n"
                        f"Worker {self.number} round {self.round},{email},staff,2020-09-01,\n",
                        encoding="utf-8")
        return ["people", "import", str(path)], ("person", email)

    def review(self) -> tuple[list[str], tuple[str, object]]:
        policy = policy_id(self.number)
        notes = f"worker {self.number} round {self.round}"
        reviewed = FIRST_REVIEW + timedelta(days=self.round)
        args = ["review", "record", policy, "--date", reviewed.isoformat(), "--notes", notes]
        if self.round % 3 == 0:                      # a new text, adopted as a new version
            text = self.folder / f"text-{self.round}.md"
            source = (self.data / "policies" / f"{policy}.md").read_text(encoding="utf-8")
            text.write_text(source.rstrip("\n") + f"\n\nAmended in round {self.round}.\n",
                            encoding="utf-8")
            args += ["--file", str(text)]
        return args, ("review", (policy, notes))


def contend(data: Path, workers: int, seconds: float, first_round: int = 0) -> Contention:
    """``workers`` processes' worth of commands for ``seconds``; rounds numbered from
    ``first_round`` (review dates must keep moving forward between calls)."""
    result = Contention()
    started = time.monotonic()
    threads = [Worker(data, w, started + seconds, result, first_round) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def missing(data: Path, result: Contention) -> list[str]:
    """Every write a command reported as done, looked for in the register."""
    db = sqlite3.connect(data / "register.db")
    try:
        people = {email for (email,) in db.execute("SELECT email FROM people")}
        reviews = set(db.execute("SELECT policy_id, notes FROM reviews"))
    finally:
        db.close()
    return sorted(result.people - people) + [f"{p}: {n}" for p, n in result.reviews - reviews]
