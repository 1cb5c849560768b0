"""The service's internal names for messages (``overdue-116``, ``chase-14``, ``2026-W49``) in
the words the office uses on the dashboard."""

from __future__ import annotations

import re
from datetime import date

from lifecycle.values.model import Kind

KINDS = {Kind.REVIEW: "Review prompt", Kind.PACK: "Review pack",
         Kind.REMINDER: "Annual reminder", Kind.UPDATED: "Policy updated notice",
         Kind.DIGEST: "Weekly digest", Kind.CHASE: "Chaser"}
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def kind_words(kind: str) -> str:
    return KINDS.get(Kind(kind), kind) if kind in set(Kind) else kind


def stage_words(kind: str, stage: str, period: str, chase_days: tuple[int, ...]) -> str:
    """"overdue reminder 116", "second chaser", "week of 30 November", "8 weeks before"."""
    if m := re.fullmatch(r"overdue-(\d+)", stage):
        return f"overdue reminder {m[1]}"
    if m := re.fullmatch(r"lead-(\d+)", stage):
        days = int(m[1])
        return (f"{days // 7} weeks before it is due" if days % 7 == 0
                else f"{days} days before it is due")
    if stage == "due":
        return "on the day it is due"
    if m := re.fullmatch(r"chase-(\d+)", stage):
        days = int(m[1])
        if days in chase_days and chase_days.index(days) < len(ORDINALS):
            return f"{ORDINALS[chase_days.index(days)]} chaser, after {days} days"
        return f"chaser after {days} days"
    if kind == Kind.UPDATED:
        return "a new policy" if period == "v1" else f"version {period.removeprefix('v')}"
    if m := re.fullmatch(r"(\d{4})-W(\d{2})", period):
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return f"week of {monday.day} {monday:%B}"
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        return f"school year {m[1]}/{m[2]}"
    return stage or ""
