"""The word-level comparison: known edits, seen in the HTML, the tracked-changes DOCX (Accept
all gives the newer text, Reject all the older) and the text form."""

from __future__ import annotations

import re
import zipfile
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from lxml import etree

from documents.compare import bracketed, compare, excerpt
from documents.html import render_changes_html, serialise
from documents.word import render_changes_docx
from lifecycle.values.model import VersionFacts
from tests.tools import (
    WORD,
    axe_violations,
    browser,
    docx_to_pdf,
    pdf_pages,
    pdf_text,
    source_words,
    vnu_errors,
)

BASE = """# Policy for Testing

## Purpose

This policy sets out how staff use social media. It applies to all staff.

Staff must:

- keep passwords private
- report concerns to the head
    - in person
    - or by email
- never post pupils' photographs

## Roles

1. The head leads.
2. Governors monitor.

| Role | Duty |
| --- | --- |
| Head | Leads the policy |
| Clerk | Keeps the records |

## Review

The policy is reviewed every three years.
"""

EDITS = {
    "a word": ("never post pupils' photographs", "never publish pupils' photographs"),
    "a sentence": ("It applies to all staff.",
                   "It applies to all staff. Volunteers follow it too."),
    "a list item": ("    - or by email\n", "    - or by email\n- lock screens when away\n"),
    "a list item removed": ("- keep passwords private\n", ""),
    "a nested item": ("    - in person\n", "    - in person\n    - or by telephone\n"),
    "a paragraph moved": ("\n## Review\n\nThe policy is reviewed every three years.\n", ""),
    "a table cell": ("| Keeps the records |", "| Keeps and files the records |"),
    "a table row": ("| Clerk | Keeps the records |\n",
                    "| Clerk | Keeps the records |\n| Staff | Follow it |\n"),
    "a section removed": ("## Roles\n\n1. The head leads.\n2. Governors monitor.\n\n", ""),
}


def edited(name: str) -> str:
    old, new = EDITS[name]
    text = BASE.replace(old, new)
    if name == "a paragraph moved":
        text = text.replace("## Purpose\n", "## Purpose\n\nThe policy is reviewed every three "
                                            "years.\n")
    assert text != BASE
    return text


def facts(version: int, body: str) -> VersionFacts:
    return VersionFacts(policy_id="testing", title="Policy for Testing", school="St Ann's School",
                        approver="Governing Body", version=version,
                        adopted=date(2020 + version, 1, 1), review_due=date(2030, 1, 31),
                        overdue=False, sha256=str(version) * 64, body=body)


def marked(old: str, new: str) -> str:
    return "".join(serialise(c) for c in compare(old, new).document.body.children)


def html_words(html: str, keep: str) -> list[str]:
    """The words of a marked body with one kind of mark (and the hidden labels) dropped."""
    drop = "ins" if keep == "del" else "del"
    html = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", html)
    html = re.sub(rf"<{drop}>.*?</{drop}>", " ", html, flags=re.S)
    return WORD.findall(re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'"))


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def tracked_words(docx_bytes: bytes, accept: bool) -> list[str]:
    """The words of a tracked-changes document as Word shows it after Accept all (or
    Reject all): deletions (insertions) dropped, our facts and notices left out."""
    root = etree.fromstring(zipfile.ZipFile(BytesIO(docx_bytes))
                            .read("word/document.xml"))
    for element in list(root.iter(W + ("del" if accept else "ins"))):
        if element.getparent().tag != W + "rPr" and element.getparent().tag != W + "trPr":
            element.getparent().remove(element)
    texts = []
    for paragraph in root.iter(W + "p"):
        style = paragraph.find(f"{W}pPr/{W}pStyle")
        if style is not None and style.get(W + "val") in ("PolicyFacts", "PolicyNotice"):
            continue
        texts.append(" ".join(t.text or "" for t in paragraph.iter(W + "t", W + "delText")))
    return WORD.findall(" ".join(texts))


@pytest.mark.parametrize("name", EDITS)
def test_html_marks_show_both_texts(name: str) -> None:
    new = edited(name)
    body = marked(BASE, new)
    assert html_words(body, keep="ins") == source_words(new)
    assert html_words(body, keep="del") == source_words(BASE)


@pytest.mark.parametrize("name", EDITS)
def test_docx_accept_all_gives_the_newer_and_reject_all_the_older(name: str) -> None:
    new = edited(name)
    data = render_changes_docx(compare(BASE, new).document.body, facts(1, BASE), facts(2, new))
    assert tracked_words(data, accept=True) == source_words(new)
    assert tracked_words(data, accept=False) == source_words(BASE)
    xml = zipfile.ZipFile(BytesIO(data)).read("word/document.xml").decode()
    assert 'w:author="Governing Body"' in xml and 'w:date="2022-01-01T00:00:00Z"' in xml


def test_a_changed_word_stays_inside_its_list_item() -> None:
    body = marked(BASE, edited("a word"))
    assert ("<li>never <del><span class=\"visually-hidden\">deleted text: </span>post</del>"
            "<ins><span class=\"visually-hidden\">inserted text: </span>publish</ins> pupils'"
            " photographs</li>") in body.replace("&#x27;", "'")
    assert body.count("<li") == BASE.count("\n- ") + BASE.count("\n    - ") + 2


def test_an_added_item_is_an_item_of_the_same_list() -> None:
    body = marked(BASE, edited("a list item"))
    body = body.replace("\n", "")
    assert body.count("<ul>") == 2
    assert ('<li>report concerns to the head<ul><li>in person</li><li>or by email</li></ul></li>'
            '<li data-change="inserted"><ins>') in body


def test_a_removed_item_is_put_back_in_its_list() -> None:
    body = marked(BASE, edited("a list item removed"))
    assert body.count("<ul>") == 2
    assert '<p>Staff must:</p><ul><li data-change="deleted"><del>' in body


def test_a_table_cell_change_is_inside_the_cell() -> None:
    body = marked(BASE, edited("a table cell"))
    assert body.count("<table>") == 1
    assert re.search(r"<td>Keeps <ins>.*?and files\s*</ins>the records</td>", body)


def test_summary_counts_passages_and_words() -> None:
    assert compare(BASE, BASE).summary() == "No words changed."
    assert compare(BASE, edited("a word")).summary() == \
        "1 passage changed: 1 word deleted, 1 inserted"
    moved = compare(BASE, edited("a paragraph moved"))
    assert moved.summary() == "2 passages changed: 8 words deleted, 7 inserted"
    both = compare(BASE, edited("a word").replace("all staff", "every member of staff"))
    assert (both.passages, both.deleted_words, both.inserted_words) == (2, 2, 4)


def test_a_quote_is_the_sentence_not_the_paragraph() -> None:
    new = BASE.replace("how staff use", "how all staff use")
    [(section, pieces)] = compare(BASE, new).quoted()
    assert section == "Purpose"
    assert bracketed(pieces) == "This policy sets out how {+all+} staff use social media. …"
    assert bracketed(excerpt(pieces)) == bracketed(pieces)


def test_text_form() -> None:
    text = compare(BASE, edited("a list item")).as_text()
    assert text == ("1 passage changed: 0 words deleted, 4 inserted\n\nPurpose\n"
                    "  {+lock screens when away+}\n")


@pytest.mark.slow
def test_changes_page_is_valid_and_accessible(tmp_path: Path) -> None:
    new = edited("a word").replace("It applies", "This applies").replace(
        "| Clerk | Keeps the records |\n", "")
    page = tmp_path / "changes.html"
    page.write_text(render_changes_html(compare(BASE, new), facts(1, BASE), facts(2, new)),
                    encoding="utf-8")
    assert vnu_errors(page) == []
    with browser() as b:
        tab = b.new_page()
        tab.goto(page.as_uri())
        assert [(v["id"], v["help"]) for v in axe_violations(tab)] == []
        assert tab.locator("del").first.inner_text().startswith("deleted text")


@pytest.mark.slow
def test_libreoffice_opens_the_tracked_document(tmp_path: Path) -> None:
    new = BASE
    for name in ("a word", "a list item", "a table row", "a section removed"):
        new = new.replace(*EDITS[name])
    path = tmp_path / "changes.docx"
    path.write_bytes(render_changes_docx(compare(BASE, new).document.body, facts(1, BASE),
                                         facts(2, new)))
    pdf = docx_to_pdf(path, tmp_path)
    assert pdf_pages(pdf) >= 1 and "lock screens when away" in pdf_text(pdf)


def test_the_diff_command(run, initialised: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    refused = run("diff", "social-networking")
    assert refused.exit_code == 1 and "has only version 1: there is nothing to compare" in \
        refused.output
    source = (initialised / "policies" / "social-networking.md").read_text(encoding="utf-8")
    new = tmp_path / "new.md"
    new.write_text(source.split("---\n", 2)[2].replace("Bebo", "Instagram"), encoding="utf-8")
    assert run("review", "record", "social-networking", "--date", "2026-11-20", "--file",
               str(new), "--now", "2026-11-20T10:00").exit_code == 0
    text = run("diff", "social-networking")
    assert text.exit_code == 0 and text.output.startswith(
        "social-networking: version 1 to version 2\n"
        "1 passage changed: 1 word deleted, 1 inserted\n")
    assert "such as Facebook or [-Bebo-]{+Instagram+}" in text.output
    as_json = json.loads(run("diff", "social-networking", "--json").output)
    assert (as_json["from"], as_json["to"], as_json["passages"]) == (1, 2, 1)
    files = run("diff", "social-networking", "--from", "1", "--to", "2", "--format",
                "html,docx", "--out", str(tmp_path / "out"))
    assert files.output.splitlines() == [
        f"wrote  {tmp_path / 'out' / 'social-networking-v1-v2-changes.html'}",
        f"wrote  {tmp_path / 'out' / 'social-networking-v1-v2-changes.docx'}"]
    again = run("diff", "social-networking", "--format", "html", "--out", str(tmp_path / "out"))
    assert again.output.startswith("unchanged")
    bad = run("diff", "social-networking", "--format", "pdf")
    assert bad.exit_code == 1 and "unknown format 'pdf' (formats: text, html, docx)" in bad.output
    missing = run("diff", "social-networking", "--to", "7")
    assert missing.exit_code == 1 and "--to: social-networking has no version 7" in missing.output
    backwards = run("diff", "social-networking", "--from", "2", "--to", "1")
    assert "--from: must be an earlier version than 1" in backwards.output
