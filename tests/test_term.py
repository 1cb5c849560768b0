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


def test_a_draft_in_the_pack_says_which_meeting_and_the_review_it_would_get(
        run: Run, people: Path, tmp_path: Path) -> None:
    """#28 (1): a draft uploaded on 10 December for the meeting on 14 January is not
    "adopted 10 December" with the old review date, on its first page or in its footers."""
    import email
    import io
    from email import policy as email_policy

    from docx import Document

    assert run("meetings", "add", "2027-01-14", "--body", "Governing Body",
               "--now", at(date(2026, 11, 24))).exit_code == 0
    source = people / "policies" / f"{POLICY}.md"
    draft = tmp_path / "proposed.md"
    draft.write_text(source.read_text().split("---\n", 2)[2].replace("January 2018",
                                                                     "January 2030"))
    assert run("draft", "add", POLICY, str(draft), "--now", at(date(2026, 12, 10))).exit_code == 0
    assert run("tick", "--now", at(date(2027, 1, 4))).exit_code == 0
    [pack] = [p for p in (people / "mail").rglob("pack-*.eml")
              if "office@example.org" in p.read_text()][:1]
    message = email.message_from_bytes(pack.read_bytes(), policy=email_policy.default)
    documents = {part.get_filename(): Document(io.BytesIO(part.get_content()))
                 for part in message.iter_attachments()
                 if (part.get_filename() or "").endswith(".docx")}
    assert sorted(documents) == [                       # named for people, not for a hash
        "Policy for Social Networking - draft for the meeting of 14 January 2027, changes "
        "tracked.docx", "Policy for Social Networking - draft for the meeting of 14 January "
        "2027.docx"]
    drafts = list(documents.values())
    for document in drafts:
        facts = next(p.text for p in document.paragraphs if p.style.name == "Policy Facts")
        footer = document.sections[0].footer.paragraphs[0].text
        assert "draft for the meeting of 14 January 2027" in facts
        assert "Next review if approved then: 14 January 2030" in facts
        assert footer.startswith("Draft for the meeting of 14 January 2027 · Review due "
                                 "14 January 2030 if approved then")
        for wrong in ("Adopted", "10 December 2026", "2018"):
            assert wrong not in facts + footer


def test_a_policy_added_after_the_annual_reminder_is_announced_and_chased_on_its_own(
        run: Run, people: Path) -> None:
    """#28 (2): a policy staff must read, adopted in December, gets its own message (plan
    shows it), its chasers count from that message, and the annual reminder's chasers do not
    list it as "from this year's annual reminder"."""
    import email
    from email import policy as email_policy

    assert run("tick", "--now", at(date(2026, 11, 24))).exit_code == 0   # the annual reminder
    (people / "policies" / "lockdown.md").write_text(
        "---\nid: lockdown\ntitle: Lockdown Procedure\nschool: St Ann's School\n"
        "approver: Governing Body\nadopted: 2026-12-09\nreview_due: 2029-12\n"
        "audiences: [staff]\nreminder_audience: [staff]\n---\n\n# Lockdown Procedure\n\n"
        "What staff do when the school locks down.\n")
    assert run("init", "--now", at(date(2026, 12, 9), 16)).exit_code == 0
    planned = json.loads(run("plan", "--from", at(date(2026, 12, 10), 7), "--days", "1",
                             "--json").output)
    new = sorted(m["to"] for m in planned if m["policy"] == "lockdown")
    assert len(new) == 4 and all(m["kind"] == "updated" for m in planned
                                 if m["policy"] == "lockdown")
    assert run("tick", "--now", at(date(2026, 12, 10))).exit_code == 0
    for day in (date(2027, 1, 4), date(2027, 1, 5)):    # chasers wait out the holiday
        assert run("tick", "--now", at(day)).exit_code == 0

    def texts(prefix: str) -> dict[str, str]:
        found = {}
        for path in sorted((people / "mail").rglob(f"{prefix}-*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
            body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found[f"{message['To']} {message['Subject']}"] = body
        return found

    notices = {k: v for k, v in texts("updated-lockdown").items() if "New policy" in k}
    assert len(notices) == 4
    assert all("It was not in this school year's annual reminder" in t for t in notices.values())
    chasers = texts("chase")
    assert sum("Lockdown Procedure" in k for k in chasers) == 4       # its own, 14 days on
    annual_chasers = {k: v for k, v in texts("chase").items() if "Lockdown" not in k}
    assert annual_chasers and all("Lockdown" not in t for t in annual_chasers.values())


def test_governors_reach_the_agenda_and_the_draft_without_the_office_login(
        run: Run, people: Path, tmp_path: Path) -> None:
    """#28 (12): the pack's links are the members' own (signed), not the office's pages."""
    import email
    import re
    from email import policy as email_policy

    from starlette.testclient import TestClient

    from lifecycle.register.instance import Instance
    from web.app import create_app

    assert run("meetings", "add", "2027-01-14", "--body", "Governing Body",
               "--now", at(date(2026, 11, 24))).exit_code == 0
    draft = tmp_path / "proposed.md"
    draft.write_text("# Policy for Social Networking\n\nStaff never befriend pupils online.\n")
    assert run("draft", "add", POLICY, str(draft), "--now", at(date(2026, 12, 10))).exit_code == 0
    assert run("tick", "--now", at(date(2027, 1, 4))).exit_code == 0
    pack = next(p for p in (people / "mail").rglob("pack-*.eml")
                if "chair.governor@example.org" in p.read_text())
    message = email.message_from_bytes(pack.read_bytes(), policy=email_policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "/admin/" not in text
    agenda = re.search(r"http://127\.0\.0\.1:8080(/agenda/[^/\s]+)", text)[1]  # type: ignore[index]
    assert f"{agenda}/{POLICY}" in text                   # "The draft online"
    clock = datetime.combine(date(2027, 1, 5), time(9), tzinfo=LONDON)
    with TestClient(create_app(Instance.at(people), clock=lambda: clock),
                    base_url="http://127.0.0.1:8080") as client:
        page = client.get(agenda)
        assert page.status_code == 200 and "Read the draft" in page.text
        shown = client.get(f"{agenda}/{POLICY}")
        assert "Draft for the meeting of 14 January 2027" in shown.text
        assert "Staff never befriend pupils online." in shown.text
        word = client.get(f"{agenda}/{POLICY}.docx")
        assert "draft%20for%20the%20meeting%20of%2014%20January%202027.docx" in \
            word.headers["content-disposition"]
        assert client.get(agenda[:-3] + "abc").status_code == 404     # altered: refused


def test_a_statutory_entry_can_be_marked_not_applicable_with_a_reason(
        run: Run, people: Path) -> None:
    """#28 (17): "25 missing" can be cleared: an entry that does not apply here is marked so,
    with the school's reason, shown with it, and leaves the digest and the dashboard."""
    from starlette.testclient import TestClient
    from test_web import PASSWORD, csrf_of, login

    from lifecycle.register.instance import Instance
    from web.admin import set_password
    from web.app import create_app

    listed = json.loads(run("catalogue", "--json").output)
    missing = [e["id"] for e in listed if e["state"] == "missing"]
    unknown = run("catalogue", "not-applicable", "no-such-entry", "--reason", "x")
    assert unknown.output.startswith("Error: ENTRY: 'no-such-entry' is not in the catalogue")
    refused = run("catalogue", "not-applicable", missing[0], "--reason", " ")
    assert refused.exit_code == 1 and "say why it does not apply here" in refused.output
    done = run("catalogue", "not-applicable", missing[0], "--reason", "No boarders here")
    assert done.exit_code == 0
    after = {e["id"]: e for e in json.loads(run("catalogue", "--json").output)}
    assert after[missing[0]]["state"] == "not applicable"
    assert after[missing[0]]["not_applicable_because"] == "No boarders here"
    assert "1 not applicable" in run("catalogue").output
    inst = Instance.at(people)
    set_password(inst, PASSWORD, datetime.now(LONDON))
    with TestClient(create_app(inst), base_url="http://127.0.0.1:8080") as client:
        login(client)
        dashboard = client.get("/admin").text
        assert f"{len(missing) - 1} missing" in dashboard
        page = client.post(f"/admin/catalogue/{missing[1]}/not-applicable",
                           data={"csrf": csrf_of(client, "/admin/catalogue"),
                                 "reason": "Not a secondary school"}).text
        assert "marked not applicable here" in page and "Not a secondary school" in page
        page = client.post(f"/admin/catalogue/{missing[0]}/applicable",
                           data={"csrf": csrf_of(client, "/admin/catalogue")}).text
        assert "applies here again" in page
    assert run("tick", "--now", at(date(2026, 11, 24))).exit_code == 0
    [digest] = (people / "mail").rglob("digest-*.eml")
    assert f"Statutory policies missing or overdue ({len(missing) - 1}" in digest.read_text()
    with inst.register() as register:
        assert [e.action for e in register.audit.log(missing[0])] == [
            "catalogue.not_applicable", "catalogue.applicable"]
