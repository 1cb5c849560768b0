"""The statutory catalogue, `catalogue`, `policies add --from-catalogue`, and reviews due by
a half term from the school's [[terms]]."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from conftest import Run, snapshot

from lifecycle.values.catalogue import APPROVERS, CATALOGUE, REVIEWS, load_catalogue

NOW = "2026-11-25T09:00"
TERMS = """
[[terms]]
name = "autumn-1"
start = 2026-09-02
end = 2026-10-23
[[terms]]
name = "autumn-2"
start = 2026-11-02
end = 2026-12-18
[[terms]]
name = "spring-1"
start = 2027-01-05
end = 2027-02-12
[[terms]]
name = "spring-2"
start = 2027-02-22
end = 2027-03-26
[[terms]]
name = "summer-1"
start = 2027-04-12
end = 2027-05-28
[[terms]]
name = "summer-2"
start = 2027-06-07
end = 2027-07-22
"""


def test_the_catalogue_is_well_formed_and_every_entry_names_its_source() -> None:
    entries = load_catalogue()
    raw = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))["policy"]
    assert len(entries) == len(raw) >= 24
    assert len({e.id for e in entries}) == len(entries)
    for e in entries:
        assert re.fullmatch(r"[a-z0-9-]+", e.id), e.id
        assert e.source.startswith("https://www.gov.uk/"), e.id
        assert e.approver in APPROVERS and e.review in REVIEWS, e.id
    # the DfE's "recommended annually" is told apart from a duty
    assert {e.basis for e in entries} == {"duty", "recommendation"}
    assert next(e for e in entries if e.id == "safeguarding").basis == "duty"
    assert next(e for e in entries if e.id == "equality-objectives").review == "4 years"
    assert "recommendation, not a duty" in CATALOGUE.read_text(encoding="utf-8")


def _add(run: Run, tmp_path: Path, *args: str) -> str:
    text = tmp_path / "text.md"
    text.write_text("# A policy\n\nWe do what the law asks of us, every day.\n")
    result = run("policies", "add", str(text), "--now", NOW, *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_catalogue_lists_each_statutory_policy_with_its_state_here(
        run: Run, initialised: Path, tmp_path: Path) -> None:
    _add(run, tmp_path, "--id", "safeguarding", "--from-catalogue", "safeguarding",
         "--adopted", "2026-09-01", "--review-due", "2027-09")
    _add(run, tmp_path, "--id", "pay", "--from-catalogue", "teachers-pay",
         "--adopted", "2025-09-01", "--review-due", "2026-09")
    found = {e["id"]: e for e in json.loads(run("catalogue", "--json", "--now", NOW).output)}
    assert found["safeguarding"]["state"] == "present"
    assert found["safeguarding"]["policies"] == ["safeguarding"]
    assert found["teachers-pay"]["state"] == "overdue"
    assert found["complaints"]["state"] == "missing"
    assert "careers-provider-access" not in found          # secondary only; ours is primary
    assert all(e["source"].startswith("https://www.gov.uk/") for e in found.values())
    maintained_only = {e.id for e in load_catalogue() if e.applies == "maintained"}
    assert maintained_only <= set(found)
    text = run("catalogue", "--now", NOW).output
    assert re.search(r"^teachers-pay\s+Teachers' pay policy\s+OVERDUE\s+pay", text, re.M)
    assert "2 present" not in text and "1 present, 1 overdue" in text

    config = initialised / "config.toml"
    config.write_text(config.read_text().replace(
        '[school]\n', '[school]\ntype = "academy"\nphase = "secondary"\n'))
    academy = {e["id"] for e in json.loads(run("catalogue", "--json").output)}
    assert "teachers-pay" not in academy and "careers-provider-access" in academy


def test_add_from_the_catalogue_takes_approver_interval_and_publishing(
        run: Run, initialised: Path, tmp_path: Path) -> None:
    out = _add(run, tmp_path, "--id", "biometrics", "--from-catalogue", "biometrics",
               "--adopted", "2026-09-01", "--review-due", "2027-09")
    assert "meeting the statutory 'biometrics'" in out
    front = (initialised / "policies" / "biometrics.md").read_text()
    assert "title: Protection of children's biometric information" in front
    assert "approver: Governing Body" in front and "review_interval: 1 year\n" in front
    assert "publish: false" in front and "reminder_audience: []" in front
    assert "statutory: biometrics" in front

    before = snapshot(initialised)
    bad = run("policies", "add", str(tmp_path / "text.md"), "--id", "behaviour",
              "--from-catalogue", "behaviour", "--adopted", "2026-09-01",
              "--review-due", "2027-09")
    assert bad.exit_code == 1
    assert "no approving body for the headteacher" in bad.output.splitlines()[-1]
    assert snapshot(initialised) == before


def test_a_statutory_line_naming_no_entry_is_one_clear_error(run: Run, data_dir: Path) -> None:
    path = data_dir / "policies" / "social-networking.md"
    path.write_text(path.read_text().replace("related:", "statutory: safeguardin\nrelated:"))
    result = run("init")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {path}:12: statutory: 'safeguardin' is not in the catalogue of statutory "
        "policies; did you mean 'safeguarding'?")
    assert not (data_dir / "register.db").exists()


def test_a_review_due_by_a_half_term_is_shown_as_the_term(run: Run, data_dir: Path,
                                                          tmp_path: Path) -> None:
    (data_dir / "config.toml").write_text((data_dir / "config.toml").read_text() + TERMS)
    assert run("init", "--now", NOW).exit_code == 0
    assert run("people", "import", str(data_dir / "examples" / "people.csv")).exit_code == 0
    _add(run, tmp_path, "--id", "safeguarding", "--from-catalogue", "safeguarding",
         "--adopted", "2026-09-01", "--review-due", "summer-2 2027")
    rows = {r["id"]: r for r in json.loads(run("status", "--json", "--now", NOW).output)}
    assert rows["safeguarding"]["review_due"] == "2027-07-22"
    assert rows["safeguarding"]["review_due_text"] == "Summer 2 2027 (by 22 July 2027)"
    assert "Summer 2 2027 (by 22 July 2027)" in run("status", "--now", NOW).output
    plan = run("plan", "--from", "2027-05-01T07:00", "--days", "90").output
    assert re.search(r"review\s+safeguarding\s+lead-56, due Summer 2 2027 \(by 22 July 2027\)",
                     plan), plan

    uncovered = run("policies", "add", str(tmp_path / "text.md"), "--id", "later", "--title",
                    "Later", "--adopted", "2026-09-01", "--review-due", "summer-2 2029")
    assert uncovered.exit_code == 1
    assert uncovered.output.strip().splitlines()[-1] == (
        "Error: --review-due: 'summer-2 2029' is not in the school's terms ([[terms]] in "
        "config.toml covers autumn-1 2026 to summer-2 2027)")


def test_holidays_between_terms_hold_staff_messages(run: Run, data_dir: Path) -> None:
    (data_dir / "config.toml").write_text((data_dir / "config.toml").read_text() + TERMS)
    assert run("init", "--now", NOW).exit_code == 0
    csv = data_dir / "staff.csv"
    csv.write_text("name,email,roles,start_date,end_date\nAda Teacher,ada@example.org,staff,,\n")
    assert run("people", "import", str(csv)).exit_code == 0
    # Monday 26 October 2026 is in the half-term holiday (24 October to 1 November)
    plan = json.loads(run("plan", "--from", "2026-10-26T07:00", "--days", "14",
                          "--json").output)
    staff = [p for p in plan if p["to"] == "ada@example.org"]
    assert staff and min(p["at"] for p in staff)[:10] == "2026-11-02"


def test_bad_terms_are_clear_errors(run: Run, data_dir: Path) -> None:
    config = data_dir / "config.toml"
    base = config.read_text()
    cases = {
        TERMS.replace('end = 2026-10-23', 'end = 2026-11-05'):
            "term autumn-2 2026 (from 2026-11-02) overlaps autumn-1 2026 (to 2026-11-05)",
        TERMS.replace('name = "spring-2"', 'name = "easter"'):
            "'easter' is not a half term (names: autumn-1, autumn-2, spring-1, spring-2, "
            "summer-1, summer-2)",
        TERMS.replace('end = 2027-07-22', 'end = 2027-06-01'):
            "term 'summer-2' ends (2027-06-01) before it starts (2027-06-07)",
    }
    for terms, message in cases.items():
        config.write_text(base + terms)
        result = run("status")
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1].endswith(f"terms: {message}"), \
            result.output
