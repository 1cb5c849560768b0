"""What changed between two texts of a policy, word by word, inside the structure it kept.

Both texts are parsed into the tree the renderers read. Each is cut into *units*: a heading, a
paragraph, a list item's own words, a table row. Units are aligned first (diff-match-patch
over one character per unit, Myers' O(ND)), so a moved paragraph or an added list item is a
whole unit deleted or inserted. A deleted unit followed by an inserted one of the same kind
is compared word by word (diff-match-patch again, one character per word), and the newer
tree receives ``del`` and ``ins`` elements where the words differ. Deleted units are put back
into the newer tree where they stood, inside the list or table they belonged to.

The result is one tree: the HTML page serialises it, the Word writer turns ``del``/``ins``
into tracked changes, and the text form writes ``[-old-]{+new+}``. Nothing here costs more
than linear time in the document's length for a bounded number of edits.
"""

from __future__ import annotations

import copy
import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

from .parse import HEADINGS, Document, Element, parse

_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|\s+|[^\w\s]")
_WORD_RUN = re.compile(r"\w+(?:[-'’]\w+)*")
_SPACE = re.compile(r"\s+")
_FORMAT_TAGS = {"strong": "strong", "b": "strong", "em": "em", "i": "em", "code": "code",
                "sup": "sup", "sub": "sub"}
_LIST_TAGS = ("ul", "ol")
CHANGE_TAGS = ("del", "ins")
INSERTED, DELETED = "inserted", "deleted"
UNIT_TIMEOUT = 2.0
_LOOKAHEAD = 40  # how far a deleted unit looks among inserted ones for its counterpart

Style = tuple[tuple[str, ...], str | None]  # (formats outermost first, link target)
Token = tuple[str, Style]


@dataclass
class Unit:
    """A unit of one tree: ``cells`` are the inline children of a paragraph-like element, or
    of each cell of a table row."""

    element: Element
    kind: str
    ancestors: list[Element]
    cells: list[list[Element | str]]

    @functools.cached_property
    def key(self) -> str:
        """What aligning compares: the kind of unit and its words."""
        return self.kind + "\x1e" + "\x1f".join(_plain(c) for c in self.cells)

    def set(self, index: int, nodes: list[Element | str]) -> None:
        """Replace the inline content of one cell (a list item keeps its nested lists)."""
        self.cells[index] = nodes
        if self.element.tag == "tr":
            self.element.elements()[index].children = nodes
        elif self.element.tag == "li":
            own = {id(c) for c in _own_inline(self.element)}
            kept = [c for c in self.element.children if id(c) not in own]
            self.element.children = nodes + kept
        else:
            self.element.children = nodes

    def words(self) -> list[str]:
        return [w.lower() for c in self.cells for w in re.findall(r"\w+", _plain(c))]


@dataclass(frozen=True)
class Piece:
    """A run of text in a comparison: ``op`` is "=", "-" (only in the older) or "+"."""

    op: str
    text: str


@dataclass
class Comparison:
    """The newer document with ``del``/``ins`` marks, and what they amount to."""

    document: Document
    blocks: list[list[Piece]] = field(default_factory=list)  # each changed unit, in order
    sections: list[str] = field(default_factory=list)  # the heading each block stands under
    passages: int = 0
    deleted_words: int = 0
    inserted_words: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.passages)

    def quoted(self, excerpts: bool = True) -> list[tuple[str, list[Piece]]]:
        """Each changed unit under the heading it stands in, cut to the sentences that
        changed (``excerpts``) or whole."""
        return [(section, excerpt(block) if excerpts else block)
                for section, block in zip(self.sections, self.blocks, strict=True)]

    def as_text(self, excerpts: bool = False) -> str:
        """The changes as plain text: each heading once, then its changed passages."""
        lines, last = [self.summary()], None
        for section, pieces in self.quoted(excerpts):
            if section != last:
                lines += ["", section] if section else [""]
                last = section
            lines.append("  " + bracketed(pieces))
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        if not self.passages:
            return "No words changed."
        passages = "1 passage" if self.passages == 1 else f"{self.passages} passages"
        deleted = "1 word" if self.deleted_words == 1 else f"{self.deleted_words} words"
        return f"{passages} changed: {deleted} deleted, {self.inserted_words} inserted"


# -- cutting a tree into units -------------------------------------------------------------

def _plain(nodes: list[Element | str]) -> str:
    return _SPACE.sub(" ", "".join(n if isinstance(n, str) else n.text() for n in nodes)).strip()


def _own_inline(element: Element) -> list[Element | str]:
    return [c for c in element.children
            if not (isinstance(c, Element) and (c.tag in _LIST_TAGS or c.tag == "p"))]


def _units(element: Element, ancestors: list[Element], path: str) -> Iterator[Unit]:
    for child in element.elements():
        kind = f"{path}/{child.tag}"
        if child.tag == "tr":
            cells = [cell.children for cell in child.elements()]
            yield Unit(child, f"{kind}{len(cells)}", ancestors + [element], cells)
        elif child.tag == "li":
            own = _own_inline(child)
            if _plain(own) or not child.elements():
                yield Unit(child, kind, ancestors + [element], [own])
            yield from _units(child, ancestors + [element], kind)
        elif child.tag in ("p", "pre", "hr", *HEADINGS):
            yield Unit(child, kind, ancestors + [element], [child.children])
        else:
            yield from _units(child, ancestors + [element], kind)


def units(body: Element) -> list[Unit]:
    return list(_units(body, [], ""))


# -- words ---------------------------------------------------------------------------------

def _tokens(nodes: list[Element | str], style: Style = ((), None)) -> Iterator[Token]:
    for node in nodes:
        if isinstance(node, str):
            for token in _TOKEN.findall(_SPACE.sub(" ", node)):
                yield token, style
        elif node.tag == "br":
            yield "\n", style
        elif node.tag == "a":
            yield from _tokens(node.children, (style[0], node.attrs.get("href")))
        elif node.tag in _FORMAT_TAGS:
            yield from _tokens(node.children, (style[0] + (_FORMAT_TAGS[node.tag],), style[1]))
        else:
            yield from _tokens(node.children, style)


def cell_tokens(cell: list[Element | str]) -> list[Token]:
    """A cell's tokens without the spaces at its edges (a browser shows none there)."""
    tokens = list(_tokens(cell))
    start, end = 0, len(tokens)
    while start < end and tokens[start][0] == " ":
        start += 1
    while end > start and tokens[end - 1][0] == " ":
        end -= 1
    return tokens[start:end]


def _encode(tokens: list[Token], table: dict[Token, str]) -> str:
    chars = []
    for token in tokens:
        if token not in table:
            table[token] = chr(0x100 + len(table))
        chars.append(table[token])
    return "".join(chars)


def _differ(timeout: float = 0) -> diff_match_patch:
    """Words are compared exactly (timeout 0); units with a time limit, after which
    diff-match-patch returns a correct but longer list of edits instead of the shortest."""
    dmp = diff_match_patch()
    dmp.Diff_Timeout = timeout
    return dmp


def diff_tokens(old: list[Token], new: list[Token]) -> list[tuple[str, list[Token]]]:
    """Word-level differences, tidied so that a short common word between two changes does
    not cut one change in two (diff-match-patch's semantic clean-up)."""
    table: dict[Token, str] = {}
    a, b = _encode(old, table), _encode(new, table)
    dmp = _differ()
    diffs = dmp.diff_main(a, b, False)
    dmp.diff_cleanupSemantic(diffs)
    reverse = {c: t for t, c in table.items()}
    ops = {0: "=", -1: "-", 1: "+"}
    return [(ops[op], [reverse[c] for c in chars]) for op, chars in diffs]


def _styled(text: str, style: Style) -> Element | str:
    node: Element | str = text
    for tag in reversed(style[0]):
        node = Element(tag, children=[node])
    if style[1]:
        node = Element("a", {"href": style[1]}, [node])
    return node


def _runs(tokens: list[Token]) -> list[Element | str]:
    """Tokens back into inline nodes, one node per stretch of the same style."""
    nodes: list[Element | str] = []
    text, style = "", None
    for token, token_style in tokens:
        if token_style != style and text:
            nodes.append(_styled(text, style))  # type: ignore[arg-type]
            text = ""
        if token == "\n":
            if text:
                nodes.append(_styled(text, token_style))
                text = ""
            nodes.append(Element("br"))
            style = None
            continue
        text, style = text + token, token_style
    if text:
        nodes.append(_styled(text, style))  # type: ignore[arg-type]
    return nodes


def _marked(op: str, tokens: list[Token]) -> list[Element | str]:
    runs = _runs(tokens)
    if op == "=":
        return runs
    return [Element("del" if op == "-" else "ins", children=runs)]


def _text(tokens: list[Token]) -> str:
    return "".join(" " if t == "\n" else t for t, _ in tokens)


# -- aligning units ------------------------------------------------------------------------

def _similar(a: Unit, b: Unit) -> float:
    wa, wb = Counter(a.words()), Counter(b.words())
    total = sum(wa.values()) + sum(wb.values())
    return 2 * sum((wa & wb).values()) / total if total else 1.0


def _pair(old: list[Unit], new: list[Unit]) -> list[tuple[Unit | None, Unit | None]]:
    """Within one run of deleted and inserted units, which old unit became which new one.
    Equal runs of the same kinds pair in order; otherwise each old unit takes the first
    like-enough new unit of its kind ahead of it."""
    if len(old) == len(new) and all(o.kind == n.kind for o, n in zip(old, new, strict=True)):
        return list(zip(old, new, strict=True))
    pairs: list[tuple[Unit | None, Unit | None]] = []
    j = 0
    for unit in old:
        match = next((k for k in range(j, min(len(new), j + _LOOKAHEAD))
                      if new[k].kind == unit.kind and _similar(unit, new[k]) >= 0.5), None)
        if match is None:
            pairs.append((unit, None))
            continue
        pairs += [(None, n) for n in new[j:match]] + [(unit, new[match])]
        j = match + 1
    return pairs + [(None, n) for n in new[j:]]


def align(old: list[Unit], new: list[Unit]) -> list[tuple[Unit | None, Unit | None]]:
    """Pairs in document order: (old, new) kept or changed, (old, None) deleted, (None, new)
    inserted."""
    table: dict[str, str] = {}
    keys = {}
    for unit in old + new:
        keys[id(unit)] = table.setdefault(unit.key, chr(0x100 + len(table)))
    a = "".join(keys[id(u)] for u in old)
    b = "".join(keys[id(u)] for u in new)
    pairs: list[tuple[Unit | None, Unit | None]] = []
    i = j = 0
    deleted: list[Unit] = []
    inserted: list[Unit] = []
    for op, chars in _differ(UNIT_TIMEOUT).diff_main(a, b, False):
        if op == 0:
            pairs += _pair(deleted, inserted)
            deleted, inserted = [], []
            pairs += list(zip(old[i:i + len(chars)], new[j:j + len(chars)], strict=True))
            i, j = i + len(chars), j + len(chars)
        elif op == -1:
            deleted += old[i:i + len(chars)]
            i += len(chars)
        else:
            inserted += new[j:j + len(chars)]
            j += len(chars)
    return pairs + _pair(deleted, inserted)


# -- the merged tree -----------------------------------------------------------------------

class _Merger:
    """Marks the newer tree in place and puts deleted units back where they stood."""

    def __init__(self, body: Element) -> None:
        self.parent: dict[int, Element] = {}
        self.mapped: dict[int, Element] = {}
        self._index(body)
        self.body = body
        self.last: Element | None = None

    def _index(self, element: Element) -> None:
        for child in element.elements():
            self.parent[id(child)] = element
            self._index(child)

    def correspond(self, pairs: list[tuple[Unit | None, Unit | None]]) -> None:
        """Remember which older containers the newer ones are, from every kept unit, before
        any deleted unit is put back (its list may be kept only by the items after it)."""
        for old, new in pairs:
            if old is None or new is None:
                continue
            for a, b in zip(reversed(old.ancestors), reversed(new.ancestors), strict=False):
                if a.tag != b.tag:
                    break
                self.mapped.setdefault(id(a), b)

    def child_of(self, container: Element, element: Element | None) -> Element | None:
        while element is not None:
            parent = self.parent.get(id(element))
            if parent is container:
                return element
            element = parent
        return None

    def put_back(self, old: Unit, clone: Element, following: Element | None) -> None:
        """Insert a deleted unit's copy under the nearest container it shared with the newer
        text, rebuilding (empty) any list or table around it that is gone."""
        chain: list[Element] = []
        container = self.body
        for ancestor in reversed(old.ancestors):
            if id(ancestor) in self.mapped:
                container = self.mapped[id(ancestor)]
                break
            chain.append(ancestor)
        top = clone
        for ancestor in chain:
            if ancestor.tag == "body":
                break
            shell = Element(ancestor.tag, dict(ancestor.attrs), [top])
            self.parent[id(top)] = shell
            self.mapped[id(ancestor)] = shell
            top = shell
        before = self.child_of(container, self.last)
        after = self.child_of(container, following)
        if before is not None:
            position = _index(container, before) + 1
        elif after is not None:
            position = _index(container, after)
        else:
            position = len(container.children)
        container.children.insert(position, top)
        self.parent[id(top)] = container
        self.last = clone


def _index(container: Element, child: Element) -> int:
    """Where a child is, by identity: two equal paragraphs are still two paragraphs."""
    return next(i for i, c in enumerate(container.children) if c is child)


def _mark_unit(unit: Unit, op: str) -> None:
    """Every word of a unit inserted or deleted, the element marked for the Word writer."""
    unit.element.attrs["data-change"] = INSERTED if op == "+" else DELETED
    for index, cell in enumerate(unit.cells):
        tokens = cell_tokens(cell)
        unit.set(index, _marked(op, tokens) if tokens else [])


def _clone(unit: Unit) -> Unit:
    """A copy of a deleted unit without the nested lists that are units of their own."""
    element = copy.deepcopy(unit.element)
    if element.tag == "li":
        element.children = _own_inline(element)
    cells = ([c.children for c in element.elements()] if element.tag == "tr"
             else [element.children])
    return Unit(element, unit.kind, unit.ancestors, cells)


def _merge_cells(old: Unit, new: Unit) -> list[list[tuple[str, list[Token]]]]:
    if len(old.cells) != len(new.cells):
        raise ValueError("rows of different widths are not paired")
    merged = []
    for index, (old_cell, new_cell) in enumerate(zip(old.cells, new.cells, strict=True)):
        diffs = diff_tokens(cell_tokens(old_cell), cell_tokens(new_cell))
        new.set(index, [n for op, tokens in diffs for n in _marked(op, tokens)])
        merged.append(diffs)
    return merged


def _pieces(diffs: list[tuple[str, list[Token]]]) -> list[Piece]:
    return [Piece(op, _text(tokens)) for op, tokens in diffs if tokens]


class _Tally:
    """Passages are stretches of changed words with no unchanged word between them."""

    def __init__(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.open = False

    def add(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            words = len(_WORD_RUN.findall(piece.text))
            if piece.op == "=":
                self.open = self.open and not words
                continue
            if words and not self.open:
                self.comparison.passages += 1
                self.open = True
            if piece.op == "-":
                self.comparison.deleted_words += words
            else:
                self.comparison.inserted_words += words



def _following(pairs: list[tuple[Unit | None, Unit | None]]) -> list[Element | None]:
    """For each position, the next unit of the newer text after it (where a deleted unit
    goes back before), found in one pass from the end."""
    found: list[Element | None] = [None] * len(pairs)
    nearest = None
    for index in range(len(pairs) - 1, -1, -1):
        found[index] = nearest
        new = pairs[index][1]
        if new is not None:
            nearest = new.element
    return found


def _changed(old: Unit, new: Unit) -> list[Piece]:
    """A kept unit: one unchanged piece, or its cells compared word by word and marked."""
    if old.key == new.key and (old.cells == new.cells or [cell_tokens(c) for c in old.cells]
                               == [cell_tokens(c) for c in new.cells]):
        return [Piece("=", "".join(_plain(c) for c in new.cells) or " ")]
    return [p for cell in _merge_cells(old, new) for p in _pieces(cell)]


def _with_title(document: Document) -> Element:
    """The body with the title back as its first heading, so a new title is a change too."""
    if document.title is not None:
        document.body.children.insert(0, Element("h1", children=[document.title]))
    return document.body


def compare(old_source: str, new_source: str) -> Comparison:
    """The newer text with what changed since the older, marked word by word."""
    old_body = _with_title(parse(old_source))
    new_body = _with_title(parse(new_source))
    merger = _Merger(new_body)
    result = Comparison(Document(None, new_body, []))
    tally = _Tally(result)
    pairs = align(units(old_body), units(new_body))
    merger.correspond(pairs)
    section = ""
    following = _following(pairs)
    for index, (old, new) in enumerate(pairs):
        if new is not None:
            merger.last = new.element
            if new.element.tag in HEADINGS:
                section = _plain(new.cells[0])
        if old is None and new is not None:
            pieces = [Piece("+", " ".join(_plain(c) for c in new.cells))]
            _mark_unit(new, "+")
        elif new is None and old is not None:
            clone = _clone(old)
            pieces = [Piece("-", " ".join(_plain(c) for c in clone.cells))]
            _mark_unit(clone, "-")
            merger.put_back(old, clone.element, following[index])
        elif old is not None and new is not None:
            pieces = _changed(old, new)
        if any(p.op != "=" for p in pieces):
            result.blocks.append(pieces)
            result.sections.append(section)
        tally.add(pieces)
    return result


# -- quoting -------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
ELLIPSIS = "…"


def _sentences(pieces: list[Piece]) -> list[list[Piece]]:
    sentences: list[list[Piece]] = [[]]
    for piece in pieces:
        if piece.op != "=":
            sentences[-1].append(piece)
            continue
        parts = _SENTENCE_END.split(piece.text)
        for i, part in enumerate(parts):
            if i:
                sentences[-1].append(Piece("=", " "))
                sentences.append([])
            if part:
                sentences[-1].append(Piece("=", part))
    return [s for s in sentences if s]


def excerpt(pieces: list[Piece]) -> list[Piece]:
    """The sentences of a changed unit that hold a change, with an ellipsis where others
    were left out: a one-word change quotes its sentence, not its section."""
    sentences = _sentences(pieces)
    keep = [i for i, s in enumerate(sentences) if any(p.op != "=" for p in s)]
    out: list[Piece] = []
    for n, i in enumerate(keep):
        if (n == 0 and i > 0) or (n > 0 and i > keep[n - 1] + 1):
            out.append(Piece("=", f"{ELLIPSIS} "))
        out += sentences[i]
    if keep and keep[-1] < len(sentences) - 1:
        out.append(Piece("=", f" {ELLIPSIS}"))
    return out


def bracketed(pieces: list[Piece]) -> str:
    """Plain text with changes as [-deleted-] and {+inserted+}, spaces outside the marks."""
    out = []
    for piece in pieces:
        if piece.op == "=":
            out.append(piece.text)
            continue
        text = piece.text.strip()
        if text:
            lead = " " if piece.text[:1].isspace() else ""
            trail = " " if piece.text[-1:].isspace() else ""
            out.append(f"{lead}[-{text}-]{trail}" if piece.op == "-"
                       else f"{lead}{{+{text}+}}{trail}")
    return _SPACE.sub(" ", "".join(out)).strip()
