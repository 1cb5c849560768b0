"""Markdown -> one document tree that both renderers read, so HTML and DOCX always agree on
what is a heading, a list, a link or bold text.

Python-Markdown converts with raw HTML turned off (a ``<script>`` in a source shows as text,
every word kept), then nh3 cleans the result against an allow-list (drops ``javascript:``
links and stray attributes), then the clean HTML becomes a small tree of ``Element``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import markdown
import nh3

BLOCK_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "blockquote", "pre",
              "table", "thead", "tbody", "tr", "th", "td", "hr"}
INLINE_TAGS = {"a", "strong", "em", "b", "i", "code", "br", "del", "sup", "sub"}
VOID_TAGS = {"br", "hr"}
_CONTAINERS = BLOCK_TAGS - {"p", "li", "th", "td", "pre"} | {"body"}
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"colspan", "rowspan"},
               "td": {"colspan", "rowspan"}, **{h: {"id"} for h in HEADINGS}}
_EXTENSIONS = ["tables", "attr_list", "sane_lists", "fenced_code", "toc"]


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]


@dataclass(frozen=True)
class Heading:
    level: int
    id: str
    text: str


@dataclass
class Document:
    """The parsed body: ``title`` is the source's own top heading, if it opens with one."""

    title: str | None
    body: Element
    headings: list[Heading]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("body")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        parent = self.stack[-1]
        if parent.tag in _CONTAINERS and not data.strip():
            return  # newlines between block elements carry no text
        parent.children.append(data)


def markdown_to_html(source: str) -> str:
    """Sanitised HTML from Markdown; raw HTML is never passed through."""
    md = markdown.Markdown(extensions=_EXTENSIONS, output_format="html")
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    html = md.convert(source)
    return nh3.clean(html, tags=BLOCK_TAGS | INLINE_TAGS, attributes=_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel=None)


def _build(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def tree(html: str) -> Element:
    """HTML from elsewhere (a Word document read by mammoth) cleaned against the same
    allow-list as our own, images kept only as their alt text, as a tree."""
    return _build(nh3.clean(html, tags=BLOCK_TAGS | INLINE_TAGS | {"img"},
                            attributes={**_ATTRIBUTES, "img": {"alt"}},
                            url_schemes={"http", "https", "mailto"}, link_rel=None))


def _shift_headings(element: Element, by: int) -> None:
    for child in element.elements():
        if child.tag in HEADINGS:
            child.tag = f"h{min(6, int(child.tag[1]) + by)}"
        _shift_headings(child, by)


def _headings(element: Element) -> list[Heading]:
    found = []
    for child in element.elements():
        if child.tag in HEADINGS:
            found.append(Heading(int(child.tag[1]), child.attrs.get("id", ""), child.text()))
        found.extend(_headings(child))
    return found


def parse(source: str) -> Document:
    """The source's opening ``# heading`` becomes the document title when it is the only h1;
    otherwise every heading moves down a level so the page keeps exactly one h1."""
    body = _build(markdown_to_html(source))
    h1s = [h for h in _headings(body) if h.level == 1]
    first = body.elements()[0] if body.elements() else None
    title = None
    if len(h1s) == 1 and first is not None and first.tag == "h1":
        title = first.text()
        body.children.remove(first)
    elif h1s:
        _shift_headings(body, 1)
    return Document(title=title, body=body, headings=_headings(body))
