"""Bad input of every kind: one line naming file, line and field; exit 1; nothing written."""

import re
from pathlib import Path

import pytest
from conftest import Run, snapshot

HEADER = "name,email,roles,start_date,end_date\n"
GOOD = "Ann Example,ann@example.org,staff,2020-09-01,\n"


def assert_refused(result, pattern: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(pattern, lines[0]), lines[0]


CSV_CASES = {
    "wrong columns": ("name,mail,role\nAnn,ann@example.org,staff\n", r"people\.csv:1: header: "),
    "too few values": (HEADER + GOOD + "Bob,bob@example.org,staff\n",
                       r"people\.csv:3: columns: expected 5 values, got 3"),
    "bad email": (HEADER + GOOD + "Bob,bob@,staff,,\n", r"people\.csv:3: email: 'bob@' is not"),
    "unknown role": (HEADER + GOOD + "Bob,bob@example.org,staff;janitor,,\n",
                     r"people\.csv:3: roles: unknown role 'janitor'"),
    "no role": (HEADER + "Bob,bob@example.org,,,\n", r"people\.csv:2: roles: is empty"),
    "empty name": (HEADER + " ,bob@example.org,staff,,\n", r"people\.csv:2: name: is empty"),
    "control characters": (HEADER + '"Bob\rBcc: x@evil.example",bob@example.org,staff,,\n',
                           r"people\.csv:2: name: contains control characters"),
    "end before start": (HEADER + "Bob,bob@example.org,staff,2024-09-01,2024-08-31\n",
                         r"people\.csv:2: end_date: 2024-08-31 is before start_date 2024-09-01"),
    "impossible date": (HEADER + GOOD + "Bob,bob@example.org,staff,2023-02-29,\n",
                        r"people\.csv:3: start_date: '2023-02-29' is not a real date"),
    "not a date": (HEADER + "Bob,bob@example.org,staff,,next week\n",
                   r"people\.csv:2: end_date: 'next week' is not a date"),
    "duplicate email": (HEADER + GOOD + "Annie,ANN@example.org,staff,,\n",
                        r"people\.csv:3: email: ANN@example\.org already appears on line 2"),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_bad_csv_rows(run: Run, initialised: Path, case: str) -> None:
    text, pattern = CSV_CASES[case]
    csv = initialised / "people.csv"
    csv.write_text(text, encoding="utf-8")
    before = snapshot(initialised)
    assert_refused(run("people", "import", str(csv)), pattern)
    assert snapshot(initialised) == before


def test_non_utf8_bytes_in_a_row(run: Run, initialised: Path) -> None:
    csv = initialised / "people.csv"
    csv.write_bytes((HEADER + GOOD).encode() + "Zoë,zoe@example.org,staff,,\n".encode("latin-1"))
    before = snapshot(initialised)
    assert_refused(run("people", "import", str(csv)), r"people\.csv:3: encoding: not UTF-8")
    assert snapshot(initialised) == before


def test_a_quoted_multiline_field_keeps_line_numbers(run: Run, initialised: Path) -> None:
    csv = initialised / "people.csv"
    csv.write_text(HEADER + '"Ann\nExample",ann@example.org,staff,,\nBob,bob@,staff,,\n',
                   encoding="utf-8")
    result = run("people", "import", "--skip-invalid", str(csv))
    assert re.search(r"people\.csv:2: name: contains control characters", result.output)
    assert re.search(r"people\.csv:4: email", result.output)


def test_skip_invalid_imports_the_good_rows(run: Run, initialised: Path) -> None:
    csv = initialised / "people.csv"
    csv.write_text(HEADER + GOOD + "Bob,bob@,staff,,\nCat,cat@example.org,governor,,\n"
                   "Dan,dan@example.org,wizard,,\n", encoding="utf-8")
    result = run("people", "import", "--skip-invalid", str(csv))
    assert result.exit_code == 0
    assert "2 added, 0 updated, 0 unchanged, 2 rejected" in result.output
    assert re.search(r"rejected .*people\.csv:3: email", result.output)
    assert re.search(r"rejected .*people\.csv:5: roles", result.output)
    assert "Traceback" not in result.output


def test_missing_csv_file(run: Run, initialised: Path) -> None:
    assert_refused(run("people", "import", "nowhere.csv"), r"nowhere\.csv: No such file")


@pytest.mark.parametrize("content,pattern", [
    ("name,email,roles,start_date,end_date\nA," + "x" * 200_000 + ",staff,,\n",
     r"big\.csv:2: not a readable CSV file \(field larger than field limit"),
    ("name,email,roles,start_date,end_date\n" + "A,a@example.org,staff,,\n" * 300_000,
     r"big\.csv: is larger than 5 MB"),
])
def test_oversized_csv_is_one_line(run: Run, initialised: Path, tmp_path: Path, content: str,
                                   pattern: str) -> None:
    path = tmp_path / "big.csv"
    path.write_text(content, encoding="utf-8")
    before = snapshot(initialised)
    assert_refused(run("people", "import", str(path)), pattern)
    assert snapshot(initialised) == before


ALIAS_BOMB = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n"
                     for i in range(1, 9))


FRONT_MATTER_CASES = {
    "no front matter": (lambda t: t.split("---\n", 2)[2], r":1: front matter: missing"),
    "not closed": (lambda t: t.replace("---\n\n# POLICY", "\n# POLICY"),
                   r":1: front matter: not closed"),
    "broken yaml": (lambda t: t.replace("audiences: [staff,", "audiences: [staff,,]: ["),
                    r":\d+: front matter: not valid YAML"),
    "missing title": (lambda t: t.replace("title: Policy for Social Networking\n", ""),
                      r":1: title: missing"),
    "unknown field": (lambda t: t.replace("approver:", "reveiw_by: x\napprover:"),
                      r":5: reveiw_by: unknown field"),
    "impossible adopted": (lambda t: t.replace("adopted: 2012-01-01", "adopted: 2012-02-30"),
                           r":6: adopted: '2012-02-30' is not a real date"),
    "impossible month": (lambda t: t.replace("review_due: 2018-01", "review_due: 2018-13"),
                         r":7: review_due: '2018-13' is not a real month"),
    "due before adopted": (lambda t: t.replace("review_due: 2018-01", "review_due: 2011-06"),
                           r":7: review_due: 2011-06-30 is not after adopted 2012-01-01"),
    "unknown audience": (lambda t: t.replace("audiences: [staff,", "audiences: [pupils,"),
                         r":9: audiences: unknown role 'pupils'"),
    "bad interval": (lambda t: t.replace("review_interval: 3 years", "review_interval: often"),
                     r":8: review_interval: 'often' is not an interval"),
    "id not file name": (lambda t: t.replace("id: social-networking", "id: social-media"),
                         r":2: id: 'social-media' does not match the file name"),
    "empty body": (lambda t: t.split("# POLICY")[0], r":\d+: body: the policy has no text"),
    "misspelt approver": (
        lambda t: t.replace("approver: Governing Body", "approver: Governing body"),
        r":5: approver: 'Governing body' is not an approving body in config\.toml "
        r"\[approvers\] \(known: Governing Body\); did you mean 'Governing Body'\?"),
    # a billion laughs: eight lines that would expand to 10^8 values
    "yaml aliases": (lambda t: t.replace("related:", "l0: &l0 [x]\n" + ALIAS_BOMB + "related:"),
                     r":\d+: front matter: YAML aliases \(&name and \*name\) are not allowed"),
}


@pytest.mark.parametrize("case", FRONT_MATTER_CASES)
def test_broken_front_matter(run: Run, initialised: Path, case: str) -> None:
    edit, pattern = FRONT_MATTER_CASES[case]
    path = initialised / "policies" / "social-networking.md"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    before = snapshot(initialised)
    assert_refused(run("init"), r"social-networking\.md" + pattern)
    assert snapshot(initialised) == before


def test_non_utf8_policy(run: Run, data_dir: Path) -> None:
    path = data_dir / "policies" / "social-networking.md"
    path.write_bytes(path.read_bytes().replace(b"Bebo", "Bébo".encode("latin-1")))
    assert_refused(run("init"), r"social-networking\.md:\d+: not UTF-8 text")
    assert not (data_dir / "register.db").exists() or snapshot(data_dir).get("policies") == []


def test_a_bad_second_policy_writes_nothing_of_the_first(run: Run, data_dir: Path) -> None:
    policies = data_dir / "policies"
    good = (policies / "social-networking.md").read_text(encoding="utf-8")
    (policies / "zz-bad.md").write_text(good.replace("id: social-networking", "id: zz-bad")
                                        .replace("adopted: 2012-01-01", "adopted: 2012-01-32"))
    assert_refused(run("init"), r"zz-bad\.md:6: adopted")
    assert run("status").exit_code == 1   # no register was left behind half-made


@pytest.mark.parametrize(("args", "pattern"), [
    (["review", "record", "nope", "--date", "2026-11-20"], r"unknown policy id 'nope'"),
    (["history", "nope"], r"unknown policy id 'nope' \(known: social-networking\)"),
    (["review", "record", "social-networking", "--date", "2011-12-31"],
     r"--date: 2011-12-31 is before the policy was adopted \(2012-01-01\)"),
    (["review", "record", "social-networking", "--date", "2026-02-29"],
     r"--date: '2026-02-29' is not a real date"),
    (["review", "record", "social-networking", "--date", "2026-12-01"],
     r"--date: 2026-12-01 is in the future"),
    (["review", "record", "social-networking", "--date", "2026-11-20", "--next", "2026-11-01"],
     r"--next: 2026-11-01 is not after the review date"),
    (["review", "record", "social-networking", "--date", "2026-11-20", "--file", "gone.md"],
     r"gone\.md: No such file"),
    (["status", "--now", "yesterday"], r"--now: 'yesterday' is not an ISO date-time"),
])
def test_bad_arguments(run: Run, initialised: Path, args: list[str], pattern: str) -> None:
    before = snapshot(initialised)
    assert_refused(run(*args, *(["--now", "2026-11-24T09:00"] if "--now" not in args
                                and args[0] == "review" else [])), pattern)
    assert snapshot(initialised) == before


def test_review_file_for_another_policy(run: Run, initialised: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.md"
    text = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
    other.write_text(text.replace("id: social-networking", "id: grievance"), encoding="utf-8")
    before = snapshot(initialised)
    assert_refused(run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
                       str(other), "--now", "2026-11-24T09:00"),
                   r"other\.md:2: id: is 'grievance', but the review is of 'social-networking'")
    assert snapshot(initialised) == before


@pytest.mark.parametrize(("config", "pattern"), [
    ('[school]\ntimezone = "Mars/Olympus"\n', r"config\.toml:2: school\.timezone: unknown time"),
    ("[review]\ndue_soon_days = \"soon\"\n", r"config\.toml:2: review\.due_soon_days: expected"),
    ("[review]\nlead_time = 3\n", r"config\.toml:2: review\.lead_time: unknown setting"),
    ("[review\n", r"config\.toml: "),
    ('[mail]\nfrom = "School <policies>"\n', r"config\.toml:2: mail\.from: expected a name and"),
    ('[mail]\nfrom = "policies@example.org\\nBcc: x@example.org"\n', r"mail\.from: expected"),
])
def test_bad_config(run: Run, initialised: Path, config: str, pattern: str) -> None:
    (initialised / "config.toml").write_text(config, encoding="utf-8")
    assert_refused(run("status"), pattern)


def test_the_audit_log_is_append_only(initialised: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(initialised / "register.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET action = 'x'")
