"""The Word document a UK office prints: A4 with UK margins, honest properties, a notice
that looks like one, a list kept with its introduction, a superseded version marked on every
page."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import docx
from docx.oxml.ns import qn

from documents.parse import parse
from documents.word import render_docx, title_text
from lifecycle.values.model import VersionFacts

TEXT = """# POLICY FOR TESTING

## Rules

Staff must:

- read this policy
- follow it
"""

FACTS = VersionFacts(policy_id="testing", title="Policy for Testing", school="St Ann's School",
                     approver="Governing Body", version=1, adopted=date(2024, 1, 1),
                     review_due=date(2025, 1, 31), overdue=True, sha256="0" * 64, body=TEXT)


def _open(tmp_path: Path, facts: VersionFacts = FACTS) -> tuple[Path, object]:
    path = tmp_path / "policy.docx"
    path.write_bytes(render_docx(parse(facts.body), facts))
    return path, docx.Document(str(path))


def test_a4_with_uk_margins(tmp_path: Path) -> None:
    _, document = _open(tmp_path)
    section = document.sections[0]  # type: ignore[attr-defined]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert {round(m.cm, 2) for m in (section.left_margin, section.right_margin,
                                     section.top_margin, section.bottom_margin)} == {2.54}


def test_properties_name_this_program_and_the_school(tmp_path: Path) -> None:
    path, _ = _open(tmp_path)
    app = zipfile.ZipFile(path).read("docProps/app.xml").decode()
    assert "Macintosh" not in app and "<Application>Policy Lifecycle</Application>" in app
    assert "<Company>St Ann&#x27;s School</Company>" in app


def test_the_notice_is_a_box_not_a_pull_quote(tmp_path: Path) -> None:
    _, document = _open(tmp_path)
    style = document.styles["Policy Notice"]  # type: ignore[attr-defined]
    assert style.base_style.name == "Normal"
    assert style.element.pPr.find(qn("w:pBdr")) is not None
    notices = [p for p in document.paragraphs  # type: ignore[attr-defined]
               if p.style.name == "Policy Notice"]
    assert [p.text.split(".")[0] for p in notices] == ["Review overdue"]


def test_the_paragraph_introducing_a_list_keeps_with_it(tmp_path: Path) -> None:
    _, document = _open(tmp_path)
    [intro] = [p for p in document.paragraphs if p.text == "Staff must:"]  # type: ignore[attr-defined]
    assert intro.paragraph_format.keep_with_next is True


def test_a_superseded_version_says_so_on_every_page(tmp_path: Path) -> None:
    _, document = _open(tmp_path, replace(FACTS, superseded_by=2, overdue=False))
    section = document.sections[0]  # type: ignore[attr-defined]
    assert not section.different_first_page_header_footer
    assert section.header.paragraphs[0].text.startswith("SUPERSEDED by version 2")


def test_title_case_changes_only_capitals() -> None:
    assert title_text("POLICY FOR SOCIAL NETWORKING") == "Policy for Social Networking"
    assert title_text("A POLICY ON THE USE OF E-MAIL") == "A Policy on the Use of E-mail"
    assert title_text("Policy for iPads") == "Policy for iPads"
