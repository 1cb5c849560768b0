"""The accessible, self-contained web page of a policy version."""

from __future__ import annotations

from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from lifecycle.model import VersionFacts

from .meta import long_date
from .parse import VOID_TAGS, Document, Element, Heading

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def serialise(node: Element | str) -> str:
    """HTML for a tree node; every text and attribute value is escaped again here."""
    if isinstance(node, str):
        return escape(node, quote=False)
    attrs = "".join(f' {k}="{escape(v)}"' for k, v in node.attrs.items())
    if node.tag in VOID_TAGS:
        return f"<{node.tag}{attrs}>"
    inner = "".join(serialise(c) for c in node.children)
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


def table_of_contents(headings: list[Heading]) -> list[tuple[Heading, list[Heading]]]:
    """Sections (h2) with their subsections (h3), for a nested list of links."""
    toc: list[tuple[Heading, list[Heading]]] = []
    for h in headings:
        if h.level == 2:
            toc.append((h, []))
        elif h.level == 3 and toc:
            toc[-1][1].append(h)
    return toc


def render_html(document: Document, meta: VersionFacts) -> str:
    toc = table_of_contents(document.headings)
    return _env.get_template("page.html").render(
        meta=meta, heading=document.title or meta.title, toc=toc,
        body=Markup("\n".join(serialise(c) for c in document.body.children)),
        adopted=long_date(meta.adopted), review_due=long_date(meta.review_due),
        css=Markup((TEMPLATES / "page.css").read_text(encoding="utf-8")),
    )
