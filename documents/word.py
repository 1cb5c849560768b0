"""The Word document of a policy version, walked from the same tree as the web page.

python-docx has no API for hyperlinks, fields or restarting a numbered list, so those are
built as WordprocessingML here (see LIBRARIES.md): each numbered list gets its own ``w:num``
with a start override, links are ``w:hyperlink`` elements, "Page X of Y" is two fields.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, time
from html import escape
from io import BytesIO
from typing import Any

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor
from docx.styles.style import CharacterStyle
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from lifecycle.values.dates import long_date
from lifecycle.values.model import VersionFacts

from .compare import CHANGE_TAGS
from .parse import Document, Element

LANGUAGE = "en-GB"
A4 = (Mm(210), Mm(297))
MARGIN = Cm(2.54)  # Word's "Normal" margins in the UK
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor",
                "of", "on", "or", "the", "to", "with"}
_APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">\
<Application>Policy Lifecycle</Application><DocSecurity>0</DocSecurity>\
<Company>{company}</Company><AppVersion>1.0000</AppVersion></Properties>"""
_SPACE = re.compile(r"\s+")
_FORMATS = {"strong": "bold", "b": "bold", "em": "italic", "i": "italic", "code": "code",
            "del": "strike", "sup": "superscript", "sub": "subscript"}
Doc = Any  # python-docx's Document object has no public type


def _set_language(doc: Doc) -> None:
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = rpr.find(qn("w:lang"))
    for attribute in ("w:val", "w:eastAsia"):
        lang.set(qn(attribute), LANGUAGE)


def _styles(doc: Doc) -> None:
    """Our own styles: for what the render adds around the policy's text, and for links (the
    default template has no "Hyperlink"). Added as XML: python-docx's add_style looks every
    existing style up by name first, which costs more than the rest of a short render."""
    styles = doc.styles.element
    for name in ("Policy Facts", "Policy Notice"):
        style = styles.add_style_of_type(name, WD_STYLE_TYPE.PARAGRAPH, builtin=False)
        style.basedOn_val = "Normal"
    _boxed(style)
    link = styles.add_style_of_type("Hyperlink", WD_STYLE_TYPE.CHARACTER, builtin=True)
    font = CharacterStyle(link).font
    font.color.rgb = RGBColor(0x05, 0x63, 0xC1)
    font.underline = True


def _boxed(style: Any) -> None:
    """A notice: a bordered, lightly shaded box (the built-in Intense Quote it was based on
    before is a centred pull quote)."""
    p_pr = style.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        border = OxmlElement(f"w:{side}")
        for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "4"),
                           ("w:color", "9C5700")):
            border.set(qn(key), value)
        borders.append(border)
    shading = OxmlElement("w:shd")
    for key, value in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", "FFF4CE")):
        shading.set(qn(key), value)
    p_pr.append(borders)
    p_pr.append(shading)


def title_text(title: str) -> str:
    """An all-capitals title in title case, its words unchanged: a Title style need not
    shout. Any other title is left as written."""
    if not title.isupper():
        return title
    words = title.lower().split(" ")
    return " ".join(w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))


def _properties(doc: Doc, meta: VersionFacts) -> None:
    props = doc.core_properties
    props.title = meta.title
    props.subject = f"{meta.school} policy approved by the {meta.approver}"
    props.author = meta.school
    props.last_modified_by = meta.school
    props.revision = meta.version
    props.keywords = "; ".join(["policy", meta.policy_id, *meta.audiences])
    props.category = "Policy"
    props.language = LANGUAGE
    props.comments = f"Version {meta.version}, text SHA-256 {meta.sha256}"
    props.created = props.modified = datetime.combine(meta.adopted, time(0, 0))
    app = next(p for p in doc.part.package.iter_parts() if p.partname == "/docProps/app.xml")
    app._blob = _APP.format(company=escape(meta.school)).encode("utf-8")


def _field(paragraph: Paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES): begin, instruction, separate, placeholder, end."""
    def char(kind: str) -> Any:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    run = paragraph.add_run()
    run._r.append(char("begin"))
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = f" {instruction} "
    paragraph.add_run()._r.append(text)
    paragraph.add_run()._r.append(char("separate"))
    paragraph.add_run("1")
    paragraph.add_run()._r.append(char("end"))


def _header_footer(doc: Doc, meta: VersionFacts, header: str = "") -> None:
    section = doc.sections[0]
    header = header or f"{meta.school} · {meta.title}"
    if meta.superseded_by:
        header = (f"SUPERSEDED by version {meta.superseded_by} · {header} · "
                  f"version {meta.version}")
    if meta.draft:
        header = f"DRAFT, not yet approved · {header}"
    section.header.paragraphs[0].text = header
    footer = section.footer.paragraphs[0]
    due = f"Review due {long_date(meta.review_due)}" + (" if approved then" * meta.draft)
    footer.text = f"{meta.standing} · {due} · Page "
    _field(footer, "PAGE")
    footer.add_run(" of ")
    _field(footer, "NUMPAGES")
    for paragraph in (section.header.paragraphs[0], footer):
        for run in paragraph.runs:
            run.font.size = Pt(9)


def _facts(writer: _Writer, meta: VersionFacts, notices: bool = True) -> None:
    facts = writer.paragraph("Policy Facts")
    rows: tuple[tuple[str, str], ...]
    if meta.draft:
        rows = (("Status", f"draft for {_meeting(meta)}"), ("To be approved by", meta.approver),
                ("Next review if approved then", long_date(meta.review_due)))
    else:
        rows = (("Version", str(meta.version)), ("Adopted", long_date(meta.adopted)),
                ("Approved by", meta.approver), ("Next review", long_date(meta.review_due)))
    for label, value in rows:
        facts.add_run(f"{label}: ").bold = True
        facts.add_run(f"{value}   ")
    if not notices:
        return
    if meta.superseded_by:
        _notice(writer, "Superseded. ", f"This is version {meta.version}. The current policy is "
                f"version {meta.superseded_by}.")
    if meta.draft:
        _notice(writer, "Draft. ", f"A proposed text for the {meta.approver} to consider: "
                f"it is not in force until approved. If approved, it becomes version "
                f"{meta.version}.")
    if meta.overdue:
        _notice(writer, "Review overdue. ", f"This policy was due to be reviewed by "
                f"{long_date(meta.review_due)}. It stays in force until the {meta.approver} "
                "reviews it.")


def _meeting(draft: VersionFacts) -> str:
    return f"the meeting of {long_date(draft.meeting)}" if draft.meeting else "approval"


def _notice(writer: _Writer, lead: str, text: str) -> None:
    notice = writer.paragraph("Policy Notice")
    notice.add_run(lead).bold = True
    notice.add_run(text)


class _Writer:
    """Walks the document tree into python-docx calls.

    Paragraphs, styles and runs are made one level below python-docx's public API, which
    looks a style up by name through every style in the document on each assignment (it was
    80% of the time on a long policy); the XML written is the same.
    """

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.body = doc.element.body
        self.numbering = doc.part.numbering_part.numbering_definitions._numbering
        self.style_ids: dict[str, str] = {}
        self.last: Any = None

    def style_id(self, name: str) -> str:
        if name not in self.style_ids:
            self.style_ids[name] = self.doc.styles[name].style_id
        return self.style_ids[name]

    def paragraph(self, style: str | None = None) -> Paragraph:
        p = self.body.add_p()
        if style:
            p.style = self.style_id(style)
        self.last = p
        return Paragraph(p, self.doc._body)

    # -- inline ------------------------------------------------------------------------

    def inline(self, paragraph: Paragraph, nodes: Iterable[Element | str],
               formats: frozenset[str] = frozenset()) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.text(paragraph, node, formats)
            elif node.tag == "br":
                paragraph.add_run().add_break()
            elif node.tag == "a":
                self.link(paragraph, node, formats)
            else:
                extra = _FORMATS.get(node.tag)
                self.inline(paragraph, node.children, formats | {extra} if extra else formats)

    def text(self, paragraph: Paragraph, text: str, formats: frozenset[str]) -> None:
        text = _SPACE.sub(" ", text)
        runs = paragraph._p.r_lst
        if not runs or runs[-1].find(qn("w:br")) is not None:
            text = text.lstrip()  # as a browser does at the start of a line
        if not text:
            return
        r = paragraph._p.add_r()
        r.add_t(text)
        if not formats:
            return
        run = Run(r, paragraph)
        run.bold = "bold" in formats or None
        run.italic = "italic" in formats or None
        run.font.strike = "strike" in formats or None
        run.font.superscript = "superscript" in formats or None
        run.font.subscript = "subscript" in formats or None
        if "code" in formats:
            run.font.name = "Courier New"
        if "link" in formats:
            r.get_or_add_rPr().style = self.style_id("Hyperlink")

    def link(self, paragraph: Paragraph, node: Element, formats: frozenset[str]) -> None:
        href = node.attrs.get("href", "")
        if not href.startswith(("http://", "https://", "mailto:")):
            self.inline(paragraph, node.children, formats)
            return
        before = len(paragraph._p.r_lst)
        self.inline(paragraph, node.children, formats | {"link"})
        hyperlink = OxmlElement("w:hyperlink")
        hyperlink.set(qn("r:id"), paragraph.part.relate_to(href, RT.HYPERLINK, is_external=True))
        for run in paragraph._p.r_lst[before:]:
            hyperlink.append(run)
        paragraph._p.append(hyperlink)

    # -- blocks ------------------------------------------------------------------------

    def blocks(self, nodes: Iterable[Element | str], style: str | None = None) -> None:
        for node in nodes:
            if isinstance(node, str):
                if node.strip():
                    self.inline(self.paragraph(style), [node])
            elif node.tag in ("h2", "h3", "h4", "h5", "h6", "h1"):
                level = max(1, int(node.tag[1]) - 1)
                self.inline(self.paragraph(f"Heading {level}"), node.children)
            elif node.tag in ("ul", "ol"):
                if self.last is not None:  # the paragraph that introduces the list
                    self.last.get_or_add_pPr().keepNext_val = True
                self.list(node, depth=0)
            elif node.tag == "blockquote":
                self.blocks(node.children, style="Quote")
            elif node.tag == "pre":
                self.preformatted(node)
            elif node.tag == "table":
                self.table(node)
            elif node.tag == "hr":
                self.rule()
            else:
                self.inline(self.paragraph(style), node.children)

    def restart(self, style: str, start: int) -> int:
        """A fresh w:num on the style's own abstract numbering, counting from ``start``."""
        style_num = self.doc.styles[style].element.pPr.numPr.numId.val
        abstract = next(n.abstractNumId.val for n in self.numbering.num_lst
                        if n.numId == style_num)
        num = self.numbering.add_num(abstract)
        num.add_lvlOverride(ilvl=0).add_startOverride(start)
        return int(num.numId)

    def list(self, node: Element, depth: int) -> None:
        ordered = node.tag == "ol"
        level = "" if depth == 0 else f" {min(depth + 1, 3)}"
        style = ("List Number" if ordered else "List Bullet") + level
        num_id = self.restart(style, int(node.attrs.get("start", "1") or 1)) if ordered else None
        for item in node.elements():
            paragraph = self.paragraph(style)
            if num_id is not None:
                num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
                num_pr.get_or_add_ilvl().val = 0
                num_pr.get_or_add_numId().val = num_id
            self.list_item(item, paragraph, depth)

    def list_item(self, item: Element, paragraph: Paragraph, depth: int) -> None:
        continued = "List Continue" + ("" if depth == 0 else f" {min(depth + 1, 3)}")
        current: Paragraph | None = paragraph
        for child in item.children:
            if isinstance(child, Element) and child.tag in ("ul", "ol"):
                self.list(child, depth + 1)
                current = None
            elif isinstance(child, Element) and child.tag == "p":
                if current is None or current.runs:
                    current = self.paragraph(continued)
                self.inline(current, child.children)
                current = None
            elif not (isinstance(child, str) and not child.strip() and current is None):
                if current is None:
                    current = self.paragraph(continued)
                self.inline(current, [child])

    def preformatted(self, node: Element) -> None:
        paragraph = self.paragraph("No Spacing")
        for i, line in enumerate(node.text().rstrip("\n").split("\n")):
            if i:
                paragraph.add_run().add_break()
            run = paragraph.add_run(line)
            run.font.name = "Courier New"

    def table(self, node: Element) -> None:
        rows = [row for part in node.elements() for row in
                (part.elements() if part.tag in ("thead", "tbody") else [part])
                if row.tag == "tr"]
        columns = max((len(r.elements()) for r in rows), default=0)
        if not columns:
            return
        self.last = None
        table = self.doc.add_table(rows=len(rows), cols=columns)
        table.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, cell in enumerate(row.elements()):
                paragraph = table.cell(r, c).paragraphs[0]
                self.inline(paragraph, cell.children,
                            frozenset({"bold"}) if cell.tag == "th" else frozenset())
            if all(cell.tag == "th" for cell in row.elements()):
                tr_pr = table.rows[r]._tr.get_or_add_trPr()
                tr_pr.append(OxmlElement("w:tblHeader"))

    def rule(self) -> None:
        paragraph = self.paragraph()
        borders = OxmlElement("w:pBdr")
        bottom = OxmlElement("w:bottom")
        for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"),
                           ("w:color", "auto")):
            bottom.set(qn(key), value)
        borders.append(bottom)
        paragraph._p.get_or_add_pPr().append(borders)


_UNNEEDED_PARTS = ("/stylesWithEffects", "/customXml", "/thumbnail")


@functools.cache
def _reference() -> bytes:
    """python-docx's default template less the parts a policy does not need (Word 2010's
    stylesWithEffects, customXml, a sample thumbnail), with our styles and language: built
    once per process. Loading and saving it costs half as much as the default."""
    doc = docx.Document()
    for rels in (doc.part.rels, doc.part.package.rels):
        for rel_id, rel in list(rels.items()):
            if rel.reltype.endswith(_UNNEEDED_PARTS):
                rels.pop(rel_id)
    _set_language(doc)
    _styles(doc)
    section = doc.sections[0]
    section.page_width, section.page_height = A4
    for side in ("left", "right", "top", "bottom"):
        setattr(section, f"{side}_margin", MARGIN)
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def _document(meta: VersionFacts, header: str = "") -> Doc:
    doc = docx.Document(BytesIO(_reference()))
    _properties(doc, meta)
    _header_footer(doc, meta, header)
    return doc


def _saved(doc: Doc) -> bytes:
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def render_docx(document: Document, meta: VersionFacts) -> bytes:
    doc = _document(meta)
    writer = _Writer(doc)
    writer.paragraph("Title").add_run(title_text(document.title or meta.title))
    _facts(writer, meta)
    writer.blocks(document.body.children)
    return _saved(doc)


class _Tracked(_Writer):
    """Writes a comparison's ``del`` and ``ins`` marks as Word's tracked changes.

    Runs are written as usual and remembered; once the document is complete each is wrapped
    in ``w:del`` (its text becoming ``w:delText``) or ``w:ins``, neighbours sharing one
    wrapper. A paragraph (or table row) whose every run is deleted or inserted has its mark
    tracked too, so "Accept all" and "Reject all" remove it whole.
    """

    def __init__(self, doc: Doc, author: str, when: date) -> None:
        super().__init__(doc)
        self.author = author
        self.when = f"{when.isoformat()}T00:00:00Z"
        self.changes: list[tuple[Any, str]] = []
        self.ids = 0

    def inline(self, paragraph: Paragraph, nodes: Iterable[Element | str],
               formats: frozenset[str] = frozenset()) -> None:
        for node in nodes:
            if isinstance(node, Element) and node.tag in CHANGE_TAGS:
                self.inline(paragraph, node.children, formats | {node.tag})
            elif isinstance(node, Element) and node.tag == "br" and formats & {"del", "ins"}:
                run = paragraph.add_run()
                run.add_break()
                self.changes.append((run._r, _kind(formats)))
            else:
                super().inline(paragraph, [node], formats)

    def text(self, paragraph: Paragraph, text: str, formats: frozenset[str]) -> None:
        before = len(paragraph._p)
        super().text(paragraph, text, formats)
        if len(paragraph._p) > before and formats & {"del", "ins"}:
            self.changes.append((paragraph._p[-1], _kind(formats)))

    def mark(self, kind: str) -> Any:
        element = OxmlElement(f"w:{kind}")
        self.ids += 1
        for key, value in (("w:id", str(self.ids)), ("w:author", self.author),
                           ("w:date", self.when)):
            element.set(qn(key), value)
        return element

    def finish(self) -> None:
        for run, kind in self.changes:
            previous = run.getprevious()
            if previous is not None and previous.tag == qn(f"w:{kind}"):
                previous.append(run)
            else:
                wrapper = self.mark(kind)
                run.addprevious(wrapper)
                wrapper.append(run)
            if kind == "del":
                for t in run.iter(qn("w:t")):
                    t.tag = qn("w:delText")
        for row in self.body.iter(qn("w:tr")):
            whole = _whole(row)
            if whole:
                row.get_or_add_trPr().append(self.mark(whole))
        for paragraph in self.body.iterchildren(qn("w:p")):
            whole = _whole(paragraph)
            if whole:
                marks = OxmlElement("w:rPr")
                marks.append(self.mark(whole))
                paragraph.get_or_add_pPr().append(marks)


def _kind(formats: frozenset[str]) -> str:
    return "del" if "del" in formats else "ins"


def _whole(element: Any) -> str | None:
    """"del" or "ins" when every run in the element is deleted or every one inserted."""
    kinds = {run.getparent().tag for run in element.iter(qn("w:r"))}
    for kind in ("del", "ins"):
        if kinds == {qn(f"w:{kind}")}:
            return kind
    return None


def render_changes_docx(body: Element, older: VersionFacts, newer: VersionFacts) -> bytes:
    """The newer text with its differences from the older as tracked changes, by the
    approving body on the day it adopted the newer text."""
    to = "the draft" if newer.draft else f"version {newer.version}"
    doc = _document(newer, header=f"{newer.school} · {newer.title} · changes from version "
                               f"{older.version} to {to}")
    writer = _Tracked(doc, newer.approver, newer.adopted)
    children = list(body.children)
    title = writer.paragraph("Title")
    first = children[0] if children else None
    if isinstance(first, Element) and first.tag == "h1":
        writer.inline(title, first.children)
        children.pop(0)
    else:
        title.add_run(title_text(newer.title))
    _facts(writer, replace(newer, overdue=False, superseded_by=None), notices=False)
    to = (f"the draft proposed for {_meeting(newer)}" if newer.draft else
          f"version {newer.version} (adopted {long_date(newer.adopted)})")
    _notice(writer, "Tracked changes. ", f"From version {older.version} (adopted "
            f"{long_date(older.adopted)}) to {to}. Accept all changes to read "
            f"{'the draft' if newer.draft else f'version {newer.version}'}; reject all to read "
            f"version {older.version}.")
    writer.blocks(children)
    writer.finish()
    return _saved(doc)
