"""Meetings, drafts, review packs and approval, over a school year: the register, the real
command line, the outbox and the .eml files it writes. Nothing sleeps; time is passed in."""

from __future__ import annotations

import email
import json
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import ics
import pytest
from conftest import Run, snapshot
from icalendar import Calendar

from jobs.tasks import tick
from lifecycle.register.instance import Instance

LONDON = ZoneInfo("Europe/London")
BODY = "Governing Body"
MEMBERS = {"chair.governor@example.org", "t.ashworth@example.org", "p.raman@example.org",
           "a.khan@example.org", "clerk@example.org"}
OFFICE = "office@example.org"
MEETINGS = [date(2026, 12, 10), date(2027, 3, 18), date(2027, 7, 8)]


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON)


def text(title: str, sentence: str) -> str:
    return (f"# {title.upper()}\n\n## Purpose\n\n{sentence}\n\n## Responsibilities\n\n"
            "- The head teacher keeps this policy.\n- Staff follow it.\n\n"
            "## Review\n\nThe Governing Body reviews this policy every three years.\n")


POLICIES = {   # id: title, review due
    "attendance": ("Attendance Policy", "2027-03-31"),           # due in spring
    "anti-bullying": ("Anti-bullying Policy", "2027-06-30"),     # a draft comes as Word
    "charging": ("Charging and Remissions Policy", "2027-09-30"),
    "whistleblowing": ("Whistleblowing Policy", "2029-01-31"),
}


def word_draft(inst: Instance, run: Run, tmp: Path) -> Path:
    """The anti-bullying policy as our own Word document, edited as a governor would."""
    assert run("render", "anti-bullying", "--format", "docx", "--out", str(tmp),
               "--now", "2027-01-15T09:00").exit_code == 0
    document = docx.Document(str(tmp / "anti-bullying-v1.docx"))
    for paragraph in document.paragraphs:
        if paragraph.text.startswith("Staff follow it"):
            paragraph.runs[0].text = "Staff and volunteers follow it, and report bullying."
    path = tmp / "anti-bullying governors' draft.docx"
    document.save(str(path))
    return path


@pytest.fixture
def school(run: Run, people: Path, tmp_path: Path) -> Instance:
    for policy_id, (title, due) in POLICIES.items():
        source = tmp_path / f"{policy_id}.md"
        source.write_text(text(title, f"This policy sets out how the school handles {title}."))
        result = run("policies", "add", str(source), "--id", policy_id, "--title", title,
                     "--adopted", "2024-03-31", "--review-due", due, "--now", "2026-11-24T08:00")
        assert result.exit_code == 0, result.output
    for day in MEETINGS:
        result = run("meetings", "add", day.isoformat(), "--body", BODY, "--name",
                     "Full Governing Body meeting", "--time", "18:30",
                     "--now", "2026-11-24T08:00")
        assert result.exit_code == 0, result.output
    return Instance.at(people)


def ticks(inst: Instance, first: date, last: date) -> None:
    day = first
    while day <= last:
        tick(inst, at(day))
        day += timedelta(days=1)


def planned(run: Run, start: date, days: int) -> list[tuple[str, str, str, str]]:
    out = json.loads(run("plan", "--from", at(start, 8).isoformat(), "--days", str(days),
                         "--json").output)
    return sorted((p["at"][:10], p["kind"], p["policy"] or "", p["to"]) for p in out)


def sent(inst: Instance, first: date, last: date) -> list[tuple[str, str, str, str]]:
    with inst.register() as register:
        return sorted((m.decided_at.date().isoformat(), str(m.kind), m.policy_id, m.to_email)
                      for m in register.outbox.messages(status=None)
                      if m.status in ("sent", "pending") and first <= m.decided_at.date() <= last)


def messages(inst: Instance, kind: str) -> list[EmailMessage]:
    found = []
    for path in sorted((inst.root / "mail").rglob(f"{kind}-*.eml")):
        found.append(email.message_from_bytes(path.read_bytes(),
                                              policy=email_policy.default))
    return found


def attachments(message: EmailMessage) -> list[str]:
    return [part.get_filename() or "" for part in message.iter_attachments()]


@pytest.mark.slow
def test_a_school_year_of_meetings(run: Run, school: Instance, tmp_path: Path) -> None:
    inst = school
    # Until the draft arrives nothing changes, so the forecast is what the ticks decide.
    forecast = planned(run, date(2026, 11, 24), 52)
    ticks(inst, date(2026, 11, 24), date(2027, 1, 14))
    assert forecast == sent(inst, date(2026, 11, 24), date(2027, 1, 14))

    result = run("draft", "add", "anti-bullying", str(word_draft(inst, run, tmp_path)),
                 "--note", "Volunteers included", "--now", "2027-01-15T10:00")
    assert result.exit_code == 0, result.output
    assert "draft 1 added" in result.output
    assert "read from Word" in result.output
    ticks(inst, date(2027, 1, 15), date(2027, 3, 18))

    # Approval at the second meeting, the day after it
    result = run("approve", "anti-bullying", "--meeting", "2027-03-18", "--minute", "FGB 27/5",
                 "--notes", "Volunteers now included", "--now", "2027-03-19T09:00")
    assert result.exit_code == 0, result.output
    assert "adopted draft 1 as version 2" in result.output
    assert "next review due 2030-03-18" in result.output
    for policy_id in ("attendance", "social-networking"):
        result = run("approve", policy_id, "--meeting", "2027-03-18", "--minute", "FGB 27/6",
                     "--now", "2027-03-19T09:00")
        assert result.exit_code == 0, result.output
        assert "reviewed, no changes" in result.output
    # the seed text still says it "will be reviewed in January 2018": a warning quotes it
    assert 'names an old date: "The policy will be reviewed in January 2018."' in result.output

    forecast = planned(run, date(2027, 3, 19), 134)
    ticks(inst, date(2027, 3, 19), date(2027, 7, 31))
    assert forecast == sent(inst, date(2027, 3, 19), date(2027, 7, 31))

    with inst.register() as register:
        outbox = register.outbox.messages()
        policy = register.policies.get("anti-bullying")
        [approval] = [r.approval for r in register.policies.reviews("anti-bullying")]
        version = register.policies.version("anti-bullying", 2)
        assert register.drafts.all() == []
    # exactly one pack per member per meeting, and one office copy
    packs = Counter((m.period, m.to_email, m.office_copy) for m in outbox if m.kind == "pack")
    assert set(packs.values()) == {1}
    for meeting in ("m1", "m2", "m3"):
        assert {who for (period, who, copy) in packs if period == meeting and not copy} == \
            MEMBERS
        assert {who for (period, who, copy) in packs if period == meeting and copy} == {OFFICE}
    # each pack lists the right policies, with the right documents
    agendas: dict[str, tuple[str, list[str]]] = {}
    for message in messages(inst, "pack"):
        if "chair.governor" in str(message["To"]):
            agendas[str(message["Subject"])] = (message.get_body(("plain",)).get_content(),
                                                attachments(message))
    assert sorted(agendas) == [
        "Review pack: Full Governing Body meeting, 10 December 2026 (1 policy)",
        "Review pack: Full Governing Body meeting, 18 March 2027 (3 policies)",
        "Review pack: Full Governing Body meeting, 8 July 2027 (1 policy)"]
    body, files = agendas["Review pack: Full Governing Body meeting, 18 March 2027 (3 policies)"]
    assert [t in body for t in ("Policy for Social Networking", "Attendance Policy",
                                "Anti-bullying Policy", "Charging")] == [True, True, True, False]
    assert "To approve: the draft (Volunteers included)" in body
    assert sorted(files) == sorted([        # named for the governors who open them
        "Policy for Social Networking - version 1.docx", "Attendance Policy - version 1.docx",
        "Anti-bullying Policy - draft for the meeting of 18 March 2027.docx",
        "Anti-bullying Policy - draft for the meeting of 18 March 2027, changes tracked.docx",
        "meeting.ics"])
    body, _ = agendas["Review pack: Full Governing Body meeting, 8 July 2027 (1 policy)"]
    assert "Charging and Remissions Policy" in body
    # the approval: bound to the meeting, the minute and the text
    assert (approval.meeting, approval.minute, approval.body) == (MEETINGS[1], "FGB 27/5", BODY)
    assert approval.sha256 == version.sha256 == policy.sha256
    assert "volunteers follow it" in version.body
    assert policy.review_due == date(2030, 3, 18)
    history = " ".join(run("history", "anti-bullying").output.split())
    assert f"Full Governing Body meeting 2027-03-18 FGB 27/5 {version.sha256[:12]}" in history
    # staff told once, after the approval; never about the draft
    updated = Counter(m.to_email for m in outbox if m.kind == "updated")
    assert set(updated.values()) == {1} and len(updated) == 5
    assert all(m.decided_at.date() >= date(2027, 3, 19) for m in outbox if m.kind == "updated")
    # prompts carried by a pack are not sent as well, and nobody is prompted twice in 14 days
    reviews = [m for m in outbox if m.kind == "review"]
    assert [m.stage for m in reviews if m.policy_id == "social-networking"
            and m.eligible == date(2026, 12, 9)] and all(
        m.status == "skipped" for m in reviews if m.eligible == date(2026, 12, 9))
    prompted: dict[tuple[str, str, str], list[date]] = defaultdict(list)
    for m in reviews:
        if m.status == "sent":
            prompted[(m.policy_id, m.period, m.to_email)].append(m.decided_at.date())
    for days in prompted.values():
        assert all((b - a).days >= 14 for a, b in zip(days, days[1:], strict=False)), days
    check_calendar_entries(inst)


def check_calendar_entries(inst: Instance) -> None:
    """Every calendar entry in every message parses, in both parsers alike, and is never
    before the message's own date."""
    checked = 0
    for path in (inst.root / "mail").rglob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        sent_on = email.utils.parsedate_to_datetime(str(message["Date"])).date()
        for part in message.iter_attachments():
            if part.get_content_type() != "text/calendar":
                continue
            data = part.get_content()
            data = data if isinstance(data, str) else data.decode()
            starts = events_in(data)
            assert starts and all(day >= sent_on for day in starts), (path.name, starts)
            checked += 1
    assert checked > 20


def events_in(data: str) -> list[date]:
    """The events' start dates as icalendar reads them, checked against ics (another parser)."""
    mine = {(str(e["UID"]), _day(e.decoded("DTSTART")))
            for e in Calendar.from_ical(data).walk("VEVENT")}
    theirs = {(e.uid, e.begin.date()) for e in ics.Calendar(data).events}
    assert mine == theirs
    return [day for _, day in mine]


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# -- commands, one at a time --------------------------------------------------------------------

def test_meetings_add_list_and_cancel(run: Run, people: Path) -> None:
    result = run("meetings", "add", "2026-12-10", "--body", BODY, "--time", "18:30",
                 "--now", "2026-11-24T09:00")
    assert result.output == "Added the Governing Body meeting on 2026-12-10 at 18:30.\n"
    listing = json.loads(run("meetings", "list", "--json").output)
    assert listing == [{"date": "2026-12-10", "time": "18:30", "body": BODY,
                        "name": "Governing Body meeting", "cancelled": False,
                        "agenda": [{"policy": "social-networking", "reason": "overdue",
                                    "draft": False}], "decided": [], "pack_sent": None}]
    assert run("meetings", "cancel", "2026-12-10", "--body", BODY).exit_code == 0
    assert json.loads(run("meetings", "list", "--json").output)[0]["cancelled"] is True
    # the cancelled meeting's pack never goes
    inst = Instance.at(people)
    tick(inst, at(date(2026, 12, 1)))
    with inst.register() as register:
        assert [m for m in register.outbox.messages() if m.kind == "pack"] == []


def test_a_meeting_added_late_gets_its_pack_at_once(run: Run, people: Path) -> None:
    inst = Instance.at(people)
    tick(inst, at(date(2026, 11, 24)))
    assert run("meetings", "add", "2026-11-30", "--body", BODY,
               "--now", "2026-11-25T09:00").exit_code == 0
    result = tick(inst, at(date(2026, 11, 25)))
    assert sorted(d.person for d in result.sends if d.kind == "pack") == sorted(
        MEMBERS | {OFFICE})


def test_a_pack_cancelled_before_delivery_is_not_sent(run: Run, people: Path) -> None:
    from jobs.tasks import deliver, evaluate

    inst = Instance.at(people)
    assert run("meetings", "add", "2026-12-03", "--body", BODY).exit_code == 0
    evaluate(inst, at(date(2026, 11, 24)))
    assert run("meetings", "cancel", "2026-12-03", "--body", BODY).exit_code == 0
    deliver(inst, at(date(2026, 11, 24)))
    assert list((inst.root / "mail").rglob("pack-*.eml")) == []


def test_a_draft_changed_after_the_pack_needs_confirmation(run: Run, people: Path,
                                                           tmp_path: Path) -> None:
    inst = Instance.at(people)
    draft = tmp_path / "draft.md"
    body = (inst.policies_dir / "social-networking.md").read_text().split("---\n", 2)[2]
    draft.write_text(body.replace("January 2018", "December 2029"))
    assert run("meetings", "add", "2026-12-03", "--body", BODY).exit_code == 0
    assert run("draft", "add", "social-networking", str(draft),
               "--now", "2026-11-23T09:00").exit_code == 0
    tick(inst, at(date(2026, 11, 24)))                  # the pack goes with draft 1
    draft.write_text(body.replace("January 2018", "December 2030"))
    replaced = run("draft", "add", "social-networking", str(draft), "--now", "2026-11-26T09:00")
    assert "draft 2 added (replacing draft 1)" in replaced.output
    refused = run("approve", "social-networking", "--meeting", "2026-12-03",
                  "--now", "2026-12-04T09:00")
    assert refused.exit_code == 1
    assert "Error: the draft was replaced on 26 November 2026 at 09:00, after the review pack " \
           "went out (24 November 2026)" in refused.output     # no id (the page adds the title)
    assert "--changed-since-pack" in refused.output
    done = run("approve", "social-networking", "--meeting", "2026-12-03",
               "--changed-since-pack", "--now", "2026-12-04T09:00")
    assert done.exit_code == 0 and "adopted draft 2 as version 2" in done.output
    with inst.register() as register:
        assert "December 2030" in register.policies.version("social-networking", 2).body  # type: ignore[union-attr]


def test_draft_list_and_discard(run: Run, people: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text("# POLICY FOR SOCIAL NETWORKING\n\n## Purpose\n\nShorter.\n")
    added = run("draft", "add", "social-networking", str(draft), "--note", "Rewritten")
    assert added.exit_code == 0
    assert "looks like an accident" in added.output        # a warning, not a refusal
    [listed] = json.loads(run("draft", "list", "--json").output)
    assert (listed["policy"], listed["draft"], listed["note"]) == ("social-networking", 1,
                                                                   "Rewritten")
    assert run("draft", "discard", "social-networking").output == \
        "social-networking: draft 1 discarded.\n"
    assert json.loads(run("draft", "list", "--json").output) == []
    assert "has no open draft" in run("draft", "discard", "social-networking").output


@pytest.mark.parametrize(("args", "message"), [
    (["approve", "social-networking", "--meeting", "2026-11-19"],
     "--meeting: the Governing Body has no meeting on 2026-11-19 in the register"),
    (["approve", "social-networking", "--meeting", "2026-11-20"],
     "--meeting: social-networking has no review open at the meeting on 2026-11-20"),
    (["approve", "social-networking", "--meeting", "2026-12-10"],
     "--meeting: the meeting on 2026-12-10 has not happened yet"),
    (["draft", "add", "fire-safety", "{tmp}/draft.md"], "unknown policy id 'fire-safety'"),
    (["draft", "add", "social-networking", "{tmp}/broken.docx"], "broken.docx"),
    (["draft", "add", "social-networking", "{tmp}/missing.md"], "missing.md"),
    (["meetings", "add", "2026-12-10", "--body", "Governing body"],
     "did you mean 'Governing Body'?"),
    (["meetings", "add", "2026-12-32", "--body", BODY], "DATE: '2026-12-32' is not a real date"),
    (["meetings", "cancel", "2027-01-01", "--body", BODY], "has no meeting on 2027-01-01"),
])
def test_bad_input_is_one_line_and_writes_nothing(run: Run, people: Path, tmp_path: Path,
                                                   args: list[str], message: str) -> None:
    assert run("meetings", "add", "2026-11-20", "--body", BODY).exit_code == 0
    assert run("meetings", "add", "2026-12-10", "--body", BODY).exit_code == 0
    assert run("approve", "social-networking", "--meeting", "2026-11-20",
               "--now", "2026-11-24T09:00").exit_code == 0
    (tmp_path / "draft.md").write_text("# A draft\n\nWords.\n")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    before = snapshot(people)
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args], "--now",
                 "2026-11-24T09:00")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert snapshot(people) == before


def test_a_body_with_no_active_member_is_a_problem(run: Run, initialised: Path) -> None:
    """No one imported yet: nobody in the Governing Body is prompted, and status says so."""
    result = run("status", "--now", "2026-11-24T09:00")
    assert ("problem: social-networking: nobody active in the Governing Body: no one is "
            "prompted to review it") in result.output
    [row] = json.loads(run("status", "--json", "--now", "2026-11-24T09:00").output)
    assert row["problem"].startswith("nobody active in the Governing Body")
    csv_file = initialised / "office.csv"
    csv_file.write_text("name,email,roles,start_date,end_date\n"
                        "Sarah Whitfield,office@example.org,office,2014-09-01,\n")
    assert run("people", "import", str(csv_file)).exit_code == 0
    tick(Instance.at(initialised), at(date(2026, 11, 30)))
    [digest] = messages(Instance.at(initialised), "digest")
    assert "Problems (1)" in digest.get_body(("plain",)).get_content()
    with_people = run("people", "import", str(initialised / "examples" / "people.csv"))
    assert with_people.exit_code == 0
    assert "problem:" not in run("status", "--now", "2026-11-24T09:00").output
