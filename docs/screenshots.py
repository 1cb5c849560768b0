"""Regenerate the pictures in docs/: the seed policy's web page and page 1 of its Word document
(through LibreOffice), as a reader sees them. Run with `make screenshots`."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from tools import CHROMIUM, CHROMIUM_ARGS, docx_to_pdf, pdf_pages, pdf_text  # noqa: E402

from documents.compare import compare  # noqa: E402
from documents.html import render_changes_html  # noqa: E402
from documents.publish import render_version  # noqa: E402
from documents.word import render_changes_docx  # noqa: E402
from lifecycle.values.model import VersionFacts  # noqa: E402
from lifecycle.values.sources import parse_source  # noqa: E402

DOCS = REPO / "docs"


def main() -> None:
    from playwright.sync_api import sync_playwright

    source = parse_source(REPO / "data" / "policies" / "social-networking.md")
    facts = VersionFacts(policy_id=source.id, title=source.title, school=source.school,
                         approver=source.approver, version=1, adopted=source.adopted,
                         review_due=source.review_due, overdue=source.review_due < date.today(),
                         sha256=source.sha256, body=source.body, audiences=source.audiences)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = {r.path.suffix: r.path for r in
                 render_version(facts, ("html", "docx"), tmp)}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 900, "height": 1200})
            page.goto(files[".html"].as_uri())
            page.screenshot(path=str(DOCS / "seed-html.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=str(DOCS / "seed-html-phone.png"))
            browser.close()
        pdf = docx_to_pdf(files[".docx"], tmp)
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(DOCS / "seed-docx-page1")], check=True)
        changes(facts, tmp)
    print("wrote docs/seed-html.png, docs/seed-html-phone.png, docs/seed-docx-page1.png, "
          "docs/changes-html.png, docs/changes-docx.png")


EDITS = [("Social networking sites such as Facebook or Bebo",
          "Social networking sites such as Facebook, Instagram or TikTok"),
         ("- Collaborative spaces, such as Wetpaint\n", ""),
         ("for example, Twitter.", "for example, X (formerly Twitter).\n- Messaging groups, "
                                   "for example WhatsApp.")]


def changes(facts: VersionFacts, tmp: Path) -> None:
    """The changes page and the tracked-changes document for a plausible version 2."""
    from playwright.sync_api import sync_playwright

    body = facts.body
    for old, new in EDITS:
        body = body.replace(old, new, 1)
    newer = VersionFacts(**{**facts.__dict__, "version": 2, "adopted": date(2026, 11, 24),
                            "body": body, "overdue": False})
    comparison = compare(facts.body, body)
    page_file = tmp / "changes.html"
    page_file.write_text(render_changes_html(comparison, facts, newer), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.goto(page_file.as_uri())
        page.locator("ins").first.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -250)")
        page.screenshot(path=str(DOCS / "changes-html.png"))
        browser.close()
    tracked = tmp / "changes.docx"
    tracked.write_bytes(render_changes_docx(comparison.document.body, facts, newer))
    pdf = docx_to_pdf(tracked, tmp)
    first = next(n for n in range(1, pdf_pages(pdf) + 1) if "TikTok" in pdf_text(pdf, n))
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(first), "-l", str(first),
                    "-singlefile", str(pdf), str(DOCS / "changes-docx")], check=True)


if __name__ == "__main__":
    main()
