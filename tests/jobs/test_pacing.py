"""Within the mail provider's limits: a minute's and a day's worth at a time, the urgent first,
nothing failed for waiting, and `plan` saying when each message will really go."""

from __future__ import annotations

import email
import json
from bisect import bisect_right
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import Run
from processes import staff_csv

from jobs.tasks import deliver, evaluate
from lifecycle.register.instance import Instance
from lifecycle.rules.pacing import DAY, MINUTE, Limits, allowance, schedule
from lifecycle.values.model import Kind, Status

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/London"))


def limit(data_dir: Path, **mail: int) -> Instance:
    config = data_dir / "config.toml"
    extra = "".join(f"\n{k} = {v}" for k, v in mail.items())
    config.write_text(config.read_text(encoding="utf-8").replace(
        'transport = "files"', f'transport = "files"{extra}'), encoding="utf-8")
    return Instance.at(data_dir)


def sent_times(inst: Instance) -> list[datetime]:
    with inst.register() as register:
        return sorted(m.sent_at for m in register.outbox.messages(status=Status.SENT)
                      if m.sent_at)


def test_a_minutes_allowance_and_a_days() -> None:
    limits = Limits(per_minute=20, per_day=50)
    assert allowance(Limits(), [], NOW) is None
    assert allowance(limits, [NOW - MINUTE] * 20, NOW) == 20        # a minute ago: gone by
    assert allowance(limits, [NOW - timedelta(seconds=59)] * 15, NOW) == 5
    assert allowance(limits, [NOW - timedelta(hours=23)] * 45, NOW) == 5
    assert allowance(limits, [NOW - DAY] * 50, NOW) == 20


def test_the_schedule_sends_the_urgent_first_and_keeps_both_limits() -> None:
    limits = Limits(per_minute=20, per_day=50)
    arrivals = [(NOW, Kind.REMINDER, f"r{i}") for i in range(60)]
    arrivals.append((NOW + MINUTE, Kind.REVIEW, "prompt"))
    going = schedule(limits, [], arrivals)
    assert going["r0"] == going["r19"] == NOW and going["r20"] == NOW + MINUTE
    assert going["prompt"] == NOW + MINUTE             # ahead of the waiting reminders
    assert going["r39"] == NOW + 2 * MINUTE            # 20, then 19 and the prompt, then 10
    assert going["r48"] == NOW + 2 * MINUTE and going["r49"] == NOW + DAY   # 50 a day
    times = sorted(going.values())
    assert all(bisect_right(times, t) - bisect_right(times, t - DAY) <= 50 for t in times)


def test_one_tick_over_fifty_sends_twenty_and_leaves_thirty_waiting(
        run: Run, initialised: Path, tmp_path: Path) -> None:
    assert run("people", "import", str(staff_csv(tmp_path / "staff.csv", 50))).exit_code == 0
    inst = limit(initialised, per_minute=20)
    evaluate(inst, NOW)
    result = deliver(inst, NOW)
    assert len(result.sent) == 20 and result.failed == [] and result.held_back
    with inst.register() as register:
        counts = register.outbox.counts()
    assert counts[Status.SENT] == 20 and counts.get(Status.FAILED, 0) == 0
    assert counts[Status.PENDING] == 30
    later = run("tick", "--now", (NOW + MINUTE).isoformat())
    assert "Delivered: 20 sent, 0 to retry, 0 failed." in later.output
    assert "wait for the mail provider's sending limit" in later.output


def test_a_daily_limit_holds_in_every_24_hours_over_simulated_days(
        run: Run, initialised: Path, tmp_path: Path) -> None:
    assert run("people", "import", str(staff_csv(tmp_path / "staff.csv", 40))).exit_code == 0
    inst = limit(initialised, per_day=15)
    evaluate(inst, NOW)
    for hour in range(0, 24 * 4, 3):                    # every three hours for four days
        deliver(inst, NOW + timedelta(hours=hour))
    times = sent_times(inst)
    assert len(times) == 40                            # every staff reminder
    assert max(bisect_right(times, t) - bisect_right(times, t - DAY) for t in times) == 15


def test_plan_says_when_each_message_really_goes_and_delivery_does_so(
        run: Run, initialised: Path, tmp_path: Path) -> None:
    assert run("people", "import", str(staff_csv(tmp_path / "staff.csv", 45))).exit_code == 0
    inst = limit(initialised, per_minute=20)
    plan = run("plan", "--from", NOW.isoformat(), "--days", "1", "--json")
    planned = {(m["kind"], m["to"]): datetime.fromisoformat(m["sends_at"])
               for m in json.loads(plan.output)}
    assert sorted(set(planned.values())) == [NOW, NOW + MINUTE, NOW + 2 * MINUTE]
    text = run("plan", "--from", NOW.isoformat(), "--days", "1").output
    assert "2026-11-24 09:00-09:02 Tue" in text        # the reminders, 20 a minute
    evaluate(inst, NOW)
    for minute in range(4):
        deliver(inst, NOW + minute * MINUTE)
    with inst.register() as register:
        done = {(m.kind.value, m.to_email): m.sent_at
                for m in register.outbox.messages(status=Status.SENT)}
    assert done == planned


def test_the_digest_and_the_dashboard_say_when_a_limit_spreads_the_mail(
        run: Run, people: Path, tmp_path: Path) -> None:
    from starlette.testclient import TestClient
    from test_web import PASSWORD, login

    from web.admin import set_password
    from web.app import create_app

    assert run("people", "import", str(staff_csv(tmp_path / "staff.csv", 40))).exit_code == 0
    inst = limit(people, per_day=15)
    evaluate(inst, NOW)
    assert len(deliver(inst, NOW).sent) == 15           # the prompts and the digest among them
    [digest] = (inst.root / "mail").rglob("digest-*.eml")
    said = ("are spread over the coming days and will all have gone by 27 November 2026 at "
            "09:00, because the mail server, as set in config.toml, accepts at most 15 a day "
            "from one mailbox.")
    message = email.message_from_bytes(digest.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Waiting to be sent: 44. The 44 messages waiting " + said in " ".join(text.split())
    set_password(inst, PASSWORD, NOW)
    with TestClient(create_app(inst, clock=lambda: NOW + timedelta(hours=1)),
                    base_url="http://127.0.0.1:8080") as client:
        login(client)
        assert "The 36 messages waiting " + said in client.get("/admin").text
