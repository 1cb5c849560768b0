"""The web application through Starlette's TestClient: the real app, register and renders."""

from __future__ import annotations

import csv
import email
import io
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy as email_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Run, snapshot
from starlette.testclient import TestClient

from jobs.tasks import deliver, evaluate
from lifecycle.actions.confirmations import Ack, annual_token, make_token
from lifecycle.register.instance import Instance
from web.admin import Throttle, set_password
from web.app import create_app

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/London"))
PASSWORD = "correct horse battery staple"


@pytest.fixture
def inst(people: Path) -> Instance:
    instance = Instance.at(people)
    evaluate(instance, NOW)
    deliver(instance, NOW)
    set_password(instance, PASSWORD, NOW)
    return instance


@pytest.fixture
def client(inst: Instance) -> Iterator[TestClient]:
    clock = {"now": NOW}
    with TestClient(create_app(inst, clock=lambda: clock["now"]),
                    base_url="http://127.0.0.1:8080") as c:
        c.clock = clock  # type: ignore[attr-defined]
        yield c


def link_in(inst: Instance, kind: str, address: str, pattern: str) -> str:
    """The path of the first link matching ``pattern`` in a ``kind`` email to ``address``."""
    for path in (inst.root / "mail").rglob(f"{kind}-*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        if address in str(message["To"]):
            body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            return re.search(rf"http://127\.0\.0\.1:8080({pattern})", body)[1]  # type: ignore[index]
    raise AssertionError(f"no {kind} email to {address}")


def ack_link(inst: Instance, address: str) -> str:
    """A personal /ack link to version 1, as a policy updated notice carries one (the annual
    reminder's link is /confirm/, tested below)."""
    secret = inst.root.joinpath("secret.key").read_text().strip().encode()
    return "/ack/" + make_token(secret, Ack(address, "social-networking", 1, "2026-27"),
                                ref_of(inst, address))


def ref_of(inst: Instance, address: str) -> str:
    """The person's opaque reference, which their links carry."""
    with inst.register() as register:
        return register.people.refs()[address]


def annual_link(inst: Instance, address: str) -> str:
    return link_in(inst, "reminder", address, r"/confirm/\S+")


def login(client: TestClient) -> None:
    page = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    response = client.post("/admin/login", data={"password": PASSWORD, "csrf": csrf},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin"


def csrf_of(client: TestClient, path: str = "/admin") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)[1]  # type: ignore[index]


def confirmations(inst: Instance) -> list[tuple[str, int, str]]:
    conn = sqlite3.connect(inst.root / "register.db")
    return conn.execute("SELECT person_key, version, sha256 FROM confirmations").fetchall()


# -- public ----------------------------------------------------------------------------------

def test_policy_list_and_pages(client: TestClient, inst: Instance) -> None:
    listing = client.get("/policies/")
    assert listing.status_code == 200
    assert '<a href="/policies/social-networking">Policy for Social Networking</a>' in listing.text
    assert "1 January 2012" in listing.text and "31 January 2018" in listing.text
    page = client.get("/policies/social-networking")
    rendered = inst.root / "rendered" / "social-networking" / "social-networking-v1.html"
    assert page.content == rendered.read_bytes()          # the render itself, not a copy
    docx = client.get("/policies/social-networking.docx")
    assert docx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert client.get("/policies/social-networking/v1").status_code == 200
    assert client.get("/policies/social-networking/v9").status_code == 404
    assert client.get("/policies/nope").status_code == 404
    assert client.get("/policies/../register.db").status_code == 404


def test_the_changes_pages(run: Run, client: TestClient, inst: Instance, tmp_path: Path) -> None:
    assert client.get("/policies/social-networking/changes").status_code == 404
    source = (inst.policies_dir / "social-networking.md").read_text(encoding="utf-8")
    new = tmp_path / "new.md"
    new.write_text(source.split("---\n", 2)[2].replace("Bebo", "Instagram"), encoding="utf-8")
    run("review", "record", "social-networking", "--date", "2026-11-24", "--file", str(new),
        "--now", "2026-11-24T10:00")
    latest = client.get("/policies/social-networking/changes")
    assert latest.status_code == 200
    assert "1 passage changed: 1 word deleted, 1 inserted" in latest.text
    assert re.search(r"<del[^>]*><span[^>]*>deleted text: </span>Bebo</del>", latest.text)
    # a way on from it (#28, 15): to the first change, the policy, the Word copy
    assert 'href="#first-change"' in latest.text and 'id="first-change"' in latest.text
    assert 'href="/policies/social-networking"' in latest.text
    assert client.get("/policies/social-networking/changes.docx").status_code == 200
    secret = inst.root.joinpath("secret.key").read_text().strip().encode()
    ack = "/ack/" + make_token(secret, Ack("d.okafor@example.org", "social-networking", 2,
                                           "2026-27"), ref_of(inst, "d.okafor@example.org"))
    assert 'href="/policies/social-networking/v2/changes">See what changed in version 2' in \
        client.get(ack).text
    assert latest.text == client.get("/policies/social-networking/v2/changes").text
    tracked = client.get("/policies/social-networking/v2/changes.docx")
    assert tracked.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert b"word/document.xml" in tracked.content
    assert client.get("/policies/social-networking/v1/changes").status_code == 404
    assert client.get("/policies/social-networking/v3/changes").status_code == 404
    assert "/policies/social-networking/changes" in client.get("/policies/").text
    login(client)
    admin = client.get("/admin/policies/social-networking").text
    assert 'href="/policies/social-networking/v2/changes"' in admin


# -- read and confirm --------------------------------------------------------------------------

def test_a_member_of_staff_confirms_from_the_link_in_the_email(client: TestClient,
                                                               inst: Instance) -> None:
    link = ack_link(inst, "d.okafor@example.org")
    page = client.get(link)
    assert page.status_code == 200
    assert "I have read and understood the Policy for Social Networking" in page.text
    assert "Safeguarding." in page.text                  # the policy itself is on the page
    assert page.headers["referrer-policy"] == "no-referrer"
    done = client.post(link)
    assert "your confirmation is recorded" in done.text
    [(person, version, sha)] = confirmations(inst)
    assert (person, version) == ("d.okafor@example.org", 1)
    assert sha == inst.register().policies.get("social-networking").sha256  # type: ignore[union-attr]
    again = client.post(link)                             # replayed: idempotent
    assert "already recorded" in again.text and len(confirmations(inst)) == 1
    assert "you confirmed that you have read and understood this version" in client.get(link).text


@pytest.mark.parametrize("mangle", ["forged", "tampered", "foreign key", "unknown person"])
def test_bad_tokens_record_nothing(client: TestClient, inst: Instance, mangle: str) -> None:
    good = ack_link(inst, "d.okafor@example.org").rsplit("/", 1)[1]
    token = {
        "forged": "eyJhIjoxfQ.not-a-signature",
        "tampered": good[:5] + ("A" if good[5] != "A" else "B") + good[6:],
        "foreign key": make_token(b"another school's key", Ack("d.okafor@example.org",
                                                               "social-networking", 1, "2026-27"),
                                  ref_of(inst, "d.okafor@example.org")),
        "unknown person": make_token(inst.root.joinpath("secret.key").read_text().encode(),
                                     Ack("", "social-networking", 1, "x"), "no-such-ref"),
    }[mangle]
    for response in (client.get(f"/ack/{token}"), client.post(f"/ack/{token}")):
        assert response.status_code == 400
        assert "This link does not work" in response.text
    assert confirmations(inst) == []


def test_a_new_version_makes_confirmations_stale(run: Run, client: TestClient, inst: Instance,
                                                 tmp_path: Path) -> None:
    link = ack_link(inst, "d.okafor@example.org")
    client.post(link)
    source = (inst.policies_dir / "social-networking.md").read_text(encoding="utf-8")
    new = tmp_path / "new.md"
    new.write_text(source.split("---\n", 2)[2].replace("Bebo", "Instagram"), encoding="utf-8")
    run("review", "record", "social-networking", "--date", "2026-11-24", "--file", str(new),
        "--now", "2026-11-24T10:00")
    old = client.post(link)
    assert old.status_code == 410 and "it is now version 2" in old.text
    assert len(confirmations(inst)) == 1
    # the "policy updated" message asks again, for version 2
    later = NOW + timedelta(hours=2)
    evaluate(inst, later)
    deliver(inst, later)
    updated = [p for p in (inst.root / "mail").rglob("updated-*.eml")]
    bodies = [email.message_from_bytes(p.read_bytes(), policy=email_policy.default)
              for p in updated]
    david = next(b for b in bodies if "d.okafor" in str(b["To"]))
    text = david.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link2 = re.search(r"http://127\.0\.0\.1:8080(/ack/\S+)", text)[1]  # type: ignore[index]
    assert client.post(link2).status_code == 200
    assert sorted(v for _, v, _ in confirmations(inst)) == [1, 2]


def test_chasers_stop_for_whoever_confirms(client: TestClient, inst: Instance) -> None:
    client.post(ack_link(inst, "d.okafor@example.org"))
    chases = [d for d in evaluate(inst, NOW + timedelta(days=14)) if d.kind == "chase"]
    assert sorted(d.person for d in chases) == ["a.khan@example.org", "l.brennan@example.org",
                                                "office@example.org"]
    assert {d.stage for d in chases} == {"chase-14"}


def test_the_annual_page_confirms_each_policy_once(run: Run, client: TestClient,
                                                   inst: Instance, tmp_path: Path) -> None:
    link = annual_link(inst, "d.okafor@example.org")
    text = tmp_path / "phones.md"
    text.write_text("# Mobile phones\n\nPhones stay in lockers during lessons.\n")
    assert run("policies", "add", str(text), "--id", "mobile-phones", "--title",
               "Mobile Phones Policy", "--adopted", "2026-09-01", "--review-due", "2027-09",
               "--now", "2026-11-24T08:30").exit_code == 0
    page = client.get(link)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "2 of 2</strong> still to confirm" in page.text
    assert "Not opened yet" in page.text and f'action="{link}"' not in page.text
    refused = client.post(link)                           # all at once, before opening each
    assert refused.status_code == 400 and "Open each policy first" in refused.text
    assert confirmations(inst) == []

    one = client.get(f"{link}/social-networking")
    assert "Safeguarding." in one.text and "The button to confirm is at the end" in one.text
    done = client.post(f"{link}/social-networking")
    assert "your confirmation is recorded" in done.text
    assert "1 policy is still to confirm" in done.text and "the end" not in done.text
    again = client.post(f"{link}/social-networking")    # pressed twice: recorded once
    assert "already recorded" in again.text and len(confirmations(inst)) == 1
    assert "the end" not in client.get(f"{link}/social-networking").text

    client.get(f"{link}/mobile-phones")
    assert "I have read and understood the Mobile Phones Policy" in client.get(link).text
    client.post(f"{link}/mobile-phones")
    finished = client.get(link).text
    assert "You have confirmed every policy for 2026/27" in finished
    conn = sqlite3.connect(inst.root / "register.db")
    assert conn.execute("SELECT policy_id, school_year, period FROM confirmations ORDER BY id"
                        ).fetchall() == [("social-networking", "2026-27", "2026-27"),
                                         ("mobile-phones", "2026-27", "2026-27")]


def test_confirm_all_after_opening_each(run: Run, client: TestClient, inst: Instance,
                                        tmp_path: Path) -> None:
    link = annual_link(inst, "l.brennan@example.org")
    text = tmp_path / "phones.md"
    text.write_text("# Mobile phones\n\nPhones stay in lockers during lessons.\n")
    run("policies", "add", str(text), "--id", "mobile-phones", "--title", "Mobile Phones Policy",
        "--adopted", "2026-09-01", "--review-due", "2027-09", "--now", "2026-11-24T08:30")
    for policy in ("social-networking", "mobile-phones"):
        client.get(f"{link}/{policy}")
    assert "I have read and understood all 2 policies" in client.get(link).text
    done = client.post(link)
    assert "your confirmation is recorded" in done.text
    assert "every policy for this school year" in done.text
    assert sorted(p for p, _, _ in confirmations(inst)) == ["l.brennan@example.org"] * 2
    assert "already recorded" in client.post(link).text and len(confirmations(inst)) == 2


@pytest.mark.parametrize("mangle", ["tampered", "last year", "unknown person"])
def test_a_bad_annual_link_says_what_to_do(client: TestClient, inst: Instance,
                                           mangle: str) -> None:
    good = annual_link(inst, "d.okafor@example.org").rsplit("/", 1)[1]
    secret = inst.root.joinpath("secret.key").read_text().strip().encode()
    token = {"tampered": good[:5] + ("A" if good[5] != "A" else "B") + good[6:],
             "last year": annual_token(secret, ref_of(inst, "d.okafor@example.org"), "2025-26"),
             "unknown person": annual_token(secret, "no-such-ref", "2026-27")}[mangle]
    for response in (client.get(f"/confirm/{token}"), client.post(f"/confirm/{token}"),
                     client.post(f"/confirm/{token}/social-networking")):
        assert response.status_code in (400, 410)
        assert "Please ask the school office for a new link." in response.text
    assert confirmations(inst) == []


# -- the office --------------------------------------------------------------------------------

def test_admin_needs_a_login(client: TestClient) -> None:
    for path in ("/admin", "/admin/policies/social-networking", "/admin/confirmations.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login")
    page = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    wrong = client.post("/admin/login", data={"password": "guess", "csrf": csrf})
    assert wrong.status_code == 401 and "That password is not right." in wrong.text


def test_wrong_passwords_are_throttled(client: TestClient) -> None:
    for attempt in range(6):
        csrf = csrf_of(client, "/admin/login")
        response = client.post("/admin/login", data={"password": f"guess {attempt}",
                                                    "csrf": csrf})
        assert response.status_code == (401 if attempt < 5 else 429), attempt
    csrf = csrf_of(client, "/admin/login")
    right = client.post("/admin/login", data={"password": PASSWORD, "csrf": csrf})
    assert right.status_code == 429                       # even the right one waits
    client.clock["now"] = NOW + timedelta(minutes=16)     # type: ignore[attr-defined]
    login(client)


def test_login_attempts_are_limited_per_address_and_overall() -> None:
    throttle = Throttle(limit=5, overall=20)
    assert all(throttle.admit("192.0.2.1", NOW) for _ in range(5))
    assert not throttle.admit("192.0.2.1", NOW)                 # five from one address
    assert all(throttle.admit(f"198.51.100.{n}", NOW) for n in range(15))
    assert not throttle.admit("203.0.113.7", NOW)               # twenty from everywhere
    throttle.succeeded("192.0.2.1")                             # a right password: forgiven
    assert throttle.admit("203.0.113.7", NOW)
    later = NOW + timedelta(minutes=15)
    assert all(throttle.admit("192.0.2.1", later) for _ in range(5))


def test_admin_cookie_flags(client: TestClient) -> None:
    page = client.get("/admin/login")
    cookie = page.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_forms_without_their_csrf_token_are_refused(client: TestClient, inst: Instance) -> None:
    login(client)
    for path, data in (("/admin/policies/social-networking/review", {"date": "2026-11-20"}),
                       ("/admin/outbox/1/retry", {}), ("/admin/logout", {})):
        response = client.post(path, data=data)
        assert response.status_code == 403, path
        response = client.post(path, data={**data, "csrf": "forged"})
        assert response.status_code == 403, path
    assert inst.register().policies.reviews("social-networking") == []
    assert client.get("/admin").status_code == 200          # still logged in


def test_dashboard_review_and_export(client: TestClient, inst: Instance) -> None:
    client.post(ack_link(inst, "d.okafor@example.org"))
    login(client)
    board = client.get("/admin")
    assert '<span class="badge red">8 years 9 months overdue</span>' in board.text
    assert "1 of 4 (25%)" in board.text
    assert "overdue reminder 116" in board.text              # the plan for the next 60 days
    assert "31 January 2018" in board.text
    for code in ("overdue-116", "chase-14", "2026-W49", "2026-11-"):
        assert code not in board.text, code
    text = re.sub(r"<[^>]+>", " ", board.text)
    assert text.index("What needs doing") < text.index("Log out")
    assert "its review is 8 years 9 months overdue" in text
    assert not re.search(r"overdue\s+\d+ years", text)      # said once
    detail = client.get("/admin/policies/social-networking")
    assert "Not yet confirmed (3)" in detail.text and "Lucy Brennan" in detail.text
    recorded = client.post("/admin/policies/social-networking/review", data={
        "date": "2026-11-20", "notes": "Full governing body: no changes",
        "csrf": csrf_of(client)})
    assert "no change to the text; next review due 20 November 2029." in recorded.text
    assert inst.register().policies.get("social-networking").review_due.isoformat() == "2029-11-20"  # type: ignore[union-attr]  # noqa: E501
    bad = client.post("/admin/policies/social-networking/review", data={
        "date": "2011-01-01", "csrf": csrf_of(client)})
    assert "is before the policy was last reviewed" in bad.text
    assert bad.status_code == 400 and re.search(r'id="date-error">[^<]*is before', bad.text)
    assert 'value="2011-01-01"' in bad.text                       # what was typed is kept
    export = client.get("/admin/confirmations.csv")
    assert export.content.startswith(b"\xef\xbb\xbf")        # UTF-8 as Excel opens it
    rows = list(csv.reader(io.StringIO(export.text.removeprefix("\ufeff"))))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[1][7])   # a date Excel reads
    assert rows[0] == ["person", "email", "role", "policy", "version", "school_year",
                       "text_sha256", "confirmed_at", "address"]
    assert rows[1][:6] == ["David Okafor", "d.okafor@example.org", "staff",
                           "social-networking", "1", "2026-27"]
    assert len(rows[1][6]) == 64
    year = list(csv.reader(io.StringIO(
        client.get("/admin/confirmations-this-year.csv").text.removeprefix("\ufeff"))))
    assert year[0] == ["person", "email", "policy", "version", "school_year", "confirm",
                       "state", "confirmed_at"]
    states = {r[1]: r[6] for r in year[1:]}
    assert states["d.okafor@example.org"] == "confirmed"
    assert states["l.brennan@example.org"] == "not confirmed"
    assert {r[5] for r in year[1:]} == {"yearly"}
    # a year on, last year's confirmation is evidence, but not this year's
    client.clock["now"] = NOW + timedelta(days=365)  # type: ignore[attr-defined]
    later = list(csv.reader(io.StringIO(
        client.get("/admin/confirmations-this-year.csv").text.removeprefix("\ufeff"))))
    assert {r[6] for r in later[1:]} == {"not confirmed"} and later[1][4] == "2027-28"
    assert len(list(csv.reader(io.StringIO(client.get("/admin/confirmations.csv").text)))) == 2


def test_retry_from_the_dashboard(client: TestClient, inst: Instance) -> None:
    with sqlite3.connect(inst.db_path) as db:     # as a permanent refusal would leave it
        db.execute("UPDATE messages SET status = 'failed', last_error = '550 no such user'"
                   " WHERE to_email = 'clerk@example.org' AND status = 'sent'")
    login(client)
    board = client.get("/admin")
    assert "550 no such user" in board.text
    message_id = re.search(r"Retry message (\d+)", board.text)[1]  # type: ignore[index]
    client.post(f"/admin/outbox/{message_id}/retry", data={"csrf": csrf_of(client)})
    with inst.register() as register:
        message = register.outbox.message(int(message_id))
    assert message is not None and message.status == "pending"


def test_xss_in_names_and_titles_is_escaped_everywhere(run: Run, client: TestClient,
                                                       inst: Instance) -> None:
    path = inst.policies_dir / "social-networking.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: Policy for Social Networking", "title: '<img src=x onerror=alert(1)>'"),
        encoding="utf-8")
    assert run("init").exit_code == 0
    (inst.root / "evil.csv").write_text(
        'name,email,roles,start_date,end_date\n"<script>alert(1)</script>",'
        "evil@example.org,staff,2020-09-01,\n", encoding="utf-8")
    assert run("people", "import", str(inst.root / "evil.csv")).exit_code == 0
    evaluate(inst, NOW + timedelta(minutes=1))
    deliver(inst, NOW + timedelta(minutes=1))
    login(client)
    link = ack_link(inst, "evil@example.org")
    pages = [client.get("/policies/"), client.get("/admin"), client.get(link),
             client.get("/admin/policies/social-networking"),
             client.get("/policies/social-networking")]
    client.post(link)
    pages.append(client.get("/admin/policies/social-networking"))
    for page in pages:
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, page.url
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[2].text


def test_every_response_carries_the_security_headers(client: TestClient, inst: Instance) -> None:
    link = ack_link(inst, "d.okafor@example.org")
    responses = {
        "framework 404": client.get("/no/such/page"),
        "redirect": client.get("/", follow_redirects=False),
        "policy page": client.get("/policies/social-networking"),
        "word file": client.get("/policies/social-networking.docx"),
        "personal page": client.get(link),
        "login": client.get("/admin/login"),
        "office redirect": client.get("/admin", follow_redirects=False),
    }
    for name, response in responses.items():
        assert response.headers["content-security-policy"].startswith("default-src 'none'"), name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["referrer-policy"] == "no-referrer", name
    for name in ("personal page", "login", "office redirect"):
        assert responses[name].headers["cache-control"] == "no-store", name
    assert "cache-control" not in responses["policy page"].headers


@pytest.mark.parametrize("path", ["/policies/social-networking/v99999999999999999999",
                                  "/policies/social-networking/v0",
                                  "/policies/social-networking/v1234567890.docx"])
def test_numbers_in_paths_are_checked_before_use(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_logging_out_ends_the_session_on_the_server(client: TestClient) -> None:
    login(client)
    cookie = client.cookies.get("policy_lifecycle_admin")
    assert cookie and client.get("/admin").status_code == 200
    client.post("/admin/logout", data={"csrf": csrf_of(client)})
    client.cookies.set("policy_lifecycle_admin", cookie)      # a copy kept from before
    response = client.get("/admin", follow_redirects=False)
    assert response.status_code == 303 and "/admin/login" in response.headers["location"]


def test_every_cell_of_the_export_is_neutralised(run: Run, client: TestClient,
                                                 inst: Instance) -> None:
    (inst.root / "formula.csv").write_text(
        "name,email,roles,start_date,end_date\n=HYPERLINK(\"http://x\"),"
        "d.okafor@example.org,staff,2015-09-01,\n", encoding="utf-8")
    assert run("people", "import", str(inst.root / "formula.csv")).exit_code == 0
    client.post(ack_link(inst, "d.okafor@example.org"),
                headers={"X-Forwarded-For": "=1+1"})
    login(client)
    rows = list(csv.reader(io.StringIO(client.get("/admin/confirmations.csv").text)))
    assert rows[1][0] == "'=HYPERLINK(\"http://x\")"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)


def _upload(client: TestClient, name: str, data: bytes) -> str:
    response = client.post("/admin/policies/social-networking/review", data={
        "date": "2026-11-20", "csrf": csrf_of(client)}, files={"file": (name, data)})
    return response.text


def test_uploads_are_limited_in_size_and_type(client: TestClient, inst: Instance) -> None:
    login(client)
    source = (inst.root / "policies" / "social-networking.md").read_bytes()
    before = inst.register().policies.get("social-networking")
    too_long = source + b"\nfiller line of text\n" * 60_000          # 1.3 MB: not a policy
    page = _upload(client, "long.md", too_long)
    assert "long.md: is 1.3 MB, more than a policy&#39;s text can be (1 MB)" in page
    assert "/tmp" not in page and "reviewed.md" not in page       # no server path shown
    page = _upload(client, "minutes.pdf", b"%PDF-1.7")
    assert "minutes.pdf: is neither a Word document (.docx) nor Markdown" in page
    page = _upload(client, "broken.md", source + b"\n\xff\xfe\n")
    assert "broken.md:" in page and "not UTF-8 text" in page and "/tmp" not in page
    huge = client.post("/admin/policies/social-networking/review", data={
        "date": "2026-11-20", "csrf": csrf_of(client)},
        files={"file": ("huge.md", b"x" * 11_000_000)})
    assert huge.status_code == 413 and "at most 10 MB" in huge.text
    chunked = client.post("/admin/policies/social-networking/review",
                          content=iter([b"--x\r\n"] + [b"y" * 1_000_000] * 11), headers={
                              "content-type": "multipart/form-data; boundary=x"})
    assert chunked.status_code == 413                  # no Content-Length: counted as read
    assert inst.register().policies.get("social-networking") == before     # nothing was written
    assert len(inst.register().policies.reviews("social-networking")) == 0


def test_the_review_form_waits_for_a_command_that_is_writing(client: TestClient,
                                                              inst: Instance) -> None:
    login(client)
    csrf = csrf_of(client)
    writer = sqlite3.connect(inst.root / "register.db", isolation_level=None,
                             check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")                # a command in the middle of its write
    release = threading.Timer(1.5, writer.execute, ("COMMIT",))
    release.start()
    listing = client.get("/policies/")               # reads do not wait for the writer
    response = client.post("/admin/policies/social-networking/review", data={
        "date": "2026-11-20", "notes": "at the same moment", "csrf": csrf})
    release.join()
    assert listing.status_code == 200 and response.status_code == 200
    assert "Review recorded" in response.text
    assert inst.register().policies.get("social-networking").review_due.isoformat() == "2029-11-20"  # type: ignore[union-attr]  # noqa: E501


def test_a_text_that_looks_like_an_accident_needs_a_second_step(client: TestClient,
                                                                 inst: Instance) -> None:
    login(client)
    page = _upload(client, "notes.md", b"Please see the attached.\n")
    assert "Is this the new text of the Policy for Social Networking?" in page
    assert "Nothing has been recorded yet." in page and "more than half are gone" in page
    assert "/tmp" not in page
    assert inst.register().policies.get("social-networking").version == 1  # type: ignore[union-attr]
    token = re.search(r'name="token" value="([^"]+)"', page)[1]  # type: ignore[index]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]
    refused = client.post("/admin/policies/social-networking/review/confirm",
                          data={"token": token}, follow_redirects=False)
    assert refused.status_code == 403                           # no CSRF token, no change
    done = client.post("/admin/policies/social-networking/review/confirm",
                       data={"token": token, "csrf": csrf})
    assert "Review recorded: adopted version 2" in done.text
    assert inst.register().policies.get("social-networking").version == 2  # type: ignore[union-attr]
    again = client.post("/admin/policies/social-networking/review/confirm",
                        data={"token": token, "csrf": csrf})
    assert "That review has expired" in again.text
    assert inst.register().policies.get("social-networking").version == 2  # type: ignore[union-attr]


def test_the_office_adds_a_policy_from_a_word_document(client: TestClient, inst: Instance,
                                                        tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("ANTI-BULLYING POLICY", level=0)
    document.add_heading("Aims", level=1)
    document.add_paragraph("Every pupil is safe from bullying.")
    path = tmp_path / "Anti-bullying.docx"
    document.save(str(path))
    login(client)
    form = client.get("/admin/add-policy")
    assert form.status_code == 200 and "Add a policy" in form.text
    fields = {"id": "anti-bullying", "title": "Anti-bullying Policy", "adopted": "2025-09-01",
              "review_due": "2026-09-30", "interval": "1 year", "approver": "Governing Body",
              "audiences": ["staff", "volunteer"], "reminder_audience": ["staff"],
              "csrf": csrf_of(client, "/admin/add-policy")}
    bad = client.post("/admin/add-policy", data={**fields, "review_due": "soon"},
                      files={"file": (path.name, path.read_bytes())})
    assert bad.status_code == 400 and 'id="review_due-error"' in bad.text   # beside the field
    assert re.search(r'id="review_due-error">[^<]*soon', bad.text)
    assert 'value="anti-bullying"' in bad.text                   # what was typed is kept
    assert inst.register().policies.get("anti-bullying") is None
    done = client.post("/admin/add-policy", data=fields,
                       files={"file": (path.name, path.read_bytes())})
    assert "Added: version 1, adopted 1 September 2025, review due 30 September 2026." in done.text
    policy = inst.register().policies.get("anti-bullying")
    assert policy is not None and policy.audiences == ("staff", "volunteer")
    text = (inst.policies_dir / "anti-bullying.md").read_text(encoding="utf-8")
    assert "# ANTI-BULLYING POLICY" in text and "## Aims" in text
    again = client.post("/admin/add-policy", data=fields,
                        files={"file": (path.name, path.read_bytes())})
    assert again.status_code == 400
    assert re.search(r'id="id-error">&#39;anti-bullying&#39; is already', again.text)
    assert "/tmp" not in again.text


# -- meetings, drafts, approval and the calendar feed ----------------------------------------

def test_the_office_adds_a_meeting_uploads_a_draft_and_approves_it(
        client: TestClient, inst: Instance, tmp_path: Path) -> None:
    assert client.get("/admin/meetings", follow_redirects=False).status_code == 303  # login
    login(client)
    csrf = csrf_of(client, "/admin/meetings")
    refused = client.post("/admin/meetings", data={"body": "Governing Body",
                                                   "date": "2026-12-10"})
    assert refused.status_code == 403                                  # no CSRF token
    bad = client.post("/admin/meetings", data={"body": "Governing Body", "date": "soon",
                                               "csrf": csrf})
    assert bad.status_code == 400
    assert re.search(r'id="date-error">&#39;soon&#39; is not a date', bad.text)  # beside it
    late = client.post("/admin/meetings", data={"body": "Governing Body", "date": "2026-12-10",
                                                "time": "half six", "csrf": csrf})
    assert re.search(r'id="time-error">&#39;half six&#39; is not a time', late.text)
    assert 'value="2026-12-10"' in late.text
    added = client.post("/admin/meetings", data={"body": "Governing Body",
                                                 "date": "2026-12-10", "time": "18:30",
                                                 "name": "Full Governing Body meeting",
                                                 "csrf": csrf})
    assert "Added the Full Governing Body meeting on 10 December 2026." in added.text
    [meeting] = inst.register().meetings.all()
    body = (inst.policies_dir / "social-networking.md").read_text().split("---\n", 2)[2]
    draft = body.replace("January 2018", "December 2029")
    uploaded = client.post("/admin/drafts", data={"policy": "social-networking",
                                                  "note": "New dates",
                                                  "csrf": csrf_of(client, "/admin/drafts")},
                           files={"file": ("new dates.md", draft.encode())})
    assert "Policy for Social Networking: draft 1 added" in uploaded.text
    assert "New dates" in uploaded.text and "/tmp" not in uploaded.text
    assert "1 (new dates.md)" in uploaded.text          # the file's own name, not ours
    with inst.register() as register:
        assert [d.file_name for d in register.drafts.all()] == ["new dates.md"]
    agenda = client.get(f"/admin/meetings/{meeting.id}")
    assert "Policy for Social Networking" in agenda.text and "A draft is proposed" in agenda.text
    assert "Approvals are recorded here once the meeting has taken place." in agenda.text
    client.clock["now"] = NOW + timedelta(days=17)                     # 11 December
    agenda = client.get(f"/admin/meetings/{meeting.id}")
    approved = client.post(f"/admin/meetings/{meeting.id}/approve/social-networking",
                           data={"minute": "FGB 26/4", "next": "", "notes": "",
                                 "csrf": csrf_of(client, f"/admin/meetings/{meeting.id}")})
    assert "Policy for Social Networking: approved, adopted draft 1 as version 2" in approved.text
    [review] = inst.register().policies.reviews("social-networking")
    assert review.approval is not None and review.approval.minute == "FGB 26/4"
    assert review.approval.recorded_by.startswith("the office (dashboard")
    # the meeting keeps what it decided, under which minute and by whom
    record = client.get(f"/admin/meetings/{meeting.id}").text
    assert "No policies are on this meeting" not in record and "Decided at this meeting" in record
    assert re.search(r"Policy for Social Networking</strong>: approved a new text, version 2, "
                     r"minute FGB 26/4", record)
    assert "Recorded by the office (dashboard" in record
    assert re.search(r"1 policy\b", client.get("/admin/meetings").text)


def test_the_office_cancels_a_meeting_and_discards_a_draft(client: TestClient, inst: Instance,
                                                            run: Run, tmp_path: Path) -> None:
    assert run("meetings", "add", "2026-12-10", "--body", "Governing Body").exit_code == 0
    draft = tmp_path / "draft.md"
    draft.write_text("# POLICY FOR SOCIAL NETWORKING\n\n## Purpose\n\nNew words here.\n")
    assert run("draft", "add", "social-networking", str(draft)).exit_code == 0
    login(client)
    [meeting] = inst.register().meetings.all()
    cancelled = client.post(f"/admin/meetings/{meeting.id}/cancel",
                            data={"csrf": csrf_of(client, "/admin/meetings")})
    assert "Cancelled the Governing Body meeting on 10 December 2026." in cancelled.text
    assert "(cancelled)" in cancelled.text
    discarded = client.post("/admin/drafts/social-networking/discard",
                            data={"csrf": csrf_of(client, "/admin/drafts")})
    assert "Policy for Social Networking: draft 1 discarded." in discarded.text
    assert inst.register().drafts.all() == []


def test_each_governor_has_a_calendar_feed(client: TestClient, inst: Instance,
                                           run: Run) -> None:
    from icalendar import Calendar

    assert run("meetings", "add", "2026-12-10", "--body", "Governing Body", "--time",
               "18:30").exit_code == 0
    assert run("meetings", "add", "2027-03-18", "--body", "Governing Body").exit_code == 0
    link = link_in(inst, "review", "chair.governor@example.org", r"/calendar/\S+\.ics")
    first = client.get(link)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(first.text)
    assert calendar["X-WR-CALNAME"] == "St Ann's School: Governing Body"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT6H" in first.text
    assert "X-PUBLISHED-TTL:PT6H" in first.text
    events = {str(e["UID"]).split("@")[0]: e for e in calendar.walk("VEVENT")}
    assert set(events) == {"meeting-1", "meeting-2"}    # not the review due in January 2018
    import ics  # a second, independent parser reads the same events

    assert {e.uid.split("@")[0] for e in ics.Calendar(first.text).events} == set(events)
    assert "Policy for Social Networking" in str(events["meeting-1"]["DESCRIPTION"])
    assert events["meeting-1"].decoded("DTSTART") == datetime(2026, 12, 10, 18, 30,
                                                              tzinfo=ZoneInfo("Europe/London"))
    assert run("meetings", "cancel", "2026-12-10", "--body", "Governing Body").exit_code == 0
    again = {str(e["UID"]).split("@")[0]: e
             for e in Calendar.from_ical(client.get(link).text).walk("VEVENT")}
    assert str(again["meeting-1"]["STATUS"]) == "CANCELLED"
    assert int(again["meeting-1"]["SEQUENCE"]) > int(events["meeting-1"]["SEQUENCE"])
    assert run("review", "record", "social-networking", "--date", "2026-11-20", "--now",
               "2026-11-24T09:00").exit_code == 0
    reviewed = {str(e["UID"]).split("@")[0]: e
                for e in Calendar.from_ical(client.get(link).text).walk("VEVENT")}
    assert "review-social-networking-c2" in reviewed          # due in 2029: ahead, so shown
    altered = link[:-12] + ("y" if link[-12] == "x" else "x") + link[-11:]
    assert client.get(altered).status_code == 404                              # altered token
    assert client.get("/calendar/anything.ics").status_code == 404


def test_links_carry_no_personal_data_and_old_links_still_work(client: TestClient,
                                                               inst: Instance) -> None:
    import base64

    from itsdangerous import URLSafeSerializer

    token = annual_link(inst, "d.okafor@example.org").rsplit("/", 1)[1]
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert b"okafor" not in payload.lower() and b"@" not in payload
    secret = inst.root.joinpath("secret.key").read_text().strip().encode()
    # as links were made before: the address itself, signed under the plain salt
    old = URLSafeSerializer(secret, salt="policy-lifecycle/annual").dumps(
        ["d.okafor@example.org", "2026-27"])
    assert client.get(f"/confirm/{old}").status_code == 200
    old_ack = URLSafeSerializer(secret, salt="policy-lifecycle/ack").dumps(
        ["d.okafor@example.org", "social-networking", 1, "2026-27"])
    assert client.get(f"/ack/{old_ack}").status_code == 200

# -- the People pages ------------------------------------------------------------------

SIS = ("\ufeffSurname;Forename;Email Address;Role;Start Date;End Date\r\n"
       "Okafor;Adaeze;adaeze.okafor@example.org;staff;01/09/2024;\r\n"
       "Okafor;David;d.okafor@example.org;staff;01/09/2015;\r\n"
       "Bell;Sam;sam.bell@;staff;;\r\n").encode()


def _ref(inst: Instance, address: str) -> str:
    with inst.register() as register:
        return register.people.refs()[address]


def _upload_staff(client: TestClient, data: bytes, name: str = "staff.csv") -> str:
    return client.post("/admin/people/preview", data={"csrf": csrf_of(client, "/admin/people")},
                       files={"file": (name, data, "text/csv")}).text


def test_the_directory_shows_this_years_reading(client: TestClient, inst: Instance) -> None:
    login(client)
    page = client.get("/admin/people").text
    assert "David Okafor" in page and "1 September 2015" in page
    assert "0 of 1 confirmed" in page and "Read this year" in page


def test_a_staff_list_is_previewed_then_imported(client: TestClient, inst: Instance) -> None:
    login(client)
    before = snapshot(inst.root)
    page = _upload_staff(client, SIS)
    assert "1 to add, 0 to change, 1 unchanged, 1 rejected" in page
    assert "Adaeze Okafor (adaeze.okafor@example.org)" in page and "Line 4, email" in page
    assert snapshot(inst.root) == before                # nothing before "Import"
    token = re.search(r'name="token" value="([^"]+)"', page)[1]  # type: ignore[index]
    done = client.post("/admin/people/import", data={"csrf": csrf_of(client), "token": token})
    assert "1 added, 0 updated, 1 unchanged, 1 rejected" in done.text
    with inst.register() as register:
        [entry] = register.audit.log("adaeze.okafor@example.org")
    assert "the office (dashboard" in entry.detail
    again = client.post("/admin/people/import", data={"csrf": csrf_of(client), "token": token})
    assert "expired" in again.text


def test_a_bad_file_changes_nothing_and_says_why(client: TestClient, inst: Instance) -> None:
    login(client)
    before = snapshot(inst.root)
    page = _upload_staff(client, b"who,what\nx,y\n", "wrong.csv")
    assert 'id="file-error"' in page and "wrong.csv:1: header: expected the columns" in page
    page = _upload_staff(client, "Name\tEmail\r\n".encode("utf-16-le"), "unicode.txt")
    assert "UTF-16 text without its byte-order mark" in page
    assert snapshot(inst.root) == before


def test_add_correct_and_mark_a_leaver(client: TestClient, inst: Instance) -> None:
    login(client)
    bad = client.post("/admin/people", data={
        "csrf": csrf_of(client), "name": "Sam Bell", "email": "sam.bell@", "roles": "staff"})
    assert bad.status_code == 400 and 'id="email-error"' in bad.text
    assert 'aria-invalid="true"' in bad.text and 'value="Sam Bell"' in bad.text
    added = client.post("/admin/people", data={
        "csrf": csrf_of(client), "name": "Sam Bell", "email": "sam.bell@example.org",
        "roles": ["staff", "volunteer"], "start_date": "2026-09-01"})
    assert "Added Sam Bell." in added.text
    ref = _ref(inst, "sam.bell@example.org")
    fixed = client.post(f"/admin/people/{ref}", data={
        "csrf": csrf_of(client), "name": "Samuel Bell", "email": "S.Bell@example.org",
        "roles": "staff", "start_date": "2026-09-01", "end_date": ""})
    assert "Saved." in fixed.text and "Samuel Bell" in fixed.text
    ref = _ref(inst, "s.bell@example.org")
    left = client.post(f"/admin/people/{ref}/leaver",
                       data={"csrf": csrf_of(client), "leaving_date": "2026-12-18"})
    assert "leaves on 18 December 2026" in left.text
    with inst.register() as register:
        person = register.people.get("s.bell@example.org")
        assert person is not None and str(person.end_date) == "2026-12-18"
        assert register.people.get("sam.bell@example.org") is None
    assert "address changed by the office" in left.text


def test_export_and_erase_a_leaver(client: TestClient, inst: Instance) -> None:
    login(client)
    ref = _ref(inst, "j.holloway@example.org")         # left on 31 July 2026
    page = client.get(f"/admin/people/{ref}").text
    assert "left on 31 July 2026" in page and "not confirmed yet" not in page  # not asked
    assert "Nothing to read: they are not active." in page
    held = client.get(f"/admin/people/{ref}/export.json")
    assert held.headers["content-disposition"].startswith("attachment")
    assert json.loads(held.text)["person"]["name"] == "James Holloway"
    asked = client.post(f"/admin/people/{ref}/erase", data={"csrf": csrf_of(client)})
    assert "Erase James Holloway?" in asked.text and "cannot be undone" in asked.text
    assert _ref(inst, "j.holloway@example.org") == ref  # not yet
    done = client.post(f"/admin/people/{ref}/erase",
                       data={"csrf": csrf_of(client), "confirm": "yes"})
    assert "is now &#39;Erased person" in done.text
    assert b"holloway" not in Path(inst.root / "register.db").read_bytes().lower()
    active = _ref(inst, "d.okafor@example.org")
    refused = client.post(f"/admin/people/{active}/erase",
                          data={"csrf": csrf_of(client), "confirm": "yes"})
    assert refused.status_code == 400 and "mark them as a leaver first" in refused.text


def test_people_pages_need_the_office_and_its_csrf(client: TestClient, inst: Instance) -> None:
    assert client.get("/admin/people", follow_redirects=False).status_code == 303
    login(client)
    ref = _ref(inst, "j.holloway@example.org")
    for path in ("/admin/people", f"/admin/people/{ref}/erase", f"/admin/people/{ref}"):
        response = client.post(path, data={"csrf": "tampered", "confirm": "yes",
                                           "name": "X", "email": "x@example.org"})
        assert response.status_code == 403
    assert client.get("/admin/people/not-a-ref").status_code == 404


def test_a_bad_draft_is_refused_beside_its_field(client: TestClient, inst: Instance) -> None:
    login(client)
    before = snapshot(inst.root)
    refused = client.post("/admin/drafts", data={
        "csrf": csrf_of(client, "/admin/drafts"), "policy": "social-networking",
        "note": "New dates"}, files={"file": ("setup.docx", b"MZ\x90\x00" + bytes(2000))})
    assert refused.status_code == 400
    assert re.search(r'id="file-error">setup\.docx', refused.text)
    assert 'value="New dates"' in refused.text
    assert snapshot(inst.root) == before


def test_the_cached_public_list_follows_the_register(client: TestClient, inst: Instance,
                                                     run: Run, tmp_path: Path) -> None:
    assert "Anti-bullying Policy" not in client.get("/policies/").text
    assert client.get("/policies/").text == client.get("/policies/").text     # from the cache
    text = tmp_path / "anti-bullying.md"
    text.write_text("# Anti-bullying Policy\n\nEvery pupil is safe.\n", encoding="utf-8")
    added = run("policies", "add", str(text), "--id", "anti-bullying", "--title",
                "Anti-bullying Policy", "--adopted", "2025-09-01", "--review-due", "2027-09-01")
    assert added.exit_code == 0, added.output
    assert "Anti-bullying Policy" in client.get("/policies/").text   # another process's change
    client.clock["now"] = NOW + timedelta(days=1)  # type: ignore[attr-defined]
    assert client.get("/policies/").status_code == 200


def test_a_staff_list_named_like_a_path_is_only_a_name(client: TestClient,
                                                       inst: Instance) -> None:
    login(client)
    page = _upload_staff(client, SIS, "..")
    assert "1 to add" in page
    token = re.search(r'name="token" value="([^"]+)"', page)[1]  # type: ignore[index]
    done = client.post("/admin/people/import", data={"csrf": csrf_of(client), "token": token})
    assert "1 added" in done.text


def test_a_warning_is_shown_as_a_warning_not_as_success(client: TestClient,
                                                         inst: Instance) -> None:
    login(client)
    body = (inst.policies_dir / "social-networking.md").read_text().split("---\n", 2)[2]
    draft = body.replace("social media", "social networks", 1)      # still names 2018
    page = client.post("/admin/drafts", data={"policy": "social-networking", "note": "",
                                              "csrf": csrf_of(client, "/admin/drafts")},
                       files={"file": ("draft.md", draft.encode())}).text
    done = re.search(r'<p class="done"[^>]*>(.*?)</p>', page, re.S)
    warned = re.search(r'<p class="notice"[^>]*>(.*?)</p>', page, re.S)
    assert done and "draft 1 added" in done[1] and "old date" not in done[1]
    assert warned and "It still names an old date" in warned[1]


def test_the_review_form_takes_dates_as_people_in_england_write_them(
        client: TestClient, inst: Instance) -> None:
    login(client)
    recorded = client.post("/admin/policies/social-networking/review", data={
        "date": "20/11/2026", "next": "31/07/2029", "notes": "",
        "csrf": csrf_of(client, "/admin/policies/social-networking")})
    assert "next review due 31 July 2029." in recorded.text
    policy = inst.register().policies.get("social-networking")
    assert policy is not None and policy.review_due.isoformat() == "2029-07-31"


def test_the_preview_says_a_change_as_the_people_page_does(client: TestClient,
                                                           inst: Instance) -> None:
    """#28 (16): 'Leaving date: – → 31 December 2026', not 'end date: – → 2026-12-31'."""
    login(client)
    staff = (b"name,email,roles,start_date,end_date\n"
             b"Lucy Brennan,l.brennan@example.org,staff,2019-09-01,31/12/2026\n")
    page = _upload_staff(client, staff)
    assert "Leaving date: – → 31 December 2026" in page
    assert "end date" not in page and "2026-12-31" not in page
