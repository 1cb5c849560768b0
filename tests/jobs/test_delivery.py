"""Delivery against a real SMTP server on 127.0.0.1: success, 4xx, 5xx, the server down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Run
from smtp import Server, free_port, use_smtp

from jobs.tasks import IN_FLIGHT, deliver, evaluate
from lifecycle.register.instance import Instance
from lifecycle.rules.pacing import urgency
from lifecycle.values.model import Status

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/London"))
FIRST_TICK = 11   # 6 review prompts, 4 reminders, 1 digest (see test_rules)


def statuses(inst: Instance) -> dict[str, int]:
    with inst.register() as register:
        return {str(s): n for s, n in register.outbox.counts().items()}


def test_delivery_over_one_reused_connection(inst: Instance, smtp_server: Server) -> None:
    use_smtp(inst.root, smtp_server.port)
    inst = Instance.at(inst.root)
    evaluate(inst, NOW)
    result = deliver(inst, NOW)
    assert len(result.sent) == FIRST_TICK
    assert len(smtp_server.sink.peers) == 1                 # one connection for all
    with inst.register() as register:
        expected = {m.message_id for m in register.outbox.messages(status=Status.SENT)}
    assert set(smtp_server.sink.message_ids()) == expected
    assert deliver(inst, NOW + timedelta(minutes=1)).sent == []   # nothing twice


def test_temporary_refusal_then_success(inst: Instance, smtp_server: Server) -> None:
    use_smtp(inst.root, smtp_server.port)
    inst = Instance.at(inst.root)
    smtp_server.sink.refuse["clerk@example.org"] = ["451 4.3.0 Mailbox busy", "250 OK"]
    evaluate(inst, NOW)
    first = deliver(inst, NOW)
    assert [m.to_email for m, _ in first.retrying] == ["clerk@example.org"]
    assert "451" in first.retrying[0][1]
    assert len(first.sent) == FIRST_TICK - 1
    assert deliver(inst, NOW + timedelta(seconds=30)).sent == []   # backing off: 1 minute
    later = deliver(inst, NOW + timedelta(minutes=1))
    assert [m.to_email for m in later.sent] == ["clerk@example.org"]
    assert statuses(inst) == {"sent": FIRST_TICK, "skipped": 708}


def test_permanent_refusal_is_failed_reported_and_retried_by_hand(
        run: Run, inst: Instance, smtp_server: Server) -> None:
    use_smtp(inst.root, smtp_server.port)
    inst = Instance.at(inst.root)
    smtp_server.sink.refuse["t.ashworth@example.org"] = ["550 5.1.1 No such mailbox"]
    evaluate(inst, NOW)
    result = deliver(inst, NOW)
    assert [m.to_email for m, _ in result.failed] == ["t.ashworth@example.org"]
    failed = json.loads(run("outbox", "--status", "failed", "--json").output)
    assert len(failed) == 1 and "550" in failed[0]["last_error"]
    # the next digest tells the office
    evaluate(inst, NOW + timedelta(days=6))
    deliver(inst, NOW + timedelta(days=6))
    digest = [m for m in smtp_server.sink.messages if "digest" in str(m["Subject"]).lower()][-1]
    text = digest.get_body(("plain",)).get_content()   # type: ignore[union-attr]
    assert "Delivery failures (0)" not in text and "t.ashworth@example.org" in text
    # fixed at the other end; the office retries it
    smtp_server.sink.refuse.clear()
    retried = run("outbox", "retry", str(failed[0]["id"]), "--now",
                  (NOW + timedelta(days=6)).isoformat())
    assert retried.exit_code == 0 and "pending again" in retried.output
    assert [m.to_email for m in deliver(inst, NOW + timedelta(days=6, minutes=1)).sent] == [
        "t.ashworth@example.org"]
    again = run("outbox", "retry", str(failed[0]["id"]))
    assert again.exit_code == 1 and "is sent, not failed" in again.output


def test_server_down_then_up(inst: Instance) -> None:
    port = free_port()
    use_smtp(inst.root, port)
    inst = Instance.at(inst.root)
    evaluate(inst, NOW)
    down = deliver(inst, NOW)
    # stops at the first refusal; only the messages already in flight were tried
    assert down.sent == [] and 1 <= len(down.retrying) <= IN_FLIGHT
    assert all("Connection refused" in error for _, error in down.retrying)
    assert statuses(inst)["pending"] == FIRST_TICK
    server = Server(port).start()
    try:
        up = deliver(inst, NOW + timedelta(minutes=5))
        assert len(up.sent) == FIRST_TICK
        assert len(server.sink.messages) == FIRST_TICK
    finally:
        server.stop()


def test_temporary_failures_give_up_after_the_retry_period(inst: Instance) -> None:
    use_smtp(inst.root, free_port())
    inst = Instance.at(inst.root)
    evaluate(inst, NOW)
    deliver(inst, NOW)
    result = deliver(inst, NOW + timedelta(hours=49))
    assert 1 <= len(result.failed) <= IN_FLIGHT
    assert all(error.startswith("gave up after 48 hours: ") for _, error in result.failed)


def test_files_transport_writes_eml_files(inst: Instance) -> None:
    evaluate(inst, NOW)
    result = deliver(inst, NOW)
    files = sorted((inst.root / "mail" / "2026-11-24").glob("*.eml"))
    assert len(files) == len(result.sent) == FIRST_TICK
    assert sum(f.name.startswith("review-social-networking-") for f in files) == 6
    # named for what they are about: the staff's annual reminders for their school year
    reminders = [f.name for f in files if f.name.startswith("reminder-")]
    assert reminders and all(n.startswith("reminder-2026-27-") for n in reminders)
    assert [f.name for f in files if f.name.startswith("digest-")][0].startswith("digest-office-")


def test_login_with_the_password_from_the_environment(
        inst: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"office@example.org", b"correct horse")
        return AuthResult(success=ok)

    server = Server()
    server.controller = type(server.controller)(
        server.sink, hostname="127.0.0.1", port=server.port, authenticator=authenticate,
        auth_required=True, auth_require_tls=False)
    server.start()
    try:
        use_smtp(inst.root, server.port)
        config = inst.root / "config.toml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            'user = ""', 'user = "office@example.org"'), encoding="utf-8")
        inst = Instance.at(inst.root)
        evaluate(inst, NOW)
        monkeypatch.delenv("POLICY_LIFECYCLE_SMTP_PASSWORD", raising=False)
        paused = deliver(inst, NOW).paused
        assert paused and "no SMTP password for office@example.org" in paused.reason
        monkeypatch.setenv("POLICY_LIFECYCLE_SMTP_PASSWORD", "correct horse")
        assert len(deliver(inst, NOW).sent) == FIRST_TICK
        assert len(server.sink.messages) == FIRST_TICK
    finally:
        server.stop()


def test_a_missing_password_is_one_line_from_tick(run: Run, inst: Instance,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    use_smtp(inst.root, free_port())
    config = inst.root / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'user = ""', 'user = "office@example.org"'), encoding="utf-8")
    monkeypatch.delenv("POLICY_LIFECYCLE_SMTP_PASSWORD", raising=False)
    result = run("tick", "--now", "2026-11-24T09:00")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        "Error: no SMTP password for office@example.org: set POLICY_LIFECYCLE_SMTP_PASSWORD")


def test_a_retry_is_due_by_the_instant_across_the_autumn_clock_change(inst: Instance) -> None:
    """A retry written in summer time (+01:00) falls due at its instant after the clocks go
    back, although its text sorts after the winter-time now (01:41+01:00 > 01:05+00:00)."""
    before = datetime(2026, 10, 25, 1, 40, tzinfo=ZoneInfo("Europe/London"), fold=0)
    assert before.utcoffset() == timedelta(hours=1)
    evaluate(inst, datetime(2026, 10, 23, 9, 0, tzinfo=ZoneInfo("Europe/London")))
    with inst.register() as register:
        message = next(register.outbox.deliverable(before))
        register.outbox.mark_retry(message, before, "451 busy", timedelta(hours=48))
        due_at = before + timedelta(minutes=1)                 # 00:41 UTC
        after = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)      # 01:05 GMT, 24 minutes later
        assert after.astimezone(ZoneInfo("Europe/London")).isoformat() < due_at.isoformat()
        assert message.id in {m.id for m in register.outbox.deliverable(after)}
        assert message.id not in {m.id for m in register.outbox.deliverable(
            due_at - timedelta(seconds=1))}


def test_tick_warns_when_real_mail_would_carry_loopback_links(run: Run, people: Path,
                                                              smtp_server: Server) -> None:
    quiet = run("tick", "--now", "2026-11-24T09:00")
    assert "Warning" not in quiet.output                   # files: nobody is written to
    use_smtp(people, smtp_server.port)
    warned = run("tick", "--now", "2026-11-25T09:00")
    assert warned.exit_code == 0
    assert "Warning: messages go to real people by SMTP, but their links point to " \
           "http://127.0.0.1:8080" in warned.output and "[web] base_url" in warned.output
    config = people / "config.toml"
    config.write_text(config.read_text().replace('base_url = "http://127.0.0.1:8080"',
                                                 'base_url = "https://policies.example.org"'))
    assert "Warning" not in run("tick", "--now", "2026-11-26T09:00").output


def test_pending_messages_are_read_a_page_at_a_time(inst: Instance) -> None:
    evaluate(inst, NOW)
    with inst.register() as register:
        outbox = register.outbox
        # review prompts, packs and the digest, then the staff's bulk mail
        expected = [m.id for m in sorted(outbox.messages(status=Status.PENDING),
                                         key=lambda m: (urgency(m.kind), m.id))]
        seen = []
        for message in outbox.deliverable(NOW, page=3):
            seen.append(message.id)
            outbox.mark_sending(message, "subject")     # as delivery does, while reading
        assert seen == expected and len(seen) == 11
        # after a crash: the ones in flight first, each once
        assert [m.id for m in outbox.deliverable(NOW, page=4)] == sorted(expected)
