"""A Word document as our Markdown source.

mammoth reads the .docx: it maps Word's styles to headings, Word's numbering to nested lists,
keeps hyperlinks and tables, takes tracked changes as accepted (inserted text kept, deleted
text dropped) and leaves comments, headers, footers and page breaks out. We chose it over
walking python-docx ourselves because python-docx sees neither the runs inside ``w:ins`` nor
which numbering is a bullet. Its HTML becomes the same small tree the renderers read
(documents/parse.py), and that tree is written back as Markdown here.

The file is checked before mammoth sees it: an old binary .doc or a password-protected file
(both OLE containers, not zips), a damaged zip, or one that would unpack to more than
MAX_UNPACKED_BYTES, each gets one line saying what to do.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from lifecycle.values.errors import InputError
from lifecycle.values.sources import MAX_TEXT_BYTES, read_text

from .parse import Element, tree

MAX_UNPACKED_BYTES = 50_000_000
_OLE = b"\xd0\xcf\x11\xe0"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Title is the document's one h1; Heading N sits a level below it, as our DOCX writes them.
STYLE_MAP = """
p[style-name='Title'] => h1:fresh
p[style-name='Heading 1'] => h2:fresh
p[style-name='Heading 2'] => h3:fresh
p[style-name='Heading 3'] => h4:fresh
p[style-name='Heading 4'] => h5:fresh
p[style-name='Heading 5'] => h6:fresh
p[style-name='Heading 6'] => h6:fresh
p[style-name='Subtitle'] => p:fresh
p[style-name='Policy Facts'] => !
p[style-name='Policy Notice'] => !
p[style-name='List Bullet'] => ul > li:fresh
p[style-name='List Bullet 2'] => ul|ol > li > ul > li:fresh
p[style-name='List Bullet 3'] => ul|ol > li > ul|ol > li > ul > li:fresh
p[style-name='List Number'] => ol > li:fresh
p[style-name='List Number 2'] => ul|ol > li > ol > li:fresh
p[style-name='List Number 3'] => ul|ol > li > ul|ol > li > ol > li:fresh
p[style-name='Quote'] => blockquote > p:fresh
p[style-name='Intense Quote'] => blockquote > p:fresh
"""


@dataclass(frozen=True)
class Imported:
    """A document's text as Markdown, and what was left out or accepted on the way."""

    markdown: str
    title: str | None
    insertions: int
    deletions: int
    comments: int
    images: int

    @property
    def report(self) -> str:
        parts = [f"{self.insertions} tracked insertion(s) and {self.deletions} deletion(s) "
                 f"accepted", f"{self.comments} comment(s) left out"]
        if self.images:
            parts.append(f"{self.images} image(s) marked with a placeholder")
        return "; ".join(parts)


def _checked_zip(path: Path) -> zipfile.ZipFile:
    with path.open("rb") as f:
        start = f.read(4)
    if start == _OLE:
        what = ("an old binary Word document (.doc)" if path.suffix.lower() == ".doc"
                else "password-protected, or an old binary Word document")
        raise InputError(f"is {what}: open it in Word, remove any password and save it as "
                         ".docx", file=path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise InputError("is not a Word document, or it is damaged: save it as .docx again",
                         file=path) from None
    names = set(archive.namelist())
    if "word/document.xml" not in names:
        archive.close()
        raise InputError("is a zip file but not a Word document: save it as .docx", file=path)
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        archive.close()
        raise InputError(f"unpacks to more than {MAX_UNPACKED_BYTES // 1_000_000} MB: is it "
                         "the policy? Save the text alone as .docx", file=path)
    return archive


def _used_styles(archive: zipfile.ZipFile) -> bytes | None:
    """styles.xml with only the styles the document uses (and those they are based on), no
    latent styles: mammoth reads styles for their names, through minidom, and Word's full
    style sheet is most of the XML in a short policy (350 KB of our own 26 KB document)."""
    from lxml import etree

    if "word/styles.xml" not in archive.namelist():
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        styles = etree.fromstring(archive.read("word/styles.xml"), parser)
        used = set(re.findall(rb'<w:(?:pStyle|rStyle|tblStyle) w:val="([^"]+)"',
                              archive.read("word/document.xml")))
    except etree.XMLSyntaxError:
        return None
    by_id = {s.get(f"{_W}styleId", "").encode(): s for s in styles.iter(f"{_W}style")}
    wanted, queue = set(), list(used)
    while queue:
        style_id = queue.pop()
        if style_id in wanted or style_id not in by_id:
            continue
        wanted.add(style_id)
        based = by_id[style_id].find(f"{_W}basedOn")
        if based is not None:
            queue.append(based.get(f"{_W}val", "").encode())
    for child in list(styles):
        if child.tag == f"{_W}latentStyles" or (
                child.tag == f"{_W}style"
                and child.get(f"{_W}styleId", "").encode() not in wanted
                and child.get(f"{_W}default") != "1"):
            styles.remove(child)
    result: bytes = etree.tostring(styles, xml_declaration=True, encoding="UTF-8",
                                   standalone=True)
    return result


def _for_mammoth(archive: zipfile.ZipFile) -> BytesIO:
    """The package as mammoth needs it: the same parts, styles.xml cut down, stored
    uncompressed in memory."""
    styles = _used_styles(archive)
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        for info in archive.infolist():
            data = styles if info.filename == "word/styles.xml" and styles else \
                archive.read(info.filename)
            copy.writestr(info.filename, data)
    out.seek(0)
    return out


def _count(archive: zipfile.ZipFile, part: str, *tags: str) -> int:
    """How many elements of ``tags`` a part holds (no entities resolved, nothing fetched)."""
    from lxml import etree

    if part not in archive.namelist():
        return 0
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(archive.read(part), parser)
    except etree.XMLSyntaxError:
        return 0
    return sum(1 for _ in root.iter(*(f"{_W}{t}" for t in tags)))


def import_docx(path: Path) -> Imported:
    """``path`` as Markdown, with the counts the command reports."""
    import mammoth

    with _checked_zip(path) as archive:
        insertions = _count(archive, "word/document.xml", "ins")
        deletions = _count(archive, "word/document.xml", "del")
        comments = _count(archive, "word/comments.xml", "comment")
        package = _for_mammoth(archive)
    images = 0

    def placeholder(image: Any) -> dict[str, str]:
        nonlocal images
        images += 1
        return {"alt": image.alt_text or "", "src": ""}

    try:
        result = mammoth.convert_to_html(package, style_map=STYLE_MAP,
                                         convert_image=mammoth.images.img_element(placeholder))
    except Exception as e:  # noqa: BLE001 - mammoth raises many kinds on a damaged part
        raise InputError(f"could not be read as a Word document ({type(e).__name__}): save it "
                         "as .docx again", file=path) from None
    body = tree(result.value)
    markdown = MarkdownWriter().document(body)
    if not re.search(r"\w", markdown):
        raise InputError("the document is empty", file=path)
    if len(markdown.encode()) > MAX_TEXT_BYTES:
        raise InputError(f"holds more text than a policy can ({MAX_TEXT_BYTES // 1_000_000} MB "
                         "as Markdown): is it the right file?", file=path)
    first = body.elements()[0] if body.elements() else None
    title = first.text().strip() if first is not None and first.tag == "h1" else None
    return Imported(markdown, title, insertions, deletions, comments, images)


# -- the tree as Markdown --------------------------------------------------------------

_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_LINE_START = re.compile(r"^(\s*)([#>+\-]|\d+(?=[.)]))")
_SPACE = re.compile(r"\s+")


def escape(text: str) -> str:
    """Text that Markdown shows as itself: no emphasis, links or HTML made by accident."""
    return _INLINE_SPECIAL.sub(r"\\\1", text)


class MarkdownWriter:
    """Our Markdown dialect (documents/parse.py): ATX headings, ``-`` and ``1.`` lists
    indented by four spaces per level, pipe tables, ``**bold**``, ``*italic*``, links."""

    def document(self, body: Element) -> str:
        blocks = self.blocks(body.children, depth=0)
        return "\n\n".join(b for b in blocks if b.strip()) + "\n"

    def blocks(self, nodes: list[Element | str], depth: int) -> list[str]:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, str):
                if node.strip():
                    out.append(self.paragraph([node]))
            elif node.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                text = self.inline(node.children).strip()
                if text:
                    out.append("#" * int(node.tag[1]) + " " + text)
            elif node.tag in ("ul", "ol"):
                out.append(self.list(node, depth))
            elif node.tag == "table":
                out.append(self.table(node))
            elif node.tag == "blockquote":
                inner = self.blocks(node.children, depth)
                out.append("\n>\n".join("\n".join("> " + line for line in b.splitlines())
                                        for b in inner))
            elif node.tag == "img":
                out.append(self.image(node))
            else:
                out.append(self.paragraph(node.children))
        return out

    def paragraph(self, nodes: list[Element | str]) -> str:
        text = self.inline(nodes).strip()
        return _LINE_START.sub(lambda m: m[1] + "\\" + m[2], text, count=1)

    def image(self, node: Element) -> str:
        alt = node.attrs.get("alt", "").strip()
        return escape(f"[Image{': ' + alt if alt else ''} (left out)]")

    def inline(self, nodes: list[Element | str]) -> str:
        parts: list[str] = []
        for node in nodes:
            if isinstance(node, str):
                parts.append(escape(_SPACE.sub(" ", node)))
            elif node.tag == "br":
                parts.append("  \n")
            elif node.tag == "img":
                parts.append(" " + self.image(node) + " ")
            elif node.tag in ("strong", "b"):
                parts.append(self.wrap("**", self.inline(node.children)))
            elif node.tag in ("em", "i"):
                parts.append(self.wrap("*", self.inline(node.children)))
            elif node.tag == "a" and node.attrs.get("href", "").startswith(
                    ("http://", "https://", "mailto:")):
                text = self.inline(node.children).strip() or escape(node.attrs["href"])
                parts.append(f"[{text}]({node.attrs['href'].replace(')', '%29')})")
            else:                       # anchors, sup, sub, strike: their words, plainly
                parts.append(self.inline(node.children))
        return "".join(parts)

    @staticmethod
    def wrap(marker: str, text: str) -> str:
        """``**bold**`` with the spaces Word keeps inside a run moved outside the markers."""
        if not text.strip():
            return text
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()):]
        return f"{lead}{marker}{text.strip()}{marker}{trail}"

    def list(self, node: Element, depth: int) -> str:
        lines: list[str] = []
        indent = "    " * depth
        for number, item in enumerate(node.elements(), start=1):
            marker = f"{number}." if node.tag == "ol" else "-"
            inline = [c for c in item.children
                      if isinstance(c, str) or c.tag not in ("ul", "ol", "p", "table")]
            blocks = [c for c in item.children if isinstance(c, Element) and c.tag == "p"]
            text = self.inline(inline).strip() or " ".join(
                self.inline(p.children).strip() for p in blocks)
            lines.append(f"{indent}{marker} {text}".rstrip())
            for child in item.elements():
                if child.tag in ("ul", "ol"):
                    lines.append(self.list(child, depth + 1))
        return "\n".join(lines)

    def table(self, node: Element) -> str:
        rows = [row for part in node.elements() for row in
                (part.elements() if part.tag in ("thead", "tbody") else [part])
                if row.tag == "tr"]
        cells = [[self.cell(c) for c in row.elements()] for row in rows]
        width = max((len(r) for r in cells), default=0)
        if not width:
            return ""
        cells = [r + [""] * (width - len(r)) for r in cells]
        cells[0] = [c[2:-2] if c.startswith("**") and c.endswith("**") and c.count("**") == 2
                    else c for c in cells[0]]          # a header row is bold by itself
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        lines.insert(1, "|" + "---|" * width)
        return "\n".join(lines)

    def cell(self, node: Element) -> str:
        texts = [self.inline(p.children).strip() if isinstance(p, Element) and p.tag == "p"
                 else self.inline([p]).strip() for p in node.children]
        return " ".join(t for t in texts if t).replace("\n", " ")


def read_policy_file(path: Path) -> tuple[str, Imported | None]:
    """A text the office gives us: a Word document (converted; with what was accepted and
    left out) or Markdown as it is."""
    suffix = path.suffix.lower()
    if suffix in (".docx", ".doc"):
        imported = import_docx(path)
        return imported.markdown, imported
    if suffix in (".md", ".markdown", ".txt"):
        return read_text(path), None
    raise InputError("is neither a Word document (.docx) nor Markdown (.md): save it as .docx",
                     file=path)
