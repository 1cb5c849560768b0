"""Writing a policy version's renders to disk, skipping those whose inputs did not change.

A render's key is a hash of everything that shapes it: the text, what the page says about the
policy (version, dates, overdue or not), and the renderer's own code and templates. The facts
come from whatever can give them (the register, in practice): rendering knows no database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Protocol

from lifecycle.errors import InputError
from lifecycle.files import write_atomically
from lifecycle.model import VersionFacts

FORMATS = ("html", "docx")
MANIFEST = "render-manifest.json"
_HERE = Path(__file__).parent
_CODE = [_HERE / n for n in ("parse.py", "html.py", "word.py", "meta.py")]


@dataclass(frozen=True)
class RenderedFile:
    path: Path
    written: bool


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown format '{unknown[0] if unknown else text}' "
                         f"(formats: {', '.join(FORMATS)})", field="--format")
    return formats


def _fingerprint() -> str:
    digest = hashlib.sha256()
    templates = sorted(p for p in (_HERE / "templates").iterdir() if p.is_file())
    for path in [*_CODE, *templates]:
        digest.update(path.read_bytes())
    for package in ("markdown", "python-docx", "nh3", "jinja2"):
        digest.update(package_version(package).encode())
    return digest.hexdigest()


def file_name(policy_id: str, version: int, fmt: str) -> str:
    return f"{policy_id}-v{version}.{fmt}"


class Facts(Protocol):
    """Where the facts about a version come from (``lifecycle.store.Register`` gives them)."""

    def version_facts(self, policy_id: str, number: int, today: date) -> VersionFacts: ...

    def current_version(self, policy_id: str) -> int: ...


def render_version(facts: VersionFacts, formats: tuple[str, ...],
                   out_dir: Path) -> list[RenderedFile]:
    """Write each format unless the file exists with the same key; parse at most once."""
    from .html import render_html
    from .parse import parse
    from .word import render_docx

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    key_base = json.dumps([_fingerprint(), facts.as_key(), facts.body], sort_keys=True)
    document = None
    results = []
    for fmt in formats:
        path = out_dir / file_name(facts.policy_id, facts.version, fmt)
        key = hashlib.sha256(f"{fmt}\n{key_base}".encode()).hexdigest()
        if path.exists() and manifest.get(path.name) == key:
            results.append(RenderedFile(path, written=False))
            continue
        document = document or parse(facts.body)
        data = (render_html(document, facts).encode("utf-8") if fmt == "html"
                else render_docx(document, facts))
        write_atomically(path, data)
        manifest[path.name] = key
        results.append(RenderedFile(path, written=True))
    write_atomically(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
    return results


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
