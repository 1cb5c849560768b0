"""Publishing the website section (issue #12): 30 policies as pages, Word documents and PDFs.
Target: at most 1.3× the time LibreOffice itself takes to convert the same 30 Word documents
in one batch, measured in the same run. Paired rounds, medians, the load noted. The Word
documents come from the render cache (as they do once `render` or the service has made them);
the first, uncached publish is timed apart.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.paired import machine, paired, seconds  # noqa: E402
from bench.service import instance  # noqa: E402
from documents.pdf import FILTER, soffice  # noqa: E402
from documents.website import publish_site  # noqa: E402
from lifecycle.register.instance import Instance  # noqa: E402

POLICIES, ROUNDS = 30, 5
TODAY = date(2026, 11, 25)


def main(tmp: Path) -> None:
    program = soffice()
    if program is None:
        print("## Publishing\n\nLibreOffice is not installed: nothing measured.\n")
        return
    inst = Instance.at(instance(tmp / "school", staff=1, policies=POLICIES))
    with inst.register() as register:
        policies = register.policies.all()

        def ours() -> None:
            out = tmp / "site"
            shutil.rmtree(out, ignore_errors=True)
            site = publish_site(register.policies, policies, out, TODAY, inst.config.school,
                                inst.root / "rendered")
            assert site.pdfs and len(site.files) == 1 + 3 * POLICIES

        shutil.rmtree(inst.root / "rendered", ignore_errors=True)
        first = seconds(ours)
        documents = sorted((tmp / "site").glob("*.docx"))
        batch = tmp / "batch"
        batch.mkdir()
        for path in documents:
            shutil.copy(path, batch / path.name)

        def libreoffice() -> None:
            with tempfile.TemporaryDirectory() as profile:
                subprocess.run([program, f"-env:UserInstallation={Path(profile).as_uri()}",
                                "--headless", "--norestore", "--convert-to", FILTER, "--outdir",
                                str(tmp / "pdfs"), *map(str, sorted(batch.glob("*.docx")))],
                               check=True, capture_output=True)

        result = paired(ours, libreoffice, ROUNDS)
    verdict = "met" if result.ratio <= 1.3 else "MISSED"
    print(f"## Publishing {POLICIES} policies: pages, Word and PDF ({machine()})\n")
    print(f"| medians of {ROUNDS} paired rounds | seconds |\n|---|---|")
    print(f"| LibreOffice alone: the same {POLICIES} DOCX to PDF, one batch | "
          f"{result.reference:.2f} |")
    print(f"| ours: `publish` (index, {POLICIES} pages, {POLICIES} DOCX, {POLICIES} PDF) | "
          f"{result.ours:.2f} |")
    print(f"| ours, the first time (every Word document rendered too) | {first:.2f} |")
    print(f"\nratio {result.ratio:.2f} (median of the rounds' ratios; target ≤ 1.3): "
          f"{verdict}; load average after: {result.load:.2f}\n")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp_name:
        main(Path(tmp_name))
