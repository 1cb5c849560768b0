"""Reading ``data/policies/*.md``: YAML front matter, validated field by field, and the body."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from lifecycle.values.dates import parse_date, parse_due, parse_interval
from lifecycle.values.errors import InputError
from lifecycle.values.model import CONFIRM_MODES, ROLES, PolicySource
from lifecycle.values.terms import Term, is_term_due, term_due

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FENCE = "---"
MAX_TEXT_BYTES = 1_000_000   # the longest statutory policy is about 100 KB of Markdown


class _Loader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: dates stay text so we validate them ourselves
    (PyYAML raises a bare ValueError, with no line, on '2012-02-30')."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_text(path: Path) -> str:
    """UTF-8 text of at most MAX_TEXT_BYTES, or an error naming the line of the first
    undecodable byte."""
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise InputError(f"is {size / 1_000_000:.1f} MB, more than a policy's text can be "
                         f"({MAX_TEXT_BYTES // 1_000_000} MB): is it the right file?", file=path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[e.start]:02x})", file=path,
                         line=line) from None


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """(front matter, body, line number where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != _FENCE:
        raise InputError("missing: the file must start with a '---' front matter block",
                         file=path, line=1, field="front matter")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == _FENCE:
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    raise InputError("not closed: add a '---' line after the front matter", file=path, line=1,
                     field="front matter")


def _nodes(front: str, path: Path) -> dict[str, tuple[Any, int]]:
    """Each key's value and 1-based line in the file (front matter starts on line 2)."""
    loader = _Loader(front)
    try:
        root = loader.get_single_node()
        if root is None:
            return {}
        if not isinstance(root, yaml.MappingNode):
            raise InputError("must be a set of 'key: value' lines", file=path, line=2,
                             field="front matter")
        _refuse_aliases(root, path)
        found: dict[str, tuple[Any, int]] = {}
        for key_node, value_node in root.value:
            key = str(loader.construct_object(key_node, deep=True))
            line = key_node.start_mark.line + 2
            if key in found:
                raise InputError("appears twice", file=path, line=line, field=key)
            found[key] = (loader.construct_object(value_node, deep=True), line)
        return found
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 2 if mark else 2
        raise InputError(f"not valid YAML ({e.problem})", file=path, line=line,
                         field="front matter") from None
    finally:
        loader.dispose()


def _refuse_aliases(root: yaml.Node, path: Path) -> None:
    """YAML aliases (&name / *name) can make a few lines stand for millions of values; front
    matter has no use for them, so a node reached twice is refused before anything is built."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise InputError("YAML aliases (&name and *name) are not allowed here", file=path,
                             line=node.start_mark.line + 2, field="front matter")
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack += [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _text(value: Any) -> str:
    text_like = isinstance(value, str | int | float) and not isinstance(value, bool)
    if not text_like or not str(value).strip():
        raise ValueError("must be non-empty text")
    return str(value).strip()


def _roles(value: Any, allow_none: bool = False) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not (items or allow_none):
        raise ValueError(f"must be a list of roles from: {', '.join(ROLES)}")
    unknown = [r for r in items if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role '{unknown[0]}' (roles: {', '.join(ROLES)})")
    return tuple(items)


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _ID.match(v) for v in value):
        raise ValueError("must be a list of policy ids (lower-case letters, digits and '-')")
    return tuple(value)


def _policy_id(value: Any) -> str:
    text = _text(value)
    if not _ID.match(text):
        raise ValueError(f"'{text}' is not an id (lower-case letters, digits and '-')")
    return text


def _adopted(value: Any) -> date:
    return parse_date(_text(value))


def _reminded(value: Any) -> tuple[str, ...]:
    """The reminder audience: roles, or [] for a policy nobody is reminded to read."""
    return _roles(value, allow_none=True)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _confirm(value: Any) -> str:
    if value not in CONFIRM_MODES:
        raise ValueError(f"must be one of {', '.join(CONFIRM_MODES)}")
    return str(value)


def _due_in(terms: tuple[Term, ...]) -> Callable[[Any], date]:
    """A due date, month, or half term (``summer-2 2027``, from the school's terms)."""
    def parse(value: Any) -> date:
        text = _text(value)
        return term_due(text, terms) if is_term_due(text) else parse_due(text)
    return parse


# field -> (parser, default or None when required)
_FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "id": (_policy_id, None),
    "title": (_text, None),
    "school": (_text, None),
    "approver": (_text, None),
    "adopted": (_adopted, None),
    "review_due": (_due_in(()), None),
    "review_interval": (parse_interval, 36),
    "audiences": (_roles, ("staff",)),
    "reminder_audience": (_reminded, ("staff",)),
    "related": (_ids, ()),
    "statutory": (_policy_id, ""),
    "publish": (_flag, True),
    "confirm": (_confirm, ""),      # "": yearly when staff are reminded, else per-version
    "summary": (_text, ""),         # what it covers, in one line, for the annual reminder
}


def parse_front_matter(front: str, path: Path, terms: tuple[Term, ...] = ()
                      ) -> tuple[dict[str, Any], dict[str, int]]:
    """Validated field values, and the line of each field for later messages."""
    nodes = _nodes(front, path)
    fields = {**_FIELDS, "review_due": (_due_in(terms), None)}
    for key, (_, line) in nodes.items():
        if key not in _FIELDS:
            raise InputError(f"unknown field (fields: {', '.join(_FIELDS)})", file=path,
                             line=line, field=key)
    values: dict[str, Any] = {}
    for key, (parse, default) in fields.items():
        if key not in nodes:
            if default is None:
                raise InputError("missing", file=path, line=1, field=key)
            values[key] = default
            continue
        raw, line = nodes[key]
        try:
            values[key] = parse(raw)
        except ValueError as e:
            raise InputError(str(e), file=path, line=line, field=key) from None
    if not values["confirm"]:
        values["confirm"] = "yearly" if "staff" in values["reminder_audience"] else "per-version"
    return values, {key: line for key, (_, line) in nodes.items()}


def parse_source(path: Path, text: str | None = None,
                 terms: tuple[Term, ...] = ()) -> PolicySource:
    text = read_text(path) if text is None else text
    front, body, body_line = split_front_matter(text, path)
    values, lines = parse_front_matter(front, path, terms)
    if values["review_due"] <= values["adopted"]:
        raise InputError(f"{values['review_due']} is not after adopted {values['adopted']}",
                         file=path, line=lines["review_due"], field="review_due")
    if not body.strip():
        raise InputError("the policy has no text after its front matter", file=path,
                         line=body_line, field="body")
    return PolicySource(
        path=path, id=values["id"], title=values["title"], school=values["school"],
        approver=values["approver"], adopted=values["adopted"], review_due=values["review_due"],
        review_interval_months=values["review_interval"], audiences=values["audiences"],
        reminder_audience=values["reminder_audience"], related=values["related"],
        body=body.strip("\n") + "\n", statutory=values["statutory"],
        publish=values["publish"], confirm=values["confirm"], summary=values["summary"],
    )


def load_sources(directory: Path, terms: tuple[Term, ...] = ()) -> list[PolicySource]:
    """Every ``*.md`` in ``directory``, each file named for its id, ids unique."""
    sources = []
    for path in sorted(directory.glob("*.md")):
        source = parse_source(path, terms=terms)
        if source.id != path.stem:
            raise InputError(f"'{source.id}' does not match the file name ({path.stem}.md)",
                             file=path, line=line_of_field(path, "id"), field="id")
        sources.append(source)
    return sources


def line_of_field(path: Path, field: str, text: str | None = None) -> int:
    """The line of a top-level front matter field, for messages about it after parsing
    (``text``: the file's text when it is already read, or not on disk)."""
    for number, line in enumerate((read_text(path) if text is None else text).splitlines(),
                                  start=1):
        if line.startswith(f"{field}:"):
            return number
    return 1


def rewrite_dates(text: str, adopted: date | None, review_due: date) -> str:
    """The source text with its front matter's adopted/review_due lines set, all else kept."""
    fence_end = text.index("\n---", 3)
    front, rest = text[:fence_end], text[fence_end:]
    front = re.sub(r"^review_due:.*$", f"review_due: {review_due.isoformat()}", front,
                   count=1, flags=re.M)
    if adopted is not None:
        front = re.sub(r"^adopted:.*$", f"adopted: {adopted.isoformat()}", front, count=1,
                       flags=re.M)
    return front + rest
