"""What people receive: real .eml files, parsed back with the standard library."""

from __future__ import annotations

import email
import io
import json
import random
import re
from dataclasses import astuple
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import pytest
from conftest import Run
from icalendar import Calendar
from itsdangerous import URLSafeSerializer

from jobs.mail.mime import MARKERS, Merge, quoted_printable
from jobs.tasks import deliver, evaluate
from lifecycle.actions.confirmations import Ack, make_token, read_token
from lifecycle.register.instance import Instance
from lifecycle.values.model import Person, Status

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/London"))


def delivered(inst: Instance, now: datetime = NOW) -> dict[str, EmailMessage]:
    """Tick, then read every .eml written, keyed by recipient address."""
    evaluate(inst, now)
    deliver(inst, now)
    mails = {}
    for path in sorted((inst.root / "mail").rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert all(not part.defects for part in message.walk()), path
        mails[f"{message['To'].addresses[0].addr_spec}/{path.name.split('-')[0]}"] = message
    return mails  # type: ignore[return-value]


def text_of(message: EmailMessage, kind: str = "plain") -> str:
    body = message.get_body((kind,))
    assert body is not None
    content: str = body.get_content()
    return content


def test_governors_overdue_prompt(inst: Instance) -> None:
    mail = delivered(inst)["chair.governor@example.org/review"]
    assert mail["Subject"] == ("Review overdue: Policy for Social Networking "
                               "(due January 2018, 8 years 9 months ago)")
    assert str(mail["To"]) == "Margaret Oduya <chair.governor@example.org>"
    with inst.register() as register:
        [row] = [m for m in register.outbox.messages(status=Status.SENT)
                 if m.to_email == "chair.governor@example.org"]
    assert mail["Message-ID"] == row.message_id
    text = text_of(mail)
    assert "Dear Margaret Oduya," in text
    assert "It was due in January 2018 (by 31 January 2018)" in text
    assert "8 years 9 months overdue" in text
    html = text_of(mail, "html")
    assert "<br>" not in html and "<strong>The review of the Policy for Social Networking" in html
    for part in (mail.get_body(("plain",)), mail.get_body(("html",))):
        assert part is not None and part["Content-Transfer-Encoding"] == "quoted-printable"
    attachments = {a.get_filename(): a for a in mail.iter_attachments()}
    assert set(attachments) == {"social-networking-v1.docx"}   # no calendar entry in 2018
    assert "calendar entry" not in text
    assert str(mail["Reply-To"]) == "Helen Cartwright <clerk@example.org>"
    assert "Helen Cartwright (clerk) records the decision in the register; reply to this email" \
        in " ".join(text.split())
    document = docx.Document(io.BytesIO(attachments["social-networking-v1.docx"].get_content()))
    assert document.core_properties.title == "Policy for Social Networking"


def test_the_clerk_is_not_told_to_ask_the_clerk(inst: Instance) -> None:
    """The clerk records the decision: her own prompt says so, and replies go nowhere else."""
    mail = delivered(inst)["clerk@example.org/review"]
    text = " ".join(text_of(mail).split())
    assert "You record the decision in the register." in text
    assert "please add the next one to the register" in text
    assert "ask the clerk" not in text and "reply to this email" not in text
    assert "You record the decision" in text_of(mail, "html")
    assert mail["Reply-To"] is None
    governor = " ".join(text_of(delivered(inst)["chair.governor@example.org/review"]).split())
    assert "please ask the clerk to add the next one" in governor


def test_a_review_ahead_carries_its_calendar_entry(run: Run, inst: Instance) -> None:
    delivered(inst)
    run("review", "record", "social-networking", "--date", "2026-11-24", "--next", "2027-03-01",
        "--now", "2026-11-24T10:00")
    mails = delivered(inst, datetime(2027, 1, 4, 9, tzinfo=ZoneInfo("Europe/London")))
    mail = mails["chair.governor@example.org/review"]
    assert str(mail["Subject"]) == "Review due by 1 March 2027: Policy for Social Networking"
    attachments = {a.get_filename(): a for a in mail.iter_attachments()}
    [event] = Calendar.from_ical(attachments["review-deadline.ics"].get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == date(2027, 3, 1)
    assert str(event["uid"]) == "review-social-networking-c2@example.org"


def test_office_copy_says_so(inst: Instance) -> None:
    mail = delivered(inst)["office@example.org/review"]
    assert str(mail["Subject"]).startswith("[Office copy] Review overdue")
    assert "OFFICE COPY" in text_of(mail)


def test_staff_reminder_keeps_the_policys_two_promises(inst: Instance) -> None:
    mail = delivered(inst)["d.okafor@example.org/reminder"]
    assert mail["Subject"] == "Annual reminder 2026/27: 1 policy to read and confirm"
    text = text_of(mail)
    assert "Please familiarise yourself with the policy." in text
    assert "How to access a copy:" in text
    assert "1. Policy for Social Networking (version 1, adopted 1 January 2012)" in text
    assert "How staff, volunteers and governors use social media" in text   # its summary
    assert "http://127.0.0.1:8080/policies/social-networking" in text
    assert re.search(r"http://127\.0\.0\.1:8080/confirm/\S+", text)
    assert "annual reminder for 2026/27" in text
    assert "Opening the page does not confirm anything" in text
    html = text_of(mail, "html")
    assert "I have read" not in html and ">open your page to read and confirm" in html
    assert list(mail.iter_attachments()) == []           # links, not 30 Word documents


def test_digest_lists_the_overdue_review(inst: Instance) -> None:
    mail = delivered(inst)["office@example.org/digest"]
    assert "1 overdue" in str(mail["Subject"])
    assert "Policy for Social Networking: due 31 January 2018, 8 years 9 months overdue" in \
        text_of(mail)
    # the seed claims no catalogue entry, so every statutory policy is missing
    assert "Statutory policies missing or overdue (25)" in text_of(mail)
    assert "- Child protection and safeguarding policy: missing" in text_of(mail)


def test_the_digest_does_not_count_itself_as_waiting(inst: Instance) -> None:
    """What it says is still waiting is what goes after it (the staff's mail, which a sending
    limit may spread over days), never the digest itself."""
    evaluate(inst, NOW)
    with inst.register() as register:
        pending = register.outbox.messages(status=Status.PENDING)
    after = sum(m.kind in ("reminder", "updated", "chase") for m in pending)
    assert after
    deliver(inst, NOW)
    [path] = (inst.root / "mail").rglob("digest-*.eml")
    text = text_of(email.message_from_bytes(path.read_bytes(), policy=policy.default))
    assert f"Waiting to be sent: {after}." in text


def test_names_cannot_inject_headers_or_html(inst: Instance) -> None:
    with inst.register() as register:  # past the CSV checks, straight into the register
        register.people.upsert(Person("Eve\r\nBcc: thief@evil.example <script>alert(1)</script>",
                                      "eve@example.org", ("staff",)), "eve@example.org", NOW,
                               "test")
    mail = delivered(inst)["eve@example.org/reminder"]
    assert mail["Bcc"] is None
    assert "\n" not in str(mail["To"]) and "thief@evil.example" in str(mail["To"])
    html = text_of(mail, "html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_title_with_markup_is_escaped(run: Run, inst: Instance) -> None:
    path = inst.policies_dir / "social-networking.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: Policy for Social Networking", "title: '<i>Social</i> & Media'"),
        encoding="utf-8")
    assert run("init").exit_code == 0
    mail = delivered(inst)["d.okafor@example.org/reminder"]
    assert "<i>Social</i> & Media (version 1" in text_of(mail)
    assert "&lt;i&gt;Social&lt;/i&gt; &amp; Media" in text_of(mail, "html")


def test_policy_updated_says_what_changed(run: Run, inst: Instance, tmp_path: Path) -> None:
    delivered(inst)
    source = (inst.policies_dir / "social-networking.md").read_text(encoding="utf-8")
    new = tmp_path / "new.md"
    new.write_text(source.split("---\n", 2)[2].replace("Bebo", "Instagram"), encoding="utf-8")
    run("review", "record", "social-networking", "--date", "2027-03-10", "--file", str(new),
        "--notes", "Bebo is gone", "--now", "2027-03-10T08:30")
    mail = delivered(inst, datetime(2027, 3, 10, 9, tzinfo=ZoneInfo("Europe/London")))[
        "g.adeyemi@example.org/updated"]
    assert mail["Subject"] == "Policy updated: Policy for Social Networking (version 2)"
    text = text_of(mail).replace("\r\n", "\n")
    assert "What changed: 1 passage changed: 1 word deleted, 1 inserted." in text
    assert "  Social networking sites such as Facebook or [-Bebo-]{+Instagram+}\n" in text
    assert "The reviewers' notes: Bebo is gone" in text
    html = text_of(mail, "html")
    assert "Facebook or <del" in html and ">Bebo</del><ins" in html and ">Instagram</ins>" in html
    assert [a.get_filename() for a in mail.iter_attachments()] == [
        "social-networking-v2.docx", "social-networking-v1-v2-changes.docx"]


def test_a_one_word_change_quotes_its_sentence_without_markup(run: Run, inst: Instance,
                                                              tmp_path: Path) -> None:
    delivered(inst)
    path = inst.policies_dir / "social-networking.md"
    body = path.read_text(encoding="utf-8").split("---\n", 2)[2]
    sentence = "Personal information of others including colleagues and pupils must not be"
    assert sentence in body
    new = tmp_path / "new.md"
    new.write_text(body.replace("pupils must not be", "pupils must never be").replace(
        "with whom you want to share", "with whom you wish to share"), encoding="utf-8")
    run("review", "record", "social-networking", "--date", "2027-03-10", "--file", str(new),
        "--now", "2027-03-10T08:30")
    mail = delivered(inst, datetime(2027, 3, 10, 9, tzinfo=ZoneInfo("Europe/London")))[
        "g.adeyemi@example.org/updated"]
    text, html = text_of(mail).replace("\r\n", "\n"), text_of(mail, "html")
    assert ("  … Personal information of others including colleagues and pupils must [-not-]"
            "{+never+} be placed online without the appropriate permissions.\n") in text
    assert "All material posted" not in text        # the sentence before is not quoted
    assert ("  … Think about what kind of information you want to share online and with whom you "
            "[-want-]{+wish+} to share this information. …\n") in text
    assert "**" not in text and "**" not in html


def test_the_digest_lists_who_is_unconfirmed_after_every_chaser(inst: Instance) -> None:
    london = ZoneInfo("Europe/London")
    for day in (date(2026, 11, 24), date(2026, 12, 8), date(2027, 1, 4), date(2027, 1, 11)):
        moment = datetime.combine(day, datetime.min.time(), london).replace(hour=9)
        evaluate(inst, moment)
        deliver(inst, moment)
        if day == date(2027, 1, 4):         # the last chaser went this morning: not listed yet
            [same_day] = (inst.root / "mail" / "2027-01-04").glob("digest-*.eml")
            early = email.message_from_bytes(same_day.read_bytes(), policy=policy.default)
            assert "after every chaser" not in text_of(early)  # type: ignore[arg-type]
    digest = delivered(inst, datetime(2027, 1, 11, 9, tzinfo=london))["office@example.org/digest"]
    text = text_of(digest)
    assert "Policy for Social Networking (version 1): 0 of 5 confirmed" in text
    assert "not confirmed after every chaser (4)" in text
    assert "David Okafor (d.okafor@example.org): Policy for Social Networking, version 1" in text


def test_no_header_is_folded_straight_after_its_name(inst: Instance) -> None:
    from jobs.mail.mime import header_line

    # the email package alone gives b"Subject:\r\n 30 overdue ..." for this one
    subject = "30 overdue review reminder: reminder: November since Networking January"
    assert header_line("Subject", subject) == f"Subject: {subject}\r\n".encode()
    long = " ".join(["Networking"] * 20)
    folded = header_line("Subject", long)
    assert folded.startswith(b"Subject: Networking") and b"\r\n Networking" in folded
    for mail in delivered(inst).values():
        assert not str(mail["Subject"]).startswith(" ")


@pytest.mark.parametrize(("due", "listed"), [("2027-01-10", True), ("2027-02-01", False)])
def test_the_digests_due_soon_heading_is_the_registers_window(run: Run, inst: Instance,
                                                               due: str, listed: bool) -> None:
    run("review", "record", "social-networking", "--date", "2026-11-20", "--next", due,
        "--now", "2026-11-20T09:00")
    digest = delivered(inst, datetime(2026, 11, 30, 9, tzinfo=ZoneInfo("Europe/London")))[
        "office@example.org/digest"]
    text = text_of(digest)
    state = json.loads(run("status", "--json", "--now", "2026-11-30T09:00").output)[0]["state"]
    heading = f"Reviews due in the next {inst.config.due_soon_days} days ({int(listed)})"
    assert heading in text and (state == "due-soon") == listed
    assert "The dashboard: http://127.0.0.1:8080/admin" in text
    assert ("due 10 January 2027" in text) == listed


@pytest.mark.parametrize("seed", range(40))
def test_a_merged_body_encodes_as_the_whole_body_would(seed: int) -> None:
    """Quoted-printable encodes line by line, so a body encoded once around its personal
    lines and filled per person is the same bytes as the filled body encoded whole: long
    lines, trailing spaces, dots, '=' and accents, with or without a last line break."""
    rng = random.Random(seed)
    words = ["Dear", "policy", "=", ".", " ", "  ", "Zoë", "ÑÚÑEZ", "a" * 70, "\t", "link:", "-"]

    def line() -> str:
        return "".join(rng.choice(words) + rng.choice(["", " "]) for _ in range(rng.randint(0, 30)))

    lines = [line() for _ in range(rng.randint(1, 12))]
    for marker in rng.sample(MARKERS, rng.randint(0, 3)):
        at = rng.randrange(len(lines))
        lines[at] = lines[at][:5] + marker + lines[at][5:]
    marked = "\n".join(lines) + rng.choice(["", "\n"])
    values = (" ".join(rng.choice(words) for _ in range(rng.randint(1, 40))),
              "http://example.org/confirm/" + "x" * rng.randint(1, 200), "0123456789ab")
    whole = marked
    for marker, value in zip(MARKERS, values, strict=True):
        whole = whole.replace(marker, value)
    assert Merge(marked).fill(values) == quoted_printable(whole)


def test_links_are_the_tokens_itsdangerous_makes_and_compressed_ones_still_read() -> None:
    """Links are signed without itsdangerous's zlib attempt: the same token where zlib would
    not shorten it, and a token it did compress (a long, repetitive policy id) still reads."""
    secret, salt = b"k" * 32, "policy-lifecycle/ack/ref"
    plain = Ack("someone@example.org", "social-networking", 2, "2026-27")
    assert make_token(secret, plain, "Hx31f2Dj4hIa2rOr") == URLSafeSerializer(
        secret, salt=salt).dumps(["Hx31f2Dj4hIa2rOr", *astuple(plain)[1:]])
    compressed = URLSafeSerializer(secret, salt=salt).dumps(["Hx31f2Dj4hIa2rOr", "a" * 80, 1, "p"])
    assert compressed.startswith(".")
    assert read_token(secret, compressed, {"Hx31f2Dj4hIa2rOr": "someone@example.org"}.get) == Ack(
        "someone@example.org", "a" * 80, 1, "p")
