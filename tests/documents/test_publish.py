"""`publish --out DIR`: the website's policy section as static files, PDFs by LibreOffice in
one run; `serve` offers the same PDF; policy pages link where a reader goes next."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Run
from starlette.testclient import TestClient
from tools import (
    axe_violations,
    browser,
    is_subsequence,
    need,
    pdf_text,
    source_words,
    vnu_errors,
    words,
)

from lifecycle.register.instance import Instance
from web.app import create_app

pytestmark = pytest.mark.slow   # process-level: real services, signals, a browser

NOW = "2026-11-25T09:00"


@pytest.fixture
def school(run: Run, initialised: Path, tmp_path: Path) -> Path:
    text = tmp_path / "text.md"
    text.write_text("# Biometric data\n\nWe ask before we use fingerprints.\n")
    assert run("policies", "add", str(text), "--id", "biometrics", "--from-catalogue",
               "biometrics", "--adopted", "2026-09-01", "--review-due", "2027-09",
               "--now", NOW).exit_code == 0
    text.write_text("# Charging and remissions\n\nTrips are free; we ask for voluntary "
                    "contributions.\n\n## Remissions\n\nNo family pays for board.\n")
    assert run("policies", "add", str(text), "--id", "charging", "--from-catalogue",
               "charging-remissions", "--adopted", "2026-09-01", "--review-due", "2027-09",
               "--now", NOW).exit_code == 0
    return initialised


def test_publish_writes_an_index_pages_word_and_tagged_pdfs(run: Run, school: Path,
                                                            tmp_path: Path) -> None:
    need("LibreOffice", shutil.which("soffice") is not None and shutil.which("pdfinfo")
         is not None, "Debian libreoffice-writer-nogui and poppler-utils")
    out = tmp_path / "site"
    result = run("publish", "--out", str(out), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"2 policies published in {out}/."
    assert sorted(p.name for p in out.iterdir()) == [
        "charging.docx", "charging.html", "charging.pdf", "index.html",
        "social-networking.docx", "social-networking.html", "social-networking.pdf"]
    index = (out / "index.html").read_text()
    assert "biometrics" not in index                        # publish: false in the catalogue
    assert '<a href="charging.html">Charging and remissions policy</a>' in index
    assert 'href="social-networking.pdf"' in index and 'href="charging.docx"' in index
    assert vnu_errors(out / "index.html") == []
    page = (out / "social-networking.html").read_text()
    assert 'href="index.html"' in page and 'href="social-networking.pdf"' in page
    for policy_id, title in (("social-networking", "Policy for Social Networking"),
                             ("charging", "Charging and remissions policy")):
        pdf = out / f"{policy_id}.pdf"
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                              check=True).stdout
        assert re.search(r"^Tagged:\s+yes$", info, re.M)
        assert re.search(rf"^Title:\s+{re.escape(title)}$", info, re.M)
        assert b"/Lang(en-GB)" in pdf.read_bytes()
        text = pdf_text(pdf)
        body = (school / "policies" / f"{policy_id}.md").read_text().split("---\n", 2)[2]
        # in order, word for word (Word's Title style shows a capitals title in title case)
        assert is_subsequence([w.casefold() for w in source_words(body)],
                              [w.casefold() for w in words(text)]), policy_id
    with browser() as b:
        for name in ("index.html", "social-networking.html"):
            tab = b.new_page(viewport={"width": 375, "height": 800})     # a phone
            tab.goto((out / name).as_uri())
            assert tab.evaluate("document.documentElement.scrollWidth") <= 375, name
            assert axe_violations(tab) == [], name


def test_publish_without_libreoffice_says_how_and_writes_the_rest(
        run: Run, school: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    out = tmp_path / "site"
    result = run("publish", "--out", str(out), "--now", NOW)
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == (
        f"2 policies published in {out}/, without PDFs: PDF copies need LibreOffice: install "
        "it (Debian and Ubuntu: sudo apt install libreoffice-writer-nogui) and run this again.")
    assert not list(out.glob("*.pdf")) and (out / "index.html").exists()
    assert 'href="charging.pdf"' not in (out / "index.html").read_text()


def test_serve_offers_the_pdf_and_pages_lead_somewhere(run: Run, school: Path,
                                                       tmp_path: Path) -> None:
    need("LibreOffice", shutil.which("soffice") is not None, "Debian libreoffice-writer-nogui")
    with TestClient(create_app(Instance.at(school)), base_url="http://127.0.0.1:8080") as c:
        pdf = c.get("/policies/charging.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert c.get("/policies/charging/v1.pdf").status_code == 404
        listing = c.get("/policies/").text
        assert "Charging and remissions policy" in listing and "biometric" not in listing
        page = c.get("/policies/social-networking").text
        for href in ("/policies/", "/policies/social-networking.docx",
                     "/policies/social-networking.pdf"):
            assert f'href="{href}"' in page
        assert "changes" not in re.findall(r'<nav class="copies".*?</nav>', page, re.S)[0]
        new = tmp_path / "new.md"
        body = (school / "policies" / "social-networking.md").read_text().split("---\n", 2)[2]
        new.write_text(body.replace("Bebo", "Instagram"))
        assert run("review", "record", "social-networking", "--date", "2026-11-24", "--file",
                   str(new), "--now", NOW).exit_code == 0
        page = c.get("/policies/social-networking").text
        assert 'href="/policies/social-networking/changes">What changed in version 2' in page
        assert 'href="/policies/social-networking/v1">Version 1</a> (earlier)' in page
        old = c.get("/policies/social-networking/v1").text
        assert 'href="/policies/social-networking/v1.docx"' in old and ".pdf" not in old
