"""Render speed against pandoc and a naive floor, all measured in this run on this machine.

Targets (issue #3): both formats of the seed in-process in at most half of pandoc's
whole-process DOCX time; both formats of the 50x document in less than pandoc's DOCX time
alone; `run.py status` as a whole process under 250 ms.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from documents.html import render_html  # noqa: E402
from documents.parse import parse  # noqa: E402
from documents.word import render_docx  # noqa: E402
from lifecycle.values.model import VersionFacts  # noqa: E402
from lifecycle.values.sources import parse_source  # noqa: E402

SEED = parse_source(REPO / "data" / "policies" / "social-networking.md").body
LARGE = "\n\n".join([SEED] * 50)
META = VersionFacts(policy_id="social-networking", title="Policy for Social Networking",
                    school="St Ann's School", approver="Governing Body", version=1,
                    adopted=date(2012, 1, 1), review_due=date(2018, 1, 31), overdue=True,
                    sha256="0" * 64, body=SEED)


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: imports, template compilation, file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(text: str) -> Callable[[], object]:
    def both() -> object:
        document = parse(text)
        return render_html(document, META), render_docx(document, META)
    return both


def naive(text: str) -> Callable[[], object]:
    import docx
    import markdown

    def floor() -> object:
        html = markdown.markdown(text)
        document = docx.Document()
        for line in text.splitlines():
            document.add_paragraph(line)
        out = BytesIO()
        document.save(out)
        return html
    return floor


def pandoc(source: Path, fmt: str, out: Path) -> Callable[[], object]:
    args = ["pandoc", "-f", "markdown", "-t", fmt, "-o", str(out), str(source)]
    if fmt == "html5":
        args.insert(1, "--standalone")
        args += ["--metadata", "title=Policy"]
    return lambda: subprocess.run(args, check=True, capture_output=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def main() -> None:
    if shutil.which("pandoc") is None:
        sys.exit("pandoc is not installed: run `make tools` (Debian package pandoc)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "seed.md").write_text(SEED, encoding="utf-8")
        (tmp / "large.md").write_text(LARGE, encoding="utf-8")
        rows = {}
        for name, runs in (("seed", 15), ("large", 3)):
            src = tmp / f"{name}.md"
            text = src.read_text(encoding="utf-8")
            rows[name] = {
                "ours": median_seconds(ours(text), runs),
                "naive": median_seconds(naive(text), runs),
                "pandoc_docx": median_seconds(pandoc(src, "docx", tmp / "o.docx"), runs),
                "pandoc_html": median_seconds(pandoc(src, "html5", tmp / "o.html"), runs),
            }
    seed, large = rows["seed"], rows["large"]
    print(f"## Rendering (seed {len(SEED.encode()) / 1024:.1f} KB, "
          f"50x {len(LARGE.encode()) / 1024:.0f} KB), medians\n")
    print("| document | ours: HTML + DOCX in-process | naive floor | pandoc DOCX (process) "
          "| pandoc HTML (process) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {ms(r['ours'])} | {ms(r['naive'])} | {ms(r['pandoc_docx'])} "
              f"| {ms(r['pandoc_html'])} |")
    checks = [
        ("seed, both formats ≤ ½ pandoc DOCX", seed["ours"] / seed["pandoc_docx"], 0.5),
        ("50x, both formats < pandoc DOCX", large["ours"] / large["pandoc_docx"], 1.0),
    ]
    print()
    print("| target | ratio | limit | |")
    print("|---|---|---|---|")
    for label, ratio, limit in checks:
        print(f"| {label} | {ratio:.2f} | {limit:.2f} | {'met' if ratio <= limit else 'MISSED'} |")


if __name__ == "__main__":
    main()
