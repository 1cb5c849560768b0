"""Sending through Microsoft 365 and Google Workspace with OAuth (AUTH XOAUTH2): the real msal
and google-auth code against token services on 127.0.0.1 (HTTPS, a test authority), and an
SMTP server that requires STARTTLS and checks every bearer token."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Run
from oauth import (
    GMAIL,
    MAILBOX,
    SECRET,
    TENANT,
    Authority,
    TokenService,
    XOAuthServer,
    XOAuthSink,
    google_config,
    microsoft_config,
)
from smtp import free_port
from test_delivery import FIRST_TICK, NOW, statuses

from jobs.tasks import deliver, evaluate
from lifecycle.register.instance import Instance
from lifecycle.values.model import Status


@pytest.fixture
def authority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Authority:
    trusted = Authority(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(trusted.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted.bundle))
    monkeypatch.setenv("POLICY_LIFECYCLE_MICROSOFT_SECRET", SECRET)
    return trusted


@pytest.fixture
def entra(authority: Authority) -> Iterator[TokenService]:
    service = TokenService(authority).start()
    yield service
    service.stop()


@pytest.fixture
def exchange(authority: Authority) -> Iterator[XOAuthServer]:
    server = XOAuthServer(authority, XOAuthSink()).start()
    yield server
    server.stop()


def microsoft(inst: Instance, exchange: XOAuthServer, entra: TokenService,
              **mail: object) -> Instance:
    microsoft_config(inst.root, exchange.port, entra.url, **mail)
    return Instance.at(inst.root)


def untouched(inst: Instance) -> bool:
    """Every message still pending, none counted as an attempt."""
    with inst.register() as register:
        waiting = register.outbox.messages(status=Status.PENDING)
    return len(waiting) == FIRST_TICK and all(m.attempts == 0 for m in waiting) \
        and statuses(inst) == {"pending": FIRST_TICK, "skipped": 708}


def test_microsoft_sends_as_the_mailbox_with_one_token_for_many_runs(
        inst: Instance, exchange: XOAuthServer, entra: TokenService) -> None:
    inst = microsoft(inst, exchange, entra, per_minute=5)
    evaluate(inst, NOW)
    for minute in range(3):
        deliver(inst, NOW + timedelta(minutes=minute))
    assert statuses(inst) == {"sent": FIRST_TICK, "skipped": 708}
    assert len(exchange.sink.messages) == FIRST_TICK
    assert exchange.sink.sign_ins == [f"{MAILBOX} ok"] * 3       # one connection a run
    assert entra.tokens_issued() == 1                             # the token was kept


def test_an_expired_token_is_fetched_again_once_and_the_message_sent_once(
        inst: Instance, exchange: XOAuthServer, entra: TokenService) -> None:
    inst = microsoft(inst, exchange, entra, per_minute=4)
    evaluate(inst, NOW)
    assert len(deliver(inst, NOW).sent) == 4
    exchange.sink.expire_seen()                       # the cached token expires early
    later = deliver(inst, NOW + timedelta(minutes=1))
    assert len(later.sent) == 4 and later.paused is None
    assert exchange.sink.sign_ins == [f"{MAILBOX} ok", f"{MAILBOX} refused", f"{MAILBOX} ok"]
    assert entra.tokens_issued() == 2
    received = Counter(exchange.sink.message_ids())
    assert len(received) == 8 and set(received.values()) == {1}   # each once


@pytest.mark.parametrize("setting, expected", [
    ("secret", "Entra ID refused a token: the client secret is wrong"),
    ("audience", "the mail server refused the sign-in"),
    ("basic", "Microsoft 365 no longer accepts a password"),
    ("send-as", "the mail server will not let this mailbox send as the From address"),
])
def test_a_refusal_stops_the_run_with_one_line_and_leaves_the_outbox_intact(
        inst: Instance, exchange: XOAuthServer, entra: TokenService, setting: str,
        expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    inst = microsoft(inst, exchange, entra)
    if setting == "secret":
        monkeypatch.setenv("POLICY_LIFECYCLE_MICROSOFT_SECRET", "wrong")
    elif setting == "audience":
        entra.audience = "https://graph.microsoft.com"
    elif setting == "send-as":
        exchange.sink.send_as = set()
    else:
        exchange.sink.basic_off = True
        config = inst.root / "config.toml"
        config.write_text(config.read_text().replace('auth = "microsoft"', 'auth = "password"')
                          .replace('user = ""', f'user = "{MAILBOX}"'))
        monkeypatch.setenv("POLICY_LIFECYCLE_SMTP_PASSWORD", "the old password")
        inst = Instance.at(inst.root)
    evaluate(inst, NOW)
    result = deliver(inst, NOW)
    assert result.paused and result.paused.cause == "sign-in"
    assert result.paused.reason.startswith(expected), result.paused.reason
    assert "\n" not in result.paused.reason
    assert result.sent == result.failed == result.retrying == []
    assert exchange.sink.messages == []
    assert untouched(inst)
    # and it waits before trying again, rather than signing in every minute
    assert deliver(inst, NOW + timedelta(minutes=1)).paused == result.paused


def test_google_sends_as_the_mailbox_through_its_service_account(
        inst: Instance, authority: Authority, tmp_path: Path) -> None:
    google = TokenService(authority).start()
    gmail = XOAuthServer(authority, XOAuthSink(audience=GMAIL)).start()
    try:
        google_config(inst.root, gmail.port, google.google_key_file(tmp_path))
        inst = Instance.at(inst.root)
        evaluate(inst, NOW)
        assert len(deliver(inst, NOW).sent) == FIRST_TICK
        assert gmail.sink.sign_ins == [f"{MAILBOX} ok"] and google.tokens_issued() == 1
    finally:
        gmail.stop()
        google.stop()


def test_google_without_delegation_says_what_to_grant(
        inst: Instance, authority: Authority, tmp_path: Path) -> None:
    google = TokenService(authority, delegated=set()).start()
    gmail = XOAuthServer(authority, XOAuthSink(audience=GMAIL)).start()
    try:
        google_config(inst.root, gmail.port, google.google_key_file(tmp_path))
        inst = Instance.at(inst.root)
        evaluate(inst, NOW)
        paused = deliver(inst, NOW).paused
        assert paused and "domain-wide delegation is not granted" in paused.reason
        assert untouched(inst)
    finally:
        gmail.stop()
        google.stop()


def test_a_throttling_answer_pauses_delivery_and_loses_nothing(
        inst: Instance, exchange: XOAuthServer, entra: TokenService) -> None:
    inst = microsoft(inst, exchange, entra)
    exchange.sink.throttle_at = 5                     # the 5th message of a minute is refused
    evaluate(inst, NOW)
    first = deliver(inst, NOW)
    assert len(first.sent) == 4 and first.failed == []
    assert first.paused and first.paused.cause == "throttled"
    assert deliver(inst, NOW + timedelta(seconds=30)).sent == []      # still paused
    exchange.sink.throttle_at = None                  # the provider's minute has passed
    later = deliver(inst, NOW + timedelta(minutes=1))
    assert len(later.sent) == FIRST_TICK - 4
    received = Counter(exchange.sink.message_ids())
    assert len(received) == FIRST_TICK and set(received.values()) == {1}
    with inst.register() as register:
        assert max(m.attempts for m in register.outbox.messages(status=Status.SENT)) == 1


def test_mail_check_ticks_every_step_and_sends_a_test_message(
        run: Run, inst: Instance, exchange: XOAuthServer, entra: TokenService) -> None:
    microsoft(inst, exchange, entra)
    result = run("mail", "check", "--to", "office@example.org")
    assert result.exit_code == 0, result.output
    assert [line[:2] for line in result.output.splitlines()] == ["✓ "] * 6
    assert "✓ Secure the connection (STARTTLS): certificate checked" in result.output
    assert f"✓ Sign in as {MAILBOX} with the token (XOAUTH2)" in result.output
    assert [m["To"] for m in exchange.sink.messages] == ["office@example.org"]


@pytest.mark.parametrize("case, failed", [
    ("secret", "✗ Get a token from Microsoft Entra ID: Entra ID refused a token: the client "
               "secret is wrong (copy the secret's Value, not its Secret ID) (AADSTS7000215"),
    ("tenant", "✗ Get a token from Microsoft Entra ID: Entra ID did not answer for tenant"),
    ("basic", "✗ Sign in as policies@example.org with a password: Microsoft 365 no longer "
              "accepts a password to send mail"),
    ("send-as", "✗ Send a test message to policies@example.org: the mail server will not let "
                "this mailbox send as the From address"),
    ("certificate", "✗ Secure the connection (STARTTLS): the mail server's certificate is not "
                    "trusted"),
    ("refused", "✗ Connect to 127.0.0.1 on port"),
    ("dns", "✗ Find the mail server no-such-server.invalid: no such server name"),
])
def test_mail_check_names_the_step_that_failed_and_why(
        run: Run, inst: Instance, exchange: XOAuthServer, entra: TokenService, case: str,
        failed: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    microsoft(inst, exchange, entra)
    config = inst.root / "config.toml"
    text = config.read_text()
    if case == "secret":
        monkeypatch.setenv("POLICY_LIFECYCLE_MICROSOFT_SECRET", "wrong")
    elif case == "tenant":
        text = text.replace(TENANT, "elsewhere.onmicrosoft.com")
    elif case == "basic":
        exchange.sink.basic_off = True
        text = text.replace('auth = "microsoft"', 'auth = "password"').replace(
            'user = ""', f'user = "{MAILBOX}"')
        monkeypatch.setenv("POLICY_LIFECYCLE_SMTP_PASSWORD", "the old password")
    elif case == "send-as":
        exchange.sink.send_as = set()
    elif case == "certificate":
        (tmp_path / "other").mkdir()
        monkeypatch.setenv("SSL_CERT_FILE", str(Authority(tmp_path / "other").bundle))
    elif case == "refused":
        text = text.replace(f"port = {exchange.port}", f"port = {free_port()}")
    else:
        text = text.replace('host = "127.0.0.1"', 'host = "no-such-server.invalid"')
    config.write_text(text)
    result = run("mail", "check", *(["--send"] if case == "send-as" else []))
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(failed), result.output
    assert all(line.startswith("✓ ") for line in result.output.strip().splitlines()[:-1])
    assert "Traceback" not in result.output


def test_mail_check_with_files_has_nothing_to_check(run: Run, inst: Instance) -> None:
    result = run("mail", "check")
    assert result.exit_code == 0 and result.output.startswith("✓ Mail is written to files")


def test_the_dashboard_shows_the_refusal_and_checks_the_set_up(
        inst: Instance, exchange: XOAuthServer, entra: TokenService,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient
    from test_web import PASSWORD, csrf_of, login

    from web.admin import set_password
    from web.app import create_app

    inst = microsoft(inst, exchange, entra)
    monkeypatch.setenv("POLICY_LIFECYCLE_MICROSOFT_SECRET", "wrong")
    evaluate(inst, NOW)
    for minute in (0, 15, 30):
        deliver(inst, NOW + timedelta(minutes=minute))
    set_password(inst, PASSWORD, NOW)
    clock = NOW + timedelta(hours=1)
    with TestClient(create_app(inst, clock=lambda: clock),
                    base_url="http://127.0.0.1:8080") as client:
        login(client)
        dashboard = client.get("/admin").text
        assert "No mail has gone out since 24 November 2026 at 09:00: every attempt was " \
               "refused for the same reason." in dashboard
        assert "the client secret is wrong" in dashboard
        clock = NOW + timedelta(minutes=40)             # within the last refusal's pause
        page = client.get("/admin/mail").text
        assert "Sending is paused until 09:45 on 24 November 2026: Entra ID refused" in page
        assert "Microsoft 365 (OAuth)" in page and "30 a minute and 10,000 a day" in page
        assert "wrong" not in page.replace("the client secret is wrong", "")   # no secret
        result = client.post("/admin/mail/check", data={"csrf": csrf_of(client, "/admin/mail"),
                                                        "send_to": ""}).text
        assert "Failed:</strong> Get a token from Microsoft Entra ID: Entra ID refused a " \
               "token: the client secret is wrong" in result
    assert untouched(inst)
