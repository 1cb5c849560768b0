"""Writing a policy version's renders to disk, skipping those whose inputs did not change.

A render's key is a hash of everything that shapes it: the text, what the page says about the
policy (version, dates, overdue or not), and the renderer's own code and templates. The facts
come from whatever can give them (the register, in practice): rendering knows no database.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lifecycle.register.files import write_atomically
from lifecycle.values.errors import InputError
from lifecycle.values.model import VersionFacts

if TYPE_CHECKING:
    from .compare import Comparison

FORMATS = ("html", "docx")
MANIFEST = "render-manifest.json"
_HERE = Path(__file__).parent
_CODE = [*(_HERE / n for n in ("parse.py", "html.py", "word.py", "compare.py")),
         _HERE.parent / "lifecycle" / "values" / "dates.py"]   # the renders' dates come from it
CHANGE_FORMATS = ("text", "html", "docx")


@dataclass(frozen=True)
class RenderedFile:
    path: Path
    written: bool


def parse_formats(text: str, known: tuple[str, ...] = FORMATS) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in known]
    if unknown or not formats:
        raise InputError(f"unknown format '{unknown[0] if unknown else text}' "
                         f"(formats: {', '.join(known)})", field="--format")
    return formats


def _fingerprint() -> str:
    digest = hashlib.sha256()
    templates = sorted(p for p in (_HERE / "templates").iterdir() if p.is_file())
    for path in [*_CODE, *templates]:
        digest.update(path.read_bytes())
    for package in ("markdown", "python-docx", "nh3", "jinja2", "diff-match-patch"):
        digest.update(package_version(package).encode())
    return digest.hexdigest()


def file_name(policy_id: str, version: int, fmt: str) -> str:
    return f"{policy_id}-v{version}.{fmt}"


class Facts(Protocol):
    """Where the facts about a version come from (the register's ``Register`` gives
    them)."""

    def version_facts(self, policy_id: str, number: int, today: date) -> VersionFacts: ...

    def current_version(self, policy_id: str) -> int: ...

    def draft_facts(self, policy_id: str, today: date) -> VersionFacts: ...


def changes_file_name(policy_id: str, older: int, newer: int, fmt: str) -> str:
    return f"{policy_id}-v{older}-v{newer}-changes.{fmt}"


Wanted = tuple[str, str, Callable[[], bytes]]  # file name, key, what makes its bytes


def _cached(out_dir: Path, wanted: list[Wanted]) -> list[RenderedFile]:
    """Write each (file name, key, maker) unless the file is there with the same key."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    results = []
    for name, key, make in wanted:
        path = out_dir / name
        written = not (path.exists() and manifest.get(name) == key)
        if written:
            write_atomically(path, make())
            manifest[name] = key
        results.append(RenderedFile(path, written))
    write_atomically(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
    return results


def _key(fmt: str, *inputs: object) -> str:
    return hashlib.sha256(f"{fmt}\n{json.dumps([_fingerprint(), *inputs])}".encode()).hexdigest()


def render_version(facts: VersionFacts, formats: tuple[str, ...],
                   out_dir: Path) -> list[RenderedFile]:
    """Write each format unless the file exists with the same key; parse at most once."""
    from .html import render_html
    from .parse import parse
    from .word import render_docx

    document = functools.cache(lambda: parse(facts.body))
    makers = {"html": lambda: render_html(document(), facts).encode("utf-8"),
              "docx": lambda: render_docx(document(), facts)}
    return _cached(out_dir, [(file_name(facts.policy_id, facts.version, fmt),
                              _key(fmt, facts.as_key(), facts.body), makers[fmt])
                             for fmt in formats])


def render_policy(source: Facts, policy_id: str, number: int | None, formats: tuple[str, ...],
                  out_dir: Path, today: date) -> list[RenderedFile]:
    """The one way from the register to files: the facts of a version (the current one
    unless ``number`` is given) as of ``today``, rendered unless already on disk."""
    number = number or source.current_version(policy_id)
    return render_version(source.version_facts(policy_id, number, today), formats, out_dir)


def render_policies(source: Facts, policy_ids: list[str], number: int | None,
                    formats: tuple[str, ...], out: Path | None, rendered_root: Path,
                    today: date) -> list[RenderedFile]:
    """Render each policy (its current version unless ``number`` is given) into ``out``, or
    into its own folder under ``rendered_root``."""
    return [file for policy_id in policy_ids for file in render_policy(
        source, policy_id, number, formats, out or rendered_root / policy_id, today)]


def versions_to_compare(source: Facts, policy_id: str, older: int | None,
                        newer: int | None) -> tuple[int, int]:
    """(from, to): by default the latest version and the one before it; ``--to N`` alone
    compares N with N-1."""
    current = source.current_version(policy_id)
    newer = newer or current
    if not 1 <= newer <= current:
        raise InputError(f"{policy_id} has no version {newer} (versions: 1 to {current})",
                         field="--to")
    if newer == 1 and older is None:
        raise InputError(f"{policy_id} has only version 1: there is nothing to compare it "
                         "with", field="--from")
    older = older or newer - 1
    if not 1 <= older < newer:
        raise InputError(f"must be an earlier version than {newer}", field="--from")
    return older, newer


def compare_versions(source: Facts, policy_id: str, older: int, newer: int,
                     formats: tuple[str, ...], out_dir: Path,
                     today: date) -> tuple[Comparison, list[RenderedFile]]:
    """The comparison of two versions, and its HTML and Word files written to ``out_dir``
    unless already there with the same key."""
    from .compare import compare
    from .html import render_changes_html
    from .word import render_changes_docx

    old = source.version_facts(policy_id, older, today)
    new = source.version_facts(policy_id, newer, today)
    comparison = compare(old.body, new.body)
    makers = {"html": lambda: render_changes_html(comparison, old, new).encode("utf-8"),
              "docx": lambda: render_changes_docx(comparison.document.body, old, new)}
    wanted = [(changes_file_name(policy_id, older, newer, fmt),
               _key(fmt, old.as_key(), new.as_key(), old.body, new.body), makers[fmt])
              for fmt in formats if fmt != "text"]
    return comparison, _cached(out_dir, wanted) if wanted else []


def named_for_people(title: str, what: str, fmt: str) -> str:
    """A file name a governor recognises: 'Policy for Social Networking - draft for the
    meeting of 14 January 2027.docx' (characters no file system takes become '-')."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", f"{title} - {what}").strip(" .-")
    return f"{safe}.{fmt}"


def draft_file_name(facts: VersionFacts, fmt: str, changes: bool = False) -> str:
    """A draft's files are named by its text, so a replaced draft never reuses a name."""
    what = f"v{facts.version - 1}-draft-changes" if changes else "draft"
    return f"{facts.policy_id}-{what}-{facts.sha256[:8]}.{fmt}"


def render_draft(source: Facts, policy_id: str, out_dir: Path,
                 today: date) -> tuple[RenderedFile, RenderedFile]:
    """The open draft as a Word document marked DRAFT, and the tracked-changes document from
    the current version to it: what a review pack carries."""
    from .compare import compare
    from .parse import parse
    from .word import render_changes_docx, render_docx

    draft = source.draft_facts(policy_id, today)
    current = source.version_facts(policy_id, draft.version - 1, today)
    return tuple(_cached(out_dir, [  # type: ignore[return-value]
        (draft_file_name(draft, "docx"), _key("docx", draft.as_key(), draft.body),
         lambda: render_docx(parse(draft.body), draft)),
        (draft_file_name(draft, "docx", changes=True),
         _key("docx", current.as_key(), draft.as_key(), current.body, draft.body),
         lambda: render_changes_docx(compare(current.body, draft.body).document.body,
                                     current, draft)),
    ]))
