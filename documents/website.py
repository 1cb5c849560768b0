"""The school website's policy section as static files: an index, and for each policy to
publish its page, its Word document and a PDF made from that document by LibreOffice."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from markupsafe import Markup

from lifecycle.register.files import write_atomically
from lifecycle.values.dates import long_date
from lifecycle.values.model import PolicyRecord
from lifecycle.values.terms import Term, due_phrase

from .html import TEMPLATES, _env, render_html, static_links
from .parse import parse
from .pdf import INSTALL, soffice, to_pdf
from .publish import Facts, render_version


@dataclass(frozen=True)
class Website:
    out: Path
    files: list[Path]
    pdfs: bool               # False when LibreOffice is not installed
    note: str                # how to install it, then


def publish_site(source: Facts, policies: list[PolicyRecord], out: Path, today: date,
                 school: str, rendered_root: Path, terms: tuple[Term, ...] = ()) -> Website:
    """Write ``index.html`` and each published policy's ``<id>.html``, ``.docx`` and
    ``.pdf`` (all PDFs in one LibreOffice run) into ``out``. The Word documents are the
    renders under ``rendered_root`` (made now only if missing or stale), so LibreOffice can
    start at once; the pages are written while it works."""
    out.mkdir(parents=True, exist_ok=True)
    pdfs = soffice() is not None
    published = sorted((p for p in policies if p.publish), key=lambda p: p.title.casefold())
    facts = {p.id: source.version_facts(p.id, p.version, today) for p in published}
    documents = [out / f"{p.id}.docx" for p in published]
    for policy, docx in zip(published, documents, strict=True):
        [rendered] = render_version(facts[policy.id], ("docx",), rendered_root / policy.id)
        shutil.copyfile(rendered.path, docx)
    pages = [out / f"{p.id}.html" for p in published]

    def write_pages() -> None:
        for policy, page in zip(published, pages, strict=True):
            meta = facts[policy.id]
            write_atomically(page, render_html(parse(meta.body), meta, static_links(meta)))

    made: list[Path] = []
    if pdfs:
        made = to_pdf(documents, out, meanwhile=write_pages)   # pages written meanwhile
    else:
        write_pages()
    files = [f for n in range(len(published)) for f in (pages[n], documents[n], *made[n:n + 1])]
    rows = [{"id": p.id, "title": p.title, "version": p.version, "adopted": p.adopted,
             "adopted_long": long_date(p.adopted), "review_due": p.review_due,
             "review_long": due_phrase(p.review_due, terms), "pdf": pdfs} for p in published]
    index = out / "index.html"
    write_atomically(index, _env.get_template("site_index.html").render(
        rows=rows, school=school, published=long_date(today),
        css=Markup((TEMPLATES / "page.css").read_text(encoding="utf-8"))))
    return Website(out, [index, *files], pdfs, "" if pdfs else INSTALL)
