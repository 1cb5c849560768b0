"""The seed policy's source keeps every word the school published, in order."""

import re
from datetime import date

from conftest import REPO, SEED_TEXT
from tools import need

from lifecycle.values.sources import parse_source

WORD = re.compile(r"\w+(?:['’]\w+)*")


def words(text: str) -> list[str]:
    return WORD.findall(text)


def test_every_published_word_in_order() -> None:
    source = parse_source(REPO / "data" / "policies" / "social-networking.md")
    assert words(source.body) == words(SEED_TEXT.read_text(encoding="utf-8"))


def test_fixture_is_the_shared_seed() -> None:
    shared = REPO.parent / "shared" / "seeds" / "policy-for-social-networking.txt"
    need("the shared seed", shared.exists(), "a clone with shared/ beside it, as in CI")
    assert shared.read_bytes() == SEED_TEXT.read_bytes()


def test_front_matter() -> None:
    source = parse_source(REPO / "data" / "policies" / "social-networking.md")
    assert source.id == "social-networking"
    assert source.approver == "Governing Body"
    assert source.adopted == date(2012, 1, 1)
    assert source.review_due == date(2018, 1, 31)
    assert source.review_interval_months == 36
    assert source.audiences == ("staff", "volunteer", "governor", "contractor")
    assert source.reminder_audience == ("staff",)
    assert "whistleblowing" in source.related and "grievance" in source.related


def test_structure_is_real_markdown() -> None:
    body = (REPO / "data" / "policies" / "social-networking.md").read_text(encoding="utf-8")
    assert "\n# POLICY FOR SOCIAL NETWORKING\n" in body
    for heading in ["Safeguarding.", "Respect.", "Raising Concerns.", "Appendix 1"]:
        assert f"\n## {heading}\n" in body
    assert "\n#### DO\n" in body and "\n#### DO NOT\n" in body
    assert "- **Act responsibly at all times.**" in body
