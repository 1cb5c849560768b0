"""Word in and comparison speed against pandoc's import of the same file, in the same run.

Targets (issue #10): importing the seed DOCX as a whole process at most half of
`pandoc -f docx -t markdown` on the same file; a 50x document imported, and compared with a
copy carrying 200 scattered edits, each in less than pandoc's import of it; the comparison
growing no faster than the document (10x, 50x, 100x). Paired rounds, medians.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.paired import Paired, machine, paired, seconds  # noqa: E402
from documents.compare import compare  # noqa: E402
from documents.parse import parse  # noqa: E402
from documents.word import render_docx  # noqa: E402
from documents.word_import import import_docx  # noqa: E402
from lifecycle.values.model import VersionFacts  # noqa: E402
from lifecycle.values.sources import parse_source  # noqa: E402

SEED = parse_source(REPO / "data" / "policies" / "social-networking.md").body
EDITS = 200


def document(text: str, path: Path) -> Path:
    facts = VersionFacts(policy_id="bench", title="Policy for Social Networking",
                         school="St Ann's School", approver="Governing Body", version=1,
                         adopted=date(2012, 1, 1), review_due=date(2018, 1, 31), overdue=False,
                         sha256="0" * 64, body=text)
    path.write_bytes(render_docx(parse(text), facts))
    return path


def edited(text: str, edits: int, seed: int = 10) -> str:
    """The text with ``edits`` scattered one-word changes: a word replaced, inserted or
    deleted, never inside Markdown syntax."""
    rng = random.Random(seed)
    lines = text.split("\n")
    prose = [i for i, line in enumerate(lines) if len(line.split()) > 6]
    for i in rng.sample(prose, min(edits, len(prose))):
        words = lines[i].split(" ")
        at = rng.randrange(2, len(words))
        kind = rng.choice(("replace", "insert", "delete"))
        if kind == "replace":
            words[at] = "amended"
        elif kind == "insert":
            words.insert(at, "also")
        else:
            del words[at]
        lines[i] = " ".join(words)
    return "\n".join(lines)


def pandoc(path: Path) -> None:
    subprocess.run(["pandoc", "-f", "docx", "-t", "markdown", str(path), "-o", "/dev/null"],
                   check=True)


def process(path: Path) -> None:
    """Our import as a whole process: Python, the reader, the conversion, the Markdown."""
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from documents.word_import import import_docx; "
                    "sys.stdout.write(import_docx(Path(sys.argv[1])).markdown)", str(path)],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def ms(value: float) -> str:
    return f"{value * 1000:,.0f} ms"


def row(label: str, result: Paired, limit: float) -> str:
    verdict = "met" if result.ratio <= limit else "MISSED"
    return (f"| {label} | {ms(result.ours)} | {ms(result.reference)} | {result.ratio:.2f} "
            f"| {limit:.2f} | {verdict} |")


def main() -> None:
    if shutil.which("pandoc") is None:
        sys.exit("pandoc is not installed: run `make tools` (Debian package pandoc)")
    print(f"## Word in and comparison ({machine()})\n")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        seed_docx = document(SEED, tmp / "seed.docx")
        large = "\n\n".join([SEED] * 50)
        large_docx = document(large, tmp / "large.docx")
        changed = edited(large, EDITS)
        results = [
            ("seed: import, whole process ≤ ½ pandoc", paired(
                lambda: process(seed_docx), lambda: pandoc(seed_docx), 11), 0.5),
            ("seed: import in-process (as the dashboard does) ≤ ½ pandoc", paired(
                lambda: import_docx(seed_docx), lambda: pandoc(seed_docx), 11), 0.5),
            ("50x: import in-process < pandoc", paired(
                lambda: import_docx(large_docx), lambda: pandoc(large_docx), 3), 1.0),
            (f"50x: compare with {EDITS} edits < pandoc import", paired(
                lambda: compare(large, changed), lambda: pandoc(large_docx), 3), 1.0),
        ]
        print("| target | ours | pandoc (process) | ratio (median of rounds) | limit | |")
        print("|---|---|---|---|---|---|")
        for label, result, limit in results:
            print(row(label, result, limit))
        print(f"\nrounds: 11, 11, 3, 3; load average after: {results[-1][1].load:.2f}\n")
        scaling(large)


def scaling(large: str) -> None:
    """Comparison time per size: linear growth keeps the time per copy flat."""
    print(f"### Comparison against length ({EDITS} edits each), medians of 3\n")
    print("| size | KB | compare | per copy of the seed | × the 10x time |")
    print("|---|---|---|---|---|")
    base = None
    for copies in (10, 50, 100):
        text = "\n\n".join([SEED] * copies)
        changed = edited(text, EDITS)
        compare(text, changed)
        times = sorted(seconds(lambda t=text, c=changed: compare(t, c))  # type: ignore[misc]
                       for _ in range(3))
        median = times[1]
        base = base or median
        print(f"| {copies}x | {len(text.encode()) / 1024:,.0f} | {ms(median)} "
              f"| {ms(median / copies)} | {median / base:.1f} (size ×{copies // 10}) |")


if __name__ == "__main__":
    main()
