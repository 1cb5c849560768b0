"""Word in: our own DOCX read back gives the same structure and words; documents made by other
programs keep their headings, lists and links; what cannot be read is one clear line."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from test_render import DOCUMENTS, facts
from tools import need, source_words

from documents.parse import Element, parse
from documents.publish import render_version
from documents.word_import import import_docx
from lifecycle.values.errors import InputError

Outline = list[tuple[object, ...]]


def outline(markdown: str) -> Outline:
    """What must survive the round trip: headings and their levels, list items with their
    depth and kind, tables and their shape, link targets, in document order. The title's
    case may change: an all-capitals title is written in title case."""
    document = parse(markdown)
    found: Outline = [("title", document.title and document.title.casefold())]

    def walk(node: Element, depth: int) -> None:
        for child in node.elements():
            if child.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                found.append((child.tag, " ".join(child.text().split())))
            elif child.tag in ("ul", "ol"):
                for item in child.elements():
                    found.append(("li", depth, child.tag))
                    walk(item, depth + 1)
                continue
            elif child.tag == "table":
                rows = [r for part in child.elements() for r in
                        (part.elements() if part.tag in ("thead", "tbody") else [part])]
                found.append(("table", len(rows), len(rows[0].elements())))
            elif child.tag == "a" and child.attrs.get("href"):    # a link that is a link
                found.append(("a", child.attrs["href"]))
            walk(child, depth)

    walk(document.body, 0)
    return found


@pytest.mark.parametrize("name", DOCUMENTS)
def test_our_docx_imported_back_gives_the_same_structure_and_words(
        name: str, tmp_path: Path) -> None:
    [result] = render_version(facts(name, DOCUMENTS[name]), ("docx",), tmp_path)
    imported = import_docx(result.path)
    assert outline(imported.markdown) == outline(DOCUMENTS[name])
    assert [w.casefold() for w in source_words(imported.markdown)] == \
        [w.casefold() for w in source_words(DOCUMENTS[name])]


def _tracked(path: Path) -> Path:
    """A document with a comment, one tracked insertion and one tracked deletion."""
    from docx.oxml import parse_xml

    document = docx.Document()
    document.add_heading("Tracked Policy", level=0)
    kept = document.add_paragraph("Staff must report concerns ")
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    kept._p.append(parse_xml(f'<w:ins {w} w:id="1" w:author="Clerk" w:date="2026-11-20T10:00:00Z">'
                             '<w:r><w:t xml:space="preserve">promptly </w:t></w:r></w:ins>'))
    kept._p.append(parse_xml(f'<w:del {w} w:id="2" w:author="Clerk" w:date="2026-11-20T10:00:00Z">'
                             '<w:r><w:delText xml:space="preserve">eventually </w:delText></w:r>'
                             '</w:del>'))
    kept.add_run("to the head.")
    document.add_comment(kept.runs, text="Is this right?", author="Governor")
    document.save(str(path))
    return path


def test_tracked_changes_count_as_accepted_and_comments_are_left_out(tmp_path: Path) -> None:
    imported = import_docx(_tracked(tmp_path / "tracked.docx"))
    assert "Staff must report concerns promptly to the head." in imported.markdown
    assert "eventually" not in imported.markdown and "Is this right" not in imported.markdown
    assert (imported.insertions, imported.deletions, imported.comments) == (1, 1, 1)
    assert imported.title == "Tracked Policy"
    assert imported.report.startswith("1 tracked insertion(s) and 1 deletion(s) accepted; "
                                      "1 comment(s) left out")


def _zip(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


BAD = {
    "old.doc": (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
                "old.doc: is an old binary Word document (.doc): open it in Word, remove any "
                "password and save it as .docx"),
    "locked.docx": (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
                    "locked.docx: is password-protected, or an old binary Word document"),
    "truncated.docx": (lambda p: p.write_bytes(_render_bytes()[:3000]),
                       "truncated.docx: is not a Word document, or it is damaged"),
    "photos.docx": (lambda p: _zip(p, {"photo.jpg": b"\xff\xd8"}),
                    "photos.docx: is a zip file but not a Word document"),
    "bomb.docx": (lambda p: _zip(p, {"word/document.xml": b"<", "filler": b"\0" * 60_000_000}),
                  "bomb.docx: unpacks to more than 50 MB"),
    "empty.docx": (lambda p: docx.Document().save(str(p)), "empty.docx: the document is empty"),
}


def _render_bytes() -> bytes:
    out = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Words " * 2000)
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize("name", BAD)
def test_what_cannot_be_read_is_one_clear_line(name: str, tmp_path: Path) -> None:
    make, message = BAD[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError) as error:
        import_docx(path)
    assert str(error.value).endswith(message.split(": ", 1)[1]) or message in str(error.value)
    assert str(error.value).startswith(str(path))


def test_a_document_from_pandoc_keeps_its_headings_lists_and_links(tmp_path: Path) -> None:
    need("pandoc", shutil.which("pandoc") is not None, "apt-get install pandoc (make tools)")
    source = DOCUMENTS["covenant"]
    made = tmp_path / "covenant.docx"
    subprocess.run(["pandoc", "-f", "markdown-smart", "-o", str(made)], input=source.encode(),
                   check=True)
    imported = outline(import_docx(made).markdown)
    expected = outline(source)
    def headings(found: Outline) -> list[object]:     # pandoc's "# X" is Heading 1, not Title
        return [str(e[1]).casefold() for e in found
                if e[0] == "title" and e[1] or str(e[0]).startswith("h")]

    assert headings(imported) == headings(expected)
    assert [e for e in imported if e[0] == "li"] == [e for e in expected if e[0] == "li"]
    assert [e for e in imported if e[0] == "a"] == [e for e in expected if e[0] == "a"]
    assert source_words(import_docx(made).markdown) == source_words(source)


@pytest.mark.slow
def test_a_document_from_libreoffice_keeps_its_headings_lists_and_links(tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    need("LibreOffice", soffice is not None, "apt-get install libreoffice-writer-nogui")
    [page] = render_version(facts("every-construct", DOCUMENTS["every-construct"]), ("html",),
                            tmp_path)
    subprocess.run([str(soffice), "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(tmp_path / "out"),
                    str(page.path)], check=True, capture_output=True, timeout=180)
    made = next((tmp_path / "out").glob("*.docx"))
    imported = outline(import_docx(made).markdown)
    links = [e for e in outline(DOCUMENTS["every-construct"]) if e[0] == "a"]
    assert [e for e in imported if e[0] == "a"][:len(links)] == links
    assert ("h3", "A third-level heading") in imported or \
        any(e[1] == "A third-level heading" for e in imported)
    assert sum(1 for e in imported if e[0] == "li") >= 10
