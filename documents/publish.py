"""Writing a policy version's renders to disk, skipping those whose inputs did not change.

A render's key is a hash of everything that shapes it: the text, what the page says about the
policy (version, dates, overdue or not), and the renderer's own code and templates.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version as package_version
from pathlib import Path

from lifecycle.errors import InputError
from lifecycle.model import PolicyRecord
from lifecycle.policies import require_policy
from lifecycle.store import Register

from .meta import PolicyMeta

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


def meta_for(register: Register, policy: PolicyRecord, number: int, today: date) -> PolicyMeta:
    """What the render says about version ``number``: the current one carries the live review
    date and overdue notice; an older one the review date it had and who replaced it."""
    row = register.version(policy.id, number)
    if row is None:
        known = ", ".join(str(v["number"]) for v in register.versions(policy.id))
        raise InputError(f"{policy.id} has no version {number} (versions: {known})",
                         field="--version")
    current = number == policy.version
    adopted = date.fromisoformat(row["adopted"])
    due = policy.review_due if current else max(
        (date.fromisoformat(c["due"]) for c in register.cycles(policy.id)
         if date.fromisoformat(c["opened"]) <= adopted), default=policy.review_due)
    return PolicyMeta(
        policy_id=policy.id, title=policy.title, school=policy.school, approver=policy.approver,
        version=number, adopted=adopted, review_due=due, overdue=current and due < today,
        sha256=row["sha256"], audiences=policy.audiences,
        superseded_by=None if current else policy.version,
    )


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def render_version(meta: PolicyMeta, body: str, formats: tuple[str, ...],
                   out_dir: Path) -> list[RenderedFile]:
    """Write each format unless the file exists with the same key; parse at most once."""
    from .html import render_html
    from .parse import parse
    from .word import render_docx

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    key_base = json.dumps([_fingerprint(), meta.as_key(), body], sort_keys=True)
    document = None
    results = []
    for fmt in formats:
        path = out_dir / file_name(meta.policy_id, meta.version, fmt)
        key = hashlib.sha256(f"{fmt}\n{key_base}".encode()).hexdigest()
        if path.exists() and manifest.get(path.name) == key:
            results.append(RenderedFile(path, written=False))
            continue
        document = document or parse(body)
        data = (render_html(document, meta).encode("utf-8") if fmt == "html"
                else render_docx(document, meta))
        _write(path, data)
        manifest[path.name] = key
        results.append(RenderedFile(path, written=True))
    _write(manifest_path, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return results


def render_policies(register: Register, policy_ids: list[str], version: int | None,
                    formats: tuple[str, ...], out: Path | None, rendered_root: Path,
                    today: date) -> list[RenderedFile]:
    """Render each policy (its current version unless ``version`` is given)."""
    results = []
    for policy_id in policy_ids:
        policy = require_policy(register, policy_id)
        number = version or policy.version
        meta = meta_for(register, policy, number, today)
        row = register.version(policy.id, number)
        assert row is not None
        results += render_version(meta, row["body"], formats, out or rendered_root / policy.id)
    return results
