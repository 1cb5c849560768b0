"""A school's year at size: 30 policies (the seed, and generated ones claiming catalogue
entries, some due by half term) and 300 people. Each member of staff gets one annual reminder
listing their policies; chasers list only what is unconfirmed; a year later everyone is asked
again for the yearly policies; the forecast equals the daily evaluations. Real files, a real
register; time is passed in."""

from __future__ import annotations

import email
import json
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from email import policy as email_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Run
from test_catalogue import TERMS

from jobs.tasks import evaluate, tick
from lifecycle.actions.confirmations import Ack, confirm
from lifecycle.actions.snapshot import rules_for
from lifecycle.register.instance import Instance
from lifecycle.rules.due import forecast
from lifecycle.values.catalogue import load_catalogue

LONDON = ZoneInfo("Europe/London")
STAFF = 280


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON)


@pytest.fixture
def school(run: Run, data_dir: Path) -> Instance:
    config = data_dir / "config.toml"
    config.write_text(config.read_text() + TERMS)
    entries = load_catalogue()
    for n, entry in enumerate(entries):
        due = "summer-2 2027" if n % 3 == 0 else f"2027-{n % 12 + 1:02d}-15"
        audience = "[staff]" if entry.staff or n % 4 == 0 else "[]"
        (data_dir / "policies" / f"{entry.id}.md").write_text(
            f"---\nid: {entry.id}\ntitle: {entry.title}\nschool: St Ann's School\n"
            f"approver: Governing Body\nadopted: 2025-07-01\nreview_due: {due}\n"
            f"reminder_audience: {audience}\nstatutory: {entry.id}\n"
            f"summary: What the school does about {entry.title.lower()}.\n---\n\n"
            f"# {entry.title}\n\nThe school keeps this policy.\n")
    for n in range(30 - 1 - len(entries)):               # and the school's own policies
        (data_dir / "policies" / f"local-{n}.md").write_text(
            f"---\nid: local-{n}\ntitle: Local Policy {n}\nschool: St Ann's School\n"
            f"approver: Governing Body\nadopted: 2024-03-01\nreview_due: autumn-2 2026\n"
            f"---\n\nWe do things our own way, number {n}.\n")
    rows = ["name,email,roles,start_date,end_date"]
    rows += [f"Teacher {n},t{n}@example.org,staff,2020-09-01," for n in range(STAFF)]
    rows += [f"Governor {n},g{n}@example.org,governor,2020-09-01," for n in range(16)]
    rows += ["Clerk,clerk@example.org,clerk,2016-01-04,", "Office,office@example.org,office,,",
             "Head,head@example.org,head;staff,,",
             "Starter,starter@example.org,staff,2026-10-05,"]
    (data_dir / "people.csv").write_text("\n".join(rows) + "\n")
    assert run("init", "--now", "2026-08-20T09:00").exit_code == 0
    assert run("people", "import", str(data_dir / "people.csv")).exit_code == 0
    return Instance.at(data_dir)


def staff_titles(inst: Instance) -> list[str]:
    with inst.register() as register:
        return sorted(p.title for p in register.policies.all() if "staff" in p.reminder_audience)


def mails(inst: Instance, kind: str, day: date) -> dict[str, email.message.EmailMessage]:
    found = {}
    for path in (inst.root / "mail" / day.isoformat()).glob(f"{kind}-*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        found[str(message["To"]).split("<")[-1].rstrip(">")] = message
    return found  # type: ignore[return-value]


def listed(message: email.message.EmailMessage) -> list[str]:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return sorted(re.findall(r"^(?:\d+\.|-) (.+?) \(version \d+", text, re.M))


@pytest.mark.slow
def test_one_reminder_each_chasers_for_the_rest_and_again_next_year(school: Instance) -> None:
    inst = school
    titles = staff_titles(inst)
    assert len(titles) >= 15
    tick(inst, at(date(2026, 9, 1)))
    reminders = mails(inst, "reminder", date(2026, 9, 1))
    assert len(reminders) == STAFF + 1                         # each member of staff, once
    assert all(listed(m) == titles for m in reminders.values())
    assert all(str(m["Subject"]) == f"Annual reminder 2026/27: {len(titles)} policies to read "
               "and confirm" for m in reminders.values())

    # half the staff confirm everything, a quarter all but one policy, the rest nothing
    with inst.register() as register:
        policies = [p for p in register.policies.all() if "staff" in p.reminder_audience]
        for n in range(STAFF // 2 + STAFF // 4):
            person = f"t{n}@example.org"
            for policy in policies[: len(policies) - (n >= STAFF // 2)]:
                confirm(register, policy, Ack(person, policy.id, policy.version, "2026-27"),
                        "127.0.0.1", at(date(2026, 9, 8)), inst.config.cycle_start)
    tick(inst, at(date(2026, 9, 15)))
    chasers = mails(inst, "chase", date(2026, 9, 15))
    assert set(chasers) == ({f"t{n}@example.org" for n in range(STAFF // 2, STAFF)}
                            | {"head@example.org"})
    assert listed(chasers["t200@example.org"]) == [policies[-1].title]   # only the unconfirmed
    assert listed(chasers["t279@example.org"]) == titles
    assert "starter@example.org" not in chasers

    # the new starter gets the same bundle on her first day (5 October, a Monday)
    tick(inst, at(date(2026, 10, 5)))
    assert listed(mails(inst, "reminder", date(2026, 10, 5))["starter@example.org"]) == titles

    # a year on (after the summer holiday, which ends on 1 September 2027), everyone is asked
    # again, and last year's confirmations do not count
    for day in (date(2027, 9, 2), date(2027, 9, 16)):
        tick(inst, at(day))
    assert len(mails(inst, "reminder", date(2027, 9, 2))) == STAFF + 2
    again = mails(inst, "chase", date(2027, 9, 16))
    assert "t0@example.org" in again and listed(again["t0@example.org"]) == titles
    with inst.register() as register:
        sent = Counter((m.kind, m.period) for m in register.outbox.messages()
                       if m.kind in ("reminder", "chase") and m.status == "sent")
        years = {c.school_year for e in register.confirmations.evidence() for c in [e.confirmation]}
    assert sent[("reminder", "2026-27")] == STAFF + 2 and sent[("reminder", "2027-28")] == STAFF + 2
    assert years == {"2026-27"}                                # earlier evidence is kept


@pytest.mark.slow
def test_the_forecast_equals_the_daily_evaluations_over_the_year(school: Instance) -> None:
    inst = school
    start = date(2026, 9, 1)
    with inst.register() as register:
        rules, _ = rules_for(register, inst)
        planned = forecast(rules, register.outbox.record(), at(start, 7), 400)
    planned_keys = sorted(d.key for _, b in planned for d in b.decisions())
    ticked = []
    for offset in range(400):
        ticked += [d.key for d in evaluate(inst, at(start + timedelta(days=offset)))]
    assert planned_keys == sorted(ticked)
    reminders = Counter(key.split("/")[2] for key in ticked if key.startswith("reminder/"))
    assert reminders == {"2026-27": STAFF + 2, "2027-28": STAFF + 2}   # one each, each year
    kinds = Counter(key.split("/")[0] for key in ticked)
    assert kinds["chase"] > 0 and kinds["review"] > 0


def test_catalogue_state_of_the_generated_school(run: Run, school: Instance) -> None:
    found = {e["id"]: e for e in json.loads(run("catalogue", "--json", "--now",
                                                "2026-11-25T09:00").output)}
    present = {e for e, v in found.items() if v["state"] == "present"}
    assert set(found) == present       # every entry generated; the seed claims none
    assert len(json.loads(run("status", "--json").output)) == 30


@pytest.mark.slow
def test_the_confirm_page_with_every_policy_passes_axe(school: Instance, tmp_path: Path) -> None:
    from starlette.testclient import TestClient
    from tools import axe_violations, browser

    from lifecycle.actions.confirmations import annual_token
    from web.app import create_app

    secret = (inst_root := school.root).joinpath("secret.key").read_text().strip().encode()
    with school.register() as register:
        token = annual_token(secret, register.people.refs()["t1@example.org"], "2026-27")
    clock = {"now": at(date(2026, 9, 2))}
    with TestClient(create_app(school, clock=lambda: clock["now"]),
                    base_url="http://127.0.0.1:8080") as client:
        client.get(f"/confirm/{token}/safeguarding")
        with school.register() as register:
            policy = register.policies.get("behaviour")
            assert policy is not None
            confirm(register, policy, Ack("t1@example.org", "behaviour", 1, "2026-27"),
                    "127.0.0.1", at(date(2026, 9, 2)), school.config.cycle_start)
        page = client.get(f"/confirm/{token}")
    assert page.status_code == 200
    assert page.text.count('<h2><a href="/confirm/') == len(staff_titles(school))
    saved = inst_root / "annual.html"
    saved.write_text(page.text)
    with browser() as b:
        tab = b.new_page()
        tab.goto(saved.as_uri())
        assert axe_violations(tab) == []
