"""Delivery signed in with a token (Microsoft 365's way, AUTH XOAUTH2) against the password
path, through the whole pipeline (rules, outbox, composition, STARTTLS, delivery to a local
sink) in the same run: the annual reminder to 2,000 staff, five paired rounds. The token comes
from a local Entra ID (msal over HTTPS) once and is kept. Target: ≥ 0.9 of the password
path's messages per second. The provider's sending limits are lifted for the measurement."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from oauth import SECRET, SIGNING_KEY, Authority, TokenService, microsoft_config  # noqa: E402

from bench.paired import machine, paired  # noqa: E402
from bench.service import NOW, forget, free_port, instance  # noqa: E402
from jobs.tasks import deliver, evaluate  # noqa: E402
from lifecycle.register.instance import Instance  # noqa: E402

STAFF = 2000
ROUNDS = 5


def configure(data: Path, port: int, auth: str, authority_url: str) -> Instance:
    if auth == "microsoft":
        microsoft_config(data, port, authority_url, per_minute=10**6, per_day=10**6)
    else:
        config = data / "config.toml"
        text = config.read_text(encoding="utf-8").replace('transport = "files"',
                                                          'transport = "smtp"')
        text = text.replace('host = "localhost"', 'host = "127.0.0.1"').replace(
            "port = 587", f"port = {port}").replace('user = ""', 'user = "policies@example.org"')
        config.write_text(text, encoding="utf-8")
    return Instance.at(data)


def send_all(inst: Instance) -> None:
    evaluate(inst, NOW)
    sent = deliver(inst, NOW).sent
    assert len(sent) == STAFF, len(sent)
    forget(inst, "reminder")


def main(tmp: Path) -> None:
    authority = Authority(tmp)
    password = secrets.token_urlsafe(16)      # made for this run, known to the sink alone
    os.environ.update(REQUESTS_CA_BUNDLE=str(authority.bundle), SSL_CERT_FILE=str(authority.bundle),
                      POLICY_LIFECYCLE_MICROSOFT_SECRET=SECRET,
                      POLICY_LIFECYCLE_SMTP_PASSWORD=password)
    leaf = tmp / "server.pem"
    authority.ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(leaf))
    entra = TokenService(authority).start()
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(REPO / "bench" / "oauth_sink.py"), str(port),
                             str(leaf), SIGNING_KEY, password], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        by_token = configure(instance(tmp / "token", staff=STAFF), port, "microsoft", entra.url)
        by_password = configure(instance(tmp / "password", staff=STAFF), port, "password", "")
        result = paired(lambda: send_all(by_token), lambda: send_all(by_password), ROUNDS)
        tokens = entra.tokens_issued()
    finally:
        sink.terminate()
        sink.wait()
        entra.stop()
    ratio = 1 / result.ratio            # messages per second: the inverse of seconds
    print(f"## Delivery signed in with a token (XOAUTH2) against a password ({machine()})\n")
    print(f"| medians of {ROUNDS} paired rounds, {STAFF:,} reminders over STARTTLS | "
          "messages/s |\n|---|---|")
    print(f"| password (AUTH PLAIN) | {STAFF / result.reference:,.0f} |")
    print(f"| token (AUTH XOAUTH2, msal) | {STAFF / result.ours:,.0f} |")
    verdict = "met" if ratio >= 0.9 else "MISSED"
    print(f"\nratio {ratio:.2f} (median of the rounds' ratios; target ≥ 0.9): {verdict}; "
          f"tokens fetched: {tokens} for {ROUNDS + 1} runs; load average after: "
          f"{result.load:.2f}\n")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp_name:
        main(Path(tmp_name))
