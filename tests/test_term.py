"""A term in use, as the office, the clerk and governors meet it: what the service says must be
what it does. Real files, a real register, the real commands; time is passed in."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import Run

LONDON = ZoneInfo("Europe/London")
POLICY = "social-networking"


def at(day: date, hour: int = 9) -> str:
    return datetime.combine(day, time(hour), tzinfo=LONDON).isoformat()


def first_review_prompt(run: Run, day: date) -> tuple[str, str] | None:
    planned = json.loads(run("plan", "--from", at(day, 7), "--days", "200", "--json").output)
    return next(((m["stage"], m["at"][:10]) for m in planned
                 if m["kind"] == "review" and m["policy"] == POLICY), None)


def test_status_and_plan_name_the_same_next_prompt_every_day_of_a_term(
        run: Run, people: Path) -> None:
    """#28 (4): after a catch-up and around a meeting whose pack carries the review."""
    assert run("meetings", "add", "2027-01-14", "--body", "Governing Body",
               "--now", at(date(2026, 11, 24))).exit_code == 0
    day = date(2026, 11, 24)
    while day < date(2027, 2, 27):
        status = json.loads(run("status", "--json", "--now", at(day, 7)).output)
        prompt = next(r["next_prompt"] for r in status if r["id"] == POLICY)
        assert (prompt["stage"], prompt["date"]) == first_review_prompt(run, day), day
        if day.weekday() < 5 and day.day % 5:             # the service is down some days
            assert run("tick", "--now", at(day)).exit_code == 0
        day += timedelta(days=1)


def sent_review_prompts(data: Path) -> list[tuple[str, str]]:
    import sqlite3

    rows = sqlite3.connect(data / "register.db").execute(
        "SELECT DISTINCT stage, substr(decided_at, 1, 10) FROM messages WHERE kind = 'review'"
        " AND status != 'skipped' ORDER BY 2")
    return rows.fetchall()


def test_a_stage_the_pack_carried_does_not_come_back_after_the_meeting(
        run: Run, people: Path, tmp_path: Path) -> None:
    """#28 (3): with the pack sent on 4 January for a meeting on 14 January, a service stopped
    from the 5th to the 15th sends what one running throughout sends, and plan says so."""
    import shutil

    assert run("meetings", "add", "2027-01-14", "--body", "Governing Body",
               "--now", at(date(2026, 11, 24))).exit_code == 0
    for day in (date(2026, 11, 24), date(2026, 12, 18), date(2027, 1, 4)):
        assert run("tick", "--now", at(day)).exit_code == 0
    stopped = tmp_path / "stopped"
    shutil.copytree(people, stopped)
    before = first_review_prompt(run, date(2027, 1, 5))
    day = date(2027, 1, 5)
    while day <= date(2027, 1, 22):                      # running throughout
        assert run("tick", "--now", at(day)).exit_code == 0
        day += timedelta(days=1)
    assert run("--data", str(stopped), "tick", "--now", at(date(2027, 1, 15))).exit_code == 0
    for later in range(16, 23):
        assert run("--data", str(stopped), "tick",
                   "--now", at(date(2027, 1, later))).exit_code == 0
    assert sent_review_prompts(stopped) == sent_review_prompts(people)
    assert before is not None and before[1] > "2027-01-22"      # plan: nothing till then


def test_after_a_new_version_nobody_is_chased_out_for_it_yet(run: Run, people: Path,
                                                             tmp_path: Path) -> None:
    """#28 (5): chasers about version 1 say nothing of version 2, adopted the day before."""
    from lifecycle.actions.confirmations import progress
    from lifecycle.register.instance import Instance

    for day in (date(2026, 11, 24), date(2026, 12, 8), date(2027, 1, 4), date(2027, 1, 12)):
        assert run("tick", "--now", at(day)).exit_code == 0
    inst = Instance.at(people)

    def standing(day: date) -> tuple[set[str], set[str]]:
        with inst.register() as register:
            policy = register.policies.get(POLICY)
            found = progress(register, policy, inst.config, day, register.people.all())
        return found.asked, found.chased_out

    asked, chased_v1 = standing(date(2027, 1, 12))
    assert len(chased_v1) == 4 and chased_v1 <= asked          # chased to the end for v1
    source = people / "policies" / f"{POLICY}.md"
    changed = tmp_path / "changed.md"
    changed.write_text(source.read_text().split("---\n", 2)[2].replace("social media",
                                                                      "social networks", 1))
    assert run("review", "record", POLICY, "--date", "2027-01-12", "--file", str(changed),
               "--yes", "--now", at(date(2027, 1, 12), 15)).exit_code == 0
    assert run("tick", "--now", at(date(2027, 1, 13))).exit_code == 0
    asked, chased_out = standing(date(2027, 1, 13))
    assert chased_out == set()                                 # nobody chased for v2 yet
    assert chased_v1 <= asked                                  # the update notice asked them
