"""tick, plan and outbox through the real command line."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import Run


def test_tick_on_the_day_of_writing(run: Run, people: Path) -> None:
    result = run("tick", "--now", "2026-11-24T09:00")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2026-11-24T09:00+00:00: 11 to send, 708 stale stages skipped.",
        "  review   social-networking    overdue-115  6 messages",
        "  reminder -                    2026-27      4 messages",
        "  digest   -                    2026-W48     1 message",
        "Delivered: 11 sent, 0 to retry, 0 failed."]
    again = run("tick", "--now", "2026-11-24T09:00")
    assert again.output.splitlines() == [
        "2026-11-24T09:00+00:00: 0 to send, 0 stale stages skipped.",
        "Delivered: 0 sent, 0 to retry, 0 failed."]
    assert len(list((people / "mail").rglob("*.eml"))) == 11


def test_tick_verbose_gives_a_line_per_message(run: Run, people: Path) -> None:
    lines = run("tick", "--now", "2026-11-24T09:00", "--verbose").output.splitlines()
    assert len(lines) == 13
    assert "  review   social-networking    overdue-115  clerk@example.org" in lines
    assert "  review   social-networking    overdue-115  office@example.org (office copy)" in lines


def test_outbox_lists_and_filters(run: Run, people: Path) -> None:
    run("tick", "--now", "2026-11-24T09:00")
    listing = run("outbox", "--status", "sent").output
    assert "11 sent, 708 skipped" in listing
    assert listing.count(" sent ") == 11
    skipped = json.loads(run("outbox", "--status", "skipped", "--json").output)
    assert {r["stage"] for r in skipped if r["stage"].startswith("lead")} == {
        "lead-56", "lead-28", "lead-14"}
    plain = run("outbox").output
    assert " skipped " not in plain and plain.count(" sent ") == 11
    assert "Skipped: decided but deliberately not sent" in plain and "--all" in plain
    assert run("outbox", "--all").output.count(" skipped ") == 708


def test_plan_matches_what_daily_ticks_send(run: Run, people: Path) -> None:
    planned = json.loads(run("plan", "--from", "2026-11-24T08:00", "--days", "60",
                             "--json").output)
    assert {"at", "kind", "policy", "to"} <= set(planned[0])
    for offset in range(60):
        day = date(2026, 11, 24) + timedelta(days=offset)
        assert run("tick", "--now", f"{day.isoformat()}T09:00").exit_code == 0
    sent = json.loads(run("outbox", "--status", "sent", "--json").output)
    assert sorted((p["at"][:10], p["kind"], p["policy"] or "", p["to"]) for p in planned) == \
        sorted((r["decided_at"][:10], r["kind"], r["policy_id"], r["to_email"]) for r in sent)


def test_plan_text_groups_by_moment(run: Run, people: Path) -> None:
    result = run("plan", "--from", "2026-11-24T09:00", "--days", "16")
    assert result.output.splitlines()[0] == \
        "23 messages in the 16 days from 2026-11-24T09:00+00:00."
    assert "2026-12-09 08:00 Wed  review    social-networking  overdue-116  6" in result.output


@pytest.mark.parametrize(("args", "pattern"), [
    (["tick", "--now", "soon"], "--now: 'soon' is not an ISO date-time"),
    (["plan", "--from", "2026-13-01"], "--from: '2026-13-01' is not an ISO date-time"),
    (["outbox", "retry", "999"], "no message 999 in the outbox"),
])
def test_bad_arguments(run: Run, people: Path, args: list[str], pattern: str) -> None:
    result = run(*args)
    assert result.exit_code == 1 and pattern in result.output
    assert len(result.output.strip().splitlines()) == 1
