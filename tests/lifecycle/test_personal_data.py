"""A subject access request, and erasing a leaver: no trace of their name or address in the
database file or the mail files, the anonymous evidence kept."""

from __future__ import annotations

import email
import json
import re
from datetime import date
from email import policy as email_policy
from pathlib import Path

from conftest import Run, snapshot

from lifecycle.actions import confirmations
from lifecycle.register.instance import Instance
from lifecycle.values.model import Kind

NAME, ADDRESS = "David Okafor", "d.okafor@example.org"


def _confirm(inst: Instance, policy_id: str, now: str) -> None:
    from datetime import datetime

    with inst.register() as register:
        policy = register.policies.get(policy_id)
        assert policy is not None
        ack = confirmations.Ack(ADDRESS, policy.id, policy.version, "2026-27")
        at = datetime.fromisoformat(now)
        assert confirmations.confirm(register, policy, ack, "192.0.2.7", at, (9, 1))


def _history(run: Run, people: Path) -> None:
    """A reminder and its chasers for David Okafor, who confirms, then leaves."""
    for day in ("2026-11-24", "2026-12-08", "2026-12-22"):
        assert run("tick", "--now", f"{day}T09:00").exit_code == 0
    _confirm(Instance.at(people), "social-networking", "2026-12-10T10:00:00+00:00")
    leaver = people / "leaver.csv"
    leaver.write_text(f"name,email,roles,start_date,end_date\n{NAME},{ADDRESS},staff,"
                      "2015-09-01,2026-12-18\n")
    assert run("people", "import", str(leaver), "--now", "2026-12-18T12:00").exit_code == 0


def _confirmation_counts(people: Path) -> dict[str, int]:
    from collections import Counter

    with Instance.at(people).register() as register:
        return dict(Counter(e.confirmation.policy_id for e in register.confirmations.evidence()))


def test_export_holds_the_entry_messages_and_confirmations(run: Run, people: Path) -> None:
    _history(run, people)
    result = run("people", "export", ADDRESS.upper(), "--now", "2027-01-04T09:00")
    assert result.exit_code == 0, result.output
    held = json.loads(result.output)
    assert held["person"] == {"name": NAME, "email": ADDRESS, "roles": ["staff"],
                              "start_date": "2015-09-01", "end_date": "2026-12-18"}
    sent = [m for m in held["messages"] if m["status"] == "sent"]
    assert sent and all(m["subject"] and m["date"] for m in sent)
    assert any(m["kind"] == Kind.REMINDER for m in sent)
    assert [(c["policy"], c["school_year"]) for c in held["confirmations"]] == [
        ("social-networking", "2026-27")]
    assert {"person.added", "person.updated"} <= {e["action"] for e in held["audit"]}


def test_erasing_a_leaver_leaves_no_trace_and_keeps_the_evidence(run: Run,
                                                                 people: Path) -> None:
    _history(run, people)
    counts = _confirmation_counts(people)
    with Instance.at(people).register() as register:
        messages = len(register.outbox.messages(person_key=ADDRESS))
    mail = list((people / "mail").rglob("*.eml"))
    assert any(ADDRESS.encode() in p.read_bytes() for p in mail)
    result = run("people", "erase", ADDRESS, "--now", "2027-01-04T09:00")
    assert result.exit_code == 0, result.output
    pseudonym = re.search(r"now '(Erased person [0-9a-f]{8})'", result.output)[1]  # type: ignore[index]

    stored = b"".join(p.read_bytes() for p in people.glob("register.db*"))
    for trace in (NAME, ADDRESS, "Okafor", "d.okafor"):
        assert trace.lower().encode() not in stored.lower(), trace
    for path in mail:
        raw = path.read_bytes()
        assert b"okafor" not in raw.lower(), path
        message = email.message_from_bytes(raw, policy=email_policy.default)
        assert all(not part.defects for part in message.walk()), path
        for part in message.walk():
            if part.get_content_maintype() == "text":
                assert "okafor" not in part.get_content().lower(), path
    assert _confirmation_counts(people) == counts
    with Instance.at(people).register() as register:
        [entry] = [p for p in register.people.all() if p.name == pseudonym]
        key = entry.email
        assert len(register.outbox.messages(person_key=key)) == messages
        assert entry.end_date == date(2026, 12, 18)
        erased = [e for e in register.audit.log(key) if e.action == "person.erased"]
        assert len(erased) == 1 and "(command line)" in erased[0].detail
    held = json.loads(run("people", "export", key).output)
    assert len(held["messages"]) == messages and len(held["confirmations"]) == 1
    assert held["confirmations"][0]["from_address"] is None


def test_the_active_are_erased_only_with_force(run: Run, people: Path) -> None:
    run("tick", "--now", "2026-11-24T09:00")
    before = snapshot(people)
    result = run("people", "erase", "l.brennan@example.org", "--now", "2026-11-25T09:00")
    assert result.exit_code == 1 and "still active" in result.output
    assert "--force" in result.output and "Traceback" not in result.output
    assert snapshot(people) == before
    forced = run("people", "erase", "l.brennan@example.org", "--force", "--now",
                 "2026-11-25T09:00")
    assert forced.exit_code == 0, forced.output
    assert run("people", "erase", "nobody@example.org").exit_code == 1


def test_the_digest_lists_leavers_kept_past_the_limit(run: Run, people: Path) -> None:
    config = people / "config.toml"
    config.write_text(config.read_text().replace('keep_after_leaving = "6 years"',
                                                 'keep_after_leaving = "3 months"'))
    assert run("tick", "--now", "2026-11-30T09:00").exit_code == 0
    [digest] = [p for p in (people / "mail").rglob("digest-*.eml")
                if "2026-11-30" in str(p)]
    text = email.message_from_bytes(digest.read_bytes(), policy=email_policy.default)
    body = text.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Leavers to erase" in body and "James Holloway" in body
    assert "people erase" in body or "/admin/people" in body
