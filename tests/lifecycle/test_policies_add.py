"""`policies add` and `review record --file` with Word documents: the office's own files in,
one transaction, one line for every mistake."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import docx
import pytest
from conftest import Run

NOW = "2026-11-24T09:00"


def word_policy(path: Path) -> Path:
    document = docx.Document()
    document.add_paragraph("Mobile Phones Policy", style="Title")
    document.add_heading("Purpose", level=1)
    document.add_paragraph("Staff keep their phones away during lessons.")
    document.add_paragraph("Phones may be used:", style="Normal")
    document.add_paragraph("in the staff room", style="List Bullet")
    document.add_paragraph("in an emergency", style="List Bullet")
    document.save(str(path))
    return path


def versions(data: Path, policy_id: str) -> int:
    db = sqlite3.connect(data / "register.db")
    try:
        return int(db.execute("SELECT count(*) FROM versions WHERE policy_id = ?",
                              (policy_id,)).fetchone()[0])
    finally:
        db.close()


def add(run: Run, path: Path, *extra: str, policy_id: str = "mobile-phones") -> object:
    return run("policies", "add", str(path), "--id", policy_id, "--title",
               "Mobile Phones Policy", "--adopted", "2026-09-01", "--review-due", "2027-09",
               "--now", NOW, *extra)


def test_a_word_document_becomes_a_policy(run: Run, initialised: Path, tmp_path: Path) -> None:
    result = add(run, word_policy(tmp_path / "Mobile phones.docx"), "--interval", "1 year",
                 "--audiences", "staff,volunteer")
    assert result.exit_code == 0, result.output
    assert "read from Word: 0 tracked insertion(s) and 0 deletion(s) accepted" in result.output
    assert "Added mobile-phones: version 1, adopted 2026-09-01, review due 2027-09-30" \
        in result.output
    source = (initialised / "policies" / "mobile-phones.md").read_text(encoding="utf-8")
    assert source.startswith("---\nid: mobile-phones\ntitle: Mobile Phones Policy\n")
    assert "audiences:\n- staff\n- volunteer\n" in source
    assert "# Mobile Phones Policy\n\n## Purpose\n" in source
    assert "- in the staff room\n- in an emergency\n" in source
    assert versions(initialised, "mobile-phones") == 1
    status = run("status", "--now", NOW)
    assert "mobile-phones" in status.output


def test_a_markdown_file_becomes_a_policy_too(run: Run, initialised: Path,
                                              tmp_path: Path) -> None:
    text = tmp_path / "phones.md"
    text.write_text("# Mobile Phones Policy\n\nKeep phones away.\n", encoding="utf-8")
    assert add(run, text).exit_code == 0
    assert versions(initialised, "mobile-phones") == 1


MISTAKES = {
    "an id in use": (["--id", "social-networking"],
                     "--id: 'social-networking' is already in the register"),
    "a date that is no date": (["--adopted", "2026-02-30"], "--adopted:"),
    "a review before adoption": (["--review-due", "2025-01"],
                                 "--review-due: 2025-01-31 is not after adopted 2026-09-01"),
    "an unknown role": (["--audiences", "staff,pupils"], "--audiences: unknown role 'pupils'"),
    "an unknown body": (["--approver", "Board of Trustees"],
                        "--approver: 'Board of Trustees' is not an approving body in config.toml "
                        "[approvers] (known: Governing Body)"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_mistakes_are_one_line_and_write_nothing(run: Run, initialised: Path, tmp_path: Path,
                                                 mistake: str) -> None:
    options, message = MISTAKES[mistake]
    args = ["policies", "add", str(word_policy(tmp_path / "p.docx")), "--id", "mobile-phones",
            "--title", "Mobile Phones Policy", "--adopted", "2026-09-01", "--review-due",
            "2027-09", "--now", NOW]
    for option, value in zip(options[::2], options[1::2], strict=True):
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    result = run(*args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.output.count("Error:") == 1
    assert not (initialised / "policies" / "mobile-phones.md").exists()
    assert versions(initialised, "mobile-phones") == 0


def test_an_old_word_file_is_refused_in_one_line(run: Run, initialised: Path,
                                                 tmp_path: Path) -> None:
    old = tmp_path / "Policy.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    result = add(run, old)
    assert result.exit_code == 1
    assert "Policy.doc: is an old binary Word document (.doc): open it in Word, remove any " \
           "password and save it as .docx" in result.output
    assert not (initialised / "policies" / "mobile-phones.md").exists()


def test_a_review_takes_back_our_word_document_marked_up(run: Run, initialised: Path,
                                                         tmp_path: Path) -> None:
    """The governors' copy comes back with a tracked insertion and a comment: the insertion
    is adopted, the comment left out, and the comparison shows that one change (the title,
    shown in title case in Word, keeps the source's capitals)."""
    from docx.oxml import parse_xml

    run("render", "social-networking", "--format", "docx", "--out", str(tmp_path))
    document = docx.Document(str(tmp_path / "social-networking-v1.docx"))
    [paragraph] = [p for p in document.paragraphs if "must not be placed online" in p.text]
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    paragraph._p.append(parse_xml(
        f'<w:ins {w} w:id="91" w:author="Clerk" w:date="2026-11-20T10:00:00Z"><w:r>'
        '<w:t xml:space="preserve"> Ask the head if unsure.</w:t></w:r></w:ins>'))
    document.add_comment(paragraph.runs, text="Agreed at the meeting", author="Chair")
    marked = tmp_path / "marked up.docx"
    document.save(str(marked))
    result = run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
                 str(marked), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "1 tracked insertion(s) and 0 deletion(s) accepted; 1 comment(s) left out" \
        in result.output
    assert "adopted version 2" in result.output
    source = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
    assert "appropriate permissions. Ask the head if unsure." in source
    assert source.startswith("---\nid: social-networking\n")
    changes = run("diff", "social-networking").output
    assert "1 passage changed: 0 words deleted, 5 inserted" in changes, changes
    assert "{+Ask the head if unsure.+}" in changes
