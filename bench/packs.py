"""Building one meeting's review packs (issue #11): a body of 20 governors and a clerk, 30
policies on the agenda (15 with a draft), every pack with its Word attachments, from an empty
render cache. Target: under 2 s, and each DOCX rendered once per text, not once per recipient.

The reference, measured in the same run, is the part no design can avoid: rendering each of
those documents once. Paired rounds, medians.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import documents.word as word  # noqa: E402
from bench.paired import machine, paired  # noqa: E402
from bench.word import SEED, edited  # noqa: E402
from documents.publish import render_draft, render_policy  # noqa: E402
from jobs.mail.composer import Composer  # noqa: E402
from jobs.tasks import evaluate  # noqa: E402
from lifecycle.actions import operations  # noqa: E402
from lifecycle.actions.confirmations import ensure_secret  # noqa: E402
from lifecycle.actions.policies import NewText  # noqa: E402
from lifecycle.register.instance import Instance  # noqa: E402
from lifecycle.values.model import Kind  # noqa: E402

LONDON = ZoneInfo("Europe/London")
SETUP = datetime(2026, 11, 2, 9, tzinfo=LONDON)
PACK_DAY = datetime(2026, 11, 30, 9, tzinfo=LONDON)
POLICIES, DRAFTS, GOVERNORS = 30, 15, 20


def school(root: Path) -> Instance:
    root.mkdir()
    (root / "examples").mkdir()
    inst = Instance.at(root)
    operations.initialise(inst, SETUP)
    rows = ["name,email,roles,start_date,end_date",
            "Clerk,clerk@example.org,clerk,2020-01-01,", "Office,office@example.org,office,,"]
    rows += [f"Governor {n},gov{n}@example.org,governor,2020-01-01," for n in range(GOVERNORS)]
    people = root / "people.csv"
    people.write_text("\n".join(rows) + "\n")
    operations.import_people(inst, people, False, SETUP, "bench")
    for n in range(POLICIES):
        fields: dict[str, object] = {
            "id": f"policy-{n:02d}", "title": f"Policy number {n}", "school": "St Ann's School",
            "approver": "Governing Body", "adopted": "2023-09-01", "review_due": "2026-12-31",
            "review_interval": "3 years", "audiences": ["staff"], "reminder_audience": ["staff"]}
        operations.add_policy(inst, fields, NewText(root / "p.md", SEED), SETUP)
        if n < DRAFTS:
            operations.add_draft(inst, f"policy-{n:02d}", NewText(root / "d.md",
                                                                  edited(SEED, 20, seed=n)),
                                 "", SETUP)
    operations.add_meeting(inst, "Governing Body", PACK_DAY.date().replace(day=10, month=12),
                           None, "Full Governing Body meeting", SETUP)
    return inst


def build_packs(inst: Instance, rendered: Path) -> int:
    """Compose every pack message as a delivery run does: one composer for the run."""
    shutil.rmtree(rendered, ignore_errors=True)
    with inst.register() as register:
        composer = Composer(register, inst.config, rendered, ensure_secret(inst.root))
        packs = [m for m in register.outbox.messages() if m.kind == Kind.PACK]
        return sum(len(composer.compose(m, PACK_DAY)[1]) for m in packs)


def render_each_once(inst: Instance, rendered: Path) -> None:
    """The reference: each document the packs carry, rendered once."""
    shutil.rmtree(rendered, ignore_errors=True)
    with inst.register() as register:
        for n in range(POLICIES):
            policy_id = f"policy-{n:02d}"
            if n < DRAFTS:
                render_draft(register.policies, policy_id, rendered / policy_id, PACK_DAY.date())
            else:
                render_policy(register.policies, policy_id, None, ("docx",), rendered / policy_id,
                              PACK_DAY.date())


def counted(inst: Instance, rendered: Path) -> Counter[str]:
    """How many Word documents one build renders, by kind."""
    calls: Counter[str] = Counter()
    plain, tracked = word.render_docx, word.render_changes_docx

    def count(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    word.render_docx = count("text", plain)
    word.render_changes_docx = count("tracked changes", tracked)
    try:
        build_packs(inst, rendered)
    finally:
        word.render_docx, word.render_changes_docx = plain, tracked
    return calls


def main() -> None:
    print(f"## Review packs for one meeting ({machine()})\n")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        inst = school(tmp / "data")
        decided = [d for d in evaluate(inst, PACK_DAY) if d.kind == Kind.PACK]
        rendered = tmp / "rendered"
        size = build_packs(inst, rendered)
        calls = counted(inst, rendered)
        result = paired(lambda: build_packs(inst, rendered),
                        lambda: render_each_once(inst, rendered), 5)
        print(f"{len(decided)} packs ({GOVERNORS} governors, the clerk, the office's copy), "
              f"{POLICIES} policies on the agenda ({DRAFTS} with a draft), "
              f"{size / len(decided) / 1e6:.1f} MB each.\n")
        print("| | median | |")
        print("|---|---|---|")
        verdict = "met" if result.ours < 2 else "MISSED"
        print(f"| build every pack, from an empty render cache (target < 2 s) "
              f"| {result.ours:.2f} s | {verdict} |")
        print(f"| reference: render each document once | {result.reference:.2f} s | |")
        print(f"| ratio, median of rounds | {result.ratio:.2f} | |")
        once = calls["text"] == POLICIES and calls["tracked changes"] == DRAFTS
        print(f"\nWord documents rendered per build: {calls['text']} texts "
              f"({POLICIES - DRAFTS} current, {DRAFTS} drafts) and {calls['tracked changes']} "
              f"tracked-changes documents, for {len(decided)} recipients: "
              f"{'once per text' if once else 'NOT once per text'}. Rounds {result.rounds}, "
              f"load average after {result.load:.2f}.\n")


if __name__ == "__main__":
    main()
