"""The staff list as school information systems export it, and the preview before import."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from conftest import Run, snapshot
from test_mail import delivered, text_of

from lifecycle.register.instance import Instance
from lifecycle.values.model import email_key

SIS = ("\ufeffEmail Address;Surname;Forename;Role;Start Date;End Date;Staff code\n"
       "adaeze.okafor@example.org;Okafor;Adaeze;staff;01/09/2024;;AO1\n"
       "b.smith@example.org;Smith;Bob;staff;13/01/2020;31/08/2026;BS\n")


def _write(data: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = data / name
    path.write_bytes(text.encode(encoding))
    return path


def _person(data: Path, email: str):  # type: ignore[no-untyped-def]
    with Instance.at(data).register() as register:
        return register.people.get(email_key(email))


def test_an_information_system_export_imports(run: Run, people: Path) -> None:
    result = run("people", "import", str(_write(people, "sis.csv", SIS)))
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    adaeze = _person(people, "adaeze.okafor@example.org")
    assert adaeze.name == "Adaeze Okafor" and adaeze.roles == ("staff",)
    assert adaeze.start_date == date(2024, 9, 1)            # 01/09 is the first of September
    bob = _person(people, "b.smith@example.org")
    assert (bob.start_date, bob.end_date) == (date(2020, 1, 13), date(2026, 8, 31))


def test_surname_first_names_are_turned_round_and_greeted_as_used(run: Run, people: Path) -> None:
    csv = 'email,roles,name,start_date,end_date\nadaeze@example.org,staff,"Okafor, Adaeze",,\n'
    assert run("people", "import", str(_write(people, "p.csv", csv))).exit_code == 0
    mail = delivered(Instance.at(people))["adaeze@example.org/reminder"]
    assert "Dear Adaeze Okafor" in text_of(mail) and "Okafor, Adaeze" not in text_of(mail)
    assert str(mail["To"]).startswith("Adaeze Okafor")


def test_excel_unicode_text_imports_and_utf16_without_its_mark_is_one_line(
        run: Run, people: Path) -> None:
    text = "Name\tEmail\tRoles\tStart date\tEnd date\r\nZoë Brown\tzoe@example.org\tstaff\t" \
           "02/09/2024\t\r\n"
    assert run("people", "import", str(_write(people, "u.txt", text, "utf-16"))).exit_code == 0
    assert _person(people, "zoe@example.org").name == "Zoë Brown"
    before = snapshot(people)
    result = run("people", "import", str(_write(people, "le.csv", text, "utf-16-le")))
    assert result.exit_code == 1
    assert "le.csv:1: encoding: UTF-16 text without its byte-order mark" in result.output
    assert "Traceback" not in result.output
    before[str(people / "le.csv")] = (people / "le.csv").read_bytes()
    assert snapshot(people) == before


def test_the_preview_shows_each_row_and_changes_nothing(run: Run, people: Path) -> None:
    csv = ("name,email,roles,start_date,end_date\n"
           "Margaret Oduya,chair.governor@example.org,governor;staff,2019-09-01,\n"
           "Tom Ashworth,t.ashworth@example.org,governor,2021-03-15,\n"
           "New Person,new@example.org,staff,,\n"
           "Broken,broken@,staff,,\n")
    path = _write(people, "p.csv", csv)
    before = snapshot(people)
    result = run("people", "import", str(path), "--preview")
    assert result.exit_code == 0, result.output
    assert "line 2: changed Margaret Oduya" in result.output
    assert "roles: governor -> governor;staff" in result.output
    assert "line 4: added New Person <new@example.org>" in result.output
    assert "rejected " in result.output and "p.csv:5: email" in result.output
    assert "would add 1, change 1, leave 1 unchanged, reject 1. Nothing was changed." \
        in result.output
    assert snapshot(people) == before
    as_json = json.loads(run("people", "import", str(path), "--preview", "--json").output)
    assert as_json["rows"][0]["changes"] == {"roles": [["governor"], ["governor", "staff"]]}
    assert [r["line"] for r in as_json["rejected"]] == [5]


def test_a_file_without_date_columns_keeps_the_dates(run: Run, people: Path) -> None:
    csv = "Forename,Surname,Email,Roles\nTom,Ashworth,t.ashworth@example.org,governor\n"
    assert run("people", "import", str(_write(people, "p.csv", csv))).exit_code == 0
    assert _person(people, "t.ashworth@example.org").start_date == date(2021, 3, 15)


def test_every_change_records_who_made_it(run: Run, people: Path) -> None:
    run("people", "import", str(_write(people, "sis.csv", SIS)))
    with Instance.at(people).register() as register:
        [entry] = register.audit.log("adaeze.okafor@example.org")
    assert entry.action == "person.added" and "(command line)" in entry.detail
