"""The accessible, self-contained web page of a policy version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from lifecycle.values.dates import long_date
from lifecycle.values.model import VersionFacts

from .compare import Comparison
from .parse import VOID_TAGS, Document, Element, Heading

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


_LABELS = {"del": "deleted text: ", "ins": "inserted text: "}


def serialise(node: Element | str) -> str:
    """HTML for a tree node; every text and attribute value is escaped again here. A change
    mark (``del``, ``ins``) opens with a label only screen readers read."""
    if isinstance(node, str):
        return escape(node, quote=False)
    attrs = "".join(f' {k}="{escape(v)}"' for k, v in node.attrs.items())
    if node.tag in VOID_TAGS:
        return f"<{node.tag}{attrs}>"
    inner = "".join(serialise(c) for c in node.children)
    if node.tag in _LABELS:
        inner = f'<span class="visually-hidden">{_LABELS[node.tag]}</span>{inner}'
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


def render_changes_html(comparison: Comparison, older: VersionFacts,
                        newer: VersionFacts) -> str:
    """The newer text with every difference from the older marked, and a summary."""
    children = list(comparison.document.body.children)
    first = children[0] if children else None
    heading: str = newer.title
    if isinstance(first, Element) and first.tag == "h1":
        heading = Markup("".join(serialise(c) for c in first.children))
        children.pop(0)
    body, marked = _first_change_marked("\n".join(serialise(c) for c in children))
    page = f"/policies/{newer.policy_id}" + (f"/v{newer.version}" if newer.superseded_by else "")
    return _env.get_template("changes.html").render(
        older=older, meta=newer, heading=heading, summary=comparison.summary(),
        changed=comparison.changed, older_adopted=long_date(older.adopted),
        adopted=long_date(newer.adopted), body=Markup(body), first_change=marked,
        links={"page": page, "tracked": f"{page}/changes.docx"},
        css=Markup((TEMPLATES / "page.css").read_text(encoding="utf-8")),
    )


_CHANGE = re.compile(r"<(ins|del)\b|<(\w+)(?=[^>]*\sdata-change=)")


def _first_change_marked(html: str) -> tuple[str, bool]:
    """The body with id="first-change" on its first marked change, so that a reader on a
    phone can jump to it; and whether there was one."""
    found = _CHANGE.search(html)
    if found is None:
        return html, False
    end = found.end(1) if found.group(1) else found.end(2)
    return f'{html[:end]} id="first-change"{html[end:]}', True


@dataclass(frozen=True)
class PageLinks:
    """Where a policy page leads: the list of policies, its Word and PDF copies, its earlier
    versions and what changed last ("" where there is none)."""

    index: str
    docx: str
    pdf: str = ""
    versions: tuple[tuple[int, str], ...] = ()
    changes: str = ""


def served_links(meta: VersionFacts) -> PageLinks:
    """The links of a page that ``serve`` offers under /policies/."""
    base = f"/policies/{meta.policy_id}"
    current = meta.superseded_by is None
    here = base if current else f"{base}/v{meta.version}"
    return PageLinks("/policies/", f"{here}.docx", f"{base}.pdf" if current else "",
                     tuple((n, f"{base}/v{n}") for n in range(1, meta.version)),
                     f"{here}/changes" if meta.version > 1 else "")


def static_links(meta: VersionFacts) -> PageLinks:
    """The links of a page in the website section ``publish`` writes (files side by side)."""
    return PageLinks("index.html", f"{meta.policy_id}.docx", f"{meta.policy_id}.pdf")


def render_html(document: Document, meta: VersionFacts, links: PageLinks | None = None) -> str:
    toc = table_of_contents(document.headings)
    return _env.get_template("page.html").render(
        meta=meta, heading=document.title or meta.title, toc=toc,
        links=links or served_links(meta),
        body=Markup("\n".join(serialise(c) for c in document.body.children)),
        adopted=long_date(meta.adopted), review_due=long_date(meta.review_due),
        css=Markup((TEMPLATES / "page.css").read_text(encoding="utf-8")),
    )
