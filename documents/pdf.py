"""PDF copies of our Word documents, made by LibreOffice headless: tagged (a structure tree
for screen readers), titled from the document's properties, in the document's language.

Every file of a batch goes through **one** LibreOffice run, with a profile directory of its
own, so that a run started by the service and one started from the command line never share
(and lock) a profile, and the one-second start-up is paid once, not per policy.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from lifecycle.values.errors import LifecycleError

# LibreOffice 7.4+ reads filter options as JSON: UseTaggedPDF makes the PDF tagged
FILTER = 'pdf:writer_pdf_Export:{"UseTaggedPDF":{"type":"boolean","value":"true"}}'
INSTALL = ("PDF copies need LibreOffice: install it (Debian and Ubuntu: sudo apt install "
           "libreoffice-writer-nogui) and run this again")
TIMEOUT_SECONDS = 600


class NoLibreOffice(LifecycleError):
    """LibreOffice is not installed, so no PDF can be made."""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(docx_files: list[Path], out_dir: Path,
           meanwhile: Callable[[], object] = lambda: None) -> list[Path]:
    """Each DOCX as ``out_dir/<same name>.pdf``, all in one LibreOffice run; ``meanwhile``
    runs here while LibreOffice works (it is another process: the two overlap)."""
    program = soffice()
    if program is None:
        raise NoLibreOffice(INSTALL)
    if not docx_files:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="policy-lifecycle-lo-") as profile, \
            subprocess.Popen([program, f"-env:UserInstallation={Path(profile).as_uri()}",
                              "--headless", "--norestore", "--convert-to", FILTER, "--outdir",
                              str(out_dir), *map(str, docx_files)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) as process:
        try:
            meanwhile()
            stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        except BaseException:
            process.kill()
            raise
    made = [out_dir / f"{f.stem}.pdf" for f in docx_files]
    missing = [p.name for p in made if not p.exists()]
    if process.returncode != 0 or missing:
        detail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        raise LifecycleError(f"LibreOffice did not make {', '.join(missing) or 'the PDFs'} "
                             f"(exit {process.returncode}: {detail[0]})")
    return made
