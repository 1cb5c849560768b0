"""Renders: every word kept, real structure, and the real validators on the result."""

from __future__ import annotations

import re
import zipfile
from datetime import date
from html import unescape
from pathlib import Path

import docx
import pytest
from conftest import REPO, Run
from docx.oxml.ns import qn
from tools import (
    axe_violations,
    browser,
    docx_to_pdf,
    is_subsequence,
    pdf_page_size,
    pdf_pages,
    pdf_text,
    source_words,
    vnu_errors,
    words,
)

from documents.parse import parse
from documents.publish import render_version
from lifecycle.values.model import VersionFacts
from lifecycle.values.sources import parse_source

FIXTURES = REPO / "tests" / "fixtures"
SEED = parse_source(REPO / "data" / "policies" / "social-networking.md").body
EVERY = (FIXTURES / "every-construct.md").read_text(encoding="utf-8")
COVENANT = (FIXTURES / "corpus" / "contributor-covenant-2.1.md").read_text(encoding="utf-8")
DOCUMENTS = {"seed": SEED, "every-construct": EVERY, "covenant": COVENANT}


def facts(policy_id: str, body: str, overdue: bool = True) -> VersionFacts:
    return VersionFacts(
        policy_id=policy_id, title=f"The {policy_id} policy", school="St Ann's School",
        approver="Governing Body", version=1, adopted=date(2012, 1, 1),
        review_due=date(2018, 1, 31), overdue=overdue, sha256="0" * 64, body=body,
        audiences=("staff", "governor"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    out = tmp_path_factory.mktemp("renders")
    files: dict[str, dict[str, Path]] = {}
    for name, body in DOCUMENTS.items():
        results = render_version(facts(name, body), ("html", "docx"), out / name)
        files[name] = {r.path.suffix[1:]: r.path for r in results}
    return files


def html_main_text(html: str) -> str:
    """The h1 and the article: the policy's own words on the page, tags stripped."""
    h1 = re.search(r"<h1>(.*?)</h1>", html, re.S)[1]  # type: ignore[index]
    article = re.search(r'<article class="policy">(.*)</article>', html, re.S)[1]  # type: ignore[index]
    return unescape(re.sub(r"<[^>]+>", " ", h1 + " " + article))


def docx_body_text(path: Path) -> str:
    """Paragraph and table text in document order, leaving out the facts and notices we add."""
    document = docx.Document(str(path))
    parts = []
    for block in document.element.body.iterchildren():
        style = block.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
        if style is not None and style.get(qn("w:val")) in ("PolicyFacts", "PolicyNotice"):
            continue
        parts.append(" ".join(t.text or "" for t in block.iter(qn("w:t"))))
    return "\n".join(parts)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_word_in_order_in_the_html(rendered: dict[str, dict[str, Path]], name: str) -> None:
    html = rendered[name]["html"].read_text(encoding="utf-8")
    assert words(html_main_text(html)) == source_words(DOCUMENTS[name])


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_word_in_order_in_the_docx(rendered: dict[str, dict[str, Path]], name: str) -> None:
    """Every word, in order; the title's may be in title case instead of capitals."""
    text = docx_body_text(rendered[name]["docx"])
    title, body = text.split("\n", 1)
    expected = source_words(DOCUMENTS[name])
    assert [w.casefold() for w in words(title)] == [w.casefold()
                                                    for w in expected[:len(words(title))]]
    assert words(body) == expected[len(words(title)):]


def test_an_all_capitals_title_is_shown_in_title_case(
        rendered: dict[str, dict[str, Path]]) -> None:
    assert docx_body_text(rendered["seed"]["docx"]).split("\n")[0] == \
        "Policy for Social Networking"


def test_html_page_structure(rendered: dict[str, dict[str, Path]]) -> None:
    html = rendered["seed"]["html"].read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>\n<html lang=\"en-GB\">")
    assert "<title>The seed policy – St Ann&#39;s School</title>" in html
    assert html.count("<h1") == 1 and "<h1>POLICY FOR SOCIAL NETWORKING</h1>" in html
    assert '<nav class="toc" aria-labelledby="pl-contents">' in html
    for target in re.findall(r'<a href="#([^"]+)"', html):
        assert f'id="{target}"' in html, target
    assert "Review overdue." in html and "31 January 2018" in html
    assert '<time datetime="2012-01-01">1 January 2012</time>' in html
    assert "@media print" in html and 'name="viewport"' in html


@pytest.mark.parametrize("name", DOCUMENTS)
def test_html_is_self_contained(rendered: dict[str, dict[str, Path]], name: str) -> None:
    html = rendered[name]["html"].read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html)
    assert " src=" not in html and "url(" not in html and "@import" not in html


def test_raw_html_and_javascript_links_are_neutralised(
        rendered: dict[str, dict[str, Path]]) -> None:
    html = rendered["every-construct"]["html"].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;stolen cookies&quot;)&lt;/script&gt;" in html or \
        '&lt;script&gt;alert("stolen cookies")&lt;/script&gt;' in html
    assert "javascript:" not in html and not re.search(r"<[^>]*\sonclick=", html)
    assert '<a href="https://www.gov.uk/government/organisations/department-for-education">' in html
    assert '<ol start="3">' in html and "<table>" in html and "<blockquote>" in html


def test_overdue_notice_only_when_overdue(tmp_path: Path) -> None:
    [page] = render_version(facts("ok", SEED, overdue=False), ("html",), tmp_path)
    assert "Review overdue" not in page.path.read_text(encoding="utf-8")


def test_one_h1_when_the_source_has_several(tmp_path: Path) -> None:
    [page] = render_version(facts("two", "# One\n\ntext\n\n# Two\n\nmore\n"), ("html",), tmp_path)
    html = page.path.read_text(encoding="utf-8")
    assert html.count("<h1") == 1 and "<h1>The two policy</h1>" in html
    assert '<h2 id="one">One</h2>' in html and '<h2 id="two">Two</h2>' in html


def _styles(document: docx.document.Document) -> list[str]:
    return [p.style.name for p in document.paragraphs]


def test_docx_structure(rendered: dict[str, dict[str, Path]]) -> None:
    document = docx.Document(str(rendered["every-construct"]["docx"]))
    styles = _styles(document)
    assert styles[0] == "Title"
    assert {"Heading 1", "Heading 2", "Heading 3"} <= set(styles)
    assert {"List Number", "List Bullet", "List Bullet 2", "List Bullet 3",
            "List Number 2", "List Continue", "Quote"} <= set(styles)
    bold = [r.text for p in document.paragraphs for r in p.runs if r.bold and not r.italic]
    italic = [r.text for p in document.paragraphs for r in p.runs if r.italic and not r.bold]
    assert "bold" in bold and "italic" in italic
    [table] = document.tables
    assert table.cell(0, 0).text == "Role" and table.cell(2, 1).text == "The clerk"
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None


def test_each_numbered_list_restarts(rendered: dict[str, dict[str, Path]]) -> None:
    document = docx.Document(str(rendered["every-construct"]["docx"]))
    numbering = document.part.numbering_part.numbering_definitions._numbering
    starts = {}
    for num in numbering.num_lst:
        override = num.find(f"{qn('w:lvlOverride')}/{qn('w:startOverride')}")
        if override is not None:
            starts[num.numId] = int(override.get(qn("w:val")))
    lists: dict[int, list[str]] = {}
    for p in document.paragraphs:
        num_pr = p._p.pPr.numPr if p._p.pPr is not None else None
        if num_pr is not None and num_pr.numId is not None:
            lists.setdefault(num_pr.numId.val, []).append(p.text)
    firsts = {items[0]: starts[num_id] for num_id, items in lists.items()}
    assert firsts == {"First numbered item": 1, "Restarted first item": 1,
                      "An ordered list that starts at three": 3, "Nested number one": 1}


def test_docx_links_header_footer_properties(rendered: dict[str, dict[str, Path]]) -> None:
    path = rendered["every-construct"]["docx"]
    document = docx.Document(str(path))
    rels = {r.rId: r.target_ref for r in document.part.rels.values() if r.is_external}
    links = document.element.body.findall(f".//{qn('w:hyperlink')}")
    targets = [rels[h.get(qn("r:id"))] for h in links]
    assert targets == ["https://www.gov.uk/government/organisations/department-for-education",
                       "mailto:office@example.org", "https://example.org/policies"]
    section = document.sections[0]
    assert section.header.paragraphs[0].text == "St Ann's School · The every-construct policy"
    footer = section.footer.paragraphs[0]._p.xml
    assert " PAGE " in footer and " NUMPAGES " in footer
    assert "Version 1 · Adopted 1 January 2012 · Review due 31 January 2018" in footer
    props = document.core_properties
    assert (props.title, props.author, props.revision, props.language) == (
        "The every-construct policy", "St Ann's School", 1, "en-GB")
    assert "policy" in props.keywords and "governor" in props.keywords
    with zipfile.ZipFile(path) as z:
        assert 'w:lang w:val="en-GB"' in z.read("word/styles.xml").decode()


@pytest.mark.slow
@pytest.mark.parametrize("name", DOCUMENTS)
def test_html_passes_the_nu_html_checker(rendered: dict[str, dict[str, Path]], name: str) -> None:
    assert vnu_errors(rendered[name]["html"]) == []


@pytest.mark.slow
def test_html_has_no_wcag_violations(rendered: dict[str, dict[str, Path]]) -> None:
    with browser() as b:
        page = b.new_page()
        for name in DOCUMENTS:
            page.goto(rendered[name]["html"].as_uri())
            found = [(v["id"], v["help"], len(v["nodes"])) for v in axe_violations(page)]
            assert found == [], name
        page.set_viewport_size({"width": 375, "height": 800})   # a phone
        page.goto(rendered["seed"]["html"].as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


@pytest.mark.slow
@pytest.mark.parametrize("name", DOCUMENTS)
def test_libreoffice_opens_the_docx(rendered: dict[str, dict[str, Path]], name: str,
                                    tmp_path: Path) -> None:
    pdf = docx_to_pdf(rendered[name]["docx"], tmp_path)
    pages = pdf_pages(pdf)
    assert f"Page 1 of {pages}" in pdf_text(pdf, 1)
    assert f"Page {pages} of {pages}" in pdf_text(pdf, pages)
    assert is_subsequence([w.casefold() for w in source_words(DOCUMENTS[name])],
                          [w.casefold() for w in words(pdf_text(pdf))])
    assert pdf_page_size(pdf).startswith("595.")
    assert pdf_page_size(pdf).endswith(" x 841.89 pts (A4)")


def test_render_command_writes_stable_names_once(run: Run, initialised: Path) -> None:
    result = run("render", "social-networking", "--now", "2026-11-24T09:00")
    out = initialised / "rendered" / "social-networking"
    assert result.output.splitlines() == [f"wrote  {out / 'social-networking-v1.html'}",
                                          f"wrote  {out / 'social-networking-v1.docx'}"]
    again = run("render", "--all", "--now", "2026-11-24T09:00")
    assert again.output.count("unchanged") == 2
    only_html = run("render", "social-networking", "--format", "html", "--out",
                    str(initialised / "site"))
    assert only_html.exit_code == 0
    assert [p.name for p in (initialised / "site").glob("*.html")] == ["social-networking-v1.html"]


def test_render_follows_reviews_and_keeps_old_versions(run: Run, initialised: Path,
                                                       tmp_path: Path) -> None:
    run("render", "social-networking", "--now", "2026-11-24T09:00")
    new = tmp_path / "new.md"
    new.write_text(SEED.replace("Bebo", "Instagram"), encoding="utf-8")
    run("review", "record", "social-networking", "--date", "2026-11-20", "--file", str(new),
        "--now", "2026-11-24T09:00")
    result = run("render", "social-networking", "--now", "2026-11-24T09:00")
    assert "social-networking-v2.html" in result.output and "wrote" in result.output
    out = initialised / "rendered" / "social-networking"
    v2 = (out / "social-networking-v2.html").read_text(encoding="utf-8")
    assert "Instagram" in v2 and "Review overdue" not in v2
    old = run("render", "social-networking", "--version", "1", "--now", "2026-11-24T09:00")
    assert "unchanged" not in old.output   # superseded: what it says about itself changed
    v1 = (out / "social-networking-v1.html").read_text(encoding="utf-8")
    assert "Superseded." in v1 and "Bebo" in v1


def test_a_template_change_renders_again(run: Run, initialised: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import documents.publish as publish

    run("render", "social-networking", "--now", "2026-11-24T09:00")
    monkeypatch.setattr(publish, "_fingerprint", lambda: "another template")
    assert run("render", "social-networking", "--now", "2026-11-24T09:00").output.count(
        "wrote") == 2


@pytest.mark.parametrize(("args", "pattern"), [
    (["render"], "name one POLICY or give --all"),
    (["render", "nope"], "unknown policy id 'nope'"),
    (["render", "social-networking", "--format", "pdf"], "--format: unknown format 'pdf'"),
    (["render", "social-networking", "--version", "9"], "--version: social-networking has no"),
])
def test_render_bad_arguments(run: Run, initialised: Path, args: list[str], pattern: str) -> None:
    result = run(*args)
    assert result.exit_code == 1 and pattern in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_parse_never_crashes_on_odd_input() -> None:
    """Odd input parses, and every word in it survives to the document (list markers aside)."""
    for text in ["*", "**", "[", "](", "- \n  -\n    -", "\x00", "<", "&", "1.\n2.", "#" * 7,
                 "> > > deep", "|a|\n|-|", "x" * 100_000, "\u202e\u200b", "```\nunclosed",
                 "<script>alert(1)</script>", "[link](javascript:alert(1))"]:
        document = parse(text)
        shown = words(f"{document.title or ''} {document.body.text()}")
        assert is_subsequence(source_words(text), shown), text[:40]
