"""The rules over time: the seed policy, the example people, the repository's config.

Evaluations are plain function calls at chosen times; nothing sleeps and nothing patches the
clock. Expected figures are worked out by hand in the comments.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Run

from jobs.tasks import evaluate
from lifecycle.actions.snapshot import rules_for
from lifecycle.register.instance import Instance
from lifecycle.rules.due import REMINDER, REVIEW, SEND, SKIP, Decision, forecast

LONDON = ZoneInfo("Europe/London")
GOVERNING_BODY = {"chair.governor@example.org", "t.ashworth@example.org", "p.raman@example.org",
                  "a.khan@example.org", "clerk@example.org"}
OFFICE = "office@example.org"
STAFF_2026 = {"a.khan@example.org", "d.okafor@example.org", "l.brennan@example.org", OFFICE}


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def simulate(inst: Instance, start: date, days: int,
             down: tuple[date, date] | None = None) -> list[tuple[date, Decision]]:
    """A tick at 09:00 every day, except while the service is down."""
    out = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if down and down[0] <= day <= down[1]:
            continue
        out += [(day, d) for d in evaluate(inst, at(day))]
    return out


def sends(decisions: list[tuple[date, Decision]]) -> Counter[tuple[str, str]]:
    return Counter((day.isoformat(), d.kind) for day, d in decisions if d.action == SEND)


def test_first_tick_on_the_day_of_writing(inst: Instance) -> None:
    decisions = evaluate(inst, at(date(2026, 11, 24)))
    review = [d for d in decisions if d.kind == REVIEW and d.action == SEND]
    # each governor and the clerk, each their own message; one copy for the office
    assert {d.person for d in review if not d.office_copy} == GOVERNING_BODY
    assert [d.person for d in review if d.office_copy] == [OFFICE]
    assert {d.stage for d in review} == {"overdue-115"}      # the latest stage only
    reminders = {d.person for d in decisions if d.kind == REMINDER}
    assert reminders == STAFF_2026                          # volunteer, leaver, starter: no
    assert {d.period for d in decisions if d.kind == REMINDER} == {"2026-27"}
    skipped = [d for d in decisions if d.action == SKIP]
    # lead-56, lead-28, lead-14 (2017-18), due (2018-01-31), overdue-1 .. overdue-114
    assert Counter(d.person for d in skipped) == {p: 118 for p in GOVERNING_BODY | {OFFICE}}
    lead = {(d.stage, d.eligible) for d in skipped if d.stage.startswith("lead")}
    assert lead == {("lead-56", date(2017, 12, 6)), ("lead-28", date(2018, 1, 3)),
                    ("lead-14", date(2018, 1, 17))}
    assert evaluate(inst, at(date(2026, 11, 24))) == []      # twice: nothing new
    assert evaluate(inst, at(date(2026, 11, 24), 17, 59)) == []


@pytest.mark.parametrize("moment", [
    at(date(2026, 11, 28)),            # Saturday
    at(date(2026, 11, 24), 7, 59),     # before the window opens
    at(date(2026, 11, 24), 18, 0),     # as it closes
])
def test_nothing_is_decided_outside_the_send_window(inst: Instance, moment: datetime) -> None:
    assert evaluate(inst, moment) == []


# A year of daily ticks from 2026-11-24, the review never recorded. Worked out by hand:
# overdue stages fall every 28 days on Wednesdays (overdue-1 was Wed 2018-02-14, a fortnight
# after the due date);
# Emily Nowak starts Mon 2027-01-04; the 2027-28 reminders are due Wed 2027-09-01, the last
# day of the summer closure, so they wait for Thu 2027-09-02; the digest goes every Monday.
OVERDUE_WEDNESDAYS = ["2026-12-09", "2027-01-06", "2027-02-03", "2027-03-03", "2027-03-31",
                      "2027-04-28", "2027-05-26", "2027-06-23", "2027-07-21", "2027-08-18",
                      "2027-09-15", "2027-10-13", "2027-11-10"]


def mondays(start: date, end: date) -> list[str]:
    first = start + timedelta(days=(7 - start.weekday()) % 7)
    return [(first + timedelta(weeks=w)).isoformat() for w in range((end - first).days // 7 + 1)]


def expected_year(down: tuple[date, date] | None = None) -> Counter[tuple[str, str]]:
    expected: Counter[tuple[str, str]] = Counter()
    expected[("2026-11-24", "review")] = 6          # 5 governing body + office copy
    expected[("2026-11-24", "reminder")] = 4        # 4 active staff
    expected[("2026-11-24", "digest")] = 1          # this week's, on the first day
    for day in OVERDUE_WEDNESDAYS:
        expected[(day, "review")] += 6
    expected[("2027-01-04", "reminder")] = 1        # the new starter
    expected[("2027-09-02", "reminder")] = 5        # 2027-28: 4 staff + Emily; James has left
    # Nobody confirms, so the chasers go 14 and 28 days after each reminder:
    expected[("2026-12-08", "chase")] = 4
    expected[("2027-01-04", "chase")] = 4           # 2026-12-22 is in the Christmas closure
    expected[("2027-01-18", "chase")] = 1           # Emily's ladder
    expected[("2027-02-01", "chase")] = 1
    expected[("2027-09-16", "chase")] = 5
    expected[("2027-09-30", "chase")] = 5
    for day in mondays(date(2026, 11, 25), date(2027, 11, 23)):
        expected[(day, "digest")] = 1
    if down:
        for key in [k for k in expected if down[0].isoformat() <= k[0] <= down[1].isoformat()]:
            del expected[key]
    return expected


@pytest.mark.slow
def test_a_year_of_daily_ticks(inst: Instance) -> None:
    got = sends(simulate(inst, date(2026, 11, 24), 365))
    assert got == expected_year()
    assert sum(got.values()) == 167


@pytest.mark.slow
def test_the_same_year_with_the_service_down_for_two_months(inst: Instance) -> None:
    down = (date(2027, 1, 11), date(2027, 3, 12))
    decisions = simulate(inst, date(2026, 11, 24), 365, down)
    expected = expected_year(down)
    # Back on Mon 2027-03-15: the latest stage due (overdue-119, 2027-03-03) goes to the six;
    # overdue-118 (2027-02-03), never sent, is recorded as skipped; this week's digest goes;
    # the nine digests of the weeks it was down are not sent late.
    expected[("2027-03-15", "review")] = 6
    expected[("2027-03-15", "digest")] = 1
    expected[("2027-03-15", "chase")] = 1           # Emily's chase-28; her chase-14 skipped
    assert sends(decisions) == expected
    assert sum(expected.values()) == 151
    late = [d for day, d in decisions if day == date(2027, 3, 15) and d.kind == REVIEW]
    assert Counter((d.stage, d.action) for d in late) == {("overdue-119", SEND): 6,
                                                        ("overdue-118", SKIP): 6}


def test_every_stage_at_most_once_per_person(inst: Instance) -> None:
    simulate(inst, date(2026, 11, 24), 120)
    with inst.register() as register:
        keys = [m.key for m in register.outbox.messages()]
    assert len(keys) == len(set(keys))


def test_closures_hold_staff_messages_but_not_governors(inst: Instance,
                                                       data_dir: Path) -> None:
    # Start in the Christmas closure: governors' overdue prompt goes, staff reminders wait.
    closed = evaluate(inst, at(date(2026, 12, 21)))
    assert {d.kind for d in closed if d.action == SEND} == {REVIEW, "digest"}
    assert [d for d in closed if d.kind == REMINDER] == []
    reopened = evaluate(inst, at(date(2027, 1, 4)))
    assert {d.person for d in reopened if d.kind == REMINDER} == STAFF_2026 | {
        "e.nowak@example.org"}


def test_a_staff_governor_gets_her_governor_prompt_in_a_closure(inst: Instance) -> None:
    closed = evaluate(inst, at(date(2026, 12, 21)))
    assert "a.khan@example.org" in {d.person for d in closed if d.kind == REVIEW}


def test_a_review_stops_the_prompts_and_a_new_text_tells_the_audience(
        run: Run, inst: Instance, tmp_path: Path) -> None:
    evaluate(inst, at(date(2026, 11, 24)))
    source = (inst.policies_dir / "social-networking.md").read_text(encoding="utf-8")
    new = tmp_path / "new.md"
    new.write_text(source.split("---\n", 2)[2].replace("Bebo", "Instagram"), encoding="utf-8")
    result = run("review", "record", "social-networking", "--date", "2027-03-10", "--file",
                 str(new), "--now", "2027-03-10T08:30")
    assert result.exit_code == 0, result.output
    decisions = evaluate(inst, at(date(2027, 3, 10)))
    updated = {d.person for d in decisions if d.kind == "updated"}
    # audiences staff, volunteer, governor, contractor; active on 2027-03-10; not the clerk
    assert updated == {"a.khan@example.org", "d.okafor@example.org", "l.brennan@example.org",
                       OFFICE, "e.nowak@example.org", "g.adeyemi@example.org",
                       "chair.governor@example.org", "t.ashworth@example.org",
                       "p.raman@example.org", "contracts@example.net"}
    assert {d.period for d in decisions if d.kind == "updated"} == {"v2"}
    later = simulate(inst, date(2027, 3, 11), 300)
    assert [d for _, d in later if d.kind == REVIEW] == []   # next review due 2030-03-10


@pytest.mark.slow
def test_dst_through_the_register(inst: Instance) -> None:
    """End to end, every 15 minutes in UTC over the weekend of each 2027 clock change (the
    timing itself is specified in test_timing.py): the Monday after each change decides its
    messages once, at 08:00 local time."""
    seen: list[str] = []
    for start in (datetime(2027, 3, 27, tzinfo=UTC), datetime(2027, 10, 30, tzinfo=UTC)):
        for step in range(3 * 24 * 4):
            seen += [d.key for d in evaluate(inst, start + timedelta(minutes=15 * step))]
    assert len(seen) == len(set(seen))
    with inst.register() as register:
        local = [m.decided_at.astimezone(LONDON) for m in register.outbox.messages()]
    mondays = [t for t in local if t.date() in (date(2027, 3, 29), date(2027, 11, 1))]
    assert {t.date() for t in mondays} == {date(2027, 3, 29), date(2027, 11, 1)}
    assert {t.time() for t in mondays} == {time(8, 0)}       # the window, in local time


@pytest.mark.slow
def test_plan_is_the_same_evaluation_as_daily_ticks(inst: Instance, data_dir: Path) -> None:
    with inst.register() as register:
        rules, _ = rules_for(register, inst)
        planned = forecast(rules, register.outbox.record(), at(date(2026, 11, 24), 8), 400)
    ticked = simulate(inst, date(2026, 11, 24), 400)
    assert [(m.date(), d) for m, b in planned for d in b.decisions()] == ticked


def test_evaluation_reads_the_open_periods_not_the_whole_history(inst: Instance) -> None:
    import sqlite3

    evaluate(inst, at(date(2026, 11, 24), 9))
    db = sqlite3.connect(inst.root / "register.db")
    old = [("reminder/social-networking/2024-25//x@example.org", "reminder",
            "social-networking", "2024-25", "", "2024-09-02T08:00:00+01:00"),
           ("review/social-networking/c1/overdue-3/x@example.org", "review",
            "social-networking", "c1", "overdue-3", "2018-04-02T08:00:00+01:00")]
    db.executemany("INSERT INTO messages (key, kind, policy_id, period, stage, person_key,"
                   " status, decided_at, eligible) VALUES (?, ?, ?, ?, ?, 'x@example.org',"
                   " 'sent', ?, '2018-01-01')", old)
    db.commit()
    db.close()
    with inst.register() as register:
        rules, _ = rules_for(register, inst)
        since, groups = rules.history_needed(date(2026, 11, 24))
        assert since == date(2026, 8, 30)          # the school year began on 1 September
        record = register.outbox.record(since, groups)
    assert ("reminder", "social-networking", "2024-25", "") not in record.groups
    assert record.has(("review", "social-networking", "c1", "overdue-3"), "x@example.org")
    assert record.has(("review", "social-networking", "c1", "overdue-115"), "clerk@example.org")
