"""The school website's policy section as static files: an index, and for each policy to
publish its page, its Word document and a PDF made from that document by LibreOffice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from markupsafe import Markup

from lifecycle.dates import long_date
from lifecycle.files import write_atomically
from lifecycle.model import PolicyRecord
from lifecycle.terms import Term, due_phrase

from .html import TEMPLATES, _env, render_html, static_links
from .parse import parse
from .pdf import INSTALL, soffice, to_pdf
from .publish import Facts
from .word import render_docx


@dataclass(frozen=True)
class Website:
    out: Path
    files: list[Path]
    pdfs: bool               # False when LibreOffice is not installed
    note: str                # how to install it, then


def publish_site(source: Facts, policies: list[PolicyRecord], out: Path, today: date,
                 school: str, terms: tuple[Term, ...] = ()) -> Website:
    """Write ``index.html`` and each published policy's ``<id>.html``, ``.docx`` and
    ``.pdf`` (all PDFs in one LibreOffice run) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    pdfs = soffice() is not None
    rows, files, documents = [], [], []
    for policy in sorted((p for p in policies if p.publish), key=lambda p: p.title.casefold()):
        facts = source.version_facts(policy.id, policy.version, today)
        document = parse(facts.body)
        page, docx = out / f"{policy.id}.html", out / f"{policy.id}.docx"
        write_atomically(page, render_html(document, facts, static_links(facts)))
        write_atomically(docx, render_docx(document, facts))
        files += [page, docx]
        documents.append(docx)
        rows.append({"id": policy.id, "title": policy.title, "version": policy.version,
                     "adopted": policy.adopted, "adopted_long": long_date(policy.adopted),
                     "review_due": policy.review_due,
                     "review_long": due_phrase(policy.review_due, terms), "pdf": pdfs})
    if pdfs:
        files += to_pdf(documents, out)
    index = out / "index.html"
    write_atomically(index, _env.get_template("site_index.html").render(
        rows=rows, school=school, published=long_date(today),
        css=Markup((TEMPLATES / "page.css").read_text(encoding="utf-8"))))
    return Website(out, [index, *files], pdfs, "" if pdfs else INSTALL)
