"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real
`serve` process and a real SMTP server: a member of staff follows the link in her email and
confirms; the office logs in, sees it, retries a failed message and records a review.
axe-core checks every page. POLICY_LIFECYCLE_SCREENSHOTS=DIR keeps a picture of each page
(`make screenshots` writes them to docs/)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Run
from smtp import Server, free_port, use_smtp
from tools import axe_violations, browser

pytestmark = pytest.mark.slow   # process-level: real services, signals, a browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(run: Run, initialised: Path, smtp_server: Server) -> Iterator[tuple[str, Server]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    use_smtp(initialised, smtp_server.port)
    config = initialised / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'base_url = "http://127.0.0.1:8080"', f'base_url = "{base}"'), encoding="utf-8")
    assert run("people", "import", str(initialised / "examples" / "people.csv")).exit_code == 0
    subprocess.run([sys.executable, str(REPO / "run.py"), "--data", str(initialised), "admin",
                    "set-password", "--password-stdin"], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True)
    smtp_server.sink.refuse["t.ashworth@example.org"] = ["550 5.1.1 No such mailbox"]
    log = open(initialised / "serve.log", "w")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--data", str(initialised),
                                "serve", "--now", "2026-11-24T09:00", "--bind",
                                f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/policies/", timeout=2)
            if len(smtp_server.sink.messages) >= 10:
                break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (
            initialised / "serve.log").read_text()
        time.sleep(0.1)
    yield base, smtp_server
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def new_page(b: Any, **options: Any) -> Any:
    """A page as a reader in England sees it (dates dd/mm/yyyy); axe-core is injected as a
    script, which the pages' own policy forbids, hence bypass_csp."""
    return b.new_context(bypass_csp=True, locale="en-GB", viewport={"width": 1100, "height": 900},
                         **options).new_page()


WIDTHS = (320, 390, 1280)      # the smallest phones, a common phone, a laptop


def check(page: Any, name: str) -> None:
    """At each of WIDTHS: no WCAG 2.2 A/AA violations and nothing wider than the screen (no
    sideways scrolling); a screenshot when asked for."""
    size = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        found = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                 for v in axe_violations(page)]
        assert found == [], (name, width, found)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, (name, width, wide, _widest(page, width))
    page.set_viewport_size(size)
    folder = os.environ.get("POLICY_LIFECYCLE_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"web-{name}.png"), full_page=False)


def _widest(page: Any, width: int) -> list[str]:
    """The elements that reach past the screen's right edge, for the failure message."""
    return page.evaluate("""(width) => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > width + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 30))""",
                         width)


def test_staff_confirm_and_the_office_sees_it(site: tuple[str, Server], initialised: Path,
                                              tmp_path: Path) -> None:
    base, server = site
    reminder = next(m for m in server.sink.messages if "d.okafor" in str(m["To"])
                    and "Annual reminder" in str(m["Subject"]))
    text = reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(rf"{re.escape(base)}/confirm/\S+", text)[0]  # type: ignore[index]
    with browser() as b:
        page = new_page(b)
        page.goto(f"{base}/policies/")
        check(page, "policies")
        page.goto(f"{base}/policies/social-networking")
        check(page, "policy")
        # a member of staff, from the link in her email
        page.goto(link)
        assert page.get_by_role("heading", level=1).inner_text() == "Your policies for 2026/27"
        check(page, "annual")
        page.get_by_role("link", name="read the Policy for Social Networking").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Policy for Social Networking"
        check(page, "confirm")
        page.get_by_role("button", name="I have read and understood the Policy for Social "
                                        "Networking").click()
        page.wait_for_selector("text=your confirmation is recorded")
        assert "the end" not in page.content()
        check(page, "confirmed")
        # the office
        page.goto(f"{base}/admin")
        assert "/admin/login" in page.url
        check(page, "login")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("text=Office dashboard")
        assert "1 of 4 (25%)" in page.content()
        assert "550 5.1.1 No such mailbox" in page.content()
        check(page, "dashboard")
        server.sink.refuse.clear()
        page.get_by_role("button", name=re.compile(r"Retry message \d+")).click()
        page.wait_for_selector("text=Office dashboard")
        assert "No failed messages." in page.content()
        page.get_by_role("link", name="Policy for Social Networking").first.click()
        page.wait_for_selector("text=Record a review")
        assert "Not yet confirmed (3)" in page.content()
        check(page, "policy-admin")
        page.get_by_label("Date of the review").fill("2026-11-20")
        page.get_by_label("Notes").fill("Full governing body: no changes")
        page.get_by_role("button", name="Record the review").click()
        page.wait_for_selector("text=Review recorded")
        assert "next review due 20 November 2029" in page.content()
        # a one-line file is caught by a second step; then the real new text
        accident = tmp_path / "notes.md"
        accident.write_text("Please see the attached.\n", encoding="utf-8")
        page.get_by_label("Date of the review").fill("2026-11-24")
        page.get_by_label("Reviewed text").set_input_files(str(accident))
        page.get_by_role("button", name="Record the review").click()
        page.wait_for_selector("text=Nothing has been recorded yet")
        check(page, "review-confirm")
        page.get_by_role("link", name="No, go back").click()
        reviewed = tmp_path / "reviewed.md"
        source = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
        reviewed.write_text(source.replace("pupils must not be", "pupils must never be"),
                            encoding="utf-8")
        page.get_by_label("Date of the review").fill("2026-11-24")
        page.get_by_label("Reviewed text").set_input_files(str(reviewed))
        page.get_by_role("button", name="Record the review").click()
        page.wait_for_selector("text=Review recorded: adopted version 2")
        page.get_by_role("link", name="what changed from version 1").click()
        page.wait_for_selector("text=1 passage changed: 1 word deleted, 1 inserted")
        check(page, "changes")
        page.goto(f"{base}/admin/add-policy")
        check(page, "policy-add")
    conn = sqlite3.connect(initialised / "register.db")
    assert conn.execute("SELECT person_key, version FROM confirmations").fetchall() == [
        ("d.okafor@example.org", 1)]
    assert conn.execute("SELECT reviewed_on, notes FROM reviews").fetchall() == [
        ("2026-11-20", "Full governing body: no changes"), ("2026-11-24", "")]
    status = conn.execute("SELECT status FROM messages WHERE to_email = 't.ashworth@example.org'"
                          " AND kind = 'review' AND status != 'skipped'").fetchone()[0]
    assert status in ("pending", "sending", "sent")


def test_the_office_runs_a_meeting_from_the_browser(site: tuple[str, Server],
                                                    initialised: Path, tmp_path: Path) -> None:
    base, server = site
    sink = server.sink
    draft = tmp_path / "new dates.md"
    source = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
    draft.write_text(source.split("---\n", 2)[2].replace("January 2018", "November 2029"),
                     encoding="utf-8")
    with browser() as b:
        page = new_page(b)
        _log_in(page, base)
        page.get_by_role("link", name="Meetings and agendas").click()
        page.wait_for_selector("text=Add a meeting")
        check(page, "meetings-empty")
        page.get_by_label("Date").fill("2026-11-20")
        page.get_by_label("Name (optional)").fill("Full Governing Body meeting")
        page.get_by_role("button", name="Add the meeting").click()
        page.wait_for_selector("text=Added the Full Governing Body meeting on 20 November 2026.")
        check(page, "meetings")
        page.goto(f"{base}/admin/drafts")
        page.get_by_label("Proposed text").set_input_files(str(draft))
        page.get_by_label("Note for the governors").fill("New review date")
        page.get_by_role("button", name="Upload the draft").click()
        page.wait_for_selector("text=draft 1 added")
        check(page, "drafts")
        page.goto(f"{base}/admin/meetings")
        page.get_by_role("link", name="Full Governing Body meeting").click()
        page.wait_for_selector("text=A draft is proposed")
        check(page, "agenda")
        page.get_by_label("Minute reference").fill("FGB 26/3")
        page.get_by_role("button", name="Approve the draft").click()
        page.wait_for_selector("text=approved, adopted draft 1 as version 2")
        check(page, "agenda-approved")
        page.goto(f"{base}/admin")
        page.get_by_role("link", name="see them and add the missing ones").click()
        page.wait_for_selector("text=0 present")
        check(page, "catalogue")
        page.get_by_role("link", name="Add the Child protection and safeguarding policy").click()
        page.wait_for_selector("text=This is the statutory policy")
        assert page.get_by_label("Title").input_value() == (
            "Child protection and safeguarding policy")
        assert page.get_by_label("Reviewed every").input_value() == "1 year"
        check(page, "policy-add-statutory")
        page.goto(f"{base}/admin")
        page.get_by_role("link", name="Mail settings").click()
        page.wait_for_selector("text=The mail settings in use")
        page.get_by_label("Send a test message to (optional)").fill("office@example.org")
        page.get_by_role("button", name="Check the mail set-up").click()
        page.wait_for_selector("text=Every step worked.")
        check(page, "mail")
    assert any("a test message" in str(m["Subject"]) for m in sink.messages)
    conn = sqlite3.connect(initialised / "register.db")
    assert conn.execute("SELECT minute, body FROM reviews").fetchall() == [
        ("FGB 26/3", "Governing Body")]


def _log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("text=What needs doing")


def _word_document(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Anti-bullying Policy", level=0)
    document.add_heading("Aims", level=1)
    document.add_paragraph("Every pupil is safe from bullying, and knows whom to tell.")
    document.save(str(path))
    return path


def test_the_office_never_needs_a_terminal(site: tuple[str, Server], initialised: Path,
                                           tmp_path: Path) -> None:
    """The office as the issue names it: staff list with a preview, a leaver, a policy from
    Word, a meeting, an approval, a subject access download and an erasure; and what is
    refused: a tampered form, 20 MB, a program renamed .docx."""
    base, _ = site
    staff = tmp_path / "staff.csv"
    staff.write_bytes("\ufeffName;Email Address;Role;Start Date;End Date\r\n"
                      '"Okafor, Adaeze";adaeze.okafor@example.org;staff;01/09/2024;\r\n'
                      '"Brennan, Lucy";l.brennan@example.org;"staff;volunteer";01/09/2018;\r\n'
                      '"Bell, Sam";sam.bell@;staff;;\r\n'.encode())
    db = initialised / "register.db"
    with browser() as b:
        page = new_page(b, accept_downloads=True)
        _log_in(page, base)
        page.get_by_role("link", name="People").click()
        page.wait_for_selector("text=Upload the staff list")
        check(page, "people")
        page.get_by_label("Staff list (CSV)").set_input_files(str(staff))
        page.get_by_role("button", name="Check the file").click()
        page.wait_for_selector("text=Check the staff list")
        assert "1 to add, 1 to change, 0 unchanged, 1 rejected" in page.content()
        assert "Adaeze Okafor (adaeze.okafor@example.org)" in page.content()
        check(page, "people-preview")
        assert sqlite3.connect(db).execute(
            "SELECT count(*) FROM people WHERE email_key LIKE 'adaeze%'").fetchone() == (0,)
        page.get_by_role("button", name="Import 2 people").click()
        page.wait_for_selector("text=1 added, 1 updated, 0 unchanged, 1 rejected")
        # a leaver
        page.get_by_role("link", name="Lucy Brennan").click()
        page.wait_for_selector("text=Mark as a leaver")
        check(page, "person")
        page.get_by_label("Last day at the school").fill("2026-11-20")
        page.get_by_role("button", name="Mark Lucy Brennan as a leaver").click()
        page.wait_for_selector("text=Lucy Brennan leaves on 20 November 2026")
        # her data, then her erasure, with a second step
        with page.expect_download() as download:
            page.get_by_role("link", name="Download everything held about Lucy Brennan").click()
        held = Path(download.value.path()).read_text(encoding="utf-8")
        assert '"name": "Lucy Brennan"' in held and '"subject": "Annual reminder' in held
        page.get_by_role("button", name="Erase Lucy Brennan…").click()
        page.wait_for_selector("text=This cannot be undone")
        check(page, "person-erase")
        page.get_by_role("button", name="Yes, erase Lucy Brennan").click()
        page.wait_for_selector("text=is now 'Erased person")
        assert "Lucy Brennan" not in page.content()
        # a policy from Word; a program renamed .docx and 20 MB are refused
        page.goto(f"{base}/admin/add-policy")
        program = tmp_path / "policy.docx"
        program.write_bytes(b"MZ\x90\x00" + bytes(4000))
        page.get_by_label("The policy (Word .docx or Markdown)").set_input_files(str(program))
        page.get_by_label("Title").fill("Anti-bullying Policy")
        page.get_by_label("Short name").fill("anti-bullying")
        page.get_by_label("Adopted on").fill("2025-09-01")
        page.get_by_label("Next review due").fill("2026-09-30")
        page.get_by_role("button", name="Add the policy").click()
        page.wait_for_selector("#file-error")
        assert "policy.docx" in page.locator("#file-error").inner_text()
        assert "Choose the file again" in page.locator("#file-hint").inner_text()
        check(page, "policy-add-error")
        page.get_by_label("The policy (Word .docx or Markdown)").set_input_files(
            {"name": "huge.docx", "mimeType": "application/octet-stream",
             "buffer": bytes(20_000_000)})
        page.get_by_role("button", name="Add the policy").click()
        page.wait_for_selector("text=Too large to send")
        page.goto(f"{base}/admin/add-policy")
        page.get_by_label("The policy (Word .docx or Markdown)").set_input_files(
            str(_word_document(tmp_path / "Anti-bullying.docx")))
        page.get_by_label("Title").fill("Anti-bullying Policy")
        page.get_by_label("Short name").fill("anti-bullying")
        page.get_by_label("Adopted on").fill("2025-09-01")
        page.get_by_label("Next review due").fill("2026-09-30")
        page.get_by_role("button", name="Add the policy").click()
        page.wait_for_selector("text=Added: version 1, adopted 1 September 2025")
        # a tampered form changes nothing
        page.goto(f"{base}/admin/meetings")
        page.get_by_label("Date").fill("2026-11-20")
        page.locator("input[name=csrf]").last.evaluate("e => e.value = 'tampered'")
        page.get_by_role("button", name="Add the meeting").click()
        page.wait_for_selector("text=Form expired")
        check(page, "form-expired")
        # a meeting, and the approval there
        page.goto(f"{base}/admin/meetings")
        page.get_by_label("Date").fill("2026-11-20")
        page.get_by_role("button", name="Add the meeting").click()
        page.wait_for_selector("text=Added the Governing Body meeting on 20 November 2026.")
        page.get_by_role("link", name="Governing Body meeting").click()
        page.wait_for_selector("text=Minute reference")
        page.get_by_label("Minute reference").first.fill("GB 26/4")
        page.get_by_role("button", name="Approve: reviewed, no changes").first.click()
        page.wait_for_selector("text=approved, reviewed, no changes")
        # on a phone
        page.set_viewport_size({"width": 375, "height": 800})
        for path in ("/admin", "/admin/people"):
            page.goto(f"{base}{path}")
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
            check(page, f"phone{path.replace('/', '-')}")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM meetings").fetchone() == (1,)   # not the tampered
    assert conn.execute("SELECT id, (SELECT count(*) FROM versions v WHERE v.policy_id = p.id)"
                        " FROM policies p ORDER BY id").fetchall() == [
        ("anti-bullying", 1), ("social-networking", 1)]          # nothing from the refused files
    assert conn.execute("SELECT minute FROM reviews").fetchall() == [("GB 26/4",)]
    assert conn.execute("SELECT name FROM people WHERE email_key = 'adaeze.okafor@example.org'"
                        ).fetchone() == ("Adaeze Okafor",)
    assert b"brennan" not in db.read_bytes().lower()
    for mail in (initialised / "mail").rglob("*.eml"):
        assert b"brennan" not in mail.read_bytes().lower()


def test_the_other_pages_fit_a_phone_too(site: tuple[str, Server], initialised: Path,
                                         run: Run, tmp_path: Path) -> None:
    """The pages the other tests do not reach, public and office, at every width: the
    governors' agenda and a draft (from a review pack), a staff member's page for one version
    (from an update notice), its thanks, a missing page, and the website section `publish`
    writes (index and a policy)."""
    from lifecycle.actions.confirmations import Ack, agenda_token, make_token

    base, _ = site
    secret = (initialised / "secret.key").read_text().strip().encode()
    ref = sqlite3.connect(initialised / "register.db").execute(
        "SELECT ref FROM people WHERE email = 'l.brennan@example.org'").fetchone()[0]
    link = f"{base}/ack/" + make_token(secret, Ack("l.brennan@example.org", "social-networking",
                                                   1, "2026-27"), ref)
    out = tmp_path / "site"
    assert run("publish", "--out", str(out)).exit_code == 0
    assert run("meetings", "add", "2026-12-10", "--body", "Governing Body",
               "--now", "2026-11-24T09:00").exit_code == 0
    draft = tmp_path / "draft.md"
    draft.write_text("# Policy for Social Networking\n\nA shorter text for the governors.\n")
    assert run("draft", "add", "social-networking", str(draft),
               "--now", "2026-11-24T09:00").exit_code == 0
    agenda = f"{base}/agenda/{agenda_token(secret, 1)}"
    with browser() as b:
        page = new_page(b)
        page.goto(agenda)
        check(page, "agenda-governors")
        page.get_by_role("link", name="Read the draft of the Policy for Social Networking").click()
        page.wait_for_selector("text=Draft for the meeting of 10 December 2026")
        check(page, "draft-governors")
        page.goto(link)
        check(page, "ack")
        page.get_by_role("button", name="I have read and understood").click()
        page.wait_for_selector("text=Thank you")
        check(page, "ack-done")
        page.goto(f"{base}/no-such-page")
        check(page, "not-found")
        page.goto((out / "index.html").as_uri())
        check(page, "site-index")
        page.goto((out / "social-networking.html").as_uri())
        check(page, "site-policy")
