"""A new text that looks like an accident is not adopted without confirmation: a one-line
file once replaced the whole policy and sent 16 "policy updated" emails."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Run, snapshot

from jobs.tasks import evaluate
from lifecycle.actions.policies import accident_reasons, same_title_case
from lifecycle.register.instance import Instance

OLD = "# Policy\n\n## Purpose\n\nStaff read this policy and follow it every day.\n"


def test_the_rule() -> None:
    assert accident_reasons(OLD, OLD.replace("every day", "each day")) == []
    assert accident_reasons(OLD, "") == ["it has no words"]
    assert accident_reasons(OLD, "Staff.") == [
        "it keeps 1 words of 11: more than half are gone", "it has no headings left"]
    assert accident_reasons(OLD, "Policy\n======\n\nStaff read this policy and follow it.\n") \
        == []
    assert accident_reasons("No headings here at all.", "None here either.") == []


@pytest.mark.parametrize("text, reason", [
    ("Please see the attached.\n", "more than half are gone"),
    ("* * *\n", "it has no words"),
])
def test_a_one_line_file_needs_yes(run: Run, people: Path, tmp_path: Path, text: str,
                                   reason: str) -> None:
    new = tmp_path / "new.md"
    new.write_text(text, encoding="utf-8")
    before = snapshot(people)
    result = run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
                 str(new), "--now", "2026-11-20T10:00")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert f"{new}: this text looks like an accident (" in result.output
    assert reason in result.output and result.output.strip().endswith("add --yes")
    assert snapshot(people) == before


def test_yes_adopts_it_and_the_notices_follow(run: Run, people: Path, tmp_path: Path) -> None:
    new = tmp_path / "new.md"
    new.write_text("Please see the attached.\n", encoding="utf-8")
    result = run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
                 str(new), "--yes", "--now", "2026-11-20T10:00")
    assert result.exit_code == 0 and "adopted version 2" in result.output
    decisions = evaluate(Instance.at(people),
                         datetime(2026, 11, 20, 11, tzinfo=ZoneInfo("Europe/London")))
    assert decisions  # the notices go out once the office said yes


def test_a_title_that_differs_only_in_case_keeps_its_capitals() -> None:
    old = "# POLICY FOR TESTING\n\nText.\n"
    assert same_title_case(old, "# Policy for Testing\n\nText.\n") == old
    assert same_title_case(old, "# Policy for Exams\n\nText.\n") == \
        "# Policy for Exams\n\nText.\n"
