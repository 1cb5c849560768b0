"""The real external checkers: found on this machine, or skipped with a reason.

`make test` runs what is installed and lists what it skipped; CI sets
POLICY_LIFECYCLE_REQUIRE_TOOLS=1 (in .ci/run, after installing them) so a skip becomes a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VNU_JAR = REPO / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path(os.environ.get("POLICY_LIFECYCLE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SKIPPED: list[str] = []
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def need(tool: str, present: bool, how: str) -> None:
    """Skip (or fail, under POLICY_LIFECYCLE_REQUIRE_TOOLS=1) when a checker is missing."""
    if present:
        return
    message = f"{tool} not installed ({how})"
    if os.environ.get("POLICY_LIFECYCLE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"required external check missing: {message}")
    SKIPPED.append(message)
    pytest.skip(message)


def words(text: str) -> list[str]:
    return WORD.findall(text)


def source_words(markdown: str) -> list[str]:
    """The words a reader of the source reads: without list markers, heading marks, link
    destinations, attribute lists or character entities, which are syntax rather than text."""
    text = re.sub(r"\]\([^)]*\)", "]", html.unescape(markdown))
    text = re.sub(r"(?m)^ {0,3}\[[^\]]+\]:\s*\S+.*$", "", text)   # [label]: url
    text = re.sub(r"\]\[[^\]]*\]", "]", text)                      # [text][label]
    text = re.sub(r"\{:[^}]*\}", "", text)
    text = re.sub(r"(?m)^\s*(?:\d+[.)]|[-*+])\s+", "", text)
    return words(text)


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(word in it for word in needle)


def vnu_errors(html_file: Path) -> list[dict[str, Any]]:
    need("Nu Html Checker", VNU_JAR.exists() and shutil.which("java") is not None,
         "npm install; Debian default-jre-headless")
    out = subprocess.run(["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "json",
                          str(html_file)], capture_output=True, text=True, timeout=300)
    messages: list[dict[str, Any]] = json.loads(out.stderr or out.stdout)["messages"]
    return messages


@contextmanager
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright for Python (never a downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    need("Chromium + Playwright", CHROMIUM.exists() and sync_playwright is not None,
         "Debian chromium; pip playwright")
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    need("axe-core", AXE_JS.exists(), "npm install")
    page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_TAGS)
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def docx_to_pdf(docx_file: Path, out_dir: Path) -> Path:
    """LibreOffice, headless, with a throwaway profile so parallel runs cannot collide."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    need("LibreOffice", soffice is not None and shutil.which("pdftotext") is not None,
         "Debian libreoffice-writer-nogui and poppler-utils")
    assert soffice is not None
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [soffice, f"-env:UserInstallation=file://{profile}", "--headless",
             "--convert-to", "pdf", "--outdir", str(out_dir), str(docx_file)],
            capture_output=True, text=True, timeout=300)
    pdf = out_dir / (docx_file.stem + ".pdf")
    assert result.returncode == 0 and pdf.exists(), result.stdout + result.stderr
    return pdf


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)[1])  # type: ignore[index]


def pdf_page_size(pdf: Path) -> str:
    """What pdfinfo says of the paper: "595.276 x 841.89 pts (A4)"."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return re.search(r"^Page size:\s+(.*)$", info.stdout, re.M)[1]  # type: ignore[index]


def pdf_text(pdf: Path, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"]
    if page:
        args += ["-f", str(page), "-l", str(page)]
    return subprocess.run([*args, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
