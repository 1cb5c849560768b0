"""The register's commands end to end, on a real SQLite file in a temporary data directory."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, Run


def status(run: Run, now: str = "2026-11-24T09:00") -> list[dict[str, object]]:
    result = run("status", "--json", "--now", now)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_init_prints_the_register_with_the_seed_overdue(run: Run, data_dir: Path) -> None:
    result = run("init", "--now", "2026-11-24T09:00")
    assert result.exit_code == 0
    assert re.search(r"schema version \d+", result.output)
    assert "social-networking: new (version 1)" in result.output
    line = next(li for li in result.output.splitlines() if li.startswith("social-networking "))
    assert "2018-01-31" in line and "overdue" in line and "8 years 9 months overdue" in line
    assert (data_dir / "register.db").exists()


def test_init_twice_changes_nothing(run: Run, initialised: Path) -> None:
    result = run("init", "--now", "2026-11-25T09:00")
    assert "social-networking: unchanged (version 1)" in result.output


def test_status_json_on_the_day_of_writing(run: Run, initialised: Path) -> None:
    [row] = status(run)
    assert row["id"] == "social-networking"
    assert row["title"] == "Policy for Social Networking"
    assert row["version"] == 1
    assert row["adopted"] == "2012-01-01"
    assert row["review_due"] == "2018-01-31"
    assert row["state"] == "overdue"
    assert row["days_overdue"] == 3219
    # overdue prompts go every 28 days from Thu 2018-02-01; the next after today:
    assert row["next_prompt"] == {"stage": "overdue-116", "date": "2026-12-09"}


def test_status_moves_through_the_states(run: Run, initialised: Path) -> None:
    assert status(run, "2017-11-01T09:00")[0]["state"] == "ok"
    assert status(run, "2017-12-06T09:00")[0]["state"] == "due-soon"
    assert status(run, "2018-01-31T09:00")[0]["state"] == "due"
    assert status(run, "2018-02-01T09:00")[0]["state"] == "overdue"


def test_recording_a_review_moves_it_to_ok(run: Run, initialised: Path) -> None:
    result = run("review", "record", "social-networking", "--date", "2026-11-20",
                 "--notes", "Full governing body, no changes", "--now", "2026-11-24T09:00")
    assert result.exit_code == 0, result.output
    assert "next review due 2029-11-20" in result.output
    [row] = status(run)
    assert (row["state"], row["review_due"], row["version"]) == ("ok", "2029-11-20", 1)
    history = run("history", "social-networking").output
    assert "2026-11-20 1 2029-11-20 Full governing body, no changes" in " ".join(history.split())
    assert "review.recorded" in history
    # the source agrees with the register, so the next import changes nothing
    assert "unchanged" in run("init").output
    assert status(run)[0]["review_due"] == "2029-11-20"


def test_review_with_an_explicit_next_date(run: Run, initialised: Path) -> None:
    run("review", "record", "social-networking", "--date", "2026-11-20", "--next", "2027-07",
        "--now", "2026-11-24T09:00")
    # --next takes a day; a month form is refused as a bad date, without writing
    assert status(run)[0]["review_due"] == "2018-01-31"
    result = run("review", "record", "social-networking", "--date", "2026-11-20", "--next",
                 "2027-07-31", "--now", "2026-11-24T09:00")
    assert result.exit_code == 0
    assert status(run)[0]["review_due"] == "2027-07-31"


def test_review_with_changed_text_adopts_a_new_version(run: Run, initialised: Path,
                                                       tmp_path: Path) -> None:
    new = tmp_path / "new.md"
    source = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
    new.write_text(source.split("---\n", 2)[2].replace("Bebo", "Instagram"), encoding="utf-8")
    result = run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
                 str(new), "--now", "2026-11-24T09:00")
    assert result.exit_code == 0, result.output
    assert "adopted version 2" in result.output
    [row] = status(run)
    assert (row["version"], row["adopted"]) == (2, "2026-11-20")
    rewritten = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
    assert "Instagram" in rewritten and "adopted: 2026-11-20" in rewritten
    assert "review_due: 2029-11-20" in rewritten
    assert "unchanged (version 2)" in run("init").output
    history = run("history", "social-networking").output
    assert "\n2        2026-11-20  " in history


def test_review_with_the_same_text_is_not_a_new_version(run: Run, initialised: Path) -> None:
    same = initialised / "policies" / "social-networking.md"
    result = run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
                 str(same), "--now", "2026-11-24T09:00")
    assert "no change to the text (version 1)" in result.output


def test_editing_the_source_text_registers_a_new_version(run: Run, initialised: Path) -> None:
    path = initialised / "policies" / "social-networking.md"
    text = path.read_text(encoding="utf-8").replace("adopted: 2012-01-01", "adopted: 2026-09-01")
    text = text.replace("review_due: 2018-01", "review_due: 2029-09")
    path.write_text(text.replace("Bebo", "TikTok"), encoding="utf-8")
    result = run("init", "--now", "2026-11-24T09:00")
    assert "social-networking: new version (version 2)" in result.output


def test_people_import_and_list(run: Run, initialised: Path) -> None:
    result = run("people", "import", str(initialised / "examples" / "people.csv"))
    assert result.exit_code == 0
    assert "12 added, 0 updated, 0 unchanged, 0 rejected" in result.output
    people = json.loads(run("people", "list", "--json", "--now", "2026-11-24T09:00").output)
    assert len(people) == 12
    by_email = {p["email"]: p for p in people}
    assert by_email["j.holloway@example.org"]["active"] is False   # left in July 2026
    assert by_email["e.nowak@example.org"]["active"] is False      # starts January 2027
    assert by_email["a.khan@example.org"]["roles"] == ["staff", "governor"]
    again = run("people", "import", str(initialised / "examples" / "people.csv"))
    assert "0 added, 0 updated, 12 unchanged" in again.output


def test_people_upsert_by_email_ignoring_case(run: Run, initialised: Path, tmp_path: Path) -> None:
    run("people", "import", str(initialised / "examples" / "people.csv"))
    csv = tmp_path / "update.csv"
    csv.write_text("name,email,roles,start_date,end_date\n"
                   "David Okafor,D.Okafor@Example.org,staff,2015-09-01,2026-12-19\n",
                   encoding="utf-8")
    assert "0 added, 1 updated" in run("people", "import", str(csv)).output
    people = json.loads(run("people", "list", "--json").output)
    assert len(people) == 12
    david = next(p for p in people if p["name"] == "David Okafor")
    assert david["end_date"] == "2026-12-19"


def test_data_option_and_environment_variable(run: Run, initialised: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "policies").mkdir()
    result = run("--data", str(other), "init")
    assert result.exit_code == 0
    assert "no policies" in result.output
    assert (other / "register.db").exists()


def test_commands_before_init_say_so(run: Run, data_dir: Path) -> None:
    result = CliResult = run("status")
    assert CliResult.exit_code == 1
    assert "run 'init' first" in result.output


def test_real_process_from_the_command_line(initialised: Path) -> None:
    out = subprocess.run([sys.executable, str(REPO / "run.py"), "--data", str(initialised),
                          "status", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)[0]["id"] == "social-networking"


def test_every_command_has_help(run: Run) -> None:
    from run import cli

    def walk(group, path):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            assert command.help, f"{path + [name]} has no help text"
            if hasattr(command, "commands"):
                walk(command, path + [name])

    walk(cli, [])


def test_every_command_is_in_the_readme_or_the_guides() -> None:
    from run import cli

    readme = "".join(p.read_text(encoding="utf-8") for p in [
        REPO / "README.md", REPO / "docs" / "office.md", REPO / "docs" / "it.md",
        REPO / "docs" / "policies.md"])
    for name, command in cli.commands.items():
        names = [f"{name} {sub}" for sub in getattr(command, "commands", {})] or [name]
        for full in names:
            assert f"`{full}" in readme or f"run.py {full}" in readme, full


def test_the_command_reference_is_generated_from_the_commands() -> None:
    """cog --check fails when any command's help differs from what docs/reference.md shows."""
    result = subprocess.run([sys.executable, "-m", "cogapp", "--check", "docs/reference.md"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
    assert "## `policy-lifecycle review record`" in reference


def test_the_guides_build_with_no_broken_link(tmp_path: Path) -> None:
    """The MkDocs site builds --strict: a broken link, a missing anchor or a page left out
    of the navigation fails it."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "office" / "index.html").exists()


def test_data_works_after_the_command_name(run: Run, people: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_LIFECYCLE_DATA", str(tmp_path / "elsewhere"))
    result = run("people", "list", "--data", str(people), "--json")
    assert result.exit_code == 0, result.output
    assert "chair.governor@example.org" in result.output
    assert run("status", "--data", str(people)).exit_code == 0


def test_status_shows_the_day_a_prompt_really_goes(run: Run, initialised: Path) -> None:
    config = initialised / "config.toml"
    config.write_text(config.read_text().replace(
        'days = ["mon", "tue", "wed", "thu", "fri"]', 'days = ["mon", "tue"]'))
    [row] = json.loads(run("status", "--json", "--now", "2026-11-24T09:00").output)
    # overdue reminder 116 falls on Wednesday 9 December; the send window opens on Monday 14th
    assert row["next_prompt"] == {"stage": "overdue-116", "date": "2026-12-14"}
